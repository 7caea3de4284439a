"""Built-in image sources, loaded by name into memory as uint8 tensors.

Each source is a function ``(root, download) -> ImageSource``. The torchvision ones read from
``root`` (default ``data/``) in torchvision's own layout; when the files are missing and
downloading is off or unreachable, the error says which files to place where.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch


@dataclass
class ImageSource:
    """All images of a dataset: in memory, or on disk for a shard folder.

    Attributes:
        images: uint8 tensor (N, C, H, W), or a :class:`~ssl_ae.data.shards.ShardImages`
            indexed like one.
        targets: int64 array (N,), class index per image, ``-1`` for an image without a label.
        classes: class names, indexed by target.
        test: indices of the dataset's own test split, or None (a seeded holdout is used).
        ids: a name per image (a file's path relative to the folder it was found in, prefixed
            ``test/`` for a ``test_dir`` image), or None;
            a ``labeled_file`` may list these instead of indices.
        skipped: unreadable files left out (with ``skip_bad_files``).
        fingerprint: the data fingerprint, where it is known without hashing ``images``.
    """

    name: str
    images: torch.Tensor
    targets: np.ndarray
    classes: list[str]
    test: Optional[np.ndarray] = None
    ids: Optional[list[str]] = None
    skipped: list[str] = field(default_factory=list)
    fingerprint: Optional[str] = None

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


@dataclass
class TorchvisionSpec:
    """How to read one torchvision dataset.

    Args:
        dataset_class: the class in ``torchvision.datasets``.
        splits: constructor arguments per part: train parts first, then the test part last.
        expected: the files torchvision reads, relative to the data root, for the error message.
        archives: original archives, relative to the root: when all are present torchvision
            unpacks them (checking their MD5) without any network access.
    """

    dataset_class: str
    splits: list[dict]
    expected: str
    archives: list[str]


def _mnist_like(folder: str) -> TorchvisionSpec:
    files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    return TorchvisionSpec(folder, [{"train": True}, {"train": False}],
                           f"{folder}/raw/ holding the four original files {', '.join(files)}",
                           [f"{folder}/raw/{f}" for f in files])


TORCHVISION = {
    "mnist": _mnist_like("MNIST"),
    "fashion_mnist": _mnist_like("FashionMNIST"),
    "kmnist": _mnist_like("KMNIST"),
    "cifar10": TorchvisionSpec(
        "CIFAR10", [{"train": True}, {"train": False}],
        "cifar-10-batches-py/ (cifar-10-python.tar.gz unpacked), or the archive itself in the root",
        ["cifar-10-python.tar.gz"]),
    "cifar100": TorchvisionSpec(
        "CIFAR100", [{"train": True}, {"train": False}],
        "cifar-100-python/ (cifar-100-python.tar.gz unpacked), or the archive itself in the root",
        ["cifar-100-python.tar.gz"]),
    "svhn": TorchvisionSpec(
        "SVHN", [{"split": "train"}, {"split": "test"}],
        "train_32x32.mat and test_32x32.mat directly in the root", []),
    "stl10": TorchvisionSpec(
        "STL10", [{"split": "unlabeled"}, {"split": "train"}, {"split": "test"}],
        "stl10_binary/ (stl10_binary.tar.gz unpacked: train_X.bin, train_y.bin, test_X.bin, "
        "test_y.bin, unlabeled_X.bin, class_names.txt), or the archive itself in the root",
        ["stl10_binary.tar.gz"]),
}


def _images_and_labels(part) -> tuple[torch.Tensor, np.ndarray]:
    """uint8 (N, C, H, W) images and int64 labels of a torchvision dataset object."""
    data = part.data
    data = data if isinstance(data, torch.Tensor) else torch.from_numpy(np.asarray(data))
    if data.ndim == 3:                      # MNIST family: (N, H, W)
        data = data.unsqueeze(1)
    elif data.shape[-1] == 3:               # CIFAR: (N, H, W, 3)
        data = data.permute(0, 3, 1, 2)
    labels = getattr(part, "targets", None)
    labels = getattr(part, "labels", None) if labels is None else labels
    labels = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    return data.contiguous(), labels.astype(np.int64)


def torchvision_source(name: str, spec: TorchvisionSpec) -> Callable[[Path, bool], ImageSource]:
    """A loader for a torchvision dataset; its last part is the official test split."""

    def load(root: Path, download: bool) -> ImageSource:
        import torchvision

        cls = getattr(torchvision.datasets, spec.dataset_class)
        archived = bool(spec.archives) and all((root / a).is_file() for a in spec.archives)

        def part(kwargs: dict):
            try:
                return cls(str(root), download=download, **kwargs)
            except (RuntimeError, OSError) as err:
                if download or not archived:
                    raise _missing(name, spec, root, download, err) from err
            sums = original_md5(cls)
            damaged = [a for a in spec.archives if not intact(root / a, sums)]
            if damaged:  # torchvision would download a damaged archive again, over the user's
                raise ValueError(f"{name}: {', '.join(str(root / a) for a in damaged)} is not the "
                                 "original file (its MD5 differs: cut short or changed); copy it "
                                 "again, or pass --data.download true where the network is "
                                 "reachable")
            try:  # the intact archives are here: torchvision unpacks them, no network
                return cls(str(root), download=True, **kwargs)
            except (RuntimeError, OSError) as err:
                raise _missing(name, spec, root, download, err) from err

        parts = [part(kwargs) for kwargs in spec.splits]
        loaded = [_images_and_labels(p) for p in parts]
        images = torch.cat([im for im, _ in loaded])
        targets = np.concatenate([t for _, t in loaded])
        n_test = len(loaded[-1][1])
        classes = list(getattr(parts[-1], "classes", None) or [str(c) for c in range(10)])
        return ImageSource(name, images, targets, classes,
                           test=np.arange(len(targets) - n_test, len(targets)))

    return load


def original_md5(cls) -> dict[str, str]:
    """The MD5 torchvision knows for each original archive of dataset class ``cls``, by file
    name."""
    sums = {os.path.basename(str(name)): md5 for name, md5 in getattr(cls, "resources", [])}
    if getattr(cls, "tgz_md5", None):
        sums[cls.filename] = cls.tgz_md5
    return sums


def intact(path: Path, sums: dict[str, str]) -> bool:
    """Whether the archive at ``path`` has the MD5 torchvision knows for it (unknown: no)."""
    from torchvision.datasets.utils import check_integrity

    return path.name in sums and check_integrity(str(path), sums[path.name])


def _missing(name: str, spec: TorchvisionSpec, root: Path, download: bool,
             err: Exception) -> FileNotFoundError:
    how = ("downloading failed (no network?)" if download
           else "or pass --data.download true where the network is reachable")
    return FileNotFoundError(
        f"{name} not found in {root}: place {spec.expected} there ({how}). "
        f"torchvision said: {err}")


SOURCES: dict[str, Callable[[Path, bool], ImageSource]] = {
    "digits": load_digits,
    **{name: torchvision_source(name, spec) for name, spec in TORCHVISION.items()},
}


def load_source(name: str, root: str | Path = "data", download: bool = False) -> ImageSource:
    """Load a built-in source by name (see ``SOURCES``)."""
    if name not in SOURCES:
        raise ValueError(f"unknown data source {name!r}; known: {', '.join(sorted(SOURCES))}, "
                         "'folder', or a Dataset class as an import path ('pkg.module.Class')")
    return SOURCES[name](Path(root), download)
