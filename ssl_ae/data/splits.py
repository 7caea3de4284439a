"""Seeded, stratified splits. Pure numpy: no torch, no Lightning.

The rules (see PROTOCOL.md): the test split is chosen first and never touched again; the labeled
images are drawn from what is left (``labels_per_class`` per class, a fraction of each class, or
an explicit list); an optional validation set is carved out of the labeled images only; every
non-test image is in the unlabeled pool (its label unused), the labeled ones too unless asked not.

A target of ``-1`` marks an image without a label (e.g. STL-10's unlabeled split): it is never
test, labeled or validation, only unlabeled.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

UNLABELED = -1


def stratified_holdout(targets: np.ndarray, fraction: float, seed: int,
                       pool: Optional[np.ndarray] = None,
                       class_names: list[str] | None = None) -> np.ndarray:
    """Indices of a seeded holdout with about ``fraction`` of each class (at least one each).

    Args:
        targets: class index per image (``-1`` = no label, never held out).
        fraction: share of each class to hold out, in (0, 1).
        seed: random seed.
        pool: indices to draw from (default: every labeled image).
        class_names: names for the messages.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    targets = np.asarray(targets)
    pool = np.flatnonzero(targets != UNLABELED) if pool is None else np.asarray(pool)
    rng = np.random.default_rng(seed)
    held = []
    for cls in np.unique(targets[pool]):
        members = pool[targets[pool] == cls]
        if len(members) < 2:
            raise ValueError(f"class {class_name(cls, class_names)!r} has 1 image: the test holdout takes at least one image "
                             "of each class and labeling needs another; add images of that "
                             "class, or give a test_dir")
        n = max(1, round(fraction * len(members)))
        held.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)


def test_indices(targets: np.ndarray, seed: int, test: np.ndarray | None = None,
                 test_fraction: float = 0.25, labeled: np.ndarray | None = None,
                 class_names: list[str] | None = None) -> np.ndarray:
    """The test split, sorted: the dataset's own ``test`` indices, else a seeded stratified
    holdout of ``test_fraction`` of the labeled images, none of them in ``labeled``."""
    if test is None:
        candidates = np.flatnonzero(np.asarray(targets) != UNLABELED)
        if labeled is not None:
            candidates = np.setdiff1d(candidates, labeled)
        test = stratified_holdout(targets, test_fraction, seed, pool=candidates,
                                  class_names=class_names)
    return np.sort(np.asarray(test, dtype=np.int64))


def indices_digest(indices) -> str:
    """A short hash of a list of image indices: equal digests mean the same images."""
    return hashlib.sha256(json.dumps(sorted(int(i) for i in indices)).encode()).hexdigest()[:16]


def class_name(cls: int, class_names: Optional[list[str]]) -> Any:
    return class_names[cls] if class_names else cls


