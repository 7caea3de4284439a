"""Trainer plumbing every stage uses: safe checkpoint writes, divergence stop, run facts, a
resumed schedule that fits."""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins import TorchCheckpointIO
from pytorch_lightning.utilities.rank_zero import rank_zero_info


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file and rename it into place, so a process killed
    mid-write never leaves a truncated ``last.ckpt`` for resume to pick up."""

    def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)


class DivergenceGuard(pl.Callback):
    """Stop at the first non-finite training loss, before it reaches the weights, naming the
    step (counted from 1) and the likely fix."""

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           loss: Any) -> None:
        if not math.isfinite(float(loss.detach())):
            saved = trainer.checkpoint_callback
            kept = ("the last good checkpoint is kept" if saved and (saved.best_model_path or
                    saved.last_model_path) else "no checkpoint was written yet")
            raise FloatingPointError(
                f"training loss became {float(loss.detach())} at step {trainer.global_step + 1} (epoch "
                f"{trainer.current_epoch}); {kept}. "
                "Lower the learning rate (--model.lr / --head.lr) or clip gradients "
                "(--trainer.gradient_clip_val 1.0)")


class RunFacts(pl.Callback):
    """Log the per-device and global batch size, the number of trainable parameters and how
    long each training epoch took."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        per_device = getattr(trainer.train_dataloader, "batch_size", None)
        processes = trainer.world_size
        trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        rank_zero_info(f"{type(pl_module).__name__}: batch size {per_device} per device x "
                       f"{processes} process(es) = {per_device * processes if per_device else '?'} "
                       f"global; {trainable:,} trainable parameters")

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seconds = time.perf_counter() - self.epoch_start
        batches = trainer.num_training_batches
        rate = f", {batches / seconds:.1f} batches/s" if math.isfinite(batches) else ""
        rank_zero_info(f"epoch {trainer.current_epoch}: {seconds:.1f} s{rate}")


class ScheduleGuard(pl.Callback):
    """Refuse, before the first step, to resume a run whose learning-rate schedule was laid out
    for another number of steps: each process sees a share of the images, so other ``devices`` x
    ``num_nodes`` change the steps per epoch, and the schedule would run out mid-training."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        steps = trainer.estimated_stepping_batches
        for config in trainer.lr_scheduler_configs:
            laid_out = getattr(config.scheduler, "total_steps", None)
            if laid_out is not None and laid_out != steps:
                raise ValueError(
                    f"the checkpoint's learning-rate schedule runs {laid_out} steps, but this run "
                    f"takes {steps} ({trainer.world_size} process(es)): resume with the devices "
                    "and num_nodes the interrupted run had, or --overwrite true to start again")
