"""Stage 1: the LightningModule that pretrains every autoencoder variant."""
from __future__ import annotations

from typing import Optional

import pytorch_lightning as pl
import torch
from torch import nn

from ..objectives import Objective
from .saved_state import CHECKPOINT_KEY, rng_state, set_rng_state


def one_cycle(optimizer: torch.optim.Optimizer, max_lr: float | list[float],
              steps: int) -> torch.optim.lr_scheduler.OneCycleLR:
    """Pretraining's learning-rate schedule over ``steps``: a tenth of them warming up, but
    never exactly one step (torch's OneCycleLR divides by zero there, at 10 steps): two."""
    warm_up = 0.1 if 0.1 * steps != 1 else 2 / steps
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr, total_steps=steps,
                                               pct_start=warm_up)


class AutoencoderModule(pl.LightningModule):
    """Train ``decoder(encoder(x))`` to reconstruct ``x`` under an objective.

    Args:
        encoder: image batch -> code.
        decoder: code -> image (logits or values, see the objective's loss).
        objective: the variant (plain, denoising, sparse, contractive, vae, masked, siamese, see
            :mod:`ssl_ae.objectives`); plain MSE if None.
        lr: peak AdamW learning rate of a one-cycle schedule over the run.
        weight_decay: AdamW weight decay.
        encoder_lr: the peak learning rate of the encoder's transferred weights if not ``lr``;
            0 keeps them fixed, BatchNorm statistics included (a transferred encoder that only
            the decoder learns to invert).
        new_code_layer: the encoder's code layer (``encoder.head``) is new on top of transferred
            weights (a backbone's classifier replaced): it learns at ``lr`` whatever
            ``encoder_lr`` says.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, objective: Optional[Objective] = None,
                 lr: float = 2e-3, weight_decay: float = 1e-4, encoder_lr: Optional[float] = None,
                 new_code_layer: bool = False):
        super().__init__()
        self.save_hyperparameters(ignore=["encoder", "decoder", "objective"])
        self.encoder, self.decoder = encoder, decoder
        self.objective = objective if objective is not None else Objective()
        self.objective.attach(encoder)
        self.held_out: Optional[dict] = None  # SemiSupervisedDataModule.held_out, kept in checkpoints
        if self.fixed_encoder:
            self.transferred.requires_grad_(False).eval()
        # Channels-last weights made a CPU training step 1.1-1.4x faster (benchmarks/step_time.py).
        self.to(memory_format=torch.channels_last)

    @property
    def fixed_encoder(self) -> bool:
        return self.hparams.get("encoder_lr") == 0

    @property
    def transferred(self) -> nn.Module:
        """The part of the encoder that ``encoder_lr`` governs."""
        return self.encoder.body if self.hparams.get("new_code_layer") else self.encoder

    def train(self, mode: bool = True) -> "AutoencoderModule":
        """Switch modes as usual, but a fixed encoder always stays in eval mode."""
        super().train(mode)
        if self.fixed_encoder:
            self.transferred.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` as pixels in [0, 1]."""
        return self.objective.to_pixels(self.decoder(self.encoder(x)))

    def _common_step(self, x: torch.Tensor, stage: str) -> torch.Tensor:
        terms = self.objective(self.encoder, self.decoder, x)
        for name, value in terms.items():
            if name != "recon":
                self.log(f"{stage}/{name}", value, prog_bar=name == "loss", on_epoch=True,
                         sync_dist=True, batch_size=len(x))
        return terms["loss"]

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self._common_step(batch, "train")

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self._common_step(batch, "val")

    def configure_optimizers(self):
        lr, encoder_lr = self.hparams.lr, self.hparams.get("encoder_lr")
        if encoder_lr is None:  # one group, as before encoder_lr existed (resumable checkpoints)
            groups = [{"params": list(self.parameters()), "lr": lr}]
        else:
            transferred = list(self.transferred.parameters())
            ids = {id(p) for p in transferred}
            groups = [{"params": [p for p in self.parameters() if id(p) not in ids], "lr": lr}]
            if not self.fixed_encoder:
                groups.append({"params": transferred, "lr": encoder_lr})
        optimizer = torch.optim.AdamW(groups, weight_decay=self.hparams.weight_decay)
        scheduler = one_cycle(optimizer, [group["lr"] for group in groups],
                              self.trainer.estimated_stepping_batches)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Record how to rebuild the networks from plain data, for weights-only loading."""
        checkpoint[CHECKPOINT_KEY] = {
            "kind": "autoencoder",
            "encoder": getattr(self.encoder, "spec", None),
            "decoder": getattr(self.decoder, "spec", None),
            "objective": getattr(self.objective, "spec", None),
            "held_out": self.held_out,
        }
        checkpoint["rng"] = rng_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng" in checkpoint:
            set_rng_state(checkpoint["rng"])
