"""Custom sources with code: any map-style torch Dataset, named by import path in the config.

The contract: ``source: mypackage.module.MyDataset`` (a class or a function returning a
Dataset) is called with ``dataset_kwargs``; ``len(ds)`` items are read once, into memory.
Each item is ``(image, label)`` or a bare ``image``:

- ``image``: a PIL image (any mode; turned upright as its EXIF orientation says, as folders
  are), an (H, W[, C]) numpy array, or a (C, H, W) tensor; floats in [0, 1] (not normalised
  by a mean and std), integers in [0, 255]. It is converted to ``channels`` and ``image_size``.
- ``label``: a class index ``0..K-1`` (int, or a NumPy or tensor scalar); ``-1`` or ``None``
  (or a bare image) means unlabeled. Class names and fractional numbers are refused by item.

Class names come from ``ds.classes`` if it has them, else ``"0".."K-1"``. With
``test_dataset_kwargs`` the same callable is called again for the official test split (whose
items must all be labeled; where both parts name their classes, the test labels are matched to
the training classes by name, as torchvision's ImageFolder numbers a test folder that lacks a
class differently); otherwise a seeded stratified holdout is used.

    data:
      source: torchvision.datasets.MNIST
      dataset_kwargs: {root: data, train: true}
      test_dataset_kwargs: {root: data, train: false}
"""
from __future__ import annotations

import importlib
import re
import warnings
from typing import Any, Optional

import numpy as np
import torch

from .images import in_common_channels, natural_channels, pil_to_uint8, to_pil, upright
from .sources import ImageSource


DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def import_object(path: str) -> Any:
    """The object at ``package.module.name``; errors say what was not found.

    Importing runs the module's code, as any Python config does: name only modules you trust.
    File paths are refused."""
    if not DOTTED_NAME.fullmatch(path):
        raise ValueError(f"source {path!r}: not an import path ('package.module.Class'); a "
                         "Dataset is named by its dotted module path, not by a file path")
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"source {path!r}: cannot import module {module_name!r} ({err}); is "
                         "it installed or on PYTHONPATH?") from err
    if not hasattr(module, attr):
        raise ValueError(f"source {path!r}: module {module_name!r} has no {attr!r}")
    return getattr(module, attr)


def _split_item(item: Any) -> tuple[Any, int]:
    if isinstance(item, dict):
        raise ValueError(f"a dict (keys {', '.join(map(str, item))}), not (image, label): wrap "
                         "the Dataset so that an item is (item['image'], item['label']) or a bare "
                         "image")
    if isinstance(item, tuple) and len(item) != 2:
        raise ValueError(f"a {len(item)}-tuple, not (image, label): wrap the Dataset so that an "
                         "item is (image, label) or a bare image")
    if isinstance(item, (tuple, list)) and len(item) == 2:
        image, label = item
    else:
        image, label = item, None
    if label is None:
        return image, -1
    if isinstance(label, torch.Tensor):
        label = label.detach().cpu().numpy()
    if isinstance(label, (np.ndarray, np.generic)) and label.size == 1:
        label = label.item()
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    if isinstance(label, bool) or not isinstance(label, int):
        raise ValueError(f"label {label!r} ({type(label).__name__}) is not a class index: give "
                         "each item an int 0..K-1 (map class names to indices, as torchvision's "
                         "ImageFolder does), or -1/None for unlabeled")
    return image, label


