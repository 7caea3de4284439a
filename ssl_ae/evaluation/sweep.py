"""Few-label evaluation: labels per class x seeds, every method on the same split.

The test split is the one pretraining held out (read from its ``split.json``); for each
(k, seed) the k labeled images per class are drawn from the other images, and every method,
baselines included, is trained on exactly those images with a fixed schedule and scored once on
the test split. Nothing is selected on test data.
"""
from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from ..checkpoints import (held_out_record, load_autoencoder, load_encoder,
                           untrained_encoder)
from ..data import SemiSupervisedDataModule, Split
from ..graph import Eigenmap, Graph
from ..modules import ClassifierModule
from ..modules.classifier import (HEAD_DECAY, PLAIN_DECAY, few_label_decay,
                                  few_label_smoothing)
from ..nets import create_head
from ..rundir import check_writable, resolve_checkpoint, saved_split
from . import probes, report
from .metrics import score
from .results import Row
from .selection import METHODS, select


@dataclass
class SweepSpec:
    """What to sweep and how long each method trains.

    Args:
        labels_per_class: values of k; those above what the smallest class has are skipped.
        seeds: seeds of the labeled draws.
        head_steps: full-batch steps of the linear and MLP heads on frozen codes.
        head_lr: their learning rate.
        head_decay: their AdamW weight decay is ``head_decay / sqrt(labeled images per
            class)`` (:func:`~ssl_ae.modules.classifier.few_label_decay`), except on the
            spectral features (one per class), where it is 0.001.
        scratch_steps: steps (batches of up to 128 images) of the from-scratch encoder and of
            full fine-tuning; 0 leaves those rows out (a large encoder trains slowly on a CPU).
        full_finetune: also fine-tune the whole pretrained encoder (a separate row).
        knn_neighbours: k of the kNN probe.
        pca_components: size of the PCA baseline's features.
        propagation_neighbours: edges per image of the label-propagation graph.
        propagation_alpha: how far labels spread along it (0: not at all, towards 1: further).
        spectral_dims: eigenvectors of that graph that the spectral features keep (default:
            one per class).
        smoothing_steps: times each code is averaged with its graph neighbours' for the
            smoothed-codes head (``Graph.smooth``; a test image takes the weighted mean of its
            nearest graph images' smoothed codes); by default (null) a quarter of the square
            root of the graph images per labeled image, between 1 and 8
            (:func:`~ssl_ae.modules.classifier.few_label_smoothing`).
        budgets: labeling budgets (images in all) at which the ``selection`` methods choose
            which images to label, from the frozen codes alone; none: no selection rows.
        selection: the methods of :mod:`ssl_ae.evaluation.selection` compared at each budget.
    """

    labels_per_class: list[int] = field(default_factory=lambda: [1, 5, 10, 25, 100])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    head_steps: int = 200
    head_lr: float = 3e-2
    head_decay: float = HEAD_DECAY
    scratch_steps: int = 300
    full_finetune: bool = False
    knn_neighbours: int = 5
    pca_components: int = 32
    propagation_neighbours: int = 10
    propagation_alpha: float = 0.99
    spectral_dims: Optional[int] = None
    smoothing_steps: Optional[int] = None
    budgets: list[int] = field(default_factory=list)
    selection: list[str] = field(default_factory=lambda: list(METHODS))

    def check(self) -> None:
        """Raise on settings that leave nothing to sweep or train."""
        unknown = sorted(set(self.selection) - set(METHODS))
        if unknown:
            raise ValueError(f"sweep.selection: unknown {', '.join(unknown)}; known: "
                             f"{', '.join(METHODS)}")
        if self.budgets and min(self.budgets) < 2:
            raise ValueError(f"sweep.budgets must be at least 2 images, got {self.budgets}")
        if self.budgets and not self.selection:
            raise ValueError(f"sweep.budgets {self.budgets} but no sweep.selection method to "
                             f"choose the images: give some of {', '.join(METHODS)}, or no budgets")
        for name in ("labels_per_class", "seeds", "budgets", "selection"):
            values = getattr(self, name)
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:  # each would be reported as a mean over seeds it never had
                raise ValueError(f"sweep.{name} lists {', '.join(map(str, twice))} more than once; "
                                 "give each value once")
        if not 0 <= self.propagation_alpha < 1:
            raise ValueError(f"sweep.propagation_alpha must lie in [0, 1) (how far labels spread), "
                             f"got {self.propagation_alpha}")
        if not self.head_lr > 0 or not self.head_decay >= 0:
            raise ValueError(f"sweep.head_lr must be positive and sweep.head_decay not negative, "
                             f"got {self.head_lr} and {self.head_decay}")
        if not self.labels_per_class or not self.seeds:
            raise ValueError("sweep.labels_per_class and sweep.seeds need at least one value each")
        if self.full_finetune and self.scratch_steps == 0:
            raise ValueError("sweep.full_finetune needs sweep.scratch_steps above 0 (the steps "
                             "it trains); set them, or full_finetune false")
        small = {k: v for k, v in vars(self).items() if isinstance(v, int) and not isinstance(v, bool)
                 and v < (0 if k == "scratch_steps" else 1) and k != "spectral_dims"}
        if small or min(self.labels_per_class) < 1 or min(self.seeds) < 0:
            raise ValueError(f"sweep settings must be positive (seeds: not negative), got "
                             f"{small or {'labels_per_class': self.labels_per_class, 'seeds': self.seeds}}")


