"""Denoising: reconstruct the clean image from a corrupted one, optionally with an InfoNCE term
that makes the codes of two corruptions of an image find each other."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

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


def random_turn(x: torch.Tensor, degrees: float, scale: float) -> torch.Tensor:
    """Rotate each image by its own random angle in [-degrees, degrees] and zoom it by a random
    factor in [1 - scale, 1 + scale] about its centre (bilinear, zeros outside)."""
    n = len(x)
    angle = (2 * torch.rand(n, device=x.device) - 1) * math.radians(degrees)
    zoom = 1 + (2 * torch.rand(n, device=x.device) - 1) * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
                         torch.stack([sin, cos, torch.zeros_like(cos)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE (NT-Xent) loss of paired codes: each of the 2B codes must pick out its partner
    (row i of ``a`` with row i of ``b``) among the other 2B - 1 by cosine similarity."""
    z = F.normalize(torch.cat([a, b]), dim=1)
    sims = z @ z.T / temperature
    sims.fill_diagonal_(-float("inf"))
    n = len(a)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(a.device)
    return F.cross_entropy(sims, partner)


@objectives.register("denoising")
class Denoising(Objective):
    """Reconstruct the clean image from a corrupted one (corruption while training only).

    Args:
        noise: ``gaussian`` (add N(0, strength^2)), ``salt_pepper`` (a ``strength`` fraction of
            pixels set to 0 or 1) or ``mask`` (a ``strength`` fraction of pixels set to 0).
        strength: noise standard deviation or fraction of pixels hit.
        shift: also move the input by up to this many pixels (the target stays in place), which
            makes the code less sensitive to where the object sits.
        rotate: also turn the input by up to this many degrees (the target stays upright).
        scale: also zoom the input by a factor in [1 - scale, 1 + scale].
        contrast: if above 0, each image is corrupted twice and this weight times the InfoNCE
            loss of the two codes is added (each code must pick out its partner among the
            codes of the batch on this device), so the corruptions of an image get nearby codes.
            Only the first view is decoded: the decoder is most of the compute, and decoding
            the second view as well did not change the codes' few-label accuracy.
        temperature: InfoNCE temperature.
        loss: reconstruction loss.
    """

    NOISES = ("gaussian", "salt_pepper", "mask")

    def __init__(self, noise: str = "gaussian", strength: float = 0.3, shift: int = 0,
                 rotate: float = 0.0, scale: float = 0.0, contrast: float = 0.0,
                 temperature: float = 0.2, loss: str = "mse"):
        super().__init__(loss)
        if noise not in self.NOISES:
            raise ValueError(f"unknown noise {noise!r}; known: {', '.join(self.NOISES)}")
        if strength < 0 or (noise != "gaussian" and strength >= 1):
            raise ValueError(f"strength must be >= 0 (the noise's std) for gaussian noise and in "
                             f"[0, 1) (the fraction of pixels hit) for {noise}, got {strength}")
        if shift < 0:
            raise ValueError(f"shift must be 0 or more pixels, got {shift}")
        if rotate < 0 or not 0 <= scale < 1:
            raise ValueError(f"rotate must be >= 0 degrees and scale in [0, 1), got {rotate} and {scale}")
        if contrast < 0 or temperature <= 0:
            raise ValueError(f"contrast must be >= 0 and temperature > 0, got {contrast} and {temperature}")
        self.noise, self.strength, self.shift = noise, strength, shift
        self.rotate, self.scale = rotate, scale
        self.contrast, self.temperature = contrast, temperature

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        if self.rotate or self.scale:
            x = random_turn(x, self.rotate, self.scale)
        x = random_shift(x, self.shift)
        if self.noise == "gaussian":
            return x + self.strength * torch.randn_like(x)
        hit = torch.rand_like(x) < self.strength
        if self.noise == "mask":
            return x.masked_fill(hit, 0.0)
        salt = (torch.rand_like(x) < 0.5).to(x.dtype)
        return torch.where(hit, salt, x)

    def forward(self, encoder: nn.Module, decoder: nn.Module, x: torch.Tensor) -> dict:
        if not (self.training and self.contrast):
            return super().forward(encoder, decoder, x)
        first, second = encoder(self.corrupt(torch.cat([x, x]))).chunk(2)
        out = decoder(first)
        recon = self.reconstruction_loss(out, x)
        contrast = info_nce(first, second, self.temperature)
        return {"loss": recon + self.contrast * contrast, "recon_loss": recon,
                "info_nce": contrast, "recon": self.to_pixels(out)}