def labeled_subset(targets: np.ndarray, pool: np.ndarray, per_class: int, seed: int,
                   class_names: list[str] | None = None) -> np.ndarray:
    """``per_class`` seeded indices of each class, drawn from ``pool``.

    Raises:
        ValueError: ``per_class`` < 1, or a class has fewer than ``per_class`` images in the pool.
    """
    if per_class < 1:
        raise ValueError(f"labels_per_class must be at least 1, got {per_class}")
    rng = np.random.default_rng(seed)
    pool_targets = targets[pool]
    chosen = []
    for cls in np.unique(targets[targets != UNLABELED]):
        members = pool[pool_targets == cls]
        if len(members) < per_class:
            raise ValueError(
                f"class {class_name(cls, class_names)!r} has {len(members)} images outside the "
                f"test split, fewer than labels_per_class={per_class}; lower labels_per_class or "
                "add images of that class")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def labeled_fraction_subset(targets: np.ndarray, pool: np.ndarray, fraction: float, seed: int,
                            class_names: list[str] | None = None) -> np.ndarray:
    """A seeded ``fraction`` of each class of ``pool`` (at least one image per class).

    Raises:
        ValueError: ``fraction`` outside (0, 1], or a class has no image in the pool.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"labeled_fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(targets[targets != UNLABELED]):
        members = pool[targets[pool] == cls]
        if len(members) == 0:
            raise ValueError(f"class {class_name(cls, class_names)!r} has no images outside the "
                             "test split; add images of that class")
        n = max(1, round(fraction * len(members)))
        chosen.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(chosen))


def validation_holdout(targets: np.ndarray, labeled: np.ndarray, fraction: float, seed: int,
                       class_names: list[str] | None = None) -> np.ndarray:
    """Part of the labeled images (about ``fraction`` per class, at least one) for validation.

    Raises:
        ValueError: ``fraction`` outside [0, 1), or a class would keep no labeled training image.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    if fraction == 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng([seed, 1])  # a stream of its own: the labeled draw is unchanged
    held = []
    for cls in np.unique(targets[labeled]):
        members = labeled[targets[labeled] == cls]
        n = max(1, round(fraction * len(members)))
        if n >= len(members):
            raise ValueError(
                f"class {class_name(cls, class_names)!r} has {len(members)} labeled images: "
                f"val_fraction={fraction} would leave none to train on; label more images per "
                "class or set val_fraction to 0")
        held.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(held))


