"""Masked: hide random square patches, reconstruct them; the loss counts hidden pixels only."""
from __future__ import annotations

import torch
from torch import nn

from .base import Objective, objectives


def patch_mask(shape: torch.Size, patch_size: int, ratio: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """A (B, 1, H, W) float mask, 1 on hidden pixels: in each image exactly
    ``round(ratio * patches)`` of the ``patch_size`` x ``patch_size`` patches, chosen at random,
    but at least one and never all (else nothing would be learned).
    """
    b, _, h, w = shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"image size {h}x{w} is not divisible by patch_size={patch_size}; pick a "
                         "patch size that divides it (e.g. 2 for 8x8 digits, 4 for 28x28 MNIST)")
    rows, cols = h // patch_size, w // patch_size
    if rows * cols < 2:
        raise ValueError(f"patch_size={patch_size} makes a {h}x{w} image one patch, which hiding "
                         "would blank; pick a smaller patch size")
    hidden = min(max(round(ratio * rows * cols), 1), rows * cols - 1)
    order = torch.rand(b, rows * cols, generator=generator).argsort(1)
    mask = torch.zeros(b, rows * cols)
    mask.scatter_(1, order[:, :hidden], 1.0)
    mask = mask.view(b, 1, rows, cols)
    return mask.repeat_interleave(patch_size, 2).repeat_interleave(patch_size, 3)


@objectives.register("masked")
class Masked(Objective):
    """The encoder sees the image with a ``mask_ratio`` fraction of its patches set to
    ``fill``; the reconstruction loss is averaged over the hidden pixels only. (Also in eval
    mode: without hidden pixels there is nothing to score.)

    Args:
        mask_ratio: fraction of patches hidden, in (0, 1).
        patch_size: side of a square patch, in pixels; must divide the image size.
        fill: value written into hidden pixels.
        loss: reconstruction loss.
    """

    def __init__(self, mask_ratio: float = 0.5, patch_size: int = 2, fill: float = 0.0,
                 loss: str = "mse"):
        super().__init__(loss)
        if not 0 < mask_ratio < 1:
            raise ValueError(f"mask_ratio={mask_ratio} must lie strictly between 0 and 1")
        if patch_size < 1:
            raise ValueError(f"patch_size={patch_size} must be a positive number of pixels")
        self.mask_ratio, self.patch_size, self.fill = mask_ratio, patch_size, fill

    def make_mask(self, x: torch.Tensor) -> torch.Tensor:
        return patch_mask(x.shape, self.patch_size, self.mask_ratio).to(x)

    def hide(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` with random patches set to ``fill``, and the mask (1 on hidden pixels)."""
        mask = self.make_mask(x)
        return torch.where(mask.bool(), self.fill, x), mask

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return self.hide(x)[0]

    def forward(self, encoder: nn.Module, decoder: nn.Module, x: torch.Tensor) -> dict:
        seen, mask = self.hide(x)
        out = decoder(encoder(seen))
        per_pixel = self.reconstruction_loss(out, x, reduction="none") * mask
        loss = per_pixel.sum() / (mask.sum() * x.shape[1]).clamp_min(1)
        return {"loss": loss, "recon": self.to_pixels(out)}
