"""Denoising: reconstruct the clean image from a corrupted one."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Objective, objectives


def random_shift(x: torch.Tensor, pixels: int) -> torch.Tensor:
    """Move each image by its own random offset of up to ``pixels`` in each direction, filling
    the uncovered border with zeros."""
    if pixels == 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (pixels, pixels, pixels, pixels))
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, n, 1), device=x.device)
    rows = (dy + torch.arange(h, device=x.device))[:, :, None]
    cols = (dx + torch.arange(w, device=x.device))[:, None, :]
    return padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


@objectives.register("denoising")
class Denoising(Objective):
    """Reconstruct the clean image from a corrupted one (corruption while training only).

    Args:
        noise: ``gaussian`` (add N(0, strength^2)), ``salt_pepper`` (a ``strength`` fraction of
            pixels set to 0 or 1) or ``mask`` (a ``strength`` fraction of pixels set to 0).
        strength: noise standard deviation or fraction of pixels hit.
        shift: also move the input by up to this many pixels (the target stays in place), which
            makes the code less sensitive to where the object sits.
        loss: reconstruction loss.
    """

    NOISES = ("gaussian", "salt_pepper", "mask")

    def __init__(self, noise: str = "gaussian", strength: float = 0.3, shift: int = 0,
                 loss: str = "mse"):
        super().__init__(loss)
        if noise not in self.NOISES:
            raise ValueError(f"unknown noise {noise!r}; known: {', '.join(self.NOISES)}")
        if shift < 0:
            raise ValueError(f"shift must be 0 or more pixels, got {shift}")
        self.noise, self.strength, self.shift = noise, strength, shift

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        x = random_shift(x, self.shift)
        if self.noise == "gaussian":
            return x + self.strength * torch.randn_like(x)
        hit = torch.rand_like(x) < self.strength
        if self.noise == "mask":
            return x.masked_fill(hit, 0.0)
        salt = (torch.rand_like(x) < 0.5).to(x.dtype)
        return torch.where(hit, salt, x)
