"""Few-label classifiers, each returning test-set class probabilities.

Feature methods (kNN, logistic regression, heads) work on a frozen encoder's codes, computed
once; the from-scratch and full fine-tune baselines train an encoder on the labeled images.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator, Optional

import numpy as np
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from ..graph import moments
from ..modules import ClassifierModule
from ..modules.classifier import few_label_decay
from ..nets import create_head


def encoding_device() -> torch.device:
    """This process's GPU where there is one (``LOCAL_RANK`` under ``torchrun``), else the CPU:
    encoding tens of thousands of images is most of a sweep's time on a CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())


@torch.no_grad()
def encode(encoder: nn.Module, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Codes of uint8 images (N, C, H, W) under a frozen encoder in eval mode, computed on
    :func:`encoding_device` and returned on the CPU.

    In a multi-process run (``torch.distributed`` initialised, e.g. under ``torchrun``) each
    process encodes every world-size-th batch and every process gets all the codes, gathered:
    the same batches as one process encodes, so the same codes."""
    encoder.eval()
    starts = range(0, len(images), batch_size)
    shared = dist.is_available() and dist.is_initialized()
    world, rank = (dist.get_world_size(), dist.get_rank()) if shared else (1, 0)
    home, device = next(encoder.parameters(), torch.empty(0)).device, encoding_device()
    encoder.to(device)
    try:
        mine = [encoder(images[i:i + batch_size].to(device).float() / 255).float().cpu()
                for i in starts[rank::world]]
    finally:
        encoder.to(home)
    if world == 1:
        return torch.cat(mine)
    dim = mine[0].shape[1] if mine else encoder(images[:1].float() / 255).shape[1]
    block = torch.zeros(-(-len(starts) // world), batch_size, dim)
    for j, codes in enumerate(mine):
        block[j, :len(codes)] = codes
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    blocks = [torch.empty_like(block, device=device) for _ in range(world)]
    dist.all_gather(blocks, block.to(device))
    ordered = torch.cat([blocks[b % world][b // world].cpu() for b in range(len(starts))])
    return ordered[:len(images)]


def standardize(train: np.ndarray, *others: np.ndarray, stats_from: np.ndarray) -> list[np.ndarray]:
    """Scale features by the mean and std of ``stats_from`` (unlabeled images: no labels used)."""
    mean, std = moments(stats_from)
    return [(a - mean) / std for a in (train, *others)]


def logistic_regression(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                        num_classes: Optional[int] = None, C: float = 1.0) -> np.ndarray:
    """L2-regularised logistic regression (``C``: inverse strength), multinomial over three or
    more classes, one sigmoid over two (scikit-learn's choice). Newton-CG reaches
    the same optimum as L-BFGS in about a tenth of the time on thousands of pixels
    (ill-conditioned features)."""
    num_classes = num_classes or int(train_y.max()) + 1
    if len(np.unique(train_y)) == 1:  # a small labeling budget may pick one class only
        return np.eye(num_classes)[np.full(len(test_x), train_y[0])]
    model = LogisticRegression(C=C, solver="newton-cg", max_iter=5000).fit(train_x, train_y)
    return full_proba(model, test_x, num_classes)


def knn(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, neighbours: int = 5,
        num_classes: Optional[int] = None) -> np.ndarray:
    """Cosine k-nearest neighbours, each weighted by 1 / its cosine distance (k capped by the
    labeled images available)."""
    model = KNeighborsClassifier(min(neighbours, len(train_y)), weights="distance", metric="cosine")
    return full_proba(model.fit(train_x, train_y), test_x, num_classes or int(train_y.max()) + 1)


def pca_features(images, pool: np.ndarray, components: int = 32,
                 batch_size: int = 4096) -> np.ndarray:
    """PCA features of every image's pixels, fitted to the ``pool`` images (unlabeled: no
    labels used) and standardised by their statistics.

    Args:
        images: uint8 (N, C, H, W), a tensor or anything indexed like one (e.g. shards).
        pool: rows the PCA and the standardisation are fitted to.
        components: features kept (at most the pool's size and the pixel count).
        batch_size: images converted to floats at a time.
    """
    def pixels(rows: np.ndarray) -> np.ndarray:
        return images_to_float(images[torch.as_tensor(rows)]).flatten(1).numpy()

    pool_x = pixels(pool)
    pca = PCA(min(components, *pool_x.shape), random_state=0).fit(pool_x)
    features = np.empty((len(images), pca.n_components_), np.float64)
    features[pool] = pca.transform(pool_x)
    rest = np.setdiff1d(np.arange(len(images)), pool)
    for i in range(0, len(rest), batch_size):
        features[rest[i:i + batch_size]] = pca.transform(pixels(rest[i:i + batch_size]))
    return standardize(features, stats_from=features[pool])[0]


def full_proba(model, test_x: np.ndarray, num_classes: int) -> np.ndarray:
    """predict_proba with a column for each of ``num_classes`` classes, also those absent from
    training (a labeled set chosen without labels may miss a class)."""
    probs = np.zeros((len(test_x), num_classes))
    probs[:, model.classes_] = model.predict_proba(test_x)
    return probs


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Hide Lightning's per-fit banners while a sweep runs hundreds of small fits."""
    logger = logging.getLogger("pytorch_lightning")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class TensorBatches(TensorDataset):
    """In-memory tensors indexed a whole batch at a time (``data[list_of_indices]``), so a
    loader fetches a batch with one indexing op instead of collating it item by item."""

    def __getitem__(self, indices: list[int]):
        return tuple(t[indices] for t in self.tensors)


def train_classifier(module: ClassifierModule, train_x: torch.Tensor, train_y: torch.Tensor,
                     steps: int, batch_size: int = 128, accelerator: str = "auto"
                     ) -> ClassifierModule:
    """Fit ``module`` on in-memory inputs for a fixed number of steps (no model selection),
    drawn in one epoch to skip Lightning's per-epoch overhead, on ``accelerator``."""
    batch_size = min(batch_size, len(train_x))
    data = TensorBatches(train_x, train_y)
    draws = RandomSampler(data, replacement=True, num_samples=steps * batch_size)
    batches = BatchSampler(draws, batch_size, drop_last=False)
    with quiet_lightning():
        pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, devices=1,
                   accelerator=accelerator,
                   ).fit(module, DataLoader(data, batch_size=None, sampler=batches))
    return module.eval()


@torch.no_grad()
def predict_proba(module: nn.Module, test_x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities of inputs: floats, or uint8 images turned into floats a batch at a
    time."""
    def batch(i: int) -> torch.Tensor:
        x = test_x[i:i + batch_size]
        return images_to_float(x) if x.dtype == torch.uint8 else x

    starts = range(0, len(test_x), batch_size)
    return torch.cat([module(batch(i)).softmax(1) for i in starts]).numpy()


def head_on_features(head: str, train_x: torch.Tensor, train_y: torch.Tensor,
                     test_x: torch.Tensor, num_classes: int, steps: int, lr: float,
                     batch_size: Optional[int] = None, weight_decay: Optional[float] = None,
                     **head_kwargs) -> np.ndarray:
    """A head trained by ``ClassifierModule`` on cached frozen codes (full batch unless
    ``batch_size`` says otherwise): the same optimiser and schedule (AdamW) as finetuning
    through the frozen encoder, without re-encoding. ``weight_decay`` defaults to
    :func:`~ssl_ae.modules.classifier.few_label_decay` of the labeled images, as for
    finetuning's ``smoothed`` head: like its input, the features here are standardised. It
    trains on the CPU, where every figure of the sweep was measured (a head on codes is small)."""
    if weight_decay is None:
        weight_decay = few_label_decay(len(train_y), num_classes)
    module = ClassifierModule(nn.Identity(), create_head(head, in_dim=train_x.shape[1],
                                                        num_classes=num_classes, **head_kwargs),
                              num_classes, lr=lr, weight_decay=weight_decay)
    return predict_proba(train_classifier(module, train_x, train_y, steps,
                                          batch_size or len(train_x), "cpu"), test_x)


def images_to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255
