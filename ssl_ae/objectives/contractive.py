"""Contractive: reconstruction plus the squared Frobenius norm of the code's Jacobian."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..nets.code import CodeLayer
from .base import Objective, objectives


def sigmoid_layer(encoder: nn.Module) -> Optional[nn.Linear]:
    """The linear map of an encoder that is exactly ``sigmoid(W flatten(x) + b)`` (e.g.
    ``create_encoder("mlp", hidden=[], code="sigmoid")``), else None."""
    head = getattr(encoder, "head", None)
    if (isinstance(getattr(encoder, "body", None), nn.Flatten) and isinstance(head, CodeLayer)
            and head.code == "sigmoid"):
        return head.linear
    return None


def jacobian_norm_sigmoid(code: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Closed form of ||dh/dx||_F^2 per sample for h = sigmoid(W x + b): since
    dh_j/dx_i = h_j (1 - h_j) W_ji, it is sum_j (h_j (1 - h_j))^2 sum_i W_ji^2.

    Args:
        code: h, (B, K).
        weight: W, (K, D).
    """
    return (code * (1 - code)).pow(2) @ weight.pow(2).sum(1)


def jacobian_norm_autograd(x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """||dh/dx||_F^2 per sample by reverse mode, all K code units in one batched backward pass
    (``is_grads_batched``), keeping the graph so the penalty can be trained through.

    ``code`` must have been computed from ``x`` (which requires grad). Samples are assumed
    independent; with BatchNorm in training mode the small cross-sample terms of the batch
    statistics are included in each row.
    """
    k = code.shape[1]
    cotangents = torch.eye(k, dtype=code.dtype, device=code.device).unsqueeze(1).expand(
        k, *code.shape)
    (rows,) = torch.autograd.grad(code, x, grad_outputs=cotangents, is_grads_batched=True,
                                  create_graph=True)
    return rows.pow(2).flatten(2).sum((0, 2))


@objectives.register("contractive")
class Contractive(Objective):
    """Reconstruction + ``weight`` * mean over the batch of ||d code / d input||_F^2. Uses the
    closed form for a one-layer sigmoid encoder, batched autograd for any other encoder.

    Args:
        weight: weight of the Jacobian penalty.
        loss: reconstruction loss.
    """

    def __init__(self, weight: float = 0.1, loss: str = "mse"):
        super().__init__(loss)
        if weight < 0:
            raise ValueError(f"weight={weight} must be >= 0")
        self.weight = weight

    def forward(self, encoder: nn.Module, decoder: nn.Module, x: torch.Tensor) -> dict:
        layer = sigmoid_layer(encoder)
        if layer is not None:
            code = encoder(x)
            penalty = jacobian_norm_sigmoid(code, layer.weight)
        else:
            with torch.inference_mode(False), torch.enable_grad():
                x_in = x.clone().requires_grad_(True)
                code = encoder(x_in)
                penalty = jacobian_norm_autograd(x_in, code)
        out = decoder(code)
        recon = self.reconstruction_loss(out, x)
        jacobian = penalty.mean()
        return {"loss": recon + self.weight * jacobian, "recon_loss": recon,
                "jacobian_norm": jacobian, "recon": self.to_pixels(out)}
