"""Stage 2: a classifier head on an encoder, frozen by default."""
from __future__ import annotations

import math
import warnings
from typing import Optional

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from .saved_state import CHECKPOINT_KEY, rng_state, set_rng_state

# A frozen encoder is in eval mode on purpose; Lightning warns about any module in eval mode.
warnings.filterwarnings("ignore", message=r"Found .* module\(s\) in eval mode")

# The scale of the weight decay of a head on standardised frozen codes, chosen on the development
# metric (``benchmarks/head_regularisation.py``: CIFAR-10, Fashion-MNIST and MNIST).
HEAD_DECAY = 10.0
# The weight decay of a head on the raw code or on a few features (the spectral features, one per
# class), where the decay above did not help.
PLAIN_DECAY = 1e-3


def few_label_decay(labeled: int, classes: int, scale: float = HEAD_DECAY) -> float:
    """AdamW weight decay for a head trained on standardised frozen codes: ``scale /
    sqrt(labeled images per class)``, strong where labels are few and weaker as they grow.

    Args:
        labeled: labeled images the head trains on.
        classes: number of classes.
        scale: the decay at one labeled image per class.
    """
    return scale / math.sqrt(max(labeled / classes, 1.0))


# How often the smoothed-codes head averages each code with its graph neighbours': more steps the
# more unlabeled images each labeled one stands for. Chosen on the development metric
# (``benchmarks/smoothed_features.py``: CIFAR-10 at 1 to 400 labels per class, Fashion-MNIST and
# MNIST at 10, a 250-image CIFAR-10 subset at 1 and 5).
SMOOTHING_SCALE = 0.25
MOST_SMOOTHING = 8


def few_label_smoothing(labeled: int, graph_size: int, scale: float = SMOOTHING_SCALE,
                        most: int = MOST_SMOOTHING) -> int:
    """Smoothing steps of the smoothed-codes head: ``scale * sqrt(graph images per labeled
    image)``, rounded, between 1 and ``most``.

    Args:
        labeled: labeled images the head trains on.
        graph_size: images in the neighbour graph that smooths the codes.
        scale: the steps' ratio to that square root.
        most: the most steps.
    """
    return min(most, max(1, round(scale * math.sqrt(graph_size / max(labeled, 1)))))


class ClassifierModule(pl.LightningModule):
    """``head(encoder(x))`` trained with cross-entropy on labeled images.

    With ``freeze_encoder`` the encoder gets no gradient and stays in eval mode (BatchNorm
    statistics fixed), so its weights and buffers leave finetuning bit-identical.

    Args:
        encoder: image batch -> code, usually loaded from a pretrain checkpoint.
        head: code -> class logits.
        num_classes: number of classes.
        freeze_encoder: keep the encoder fixed and train the head only.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        class_names: names of the classes, kept in checkpoints for predictions.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, num_classes: int,
                 freeze_encoder: bool = True, lr: float = 3e-2, weight_decay: float = PLAIN_DECAY,
                 class_names: Optional[list[str]] = None):
        super().__init__()
        self.save_hyperparameters(ignore=["encoder", "head"])
        self.encoder, self.head = encoder, head
        if freeze_encoder:
            self.encoder.requires_grad_(False).eval()
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        # As in AutoencoderModule: channels-last convolutions train and predict faster on a CPU
        # (the from-scratch row of the sweep: benchmarks/RESULTS.md, "Speed and memory").
        self.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> "ClassifierModule":
        """Switch modes as usual, but a frozen encoder always stays in eval mode."""
        super().train(mode)
        if self.hparams.freeze_encoder:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.hparams.freeze_encoder):
            code = self.encoder(x)
        return self.head(code)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.train_acc(logits, y)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(y))
        self.log("train/acc", self.train_acc, prog_bar=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        """Accuracy on the validation images carved from the labeled budget (``val_fraction``)."""
        x, y = batch
        self.val_acc(self(x), y)
        self.log("val/acc", self.val_acc, prog_bar=True, batch_size=len(y))

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.hparams.lr,
                                      weight_decay=self.hparams.weight_decay)
        steps = self.trainer.estimated_stepping_batches
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "kind": "classifier",
            "encoder": getattr(self.encoder, "spec", None),
            "head": getattr(self.head, "spec", None),
        }
        checkpoint["rng"] = rng_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng" in checkpoint:
            set_rng_state(checkpoint["rng"])
