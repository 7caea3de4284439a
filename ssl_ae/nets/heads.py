"""Classifier heads on top of a (frozen) code."""
from __future__ import annotations

from typing import Optional

from torch import nn

from .graph_heads import SmoothedHead, SpectralHead
from .registry import Registry

heads = Registry("head")


def create_head(name: str, **kwargs) -> nn.Module:
    """Build a registered head, e.g. ``create_head("linear", in_dim=32, num_classes=10)``."""
    return heads.create(name, **kwargs)


@heads.register("linear")
def linear_head(in_dim: int, num_classes: int) -> nn.Module:
    """One linear layer: the honest probe of what the frozen code already separates."""
    return nn.Linear(in_dim, num_classes)


@heads.register("mlp")
def mlp_head(in_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.2) -> nn.Module:
    """One hidden layer with dropout."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                         nn.Linear(hidden, num_classes))


@heads.register("spectral")
def spectral_head(in_dim: int, num_classes: int, graph_size: int, dims: Optional[int] = None,
                  neighbours: int = 10) -> nn.Module:
    """One linear layer on the code's place in the Laplacian eigenmap of the unlabeled images'
    codes; ``fit`` it to those codes before training (``ssl-ae finetune`` does)."""
    return SpectralHead(in_dim, num_classes, graph_size, dims, neighbours)


@heads.register("smoothed")
def smoothed_head(in_dim: int, num_classes: int, graph_size: int, steps: int = 1,
                  neighbours: int = 10) -> nn.Module:
    """One linear layer on the code carried to the unlabeled images' codes smoothed along their
    neighbour graph; ``fit`` it to those codes before training (``ssl-ae finetune`` does)."""
    return SmoothedHead(in_dim, num_classes, graph_size, steps, neighbours)