@dataclass
class Cache:
    """What every (k, seed) shares: the uint8 images (in memory or read from shards), targets,
    frozen codes standardised by the unlabeled images' statistics, their neighbour graph, the spectral
    features of every image (standardised the same way), the unlabeled images' diffusion
    coordinates (for choosing images to label), the pixels' PCA features (fitted to the unlabeled
    images), the test split; and the smoothed codes of every image, made on first use for each
    step count (:meth:`smoothed`)."""

    images: torch.Tensor
    targets: torch.Tensor
    codes: np.ndarray
    graph: Graph
    spectral: np.ndarray
    diffusion: np.ndarray
    pca: np.ndarray
    test: np.ndarray
    pool: np.ndarray
    classes: list[str]
    encoder_spec: dict
    pretrained: Path
    smoothings: dict[int, np.ndarray] = field(default_factory=dict)

    def smoothed(self, steps: int) -> np.ndarray:
        """Every image's code smoothed ``steps`` times (:func:`smoothed_codes`)."""
        if steps not in self.smoothings:
            self.smoothings[steps] = smoothed_codes(self.graph, self.codes, self.pool, self.test,
                                                    steps)
        return self.smoothings[steps]


def feasible_ks(targets: np.ndarray, pool: np.ndarray, ks: list[int]) -> list[int]:
    """The ``ks`` that every class with images in ``pool`` can give."""
    counts = np.bincount(targets[pool[labeled_positions(targets, pool)]])
    smallest = counts[counts > 0].min() if counts.any() else 0
    return [k for k in ks if 1 <= k <= smallest]


