"""The semi-supervised LightningDataModule: one split, three loaders."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader, Dataset

from .sources import ImageSource, load_source
from .splits import Split


class ImageTensorDataset(Dataset):
    """uint8 images held in memory, served as floats in [0, 1], with or without labels."""

    def __init__(self, images: torch.Tensor, targets: Optional[torch.Tensor] = None):
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = self.images[i].float().div_(255)
        return x if self.targets is None else (x, self.targets[i])


class SemiSupervisedDataModule(pl.LightningDataModule):
    """Unlabeled pool, labeled subset and untouched test split of one image source.

    The split is chosen once in :meth:`setup` from ``seed`` (or read from ``split_file``), before
    any sharding, so every process and every stage sees the same images.

    Args:
        source: built-in source name (``digits`` is embedded and needs no download).
        root: folder for downloaded datasets.
        labels_per_class: labeled images per class, drawn from the non-test images.
        test_fraction: size of the stratified test holdout, for sources without a test split.
        seed: chooses the test holdout and the labeled subset.
        split_file: a saved ``split.json`` to reuse instead of choosing a new split.
        batch_size: images per batch in every loader.
        num_workers: DataLoader worker processes.
        download: let torchvision download missing files.

    ``train_on`` says which images ``train_dataloader`` serves: the unlabeled pool
    (pretraining, the default) or the labeled subset (finetuning); the stages set it.
    """

    def __init__(self, source: str = "digits", root: str = "data", labels_per_class: int = 10,
                 test_fraction: float = 0.25, seed: int = 0, split_file: Optional[str] = None,
                 batch_size: int = 128, num_workers: int = 0, download: bool = False):
        super().__init__()
        self.save_hyperparameters()
        self.source_name, self.root, self.download = source, root, download
        self.labels_per_class, self.test_fraction, self.seed = labels_per_class, test_fraction, seed
        self.split_file, self.batch_size, self.num_workers = split_file, batch_size, num_workers
        self.train_on: Literal["unlabeled", "labeled"] = "unlabeled"
        self.source: Optional[ImageSource] = None
        self.split: Optional[Split] = None

    def setup(self, stage: Optional[str] = None) -> None:
        if self.source is None:
            self.source = load_source(self.source_name, self.root, self.download)
        if self.split is None:
            self.split = self._load_split() if self.split_file else Split.make(
                self.source.targets, self.labels_per_class, self.seed, test=self.source.test,
                test_fraction=self.test_fraction, class_names=self.source.classes)
            s = self.split
            print(f"[process {rank_zero_only.rank}] split {s.fingerprint()}: {len(s.labeled)} "
                  f"labeled, {len(s.unlabeled)} unlabeled, {len(s.test)} test images", flush=True)

    def _load_split(self) -> Split:
        split = Split.load(self.split_file)
        if split.num_images != len(self.source.targets):
            raise ValueError(f"{self.split_file} describes {split.num_images} images but source "
                             f"{self.source_name!r} has {len(self.source.targets)}; it belongs to "
                             "another dataset")
        return split

    @property
    def image_shape(self) -> tuple[int, int, int]:
        self.setup()
        return self.source.shape

    @property
    def num_classes(self) -> int:
        self.setup()
        return len(self.source.classes)

    def subset(self, which: Literal["unlabeled", "labeled", "test"], labels: bool) -> ImageTensorDataset:
        """The images of one part of the split, as a dataset."""
        self.setup()
        idx = torch.as_tensor(getattr(self.split, which), dtype=torch.long)
        targets = torch.from_numpy(self.source.targets)[idx] if labels else None
        return ImageTensorDataset(self.source.images[idx], targets)

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.subset(self.train_on, labels=self.train_on == "labeled"), True)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.subset("test", labels=True), False)

    def unlabeled_dataloader(self) -> DataLoader:
        return self._loader(self.subset("unlabeled", labels=False), False)
