"""The semi-supervised LightningDataModule: one source, one split, the loaders of each stage."""
from __future__ import annotations

import hashlib
import json
import unicodedata
import warnings
from pathlib import Path
from typing import Any, Callable, Literal, Optional

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader, Dataset

from .folders import load_folder
from .images import conform
from .pydataset import load_dataset
from .shards import RowView, ShardImages, ShardStream, load_shards
from .sources import ImageSource, load_source
from .splits import Split, indices_digest, test_indices
from .transforms import build_augment, default_augment, prepared

Part = Literal["unlabeled", "labeled", "val", "test"]


class ImageTensorDataset(Dataset):
    """uint8 images, served as floats in [0, 1], with or without labels.

    Args:
        images: uint8 (N, C, H, W), in memory or read on demand (``shards.RowView``).
        targets: int64 (N,) or None (items are images only).
        augment: an ``HWC uint8 -> HWC uint8`` function (see ``transforms.build_augment``).
    """

    def __init__(self, images: torch.Tensor, targets: Optional[torch.Tensor] = None,
                 augment: Optional[Callable[[np.ndarray], np.ndarray]] = None):
        self.images, self.targets, self.augment = images, targets, augment
        # In memory, one channels-last copy, so each augmented item is a view, not a copy.
        in_memory = isinstance(images, torch.Tensor) and augment is not None
        self._hwc = images.permute(0, 2, 3, 1).contiguous().numpy() if in_memory else None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        if self._hwc is not None:
            x = prepared(self._hwc[i], self.augment, channels_last=True)
        else:
            image = self.images[i]
            x = prepared(image.numpy() if self.augment else image, self.augment)
        return x if self.targets is None else (x, self.targets[i])


