"""Built-in image sources, loaded by name into memory as uint8 tensors."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch


@dataclass
class ImageSource:
    """All images of a dataset in memory.

    Attributes:
        images: uint8 tensor (N, C, H, W).
        targets: int64 array (N,), class index per image.
        classes: class names, indexed by target.
        test: indices of the dataset's own test split, or None (a seeded holdout is used).
    """

    name: str
    images: torch.Tensor
    targets: np.ndarray
    classes: list[str]
    test: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])


def load_digits(root: Path, download: bool) -> ImageSource:
    """scikit-learn's bundled 8x8 digits (1,797 images, 16 grey levels): offline, no download."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    pixels = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    return ImageSource("digits", torch.from_numpy(pixels).unsqueeze(1),
                       bunch.target.astype(np.int64), [str(c) for c in range(10)])


def torchvision_source(name: str, dataset_class: str) -> Callable[[Path, bool], ImageSource]:
    """A loader for a torchvision dataset with official train and test splits of grey images."""

    def load(root: Path, download: bool) -> ImageSource:
        import torchvision

        cls = getattr(torchvision.datasets, dataset_class)
        try:
            parts = [cls(str(root), train=train, download=download) for train in (True, False)]
        except RuntimeError as err:
            raise FileNotFoundError(
                f"{name} not found under {root}/{dataset_class}/raw: place the four original "
                f"*-ubyte.gz files there (or pass --data.download true where the network is "
                f"reachable). torchvision said: {err}") from err
        images = torch.cat([p.data for p in parts]).unsqueeze(1)
        targets = torch.cat([p.targets for p in parts]).numpy().astype(np.int64)
        n_train = len(parts[0])
        return ImageSource(name, images, targets, list(parts[0].classes),
                           test=np.arange(n_train, len(targets)))

    return load


SOURCES: dict[str, Callable[[Path, bool], ImageSource]] = {
    "digits": load_digits,
    "mnist": torchvision_source("mnist", "MNIST"),
    "fashion_mnist": torchvision_source("fashion_mnist", "FashionMNIST"),
}


def load_source(name: str, root: str | Path = "data", download: bool = False) -> ImageSource:
    """Load a built-in source by name (see ``SOURCES``)."""
    if name not in SOURCES:
        raise ValueError(f"unknown data source {name!r}; known: {', '.join(sorted(SOURCES))}")
    return SOURCES[name](Path(root), download)
