"""Denoising: reconstruct the clean image from a corrupted one."""
from __future__ import annotations

import torch

from .base import Objective, objectives


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
