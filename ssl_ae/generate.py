"""Generating images from a pretrained autoencoder: samples from the prior, interpolations."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .evaluation.figures import image_grid, save_figure


@torch.no_grad()
def sample_prior(module: nn.Module, n: int, seed: int = 0) -> torch.Tensor:
    """Decode ``n`` codes drawn from the prior N(0, I); images (n, C, H, W) in [0, 1].

    Args:
        module: a pretrained :class:`~ssl_ae.modules.AutoencoderModule` with a VAE objective
            (only a VAE's code space has a prior to sample from).
        n: number of images.
        seed: seed of the codes drawn.
    """
    if getattr(module.objective, "needs_code", None) != "gaussian":
        raise ValueError(f"sampling from the prior needs a VAE (objective 'vae'); this "
                         f"autoencoder was trained with {module.objective.name!r}. Interpolation "
                         "works for every variant")
    module.eval()
    z = torch.randn(n, module.encoder.code_dim, generator=torch.Generator().manual_seed(seed))
    return module.objective.to_pixels(module.decoder(z)).clamp(0, 1)


@torch.no_grad()
def interpolate(module: nn.Module, x_a: torch.Tensor, x_b: torch.Tensor,
                steps: int = 10) -> torch.Tensor:
    """Decode codes on the straight line between the codes (the means, for a VAE) of two
    images; images (steps, C, H, W) in [0, 1], the first and last decoding ``x_a`` and ``x_b``.

    Args:
        module: a pretrained autoencoder module (any variant).
        x_a, x_b: two images (C, H, W) in [0, 1].
        steps: number of images along the line, ends included (>= 2).
    """
    if steps < 2:
        raise ValueError(f"steps={steps}: an interpolation needs at least 2 steps (both ends)")
    module.eval()
    z_a, z_b = module.encoder(torch.stack([x_a, x_b]))
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return module.objective.to_pixels(module.decoder((1 - t) * z_a + t * z_b)).clamp(0, 1)


def save_grid(images: torch.Tensor, path: Path, ncols: int, title: str = "") -> None:
    """Save images (N, C, H, W) in [0, 1] as one PNG grid."""
    save_figure(image_grid(images, ncols), path, title)


def write_samples(module: nn.Module, test_images: torch.Tensor, out_dir: Path, num: int = 64,
                  pairs: int = 4, steps: int = 10, seed: int = 0) -> list[Path]:
    """Write ``prior_samples.png`` (VAE only) and ``interpolations.png`` into ``out_dir``.

    Args:
        module: a pretrained autoencoder module.
        test_images: uint8 images (N, C, H, W) to interpolate between, drawn with ``seed``.
        out_dir: an existing folder.
        num: images sampled from the prior.
        pairs: pairs of images to interpolate between, one row each.
        steps: images per interpolation row.
        seed: seed of the prior codes and of the pairs chosen.
    """
    if 2 * pairs > len(test_images):  # before anything is written
        raise ValueError(f"pairs={pairs} needs {2 * pairs} test images, there are "
                         f"{len(test_images)}; ask for fewer pairs")
    written = []
    if getattr(module.objective, "needs_code", None) == "gaussian":
        written.append(out_dir / "prior_samples.png")
        save_grid(sample_prior(module, num, seed), written[-1], ncols=8,
                  title=f"{num} samples from the prior N(0, I)")
    pick = torch.randperm(len(test_images), generator=torch.Generator().manual_seed(seed))
    x = test_images[pick[:2 * pairs]].float() / 255
    rows = [interpolate(module, x[2 * i], x[2 * i + 1], steps) for i in range(pairs)]
    written.append(out_dir / "interpolations.png")
    save_grid(torch.cat(rows), written[-1], ncols=steps,
              title="decoded codes on the line between two test images' codes (one pair a row)")
    return written