def read_dataset(ds, where: str, channels: Optional[int], size: Optional[int]
                 ) -> tuple[list[np.ndarray], list[int], int, int]:
    """Every item of ``ds`` as uint8 (C, S, S) arrays and int labels. Unless ``channels``
    says, the images are grey if all of them are, else colour (as for folders)."""
    try:
        count = len(ds)
    except TypeError:
        raise ValueError(f"{where} has no len() (an IterableDataset?): give a map-style Dataset, "
                         "with __len__ and __getitem__") from None
    arrays, labels = [], []
    for i in range(count):
        try:
            image, label = _split_item(ds[i])
            img = upright(to_pil(image))
            if size is None:
                w, h = img.size
                if w != h:
                    raise ValueError(f"images are {w}x{h}, not square: set data.image_size")
                size = w
            arrays.append(pil_to_uint8(img, channels or natural_channels(img), size))
        except Exception as err:  # the user's Dataset may raise anything: name the item
            kind = "" if isinstance(err, ValueError) else f"{type(err).__name__}: "
            raise ValueError(f"{where}, item {i}: {kind}{err}") from err
        if label < -1:
            raise ValueError(f"{where}, item {i}: label {label} (use 0..K-1, or -1/None for "
                             "unlabeled)")
        labels.append(label)
    if not arrays:
        raise ValueError(f"{where} is empty")
    if channels is None:
        colour = sum(a.shape[0] == 3 for a in arrays)
        if colour and arrays[0].shape[0] == 1:
            warnings.warn(f"{where}: {colour} of {len(arrays)} images are colour though the first "
                          "is grey: all are read in colour; set data.channels 1 to read them as "
                          "grey", stacklevel=2)
        arrays = in_common_channels(arrays)
        channels = arrays[0].shape[0]
    return arrays, labels, channels, size


def by_training_names(labels: list[int], train_classes: Optional[list],
                      test_classes: Optional[list], where: str) -> list[int]:
    """Test labels as indices of the training classes, matched by name where both parts name
    their classes."""
    if not train_classes or not test_classes or list(test_classes) == list(train_classes):
        return labels
    unknown = [str(c) for c in test_classes if c not in train_classes]
    if unknown:
        raise ValueError(f"{where}: test classes {', '.join(unknown)} are not among the training "
                         f"classes ({', '.join(map(str, train_classes))}); rename or remove them")
    index = [list(train_classes).index(c) for c in test_classes]
    return [index[label] if label < len(index) else label for label in labels]


def load_dataset(path: str, dataset_kwargs: Optional[dict] = None,
                 test_dataset_kwargs: Optional[dict] = None, channels: Optional[int] = None,
                 image_size: Optional[int] = None) -> ImageSource:
    """A source from a Dataset class (or factory) given by import path; see the module doc.

    Args:
        path: ``package.module.Class``.
        dataset_kwargs: arguments for the training part.
        test_dataset_kwargs: arguments for the test part; None: a seeded holdout is used.
        channels: 1 or 3; None takes the first image's.
        image_size: side every image is resized to; None takes the first image's (if square).
    """
    factory = import_object(path)
    parts = [dataset_kwargs or {}] + ([test_dataset_kwargs] if test_dataset_kwargs is not None else [])
    arrays, labels, first, n_train = [], [], None, 0
    for n, kwargs in enumerate(parts):
        where = f"{path}(**{'test_' if n else ''}dataset_kwargs)"
        try:
            ds = factory(**kwargs)
        except Exception as err:  # the user's code: say where it failed
            raise ValueError(f"{where} failed: {type(err).__name__}: {err}") from err
        first = ds if first is None else first
        a, lab, channels, image_size = read_dataset(ds, where, channels, image_size)
        if n == 1 and min(lab) < 0:
            raise ValueError(f"{where}: the test split has unlabeled items; label them all")
        if n == 1:
            lab = by_training_names(lab, getattr(first, "classes", None),
                                    getattr(ds, "classes", None), where)
        arrays += a
        labels += lab
        n_train = n_train if n else len(labels)
    targets = np.asarray(labels, dtype=np.int64)
    if targets.max() < 0:
        raise ValueError(f"{path}: no item has a label; at least one per class is needed")
    classes = list(getattr(first, "classes", None) or [str(c) for c in range(targets.max() + 1)])
    if targets.max() >= len(classes):
        raise ValueError(f"{path}: label {targets.max()} but only {len(classes)} classes")
    test = np.arange(n_train, len(labels)) if test_dataset_kwargs is not None else None
    return ImageSource(path, torch.from_numpy(np.stack(arrays)), targets, [str(c) for c in classes],
                       test=test)
