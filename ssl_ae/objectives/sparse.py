"""Sparse: reconstruction plus an L1 penalty on the code and a KL sparsity penalty."""
from __future__ import annotations

import torch
from torch import nn

from .base import Objective, objectives


def l1_sparsity(code: torch.Tensor) -> torch.Tensor:
    """Mean absolute activation of the code (B, code_dim)."""
    return code.abs().mean()


def kl_sparsity(code: torch.Tensor, rho: float, eps: float = 1e-6) -> torch.Tensor:
    """Sum over code units of KL(Bernoulli(rho) || Bernoulli(rho_hat)), where rho_hat is the
    unit's mean activation over the batch; ``code`` must lie in (0, 1) (a sigmoid code)."""
    rho_hat = code.mean(0).clamp(eps, 1 - eps)
    return (rho * torch.log(rho / rho_hat)
            + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


@objectives.register("sparse")
class Sparse(Objective):
    """Reconstruction + ``l1_weight`` * mean |code| + ``kl_weight`` * KL sparsity toward a mean
    activation ``rho``. With ``kl_weight > 0`` the encoder needs a sigmoid code.

    Args:
        l1_weight: weight of the L1 penalty on the code (0 to turn it off).
        kl_weight: weight of the KL sparsity penalty (0 to turn it off).
        rho: target mean activation of each code unit, in (0, 1).
        loss: reconstruction loss.
    """

    def __init__(self, l1_weight: float = 1e-3, kl_weight: float = 1e-3, rho: float = 0.05,
                 loss: str = "mse"):
        super().__init__(loss)
        if not 0 < rho < 1:
            raise ValueError(f"rho={rho} must lie strictly between 0 and 1 (a target mean "
                             "activation of a sigmoid unit), e.g. 0.05")
        if l1_weight < 0 or kl_weight < 0:
            raise ValueError(f"penalty weights must be >= 0, got l1_weight={l1_weight}, "
                             f"kl_weight={kl_weight}")
        self.l1_weight, self.kl_weight, self.rho = l1_weight, kl_weight, rho
        self.needs_code = "sigmoid" if kl_weight > 0 else None

    def forward(self, encoder: nn.Module, decoder: nn.Module, x: torch.Tensor) -> dict:
        code = encoder(x)
        if self.kl_weight > 0 and (code.min() < 0 or code.max() > 1):
            raise ValueError("the KL sparsity penalty needs a code in (0, 1): build the encoder "
                             "with code='sigmoid' (model.code: sigmoid)")
        out = decoder(code)
        recon = self.reconstruction_loss(out, x)
        l1, kl = l1_sparsity(code), kl_sparsity(code, self.rho)
        loss = recon + self.l1_weight * l1 + self.kl_weight * kl
        return {"loss": loss, "recon_loss": recon, "l1": l1, "kl_sparsity": kl,
                "mean_activation": code.mean(), "recon": self.to_pixels(out)}
