"""Seeded, stratified splits. Pure numpy: no torch, no Lightning.

The rules (see PROTOCOL.md): the test split is chosen first and never touched again; the labeled
subset is drawn from what is left, ``labels_per_class`` images per class; every non-test image is
in the unlabeled pool (its label unused).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


def stratified_holdout(targets: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded holdout with about ``fraction`` of each class (at least one each)."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    held = []
    for cls in np.unique(targets):
        members = np.flatnonzero(targets == cls)
        n = max(1, round(fraction * len(members)))
        held.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(held))


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
    for cls in np.unique(targets):
        members = pool[pool_targets == cls]
        if len(members) < per_class:
            name = class_names[cls] if class_names else cls
            raise ValueError(
                f"class {name!r} has {len(members)} images outside the test split, fewer than "
                f"labels_per_class={per_class}; lower labels_per_class or add images of that class"
            )
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


@dataclass
class Split:
    """Which images are test, labeled and unlabeled; saved as ``split.json`` with the run."""

    test: list[int]
    labeled: list[int]
    unlabeled: list[int]
    seed: int
    labels_per_class: int
    class_counts: dict[str, int]
    num_images: int

    @classmethod
    def make(cls, targets: np.ndarray, labels_per_class: int, seed: int,
             test: np.ndarray | None = None, test_fraction: float = 0.25,
             class_names: list[str] | None = None) -> "Split":
        """Choose the split: ``test`` if the dataset has one, else a stratified holdout."""
        targets = np.asarray(targets)
        test = stratified_holdout(targets, test_fraction, seed) if test is None else np.sort(test)
        rest = np.setdiff1d(np.arange(len(targets)), test)
        labeled = labeled_subset(targets, rest, labels_per_class, seed, class_names)
        names = class_names or [str(c) for c in range(int(targets.max()) + 1)]
        counts = np.bincount(targets[labeled], minlength=len(names))
        return cls(test=test.tolist(), labeled=labeled.tolist(), unlabeled=rest.tolist(), seed=seed,
                   labels_per_class=labels_per_class,
                   class_counts={n: int(c) for n, c in zip(names, counts)},
                   num_images=len(targets))

    def fingerprint(self) -> str:
        """A short hash of the indices: equal fingerprints mean the same split."""
        indices = json.dumps([self.test, self.labeled, self.unlabeled]).encode()
        return hashlib.sha256(indices).hexdigest()[:12]

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
        """Raise if the test split overlaps the labeled or unlabeled images."""
        test = set(self.test)
        for name in ("labeled", "unlabeled"):
            leaked = test.intersection(getattr(self, name))
            if leaked:
                raise ValueError(f"split leaks {len(leaked)} test images into the {name} set, "
                                 f"e.g. index {min(leaked)}")
