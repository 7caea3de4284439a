"""Decoders: code (B, code_dim) -> image logits (B, C, H, W). Plain torch, no Lightning.

Decoders return unbounded values; the reconstruction loss decides how they map to pixels
(identity for MSE/L1, sigmoid for binary cross-entropy).
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders import check_divisible
from .registry import Registry

decoders = Registry("decoder")


def list_decoders() -> list[str]:
    return decoders.names()


def create_decoder(name: str, **kwargs) -> nn.Module:
    """Build a registered decoder, e.g. ``create_decoder("conv", out_channels=1, image_size=28)``."""
    return decoders.create(name, **kwargs)


@decoders.register("conv")
class ConvDecoder(nn.Module):
    """Mirror of :class:`~ssl_ae.nets.encoders.ConvEncoder`: linear map, then transposed
    convolutions that each double the resolution.

    Args:
        out_channels: image channels.
        image_size: height = width of the output; divisible by ``2 ** len(widths)``.
        code_dim: size of the code.
        widths: channels of each upsampling stage, from the code side (the encoder's reversed).
    """

    def __init__(self, out_channels: int = 1, image_size: int = 28, code_dim: int = 32,
                 widths: tuple[int, ...] = (64, 32)):
        super().__init__()
        check_divisible(image_size, 2 ** len(widths), "conv decoder")
        self.side = image_size // 2 ** len(widths)
        self.from_code = nn.Linear(code_dim, widths[0] * self.side * self.side)
        chans = [widths[0], *widths]
        layers: list[nn.Module] = []
        for a, b in zip(chans, chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(widths[-1], out_channels, 3, padding=1))
        self.stages = nn.Sequential(*layers)
        self.first_width = widths[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_code(z).view(-1, self.first_width, self.side, self.side)
        return self.stages(torch.relu(h))


@decoders.register("mlp")
class MLPDecoder(nn.Module):
    """Fully connected layers widening from the code to the image.

    Args:
        out_channels: image channels.
        image_size: height = width of the output.
        code_dim: size of the code.
        hidden: width of each hidden layer, from the code side.
    """

    def __init__(self, out_channels: int = 1, image_size: int = 28, code_dim: int = 32,
                 hidden: tuple[int, ...] = (256,)):
        super().__init__()
        self.shape = (out_channels, image_size, image_size)
        dims = [code_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(dims[-1], out_channels * image_size * image_size))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)