class SemiSupervisedDataModule(pl.LightningDataModule):
    """Unlabeled pool, labeled subset, optional validation images and untouched test split.

    The split is chosen once in :meth:`setup` from ``seed`` (or read from ``split_file``), before
    any sharding, so every process and every stage sees the same images.

    Args:
        source: ``digits`` (embedded), ``mnist``, ``fashion_mnist``, ``kmnist``, ``cifar10``,
            ``cifar100``, ``svhn``, ``stl10``; ``folder`` (the next four keys); ``shards`` (a
            folder written by ``ssl-ae shard``, ``shards_dir``); or a Dataset class by import
            path, ``package.module.Class`` (see ``ssl_ae.data.pydataset``).
        root: folder the torchvision datasets are read from (and downloaded to).
        labeled_dir: ``folder``: a folder with one subfolder of images per class.
        unlabeled_dir: ``folder``: a folder of unlabeled images, searched recursively.
        test_dir: ``folder``: a folder with one subfolder per class held out as the test split
            (else a seeded stratified ``test_fraction`` is held out).
        manifest: ``folder``: a ``path,label`` CSV; empty label = unlabeled; paths relative to it.
        shards_dir: ``shards``: a folder of LitData shards written by ``ssl-ae shard``; the images
            stay on disk and the unlabeled pool streams while pretraining (``ssl_ae.data.shards``).
        dataset_kwargs: Dataset source: the arguments of the class.
        test_dataset_kwargs: Dataset source: the arguments for its test split (else a holdout).
        channels: convert every image to 1 (grey) or 3 (RGB) channels; None keeps the source's.
        image_size: resize every image to this side; None keeps the source's.
        skip_bad_files: leave unreadable image files out (warned, listed in the run folder's
            ``skipped_files.txt``) instead of failing.
        decode_cache: ``folder``: keep the decoded images on disk (``$SSL_AE_CACHE_DIR``, else
            ``~/.cache/ssl_ae/decoded``) and read them back in the next stage or run while no
            file and no conversion setting changes.
        labels_per_class: labeled images per class, drawn from the non-test images (used unless
            ``labeled_fraction`` or ``labeled_file`` is set).
        labeled_fraction: label this fraction of each class of the non-test images instead.
        labeled_file: label exactly the images listed in this text file instead, one per line:
            an index, or a file's path relative to the folder it was found in (``cat/01.png``).
        val_fraction: share of each class's labeled images held out for validation (taken out of
            the labeled budget, never added to it).
        labeled_in_unlabeled: the labeled (and validation) images are in the unlabeled pool too.
        test_fraction: size of the stratified test holdout, for sources without a test split.
        seed: chooses the test holdout, the labeled and the validation images.
        split_file: a saved ``split.json`` to reuse instead of choosing a new split.
        pretrain_augment: albumentations pipeline for pretraining, a list of ``{name: ..., arg:
            ...}``; ``[]`` for none; None: the source's default (``transforms.default_augment``).
        finetune_augment: the same for the labeled images while finetuning.
        batch_size: images per batch in every loader.
        num_workers: DataLoader worker processes.
        download: let torchvision download missing files.

    The stages ask for their loaders: ``train_dataloader`` (the unlabeled pool, augmented for
    pretraining: what ``trainer.fit(autoencoder, datamodule=data)`` trains on),
    ``labeled_dataloader`` (finetuning) and ``validation_dataloader``.
    """

    def __init__(self, source: str = "digits", root: str = "data",
                 labeled_dir: Optional[str] = None, unlabeled_dir: Optional[str] = None,
                 test_dir: Optional[str] = None, manifest: Optional[str] = None,
                 shards_dir: Optional[str] = None,
                 dataset_kwargs: Optional[dict[str, Any]] = None,
                 test_dataset_kwargs: Optional[dict[str, Any]] = None,
                 channels: Optional[int] = None, image_size: Optional[int] = None,
                 skip_bad_files: bool = False, decode_cache: bool = True,
                 labels_per_class: int = 10,
                 labeled_fraction: Optional[float] = None, labeled_file: Optional[str] = None,
                 val_fraction: float = 0.0, labeled_in_unlabeled: bool = True,
                 test_fraction: float = 0.25, seed: int = 0, split_file: Optional[str] = None,
                 pretrain_augment: Optional[list[dict[str, Any]]] = None,
                 finetune_augment: Optional[list[dict[str, Any]]] = None,
                 batch_size: int = 64, num_workers: int = 0, download: bool = False):
        super().__init__()
        self.save_hyperparameters()
        for key, least in (("batch_size", 1), ("num_workers", 0), ("labels_per_class", 1),
                           ("seed", 0)):
            if self.hparams[key] < least:
                raise ValueError(f"data.{key} must be at least {least}, got {self.hparams[key]}")
        if not 0 < test_fraction < 1:
            raise ValueError(f"data.test_fraction must be in (0, 1), got {test_fraction}")
        self.source_name, self.root, self.download = source, root, download
        self.labels_per_class, self.test_fraction, self.seed = labels_per_class, test_fraction, seed
        self.split_file, self.batch_size, self.num_workers = split_file, batch_size, num_workers
        self.source: Optional[ImageSource] = None
        self.split: Optional[Split] = None
        self._fingerprint: Optional[str] = None
        self._kept_test: Optional[list[int]] = None  # an earlier stage's, see follow_split

    # ----- source and split -------------------------------------------------------------------
    def setup(self, stage: Optional[str] = None) -> None:
        if self.source is None:
            self.source = self._load_source()
        if self.split is None:
            self.split = self._load_split() if self.split_file else self._make_split()
            s = self.split
            print(f"[process {rank_zero_only.rank}] split {s.fingerprint()}: {len(s.labeled)} "
                  f"labeled, {len(s.unlabeled)} unlabeled, {len(s.test)} test images", flush=True)
        if self.split.val:  # as LightningDataModule.from_datasets does: no val images, no val loop
            self.val_dataloader = self.validation_dataloader

    def _load_source(self) -> ImageSource:
        h = self.hparams
        folder_keys = [k for k in ("labeled_dir", "unlabeled_dir", "test_dir", "manifest")
                       if h[k]]
        if folder_keys and self.source_name != "folder":
            raise ValueError(f"data.{folder_keys[0]} is only read with source 'folder', not "
                             f"{self.source_name!r}; set data.source: folder, or unset it "
                             f"(--data.{folder_keys[0]} null, e.g. over a config written for a "
                             "folder)")
        if h.channels not in (None, 1, 3):
            raise ValueError(f"data.channels must be 1 or 3, got {h.channels}")
        if h.image_size is not None and h.image_size < 1:
            raise ValueError(f"data.image_size must be positive, got {h.image_size}")
        if self.source_name == "shards":
            source = load_shards(h.shards_dir)
            for key, value, held in (("channels", h.channels, source.shape[0]),
                                     ("image_size", h.image_size, source.shape[1])):
                if value not in (None, held):
                    raise ValueError(f"data.{key} is {value} but the shards in {h.shards_dir} "
                                     f"hold {held}; leave it unset or write the shards again")
            return source
        if h.shards_dir:
            raise ValueError(f"data.shards_dir is only read with source 'shards', not "
                             f"{self.source_name!r}; set data.source: shards")
        given = [k for k in ("dataset_kwargs", "test_dataset_kwargs") if h[k]]
        if given and "." not in self.source_name:
            raise ValueError(f"data.{given[0]} is only read with a Dataset import path as source "
                             f"(e.g. torchvision.datasets.CIFAR10), not {self.source_name!r}; "
                             "unset it")
        if self.source_name == "folder":
            return load_folder(h.labeled_dir, h.unlabeled_dir, h.manifest, h.channels,
                               h.image_size, h.skip_bad_files, h.test_dir, h.decode_cache)
        if "." in self.source_name:
            return load_dataset(self.source_name, h.dataset_kwargs, h.test_dataset_kwargs,
                                h.channels, h.image_size)
        source = load_source(self.source_name, self.root, self.download)
        source.images = conform(source.images, h.channels, h.image_size)
        return source

    def loaded_source(self) -> ImageSource:
        """The source, loaded (without choosing a split)."""
        self.source = self.source or self._load_source()
        return self.source

    def training_settings(self, augment: str) -> dict[str, Any]:
        """The settings beside the split that shape a stage's training: its batch size and
        its augmentation (``augment``: ``pretrain_augment`` or ``finetune_augment``)."""
        return {"batch_size": self.hparams.batch_size, augment: self.hparams[augment]}

    def split_settings(self) -> dict[str, Any]:
        """The settings that decide the split; a saved split is reused only if they match."""
        keys = ("source", "labeled_dir", "unlabeled_dir", "test_dir", "manifest", "shards_dir",
                "dataset_kwargs", "test_dataset_kwargs", "skip_bad_files", "labels_per_class", "labeled_fraction",
                "labeled_file", "val_fraction", "labeled_in_unlabeled", "test_fraction", "seed")
        settings = {k: self.hparams[k] for k in keys}
        if self.hparams.labeled_file and Path(self.hparams.labeled_file).is_file():
            content = Path(self.hparams.labeled_file).read_bytes()  # an edited file: other labels
            settings["labeled_file_digest"] = hashlib.blake2b(content, digest_size=8).hexdigest()
        return json.loads(json.dumps(settings, default=str))

    def _make_split(self) -> Split:
        h, src = self.hparams, self.source
        if h.labeled_fraction is not None and h.labeled_file is not None:
            raise ValueError("set data.labeled_fraction or data.labeled_file, not both")
        labeled = self._read_labeled_file() if h.labeled_file else None
        split = Split.make(src.targets, self.labels_per_class, self.seed, test=self._given_test(),
                           test_fraction=self.test_fraction, class_names=src.classes,
                           labeled_fraction=h.labeled_fraction, labeled=labeled,
                           val_fraction=h.val_fraction,
                           labeled_in_unlabeled=h.labeled_in_unlabeled,
                           settings=self.split_settings(), data_fingerprint=self.data_fingerprint)
        unlabeled_classes = [name for name, count in split.class_counts.items() if not count]
        if labeled is not None and unlabeled_classes:
            warnings.warn(f"data.labeled_file {h.labeled_file} labels no image of class "
                          f"{', '.join(unlabeled_classes)}: a head trained on it never predicts "
                          "that class; label at least one image of each", stacklevel=2)
        return split

    def test_split(self) -> np.ndarray:
        """The test images' indices, as :meth:`setup` chooses them, without drawing labeled
        images (a sweep draws its own, so ``labels_per_class`` need not fit the data)."""
        if self.split is not None or self.split_file:
            self.setup()
            return np.asarray(self.split.test)
        src = self.loaded_source()
        labeled = self._read_labeled_file() if self.hparams.labeled_file else None
        return test_indices(src.targets, self.seed, self._given_test(), self.test_fraction,
                            labeled, src.classes)

    def _given_test(self) -> Optional[np.ndarray]:
        """The test split fixed before drawing one: an earlier stage's, else the source's own."""
        return np.asarray(self._kept_test) if self._kept_test is not None else self.source.test

    def _read_labeled_file(self) -> np.ndarray:
        path = Path(self.hparams.labeled_file)
        if not path.is_file():
            raise FileNotFoundError(f"data.labeled_file: {path} is not a file")
        ids: dict[str, int] = {}
        for i, name in enumerate(self.source.ids or []):
            name = unicodedata.normalize("NFC", name)  # an accent typed as one or two characters
            ids[name] = -2 if name in ids else i  # -2: the name is ambiguous
        chosen, unknown = [], []
        # utf-8-sig: Notepad starts UTF-8 with a byte-order mark; select writes the bytes of
        # file names that are not UTF-8 as they are (surrogateescape)
        text = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
        for line in text.splitlines():
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            index = int(entry) if entry.isdigit() else ids.get(
                unicodedata.normalize("NFC", entry.replace("\\", "/")), -1)
            if index == -2:
                raise ValueError(f"data.labeled_file: {entry!r} names several images (found in "
                                 "more than one folder); list it by index instead")
            (chosen if index >= 0 else unknown).append(index if index >= 0 else entry)
        if unknown:
            not_utf8 = any("\udc80" <= ch <= "\udcff" for entry in unknown for ch in entry)
            raise ValueError(f"data.labeled_file: {len(unknown)} entries of {path} name no image "
                             f"of the source, e.g. {', '.join(unknown[:5])}; list "
                             "indices or paths relative to the folder each image was found in"
                             + (" (some lines are not UTF-8 text: save the file as UTF-8)"
                                if not_utf8 else ""))
        return np.asarray(chosen, dtype=np.int64)

    @property
    def data_fingerprint(self) -> str:
        """A hash of the images, labels and official test split: equal means the same data."""
        if self._fingerprint is None:
            if self.loaded_source().fingerprint:
                self._fingerprint = self.source.fingerprint
                return self._fingerprint
            digest = hashlib.blake2b(digest_size=8)
            digest.update(self.source.images.contiguous().numpy().data)
            digest.update(np.ascontiguousarray(self.source.targets, dtype=np.int64).data)
            if self.source.test is not None:
                digest.update(np.ascontiguousarray(self.source.test, dtype=np.int64).data)
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def check_drawn_from_this(self, split: Split, where: str | Path) -> Split:
        """``split`` if it was drawn from this data; else a clear error naming ``where``."""
        if split.num_images != len(self.source.targets):
            raise ValueError(f"{where} describes {split.num_images} images but source "
                             f"{self.source_name!r} has {len(self.source.targets)}; it belongs to "
                             "other data: pass the --data settings of the stage that wrote it")
        split.check_data(self.data_fingerprint, where)
        return split

    def _load_split(self) -> Split:
        return self.check_drawn_from_this(Split.load(self.split_file), self.split_file)

    def reuse_split(self, path: Optional[str | Path]) -> bool:
        """Use the split saved at ``path`` (an earlier stage's) if it came from these settings.

        Returns whether it will be reused; a split already chosen or a ``split_file`` wins.
        """
        if self.split is not None or self.split_file or path is None or not Path(path).is_file():
            return False
        if Split.load(path).settings != self.split_settings():
            return False
        self.split_file = str(path)
        return True

    def held_out(self) -> dict[str, Any]:
        """What a pretraining checkpoint records of its data, so that a later stage given the
        checkpoint alone (without its ``split.json``) can refuse another test split of the same
        data: the data's fingerprint, the test split's digest and the settings that drew it."""
        return {"data_fingerprint": self.data_fingerprint,
                "test_digest": indices_digest(self.test_split()),
                "seed": self.seed, "test_fraction": self.test_fraction}

    def check_held_out(self, record: Optional[dict], checkpoint: str | Path) -> None:
        """Refuse a test split other than the one the pretraining behind ``checkpoint`` held
        out, when that pretraining saw these same data (``record``: its :meth:`held_out`); an
        encoder trained on other data (a transfer) is not checked."""
        if not record or record.get("data_fingerprint") != self.data_fingerprint:
            return
        if record["test_digest"] != indices_digest(self.test_split()):
            raise ValueError(
                f"{checkpoint} was pretrained on these images with another test split held out "
                f"(data.seed {record['seed']}, data.test_fraction {record['test_fraction']}), so "
                "it has trained on some of this test split's images; pass those settings, or "
                "give the run folder that holds its split.json")

    def follow_split(self, saved: Optional[str | Path], record: Optional[dict] = None,
                     checkpoint: str | Path = "the pretrained checkpoint") -> None:
        """Take the split an earlier stage saved at ``saved`` (a pretraining's) if these settings
        drew it, and refuse other data or another test split: that stage may have trained on
        its images. Without ``saved``, the test split is checked against the ``record`` the
        pretraining ``checkpoint`` keeps (:meth:`check_held_out`)."""
        self.reuse_split(saved)
        if saved is not None and self.split is None and not self.split_file:
            self._keep_test_of(saved)
        self.setup()
        if saved is None:
            self.check_held_out(record, checkpoint)
            return
        if self.check_drawn_from_this(Split.load(saved), saved).test != self.split.test:
            raise ValueError(f"the test split differs from the one pretraining held out ({saved}); "
                             "use the same data source, seed and test_fraction as the pretrain "
                             "stage")

    def _keep_test_of(self, saved: str | Path) -> None:
        """Keep the test split saved at ``saved`` when this data, seed and test_fraction drew
        it: the labeled images (e.g. a ``labeled_file`` of images chosen by ``ssl-ae select``)
        are then drawn from the rest, instead of the holdout being drawn anew around them."""
        self.loaded_source()
        earlier = self.check_drawn_from_this(Split.load(saved), saved)
        ours = self.split_settings()
        if all(earlier.settings.get(key) == ours[key] for key in ("seed", "test_fraction")):
            self._kept_test = earlier.test

    @property
    def skipped_files(self) -> list[str]:
        """Unreadable files left out of the source (``skip_bad_files``)."""
        return list(self.source.skipped) if self.source is not None else []

    def save_split(self, folder: str | Path) -> None:
        """Write ``split.json`` (and ``skipped_files.txt`` if files were skipped) into ``folder``."""
        self.setup()
        self.split.save(Path(folder) / "split.json")
        if self.skipped_files:
            (Path(folder) / "skipped_files.txt").write_text(
                "\n".join(self.skipped_files) + "\n", errors="surrogateescape")  # any file name

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.loaded_source().shape

    # ----- datasets and loaders ---------------------------------------------------------------
    def augment_spec(self, stage: Literal["pretrain", "finetune"]) -> list[dict]:
        """The augmentation pipeline of ``stage``: the configured one or the source's default."""
        spec = self.hparams[f"{stage}_augment"]
        if spec is not None:
            return spec
        # shards keep the default of the source they were written from
        name = self.source.name if self.source_name == "shards" else self.source_name
        return default_augment(name, stage, self.image_shape)

    def subset(self, which: Part, labels: bool, augment: Optional[str] = None) -> Dataset:
        """The images of one part of the split, as a dataset.

        From shards, the labeled and validation images (few) are read into memory, the test
        split and the unlabeled pool are read when indexed, and the pool streams while
        pretraining (a ``ShardStream``).

        Args:
            which: ``unlabeled``, ``labeled``, ``val`` or ``test``.
            labels: serve ``(image, label)`` pairs instead of images.
            augment: ``pretrain`` or ``finetune`` to apply that stage's augmentation.
        """
        self.setup()
        idx = torch.as_tensor(getattr(self.split, which), dtype=torch.long)
        targets = torch.from_numpy(self.source.targets)[idx] if labels else None
        transform = build_augment(self.augment_spec(augment)) if augment else None
        images = self.source.images
        if not isinstance(images, ShardImages) or which in ("labeled", "val"):
            return ImageTensorDataset(images[idx], targets, transform)
        if augment == "pretrain" and not labels:
            return ShardStream(images.folder, idx.numpy(), len(images), transform,
                               self.seed)
        return ImageTensorDataset(RowView(images, idx.numpy()), targets, transform)

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        if isinstance(dataset, ShardStream):  # it shuffles itself
            dataset.check_readers(self.num_workers)
            return DataLoader(dataset, batch_size=self.batch_size, num_workers=self.num_workers,
                              persistent_workers=self.num_workers > 0)
        # While training, a last batch of one image is dropped: BatchNorm cannot normalise it.
        lone = shuffle and len(dataset) % self.batch_size == 1 and len(dataset) > 1
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, drop_last=lone,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        """The unlabeled pool, shuffled and augmented for pretraining."""
        return self._loader(self.subset("unlabeled", labels=False, augment="pretrain"), True)

    def labeled_dataloader(self) -> DataLoader:
        """The labeled images, shuffled and augmented for finetuning."""
        return self._loader(self.subset("labeled", labels=True, augment="finetune"), True)

    def validation_dataloader(self, labels: bool = False) -> Optional[DataLoader]:
        """The validation images (with their labels while finetuning), or None when
        ``val_fraction`` is 0."""
        return self._loader(self.subset("val", labels=labels), False) if self.split.val else None

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.subset("test", labels=True), False)
