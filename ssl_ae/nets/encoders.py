"""Encoders: image batch (B, C, H, W) -> code (B, code_dim). Plain torch, no Lightning.

Every encoder takes ``in_channels``, ``image_size``, ``code_dim`` and ``code`` (the kind of its
last layer: ``linear``, ``sigmoid`` or ``gaussian``, see :mod:`ssl_ae.nets.code`).
"""
from __future__ import annotations

from torch import nn

from .code import CodeLayer, Encoder
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


def halved(side: int, times: int) -> int:
    """The side after ``times`` stride-2, padding-1 convolutions (each halves it, rounding up)."""
    for _ in range(times):
        side = (side + 1) // 2
    return side


@encoders.register("conv")
class ConvEncoder(Encoder):
    """Stages of 3x3 convolutions, each halving the resolution, then a linear map to the code.

    Args:
        in_channels: image channels (1 grey, 3 colour).
        image_size: height = width of the input (any side: each stage halves it, rounding up).
        code_dim: size of the code.
        widths: channels of each downsampling stage.
        depth: convolutions per stage (the first halves the resolution, the others keep it).
        pool: average the last stage over a ``pool`` x ``pool`` grid of regions and flatten
            that into the code layer: 1 (or true) averages over all positions, a code that does
            not depend on where the object sits; 4 keeps a coarse layout at any image size;
            0 (or false) flattens the whole last stage.
        code: kind of code layer: ``linear``, ``sigmoid`` or ``gaussian``.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, code_dim: int = 32,
                 widths: tuple[int, ...] = (32, 64), depth: int = 1, pool: int | bool = 0,
                 code: str = "linear"):
        super().__init__()
        if not widths:
            raise ValueError("conv encoder: widths must name at least one stage, e.g. [32, 64]")
        if pool < 0:
            raise ValueError(f"conv encoder: pool must be 0 (flatten the last stage) or a grid "
                             f"side of 1 or more, got {pool}")
        if depth < 1:
            raise ValueError(f"conv encoder: depth must be 1 or more convolutions per stage, "
                             f"got {depth}")
        chans = [in_channels, *widths]
        layers: list[nn.Module] = []
        for a, b in zip(chans, chans[1:]):
            layers += [conv_block(a, b, stride=2)]
            layers += [conv_block(b, b, stride=1) for _ in range(depth - 1)]
        side = halved(image_size, len(widths))
        if pool:
            side = min(side, int(pool))
            layers.append(nn.AdaptiveAvgPool2d(side))
        self.takes_any_size = bool(pool)
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = CodeLayer(widths[-1] * side * side, code_dim, code)


@encoders.register("mlp")
class MLPEncoder(Encoder):
    """Fully connected layers narrowing to the code; with no hidden layers it is one layer
    (``code="sigmoid"`` then gives the classic contractive autoencoder encoder).

    Args:
        in_channels: image channels.
        image_size: height = width of the input.
        code_dim: size of the code.
        hidden: width of each hidden layer, in order (any number, none included).
        code: kind of code layer: ``linear``, ``sigmoid`` or ``gaussian``.
    """

    takes_any_size = False

    def __init__(self, in_channels: int = 1, image_size: int = 28, code_dim: int = 32,
                 hidden: tuple[int, ...] = (256,), code: str = "linear"):
        super().__init__()
        dims = [in_channels * image_size * image_size, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(nn.Flatten(), *layers) if layers else nn.Flatten()
        self.head = CodeLayer(dims[-1], code_dim, code)


def resnet_sizes(image_size: int) -> list[int]:
    """Spatial side after the stem and after each of ResNet-18's four stages (3x3 stem, no
    max-pool): stages 2-4 halve it, rounding up."""
    return [image_size] + [halved(image_size, times) for times in range(4)]


@encoders.register("resnet")
class ResNetEncoder(Encoder):
    """torchvision's ResNet-18 adapted to small images: a 3x3 stride-1 stem and no max-pool, so
    a 32x32 image keeps 4x4 resolution before the global average pool. Randomly initialised.

    Args:
        in_channels: image channels (1 grey, 3 colour).
        image_size: height = width of the input (any size; meant for small images, <= 64).
        code_dim: size of the code.
        code: kind of code layer: ``linear``, ``sigmoid`` or ``gaussian``.
    """

    def __init__(self, in_channels: int = 3, image_size: int = 32, code_dim: int = 128,
                 code: str = "linear"):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        self.body = net
        self.head = CodeLayer(512, code_dim, code)


__all__ = ["ConvEncoder", "MLPEncoder", "ResNetEncoder", "create_encoder", "list_encoders"]
