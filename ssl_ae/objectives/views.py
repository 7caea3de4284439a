"""Views of an image batch made on the batch's own device, one random draw per image.

The geometric part (a random resized crop, a mirror image) changes what the image shows and is
applied to the reconstruction target too; the photometric part (colour jitter, greyscale, noise)
only corrupts the network's input. Plain torch, no Lightning, no per-image Python loop.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma, the weights torchvision's rgb_to_grayscale uses, and RGB -> YIQ.
LUMA = (0.299, 0.587, 0.114)
TO_YIQ = torch.tensor([LUMA, (0.596, -0.274, -0.322), (0.211, -0.523, 0.312)], dtype=torch.float64)
FROM_YIQ = torch.linalg.inv(TO_YIQ)


def uniform(n: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, device=like.device, dtype=like.dtype)


def resized_crop(x: torch.Tensor, min_area: float, flip: bool) -> torch.Tensor:
    """A crop of each image covering a random fraction in [min_area, 1] of its area, with an
    aspect ratio in [3/4, 4/3] (nearer 1 for crops too large for it), resized back to the full side (bilinear); mirrored left-right
    with probability 1/2 if ``flip``."""
    n = len(x)
    if min_area >= 1 and not flip:
        return x
    area = uniform(n, min_area, 1.0, x)
    # aspect ratios that keep both sides within the image: |log ratio| <= -log area
    bound = torch.minimum(-area.log(), torch.full_like(area, math.log(4 / 3)))
    ratio = torch.exp(bound * (2 * torch.rand_like(area) - 1))
    w, h = torch.sqrt(area * ratio), torch.sqrt(area / ratio)
    cx, cy = (1 - w) * uniform(n, -1, 1, x), (1 - h) * uniform(n, -1, 1, x)
    if flip:
        w = w * torch.where(torch.rand(n, device=x.device) < 0.5, -1.0, 1.0).to(x.dtype)
    zero = torch.zeros_like(w)
    theta = torch.stack([torch.stack([w, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def grey(x: torch.Tensor) -> torch.Tensor:
    """Luma of RGB images, (B, 1, H, W); grey images are returned as they are."""
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def hue_rotation(angle: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) RGB matrices that turn the hue by ``angle`` radians about the grey axis (a
    rotation in YIQ space), keeping luma."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    turn = torch.stack([torch.stack([one, zero, zero], 1), torch.stack([zero, cos, -sin], 1),
                        torch.stack([zero, sin, cos], 1)], 1)
    like = {"device": angle.device, "dtype": angle.dtype}
    return FROM_YIQ.to(**like) @ turn @ TO_YIQ.to(**like)


def colour_jitter(x: torch.Tensor, strength: float, p: float) -> torch.Tensor:
    """With probability ``p`` per image, scale brightness, contrast and saturation by factors in
    [1 - strength, 1 + strength] and turn the hue by up to ``strength / 4`` of a full turn
    (SimCLR's jitter at strength s is (0.8s, 0.8s, 0.8s, 0.2s)); images stay in [0, 1]."""
    if strength <= 0 or p <= 0:
        return x
    n = len(x)
    hit = (torch.rand(n, 1, 1, 1, device=x.device) < p).to(x.dtype)

    def factor() -> torch.Tensor:
        return 1 + hit * uniform(n, -strength, strength, x).view(n, 1, 1, 1)

    out = (x * factor()).clamp(0, 1)
    mean = grey(out).mean((1, 2, 3), keepdim=True)
    out = ((out - mean) * factor() + mean).clamp(0, 1)
    if x.shape[1] == 3:
        luma = grey(out)
        out = ((out - luma) * factor() + luma).clamp(0, 1)
        angle = hit.view(n) * uniform(n, -math.pi * strength / 2, math.pi * strength / 2, x)
        out = torch.einsum("bij,bjhw->bihw", hue_rotation(angle), out).clamp(0, 1)
    return out


def random_grey(x: torch.Tensor, p: float) -> torch.Tensor:
    """Replace each colour image by its luma (in all three channels) with probability ``p``."""
    if p <= 0 or x.shape[1] == 1:
        return x
    hit = torch.rand(len(x), 1, 1, 1, device=x.device) < p
    return torch.where(hit, grey(x).expand_as(x), x)
