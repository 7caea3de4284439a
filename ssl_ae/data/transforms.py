"""Augmentations: albumentations pipelines described in YAML, one per stage.

A pipeline is a list of transforms, each a mapping with ``name`` (a class of albumentations)
and its arguments::

    pretrain_augment:
      - {name: PadIfNeeded, min_height: 40, min_width: 40, border_mode: 4}
      - {name: RandomCrop, height: 32, width: 32}
      - {name: HorizontalFlip, p: 0.5}

``[]`` means no augmentation; None (the default) takes the source's default from
:func:`default_augment`. Transforms must keep the image's shape. They run in the data loader,
before the objective: a denoising objective then corrupts the (augmented) input only, and the
target is the same augmented image uncorrupted.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional

import numpy as np
import torch

# Albumentations otherwise asks the network for a newer version when imported.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

# Natural photographs: a shifted crop and a mirror image keep the class.
CROP_FLIP = {"cifar10", "cifar100", "stl10"}
CROP_ONLY = {"svhn"}  # house numbers: a mirrored 2 is not a 2


def pad_crop_flip(size: int, pad: int, flip: bool) -> list[dict[str, Any]]:
    """Reflect-pad by ``pad`` pixels, crop back to ``size`` at random, optionally flip."""
    steps = [{"name": "PadIfNeeded", "min_height": size + 2 * pad, "min_width": size + 2 * pad,
              "border_mode": 4},  # cv2.BORDER_REFLECT_101
             {"name": "RandomCrop", "height": size, "width": size}]
    return steps + ([{"name": "HorizontalFlip", "p": 0.5}] if flip else [])


def default_augment(source: str, stage: str, image_shape: tuple[int, int, int]) -> list[dict]:
    """The default pipeline of a source for ``stage`` (``pretrain`` or ``finetune``).

    cifar10, cifar100 and stl10 get a random crop after reflect padding by 1/8 of the side and
    a horizontal flip, svhn the crop only; digits, the MNIST family and custom sources none
    (centred glyphs change meaning when shifted or mirrored; for digits the denoising
    corruption is the regulariser). The same default serves both stages.
    """
    _, size, _ = image_shape
    if source in CROP_FLIP or source in CROP_ONLY:
        return pad_crop_flip(size, max(1, size // 8), flip=source in CROP_FLIP)
    return []


def build_augment(spec: Optional[list[dict]]) -> Optional[Callable[[np.ndarray], np.ndarray]]:
    """An ``HWC uint8 -> HWC uint8`` function from a YAML pipeline; None when there is nothing.

    Raises:
        ValueError: a step without ``name``, an unknown name, or arguments it does not take.
    """
    if not spec:
        return None
    import albumentations as A

    steps = []
    for i, step in enumerate(spec):
        step = dict(step)
        name = step.pop("name", None)
        cls = getattr(A, str(name), None)
        if name is None or not isinstance(cls, type):
            raise ValueError(f"augmentation step {i}: unknown transform {name!r}; give `name:` "
                             "as an albumentations class, e.g. HorizontalFlip")
        try:
            steps.append(cls(**step))
        except (TypeError, ValueError) as err:
            raise ValueError(f"augmentation step {i} ({name}): {err}") from err
    return Albumentations(A.Compose(steps))


class Albumentations:
    """Apply an albumentations ``Compose`` to one HWC uint8 image (picklable, for workers)."""

    def __init__(self, compose):
        self.compose = compose

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.compose(image=image)["image"]

    def __repr__(self) -> str:
        return f"Albumentations({[type(t).__name__ for t in self.compose.transforms]})"


def prepared(image: np.ndarray, augment: Optional[Callable[[np.ndarray], np.ndarray]],
             channels_last: bool = False) -> torch.Tensor:
    """A uint8 CHW image (HWC with ``channels_last``, for ``augment``), augmented, as CHW
    floats in [0, 1]."""
    if augment is None:
        return torch.as_tensor(image).float().div_(255)
    hwc = image if channels_last else np.asarray(image).transpose(1, 2, 0)
    out = augment(hwc)
    out = out[:, :, None] if out.ndim == 2 else out
    if out.shape != hwc.shape:
        raise ValueError(f"augmentation {augment} turned a {hwc.shape} image into {out.shape}; "
                         "transforms must keep the image size (crop back to image_size after "
                         "padding or scaling)")
    if out.dtype != np.uint8:  # Normalize, ToFloat: the test images would not get them
        raise ValueError(f"augmentation {augment} turned uint8 pixels into {out.dtype}; leave "
                         "scaling and normalisation to the package (it gives the networks [0, 1] "
                         "floats) and drop that step")
    return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1).float().div_(255)
