"""Scores of predicted class probabilities, through torchmetrics."""
from __future__ import annotations

import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_calibration_error,
    multiclass_f1_score,
)


def score(probs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Accuracy, balanced accuracy (the mean recall of the classes in ``targets``), macro F1
    and expected calibration error (15 bins).

    Args:
        probs: (N, C) predicted class probabilities.
        targets: (N,) true classes.
    """
    probs, targets = torch.as_tensor(probs, dtype=torch.float32), torch.as_tensor(targets)
    num_classes = probs.shape[1]
    recall = multiclass_accuracy(probs, targets, num_classes, average=None)
    present = torch.bincount(targets, minlength=num_classes) > 0  # a test split may lack a class
    return {
        "accuracy": multiclass_accuracy(probs, targets, num_classes, average="micro").item(),
        "balanced_accuracy": recall[present].mean().item(),
        "macro_f1": multiclass_f1_score(probs, targets, num_classes, average="macro").item(),
        "ece": multiclass_calibration_error(probs, targets, num_classes, n_bins=15).item(),
    }
