"""Autoencoder objectives: what the network sees, and what the loss compares it with.

An objective is a small ``nn.Module`` called as ``objective(encoder, decoder, x)``; it returns a
dict with ``loss`` (scalar), ``recon`` (the decoder's output, as pixels) and any extra terms to log.
A new variant is one class here plus one registry line.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .nets.registry import Registry

objectives = Registry("objective")

RECONSTRUCTION_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "bce": F.binary_cross_entropy_with_logits,
}


def list_objectives() -> list[str]:
    return objectives.names()


def create_objective(name: str, **kwargs) -> "Objective":
    """Build a registered objective, e.g. ``create_objective("denoising", noise_std=0.3)``."""
    return objectives.create(name, **kwargs)


class Objective(nn.Module):
    """Plain reconstruction; subclasses change the input or add penalties.

    Args:
        loss: reconstruction loss, one of ``mse``, ``l1``, ``bce`` (binary cross-entropy on
            logits, for inputs in [0, 1]).
    """

    def __init__(self, loss: str = "mse"):
        super().__init__()
        if loss not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"unknown loss {loss!r}; known: {', '.join(RECONSTRUCTION_LOSSES)}")
        self.loss_name = loss

    def to_pixels(self, out: torch.Tensor) -> torch.Tensor:
        """Map decoder outputs to images in [0, 1]."""
        return torch.sigmoid(out) if self.loss_name == "bce" else out.clamp(0, 1)

    def reconstruction_loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return RECONSTRUCTION_LOSSES[self.loss_name](out, target)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, encoder: nn.Module, decoder: nn.Module, x: torch.Tensor) -> dict:
        out = decoder(encoder(self.corrupt(x) if self.training else x))
        return {"loss": self.reconstruction_loss(out, x), "recon": self.to_pixels(out)}


objectives.register("plain")(Objective)


@objectives.register("denoising")
class Denoising(Objective):
    """Reconstruct the clean image from a corrupted one (corruption while training only).

    Args:
        noise: ``gaussian`` (add N(0, strength^2)), ``salt_pepper`` (a ``strength`` fraction of
            pixels set to 0 or 1) or ``mask`` (a ``strength`` fraction of pixels set to 0).
        strength: noise standard deviation or fraction of pixels hit.
        loss: reconstruction loss.
    """

    NOISES = ("gaussian", "salt_pepper", "mask")

    def __init__(self, noise: str = "gaussian", strength: float = 0.3, loss: str = "mse"):
        super().__init__(loss)
        if noise not in self.NOISES:
            raise ValueError(f"unknown noise {noise!r}; known: {', '.join(self.NOISES)}")
        self.noise, self.strength = noise, strength

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        if self.noise == "gaussian":
            return x + self.strength * torch.randn_like(x)
        hit = torch.rand_like(x) < self.strength
        if self.noise == "mask":
            return x.masked_fill(hit, 0.0)
        salt = (torch.rand_like(x) < 0.5).to(x.dtype)
        return torch.where(hit, salt, x)