@dataclass
class Split:
    """Which images are test, labeled, validation and unlabeled; saved as ``split.json``.

    ``labeled`` and ``val`` are disjoint and both come out of the labeled budget; ``class_counts``
    counts ``labeled`` (the images the head trains on). ``settings`` records the data settings
    that produced the split, so a later stage can tell whether it may reuse it.
    """

    test: list[int]
    labeled: list[int]
    unlabeled: list[int]
    seed: int
    labels_per_class: Optional[int]
    class_counts: dict[str, int]
    num_images: int
    val: list[int] = field(default_factory=list)
    labeled_by: str = "labels_per_class"
    labeled_in_unlabeled: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""

    @classmethod
    def make(cls, targets: np.ndarray, labels_per_class: Optional[int] = 10, seed: int = 0,
             test: np.ndarray | None = None, test_fraction: float = 0.25,
             class_names: list[str] | None = None, labeled_fraction: Optional[float] = None,
             labeled: np.ndarray | None = None, val_fraction: float = 0.0,
             labeled_in_unlabeled: bool = True, settings: Optional[dict] = None,
             data_fingerprint: str = "") -> "Split":
        """Choose the split.

        Args:
            targets: class index per image, ``-1`` for images without a label.
            labels_per_class: labeled images per class (used unless one of the next two is given).
            seed: chooses the test holdout, the labeled images and the validation images.
            test: the dataset's own test indices; None draws a stratified holdout.
            test_fraction: size of that holdout.
            class_names: names for the messages and ``class_counts``.
            labeled_fraction: label this fraction of each class instead.
            labeled: label exactly these indices instead (never held out as test).
            val_fraction: share of each class's labeled images kept for validation.
            labeled_in_unlabeled: labeled and validation images are also in the unlabeled pool.
            settings: recorded as is.
            data_fingerprint: a hash of the images and labels the split is drawn from, so a
                later stage can refuse to apply it to other data.
        """
        targets = np.asarray(targets)
        n = len(targets)
        if n == 0:
            raise ValueError("the data source has no images")
        names = class_names or [str(c) for c in range(int(targets.max()) + 1)]
        labeled_classes = np.unique(targets[targets != UNLABELED])
        if len(labeled_classes) < 2:
            raise ValueError(f"the data has {len(labeled_classes)} class with labels "
                             f"({', '.join(str(class_name(c, names)) for c in labeled_classes) or 'none'}); "
                             "a classifier needs at least 2: add a folder (or labels) per class")
        if labeled is not None:
            labeled = check_explicit(targets, labeled, test)
        test = test_indices(targets, seed, test, test_fraction, labeled, names)
        rest = np.setdiff1d(np.arange(n), test)
        pool = rest[targets[rest] != UNLABELED]
        if labeled is not None:
            labeled_by = "labeled_file"
        elif labeled_fraction is not None:
            labeled_by = "labeled_fraction"
            labeled = labeled_fraction_subset(targets, pool, labeled_fraction, seed, names)
        else:
            labeled_by = "labels_per_class"
            labeled = labeled_subset(targets, pool, labels_per_class, seed, names)
        val = validation_holdout(targets, labeled, val_fraction, seed, names)
        labeled = np.setdiff1d(labeled, val)
        unlabeled = rest if labeled_in_unlabeled else np.setdiff1d(rest, np.union1d(labeled, val))
        counts = np.bincount(targets[labeled], minlength=len(names))
        return cls(test=test.tolist(), labeled=labeled.tolist(), unlabeled=unlabeled.tolist(),
                   seed=seed, labels_per_class=labels_per_class if labeled_by == "labels_per_class" else None,
                   class_counts={nm: int(c) for nm, c in zip(names, counts)}, num_images=n,
                   val=val.tolist(), labeled_by=labeled_by,
                   labeled_in_unlabeled=labeled_in_unlabeled, settings=dict(settings or {}),
                   data_fingerprint=data_fingerprint)

    def fingerprint(self) -> str:
        """A short hash of the indices: equal fingerprints mean the same split."""
        indices = json.dumps([self.test, self.labeled, self.unlabeled]).encode()
        return hashlib.sha256(indices).hexdigest()[:12]

    def check_data(self, fingerprint: str, where: str | Path) -> None:
        """Raise if this split was drawn from data other than the one ``fingerprint`` names."""
        if self.data_fingerprint and self.data_fingerprint != fingerprint:
            raise ValueError(
                f"{where} was drawn from other data (fingerprint {self.data_fingerprint}, this data "
                f"{fingerprint}: other images, labels or test split, from other --data settings "
                "or from files added, removed or changed since); pass the --data settings of the "
                "stage that wrote it (see its config.yaml) on its files, or pretrain again on "
                "this data")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> "Split":
        try:
            split = cls(**json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as err:
            raise ValueError(f"{path}: not a readable split.json ({err})") from err
        split.check()
        return split

    def check(self) -> None:
        """Raise if the test split overlaps the other sets, or validation overlaps labeled."""
        test = set(self.test)
        for name in ("labeled", "val", "unlabeled"):
            leaked = test.intersection(getattr(self, name))
            if leaked:
                raise ValueError(f"split leaks {len(leaked)} test images into the {name} set, "
                                 f"e.g. index {min(leaked)}")
        both = set(self.labeled).intersection(self.val)
        if both:
            raise ValueError(f"split has {len(both)} images both labeled and validation, "
                             f"e.g. index {min(both)}")


def check_explicit(targets: np.ndarray, labeled: np.ndarray, test: np.ndarray | None) -> np.ndarray:
    """Validate an explicit list of labeled indices: in range, labeled, not test."""
    labeled = np.unique(np.asarray(labeled, dtype=np.int64))
    if len(labeled) == 0:
        raise ValueError("the labeled file lists no images")
    bad = labeled[(labeled < 0) | (labeled >= len(targets))]
    if len(bad):
        raise ValueError(f"labeled file: indices out of range 0..{len(targets) - 1}: {bad[:5].tolist()}")
    no_label = labeled[targets[labeled] == UNLABELED]
    if len(no_label):
        raise ValueError(f"labeled file lists {len(no_label)} images that have no label, "
                         f"e.g. index {no_label[:5].tolist()}")
    if test is not None:
        in_test = np.intersect1d(labeled, test)
        if len(in_test):
            raise ValueError(f"labeled file lists {len(in_test)} images of the test split, e.g. "
                             f"index {in_test[:5].tolist()}; the test split is never labeled")
    return labeled
