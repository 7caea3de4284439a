"""Encoders: image batch (B, C, H, W) -> code (B, code_dim). Plain torch, no Lightning."""
from __future__ import annotations


import torch
from torch import nn

from .registry import Registry

encoders = Registry("encoder")


def list_encoders() -> list[str]:
    return encoders.names()


def create_encoder(name: str, **kwargs) -> nn.Module:
    """Build a registered encoder, e.g. ``create_encoder("conv", in_channels=1, image_size=28)``."""
    return encoders.create(name, **kwargs)


def conv_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def check_divisible(image_size: int, factor: int, name: str) -> None:
    if image_size % factor:
        raise ValueError(
            f"{name}: image_size {image_size} is not divisible by {factor} (2 ** number of widths); "
            "resize the images or use fewer widths"
        )


@encoders.register("conv")
class ConvEncoder(nn.Module):
    """Strided 3x3 convolutions, each halving the resolution, then a linear map to the code.

    Args:
        in_channels: image channels (1 grey, 3 colour).
        image_size: height = width of the input; divisible by ``2 ** len(widths)``.
        code_dim: size of the code.
        widths: channels of each downsampling stage.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, code_dim: int = 32,
                 widths: tuple[int, ...] = (32, 64)):
        super().__init__()
        check_divisible(image_size, 2 ** len(widths), "conv encoder")
        chans = [in_channels, *widths]
        self.stages = nn.Sequential(*[conv_block(a, b, stride=2) for a, b in zip(chans, chans[1:])])
        side = image_size // 2 ** len(widths)
        self.to_code = nn.Linear(widths[-1] * side * side, code_dim)
        self.code_dim = code_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_code(self.stages(x).flatten(1))


@encoders.register("mlp")
class MLPEncoder(nn.Module):
    """Fully connected layers narrowing to the code.

    Args:
        in_channels: image channels.
        image_size: height = width of the input.
        code_dim: size of the code.
        hidden: width of each hidden layer, in order.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, code_dim: int = 32,
                 hidden: tuple[int, ...] = (256,)):
        super().__init__()
        dims = [in_channels * image_size * image_size, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(dims[-1], code_dim))
        self.net = nn.Sequential(*layers)
        self.code_dim = code_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["ConvEncoder", "MLPEncoder", "create_encoder", "list_encoders", "count_parameters"]
