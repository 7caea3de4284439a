"""The objective interface, the reconstruction losses and the registry of objectives."""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..nets.registry import Registry

objectives = Registry("objective")

RECONSTRUCTION_LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "bce": F.binary_cross_entropy_with_logits,
}


def list_objectives() -> list[str]:
    return objectives.names()


def create_objective(name: str, **kwargs) -> "Objective":
    """Build a registered objective, e.g. ``create_objective("sparse", rho=0.1)``."""
    return objectives.create(name, **kwargs)


class Objective(nn.Module):
    """Plain reconstruction; subclasses change the input or add penalties.

    Called as ``objective(encoder, decoder, x)``, it returns a dict with ``loss`` (scalar),
    ``recon`` (the decoder's output, as pixels) and any extra terms to log.

    Args:
        loss: reconstruction loss, one of ``mse``, ``l1``, ``bce`` (binary cross-entropy on
            logits, for inputs in [0, 1]).
    """

    #: the encoder code layer this objective needs (``sigmoid``, ``gaussian``), None for any.
    needs_code: Optional[str] = None

    def __init__(self, loss: str = "mse"):
        super().__init__()
        if loss not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"unknown loss {loss!r}; known: {', '.join(RECONSTRUCTION_LOSSES)}")
        self.loss_name = loss

    @property
    def name(self) -> str:
        return getattr(self, "spec", {}).get("name", type(self).__name__)

    def code_for(self, requested: Optional[str] = None) -> str:
        """The encoder code layer to build: ``requested`` if given, else what this objective
        needs, else ``linear``; raises if ``requested`` is not what it needs."""
        if requested is None:
            return self.needs_code or "linear"
        if self.needs_code and requested != self.needs_code:
            raise ValueError(f"objective {self.name!r} needs a {self.needs_code!r} code but "
                             f"code={requested!r} was asked for; set code: {self.needs_code} "
                             "or leave it unset")
        return requested

    def to_pixels(self, out: torch.Tensor) -> torch.Tensor:
        """Map decoder outputs to images in [0, 1]."""
        return torch.sigmoid(out) if self.loss_name == "bce" else out.clamp(0, 1)

    def reconstruction_loss(self, out: torch.Tensor, target: torch.Tensor,
                            reduction: str = "mean") -> torch.Tensor:
        return RECONSTRUCTION_LOSSES[self.loss_name](out, target, reduction=reduction)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def attach(self, encoder: nn.Module) -> None:
        """Build the objective's own layers that depend on ``encoder`` (its ``code_dim``); the
        autoencoder module calls this once, before training or loading weights."""

    def forward(self, encoder: nn.Module, decoder: nn.Module, x: torch.Tensor) -> dict:
        out = decoder(encoder(self.corrupt(x) if self.training else x))
        return {"loss": self.reconstruction_loss(out, x), "recon": self.to_pixels(out)}


objectives.register("plain")(Objective)
