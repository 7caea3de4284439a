"""Siamese denoising: two views of each image, the first decoded back to its clean crop, and the
codes of the two views made to find each other in the batch (InfoNCE through a projector)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Objective, objectives
from .denoising import info_nce
from .views import colour_jitter, random_grey, resized_crop


@objectives.register("siamese")
class Siamese(Objective):
    """A denoising autoencoder with an invariance term, for photos (after SidAE, Baier et al.
    2023): each image gives two views, a random resized crop (and mirror image) corrupted by
    colour jitter, greyscale and Gaussian noise. The decoder reconstructs the first view's crop
    without the corruption; a small MLP projects both codes, and each projection must pick out
    its partner among the batch's (InfoNCE). The code, before the projector, is what a
    classifier head reads.

    Args:
        min_area: smallest fraction of the image a crop covers (1: no crop).
        flip: mirror half the crops left-right.
        jitter: colour jitter strength (brightness, contrast and saturation factors in
            [1 - jitter, 1 + jitter], hue by up to jitter / 4 of a turn); 0 for none.
        jitter_p: probability that an image is jittered.
        grey_p: probability that a colour image is turned grey.
        noise: standard deviation of the Gaussian noise added to the input.
        recon: weight of the reconstruction loss; 0 leaves the decoder out of training
            (invariance alone: the decoder is still built, untrained, and under DDP needs
            ``strategy: ddp_find_unused_parameters_true``).
        contrast: weight of the InfoNCE term; 0 leaves it out (a denoising autoencoder on the
            same views).
        temperature: InfoNCE temperature.
        projector: hidden and output width of the projector MLP (code -> hidden -> output);
            ``[]`` compares the codes themselves. Each view's codes go through it as a batch
            of their own (BatchNorm statistics per view), as in the measured runs.
        loss: reconstruction loss.
        view_scale: side of the views the encoder sees, as a fraction of the image's (each crop
            downsampled, antialiased; the decoder still reconstructs it at the full side): a
            cheaper step (0.75: 1.6x on CIFAR-10's recipe), and the encoder learns objects at
            a smaller scale than it is shown them later (as FixRes). Needs an encoder that
            pools its last stage (conv ``pool`` 1 or more, resnet, backbone).
    """

    def __init__(self, min_area: float = 0.2, flip: bool = True, jitter: float = 0.4,
                 jitter_p: float = 0.8, grey_p: float = 0.2, noise: float = 0.05,
                 recon: float = 1.0, contrast: float = 1.0, temperature: float = 0.2,
                 projector: tuple[int, ...] = (512, 128), loss: str = "mse",
                 view_scale: float = 1.0):
        super().__init__(loss)
        if not 0 < min_area <= 1:
            raise ValueError(f"min_area must be in (0, 1], got {min_area}")
        if not 0 < view_scale <= 1:
            raise ValueError(f"view_scale must be in (0, 1], got {view_scale}")
        if not (0 <= jitter < 1 and 0 <= jitter_p <= 1 and 0 <= grey_p <= 1 and noise >= 0):
            raise ValueError("jitter must be in [0, 1), jitter_p and grey_p in [0, 1] and noise "
                             f">= 0, got {jitter}, {jitter_p}, {grey_p} and {noise}")
        if recon < 0 or contrast < 0 or recon + contrast == 0 or temperature <= 0:
            raise ValueError("recon and contrast must be >= 0, not both 0, and temperature > 0; "
                             f"got {recon}, {contrast} and {temperature}")
        self.min_area, self.flip, self.jitter, self.jitter_p = min_area, flip, jitter, jitter_p
        self.grey_p, self.noise = grey_p, noise
        self.recon, self.contrast, self.temperature = recon, contrast, temperature
        self.projector_widths = list(projector)
        self.view_scale = view_scale
        self.projector: nn.Module = nn.Identity()

    def shrunk(self, crops: torch.Tensor) -> torch.Tensor:
        if self.view_scale == 1:
            return crops
        side = max(1, round(crops.shape[-1] * self.view_scale))
        return F.interpolate(crops, size=(side, side), mode="bilinear", antialias=True,
                             align_corners=False)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        x = random_grey(colour_jitter(x, self.jitter, self.jitter_p), self.grey_p)
        return x + self.noise * torch.randn_like(x) if self.noise else x

    def attach(self, encoder: nn.Module) -> None:
        if self.view_scale < 1 and not getattr(encoder, "takes_any_size", True):
            raise ValueError(f"objective siamese: view_scale {self.view_scale} shows the encoder "
                             "smaller views, which it cannot take (an MLP, or a conv encoder "
                             "that flattens its last stage); give the conv encoder pool: 1 or "
                             "more, or leave view_scale at 1")
        if not (self.projector_widths and self.contrast):
            return
        dims = [encoder.code_dim, *self.projector_widths]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-2], dims[1:-1]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        self.projector = nn.Sequential(*layers, nn.Linear(dims[-2], dims[-1]))

    def forward(self, encoder: nn.Module, decoder: nn.Module, x: torch.Tensor) -> dict:
        if not self.training:
            return super().forward(encoder, decoder, x)
        views = 2 if self.contrast else 1
        crops = resized_crop(torch.cat([x] * views), self.min_area, self.flip)
        codes = encoder(self.corrupt(self.shrunk(crops)))
        first, second = codes[:len(x)], codes[len(x):]
        terms: dict[str, torch.Tensor] = {}
        loss = torch.zeros((), device=x.device)
        if self.recon:
            out = decoder(first)
            terms["recon_loss"] = self.reconstruction_loss(out, crops[: len(x)])
            terms["recon"] = self.to_pixels(out)
            loss = loss + self.recon * terms["recon_loss"]
        if self.contrast:
            terms["info_nce"] = info_nce(self.projector(first), self.projector(second),
                                         self.temperature)
            loss = loss + self.contrast * terms["info_nce"]
        return {"loss": loss, **terms}
