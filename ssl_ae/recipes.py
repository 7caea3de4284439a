"""The default autoencoder of each kind of image: what ``AutoencoderSpec`` builds for the
fields a config leaves unset.

- grey images (digits, the MNIST family, a folder of grey scans): a small denoising conv
  autoencoder whose input is also shifted by up to a pixel;
- colour images (photos): a siamese denoising autoencoder (``objective: siamese``): random
  resized crops with colour jitter, greyscale and noise, the first view decoded back to its
  clean crop, the codes of the two views matched by InfoNCE through a projector; its encoder
  averages its last stage over a 4x4 grid, so the code keeps a coarse layout and its size does
  not grow with the image's; its decoder is lighter than the encoder, since most of a step's
  compute went into decoding (benchmarks/RESULTS.md, "Issue 17: colour photos, CIFAR-10").
"""
from __future__ import annotations

import copy
from typing import Any


GREY: dict[str, Any] = {
    "encoder": "conv", "encoder_kwargs": {"widths": [32, 64]}, "decoder_kwargs": None,
    "code_dim": 32,
    "objective": "denoising", "objective_kwargs": {"noise": "gaussian", "strength": 0.3, "shift": 1},
}

COLOUR: dict[str, Any] = {
    "encoder": "conv", "encoder_kwargs": {"widths": [64, 128, 256], "pool": 4},
    "decoder_kwargs": {"widths": [32, 16, 8]},
    "code_dim": 128,
    "objective": "siamese", "objective_kwargs": {},
}


def recipe(image_shape: tuple[int, int, int]) -> dict[str, Any]:
    """The default autoencoder settings for images of shape (channels, height, width), at any
    side (its conv encoder and decoder take sides that their strides do not divide)."""
    return copy.deepcopy(COLOUR if image_shape[0] == 3 else GREY)


def standardized_head(image_shape: tuple[int, int, int]) -> bool:
    """Whether a linear or MLP head on the frozen encoder reads the code standardised by the
    unlabeled codes' statistics where a config does not say: for colour images, where it was
    worth 2.7 (linear) and 4.9 (MLP) points on CIFAR-10 at 25 labels per class; not for grey
    ones (MNIST level, digits 1.2 points lower; Fashion-MNIST, 3.3 points higher, asks for it
    with ``{standardize: true}``). Development metric, seeds 0-2 (benchmarks/RESULTS.md,
    "finetune's linear and MLP heads on the standardised code")."""
    return image_shape[0] == 3
