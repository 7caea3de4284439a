"""Decoders: code (B, code_dim) -> image logits (B, C, H, W). Plain torch, no Lightning.

Decoders return unbounded values; the reconstruction loss decides how they map to pixels
(identity for MSE/L1, sigmoid for binary cross-entropy).
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders import halved, resnet_sizes
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
        image_size: height = width of the output (any side: the encoder's sides rounded up are
            retraced, and the centre of the last one kept).
        code_dim: size of the code.
        widths: channels of each upsampling stage, from the code side (the encoder's reversed).
    """

    def __init__(self, out_channels: int = 1, image_size: int = 28, code_dim: int = 32,
                 widths: tuple[int, ...] = (64, 32)):
        super().__init__()
        if not widths:
            raise ValueError("conv decoder: widths must name at least one stage, e.g. [64, 32]")
        self.side, self.image_size = halved(image_size, len(widths)), image_size
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
        out = self.stages(torch.relu(h))
        start = (out.shape[-1] - self.image_size) // 2  # a side that 2 ** stages does not divide
        end = start + self.image_size
        return out[..., start:end, start:end]


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


class UpBlock(nn.Module):
    """Resize to ``size`` (nearest), then a residual pair of 3x3 convolutions."""

    def __init__(self, c_in: int, c_out: int, size: int):
        super().__init__()
        self.size = size
        self.convs = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = nn.functional.interpolate(h, size=(self.size, self.size), mode="nearest")
        return torch.relu(self.convs(h) + self.skip(h))


@decoders.register("resnet")
class ResNetDecoder(nn.Module):
    """Mirror of :class:`~ssl_ae.nets.encoders.ResNetEncoder`: a linear map to 512 channels at
    the encoder's last resolution, then one residual block per stage back up (512, 256, 128,
    64 channels) at exactly the encoder's resolutions, so any image size works.

    Args:
        out_channels: image channels.
        image_size: height = width of the output.
        code_dim: size of the code.
    """

    WIDTHS = (512, 256, 128, 64)

    def __init__(self, out_channels: int = 3, image_size: int = 32, code_dim: int = 128):
        super().__init__()
        sizes = resnet_sizes(image_size)[::-1]  # last stage's side first
        self.side = sizes[0]
        self.from_code = nn.Linear(code_dim, self.WIDTHS[0] * self.side * self.side)
        widths = [*self.WIDTHS, self.WIDTHS[-1]]
        self.stages = nn.Sequential(
            *[UpBlock(a, b, size) for a, b, size in zip(widths, widths[1:], sizes[1:])],
            nn.Conv2d(widths[-1], out_channels, 3, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_code(z).view(-1, self.WIDTHS[0], self.side, self.side)
        return self.stages(torch.relu(h))


def halvings(image_size: int, most: int) -> int:
    """How many stages (at most ``most``) can each halve a side of ``image_size`` exactly, so
    that a decoder retraces them: 32 -> 3 of 3, 28 -> 2, 30 -> 1, an odd side -> 0."""
    return next((s for s in range(most, 0, -1) if image_size % 2 ** s == 0), 0)


@decoders.register("backbone")
def backbone_decoder(out_channels: int = 3, image_size: int = 32, code_dim: int = 128,
                     widths: tuple[int, ...] = (128, 64, 32)) -> ConvDecoder:
    """The decoder of a :class:`~ssl_ae.nets.backbones.BackboneEncoder`: a conv decoder from
    the code to the data's images, using the last of ``widths`` that 2 ** stages divides the
    image side by (all of them for an odd side)."""
    if not widths:
        raise ValueError("backbone decoder: widths must name at least one stage, e.g. [128, 64]")
    stages = halvings(image_size, len(widths)) or len(widths)  # an odd side: all, cropped
    return ConvDecoder(out_channels, image_size, code_dim, tuple(widths[-stages:]))
