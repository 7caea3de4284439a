"""Variational autoencoder: a gaussian code, the reparameterisation trick, recon + beta * KL."""
from __future__ import annotations

import torch
from torch import nn

from .base import Objective, objectives


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) per sample, in closed form, summed over the code:
    0.5 * sum(mean^2 + exp(log_var) - 1 - log_var). Shapes (B, K) -> (B,)."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(1)


def reparameterise(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """A sample mean + sigma * eps, eps ~ N(0, I), differentiable in mean and log_var."""
    return mean + (0.5 * log_var).exp() * torch.randn_like(mean)


@objectives.register("vae")
class Variational(Objective):
    """The negative ELBO per pixel: (reconstruction summed over pixels + ``beta`` * KL to
    N(0, I)) / pixels per image, averaged over the batch. The encoder needs a gaussian code
    (``encoder.distribution(x)`` -> mean, log-variance); calling it gives the mean. While
    training, the decoder sees a reparameterised sample; in eval mode, the mean.

    Args:
        beta: weight of the KL term (1 is the ELBO; > 1 a beta-VAE).
        loss: reconstruction loss (``bce`` is the Bernoulli likelihood, ``mse`` a gaussian one).
    """

    needs_code = "gaussian"

    def __init__(self, beta: float = 1.0, loss: str = "bce"):
        super().__init__(loss)
        if beta < 0:
            raise ValueError(f"beta={beta} must be >= 0")
        self.beta = beta

    def forward(self, encoder: nn.Module, decoder: nn.Module, x: torch.Tensor) -> dict:
        if not hasattr(encoder, "distribution"):
            raise ValueError("the vae objective needs an encoder with a gaussian code: build it "
                             "with code='gaussian' (e.g. create_encoder('conv', code='gaussian'))")
        mean, log_var = encoder.distribution(x)
        out = decoder(reparameterise(mean, log_var) if self.training else mean)
        recon = self.reconstruction_loss(out, x, reduction="none").flatten(1).sum(1)
        kl = gaussian_kl(mean, log_var)
        pixels = x[0].numel()
        loss = (recon + self.beta * kl).mean() / pixels
        return {"loss": loss, "recon_loss": recon.mean() / pixels, "kl": kl.mean(),
                "recon": self.to_pixels(out)}
