"""Classifier heads on top of a (frozen) code."""
from __future__ import annotations

from typing import Optional

from torch import nn

from .graph_heads import SmoothedHead, SpectralHead
from .registry import Registry
from .standardized import StandardizedHead

heads = Registry("head")


def create_head(name: str, **kwargs) -> nn.Module:
    """Build a registered head, e.g. ``create_head("linear", in_dim=32, num_classes=10)``."""
    return heads.create(name, **kwargs)


def on_code(net: nn.Module, in_dim: int, standardize: bool) -> nn.Module:
    """``net`` on the raw code, or on the code standardised by statistics that
    :meth:`StandardizedHead.fit` takes from unlabeled codes (``ssl-ae finetune`` does)."""
    return StandardizedHead(in_dim, net) if standardize else net


@heads.register("linear")
def linear_head(in_dim: int, num_classes: int, standardize: bool = False) -> nn.Module:
    """One linear layer: the honest probe of what the frozen code already separates; with
    ``standardize``, on the code standardised by fitted statistics (:func:`on_code`)."""
    return on_code(nn.Linear(in_dim, num_classes), in_dim, standardize)


@heads.register("mlp")
def mlp_head(in_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.2,
             standardize: bool = False) -> nn.Module:
    """One hidden layer with dropout; ``standardize`` as for :func:`linear_head`."""
    return on_code(nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout), nn.Linear(hidden, num_classes)),
                   in_dim, standardize)


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