def labeled_positions(targets: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Positions in ``pool`` of the images that have a label (the others' target is -1)."""
    return np.flatnonzero(targets[pool] >= 0)


def run_sweep(data: SemiSupervisedDataModule, pretrained: str | Path,
              spec: Optional[SweepSpec] = None) -> tuple[list[Row], dict]:
    """Train and score every method for every (k, seed); return the rows and, for the report,
    every split, the standardised codes and the predictions of the frozen linear head on the
    first seed of the largest k (``shown``)."""
    spec = spec or SweepSpec()
    spec.check()
    cache = build_cache(data, pretrained, spec)
    ks = feasible_ks(cache.targets.numpy(), cache.pool, spec.labels_per_class)
    if not ks:
        raise ValueError(f"no labels_per_class in {spec.labels_per_class} is possible: the "
                         "smallest class has fewer non-test images; choose smaller values")
    skipped = [k for k in spec.labels_per_class if k not in ks]
    if skipped:
        warnings.warn(f"sweep.labels_per_class {skipped} skipped: the smallest class has fewer "
                      f"non-test images; sweeping {ks}", stacklevel=2)
    candidates = labeled_positions(cache.targets.numpy(), cache.pool)  # their labels are read
    if spec.budgets and max(spec.budgets) > len(candidates):
        raise ValueError(f"sweep.budgets {max(spec.budgets)}: only {len(candidates)} non-test "
                         "images have labels to choose from; give smaller budgets")
    rows, kept = [], {"splits": {}, "codes": cache.codes}
    jobs = [(k, seed) for k in ks for seed in spec.seeds]
    for k, seed in tqdm(jobs, desc="few-label sweep", unit="split"):
        split = Split.make(cache.targets.numpy(), k, seed, test=cache.test, class_names=cache.classes)
        name = f"k{k}-seed{seed}"
        kept["splits"][name] = split
        seed_for(name)
        for method, frozen, probs in methods(cache, split, spec):
            y_test = cache.targets[cache.test]
            rows.append(Row(method, frozen, k, seed, **score(probs, y_test)))
            if method == "frozen encoder + linear head" and k == max(ks) and seed == spec.seeds[0]:
                kept["shown"] = report.Shown(method, k, probs, y_test.numpy(),
                                             np.asarray(split.labeled))
    picks = [(b, seed, how) for b in spec.budgets for seed in spec.seeds for how in spec.selection]
    y_test = cache.targets[cache.test]
    for budget, seed, how in tqdm(picks, desc="images chosen to label", unit="split"):
        chosen = cache.pool[candidates[select(cache.codes[cache.pool[candidates]], budget, how,
                                              seed, eigenmap=cache.diffusion[candidates])]]
        split = Split.make(cache.targets.numpy(), None, seed, test=cache.test, labeled=chosen,
                           class_names=cache.classes)
        name = f"budget{budget}-{how}-seed{seed}"
        kept["splits"][name] = split
        seed_for(name)
        for method, frozen, probs in methods(cache, split, spec):
            rows.append(Row(method, frozen, None, seed, **score(probs, y_test),
                            selection=how, budget=budget))
    return rows, kept


def seed_for(split_name: str) -> None:
    """Seed the random numbers of one split's methods (heads' initial weights, batches) by the
    split's name alone, so a row is the same whichever rows were swept before it: sweeping
    ``labels_per_class [5]`` and ``seeds [1]`` repeats the k = 5, seed 1 rows of a larger sweep."""
    torch.manual_seed(zlib.crc32(split_name.encode()))


def build_cache(data: SemiSupervisedDataModule, pretrained: str | Path,
                spec: Optional[SweepSpec] = None) -> Cache:
    spec = spec or SweepSpec()
    path = resolve_checkpoint(pretrained)
    saved = saved_split(path)
    data.loaded_source()
    if saved:
        test = np.asarray(data.check_drawn_from_this(Split.load(saved), saved).test)
    else:
        data.check_held_out(held_out_record(path), path)
        test = data.test_split()
    pool = np.setdiff1d(np.arange(len(data.source.targets)), test)
    autoencoder = load_autoencoder(path, data.image_shape)
    images = data.source.images
    codes = probes.encode(autoencoder.encoder, images).numpy()
    return cache_codes(images, data.source.targets, codes, test, pool, data.source.classes,
                       autoencoder.encoder.spec, path, spec)


def cache_codes(images: torch.Tensor, targets: np.ndarray, codes: np.ndarray, test: np.ndarray,
                pool: np.ndarray, classes: list[str], encoder_spec: dict, pretrained: Path,
                spec: SweepSpec) -> Cache:
    """The :class:`Cache` of codes already encoded: everything fitted to the ``pool`` images
    (standardisation, graph, eigenmap, PCA) and applied to the ``test`` ones."""
    codes = probes.standardize(codes, stats_from=codes[pool])[0]
    graph = Graph.build(torch.from_numpy(codes[pool]), spec.propagation_neighbours)
    eigenmap = Eigenmap.fit(graph, spec.spectral_dims or len(classes))
    spectral = in_rows(len(codes), pool, eigenmap.vectors, test,
                       eigenmap.transform(torch.from_numpy(codes[test])))
    pca = probes.pca_features(images, pool, spec.pca_components)
    return Cache(images, torch.from_numpy(targets), codes, graph, spectral, eigenmap.diffusion,
                 pca, test, pool, classes, encoder_spec, pretrained)


def smoothed_codes(graph: Graph, codes: np.ndarray, pool: np.ndarray, test: np.ndarray,
                   steps: int) -> np.ndarray:
    """Every image's code smoothed along the ``pool`` images' ``graph`` (``Graph.smooth``; a
    ``test`` image is placed by ``Graph.place``), standardised by the pool's statistics."""
    smoothed = graph.smooth(graph.codes, steps)
    placed = graph.place(torch.from_numpy(codes[test]), smoothed)
    return in_rows(len(codes), pool, smoothed.numpy(), test, placed.numpy())


def in_rows(rows: int, pool: np.ndarray, pool_features: np.ndarray, test: np.ndarray,
            test_features: np.ndarray) -> np.ndarray:
    """Features of all ``rows`` images: the ``pool`` and ``test`` images' in their rows (any
    other image's zero), standardised by the pool's statistics."""
    features = np.zeros((rows, pool_features.shape[1]), np.float32)
    features[pool], features[test] = pool_features, test_features
    return probes.standardize(features, stats_from=features[pool])[0]


def methods(cache: Cache, split: Split, spec: SweepSpec):
    """Yield (method, frozen_encoder, test probabilities) for one split."""
    lab, test, pool = np.asarray(split.labeled), cache.test, cache.pool
    y = cache.targets[lab]
    train, test_codes = cache.codes[lab], cache.codes[test]
    num_classes = len(cache.classes)

    decay = few_label_decay(len(lab), num_classes, spec.head_decay)
    smoothing = spec.smoothing_steps or few_label_smoothing(len(lab), len(pool))

    def head(name: str, features: np.ndarray, weight_decay: float = decay) -> np.ndarray:
        return probes.head_on_features(
            name, torch.from_numpy(features[lab]).float(), y,
            torch.from_numpy(features[test]).float(), num_classes, spec.head_steps, spec.head_lr,
            weight_decay=weight_decay)

    yield "frozen encoder + linear head", True, head("linear", cache.codes)
    yield "frozen encoder + spectral features + linear head", True, head(
        "linear", cache.spectral, PLAIN_DECAY)
    yield "frozen encoder + smoothed codes + linear head", True, head(
        "linear", cache.smoothed(smoothing))
    yield "frozen encoder + MLP head", True, head("mlp", cache.codes)
    yield "frozen encoder + logistic regression", True, probes.logistic_regression(
        train, y.numpy(), test_codes, num_classes)
    yield "frozen encoder + kNN", True, probes.knn(train, y.numpy(), test_codes,
                                                   spec.knn_neighbours, num_classes)
    spread = cache.graph.propagate(np.searchsorted(pool, lab), y, num_classes,
                                   spec.propagation_alpha)
    yield "frozen encoder + label propagation", True, cache.graph.extend(
        spread, torch.from_numpy(test_codes).float())

    def floats(rows: np.ndarray) -> torch.Tensor:
        return probes.images_to_float(cache.images[torch.as_tensor(rows)])

    lab_x, test_x = floats(lab), floats(test)
    lab_pixels, test_pixels = lab_x.flatten(1).numpy(), test_x.flatten(1).numpy()
    yield "logistic regression on pixels", False, probes.logistic_regression(
        lab_pixels, y.numpy(), test_pixels, num_classes)
    yield "logistic regression on PCA", False, probes.logistic_regression(
        cache.pca[lab], y.numpy(), cache.pca[test], num_classes)
    if spec.scratch_steps:
        yield "same encoder from scratch", False, train_encoder(
            untrained_encoder(cache.encoder_spec), lab_x, y, test_x, num_classes,
            spec.scratch_steps)
    if spec.full_finetune:
        yield "full fine-tune", False, train_encoder(
            load_encoder(cache.pretrained), lab_x, y, test_x, num_classes,
            spec.scratch_steps, lr=1e-3)


def train_encoder(encoder: torch.nn.Module, train_x: torch.Tensor, train_y: torch.Tensor,
                  test_x: torch.Tensor, num_classes: int, steps: int, lr: float = 1e-2) -> np.ndarray:
    """Encoder and linear head trained together on the labeled images only."""
    module = ClassifierModule(encoder, create_head("linear", in_dim=encoder.code_dim,
                                                   num_classes=num_classes),
                              num_classes, freeze_encoder=False, lr=lr)
    return probes.predict_proba(probes.train_classifier(module, train_x, train_y, steps), test_x)


def evaluate(data: SemiSupervisedDataModule, pretrained: str | Path, out_dir: str | Path,
             spec: Optional[SweepSpec] = None, overwrite: bool = False) -> list[dict]:
    """Run the sweep and write its report into ``out_dir``; return the mean ± std summary."""
    check_writable(Path(out_dir), overwrite)  # before the work, not after it
    rows, kept = run_sweep(data, pretrained, spec)
    return report.write_report(rows, out_dir, pretrained, data, overwrite, splits=kept["splits"],
                               codes=kept["codes"], shown=kept["shown"])
