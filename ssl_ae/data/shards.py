"""Streamed image data: a source converted once into LitData shards and read back on demand.

:func:`write_shards` writes every image of a loaded source, in index order, as LitData chunks
(LitData's ``BinaryWriter``; ``litdata.StreamingDataset`` reads them, from a local folder or
from cloud storage) beside ``ssl_ae.json``: the classes, every label, the official test split,
the ids and the data fingerprint. A shard folder is then a source like any other
(``data.source: shards``, ``data.shards_dir: DIR``). Its split is drawn from those labels with
the same seed, so it is the split of the original source, and the images stay on disk:

- the unlabeled pool streams through :class:`ShardStream` while pretraining: LitData shuffles
  chunks and the images within them, and under DDP each process reads its own chunks;
- what is read by position (the labeled images, the test split, the codes of every image) goes
  through :class:`ShardImages`, which reads the positions asked for in increasing order, so
  each chunk is opened once per request.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info
from tqdm import tqdm

from ..rundir import stage_folder
from .sources import ImageSource
from .transforms import prepared

META = "ssl_ae.json"
CHUNK_BYTES = "8MB"  # small chunks: a process's share of an epoch is many of them, well mixed


def litdata():
    try:
        import litdata as module
    except ImportError as err:
        raise ModuleNotFoundError("shards need LitData: pip install litdata (or pip install "
                                  "'ssl_ae[shards]')", name="litdata") from err
    return module


def write_shards(source: ImageSource, folder: str | Path, fingerprint: str,
                 chunk_bytes: str = CHUNK_BYTES) -> Path:
    """Write ``source`` as shards into the new folder ``folder`` (built in ``FOLDER.partial``
    and renamed when complete, so a failed conversion leaves no shard folder behind).

    Args:
        source: a loaded source (its images as uint8 (N, C, H, W)).
        folder: where the shards go; it must not exist or be empty.
        fingerprint: the data module's ``data_fingerprint`` of ``source``; a split saved by a
            run on the original source is accepted by a run on the shards.
        chunk_bytes: LitData's chunk size.
    """
    folder = Path(folder)
    size = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:[KMGT]?B)?\s*", str(chunk_bytes), re.I)
    if not size or float(size[1]) <= 0:
        raise ValueError(f"chunk_bytes {chunk_bytes!r}: give a positive size such as 8MB or 500KB")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder} already exists and is not an empty folder; choose a "
                              "new folder for the shards")
    with stage_folder(folder, resumable=False) as partial:  # refused while another writes it
        writer = litdata().streaming.writer.BinaryWriter(str(partial), chunk_bytes=chunk_bytes)
        for i in tqdm(range(len(source.targets)), desc="writing shards", unit="image"):
            writer[i] = {"index": i, "image": source.images[i].numpy()}
        writer.done()
        writer.merge()
        meta = {"name": source.name, "count": len(source.targets), "shape": list(source.shape),
                "classes": source.classes, "targets": source.targets.tolist(),
                "test": None if source.test is None else np.asarray(source.test).tolist(),
                "ids": source.ids, "skipped": source.skipped, "fingerprint": fingerprint}
        (partial / META).write_text(json.dumps(meta))
    return folder


def load_shards(folder: Optional[str]) -> ImageSource:
    """The source a shard folder holds, its images left on disk (:class:`ShardImages`)."""
    if not folder:
        raise ValueError("source 'shards' needs data.shards_dir, a folder written by ssl-ae shard")
    meta_path = Path(folder) / META
    if not meta_path.is_file():
        raise FileNotFoundError(f"data.shards_dir: {folder} holds no {META}, so it is not a "
                                "shard folder; write one with ssl-ae shard --out FOLDER")
    meta = json.loads(meta_path.read_text())
    images = ShardImages(folder, tuple(meta["shape"]), meta["count"])
    test = None if meta["test"] is None else np.asarray(meta["test"], dtype=np.int64)
    return ImageSource(meta["name"], images, np.asarray(meta["targets"], dtype=np.int64),
                       meta["classes"], test=test, ids=meta["ids"], skipped=meta["skipped"],
                       fingerprint=meta["fingerprint"])


class ShardImages:
    """The images of a shard folder, indexed like a uint8 (N, C, H, W) tensor (an int, a
    slice, an index array or tensor) and read from disk when indexed."""

    def __init__(self, folder: str | Path, shape: tuple[int, int, int], count: int):
        self.folder, self.shape = str(folder), (count, *shape)
        self._dataset = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:  # a DataLoader worker opens its own reader
        return {**self.__dict__, "_dataset": None}

    def _read(self, position: int) -> np.ndarray:
        if self._dataset is None:
            self._dataset = litdata().StreamingDataset(self.folder)
        return self._dataset[position]["image"]

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, (int, np.integer)):
            return torch.from_numpy(self._read(int(self._positions(key))))
        positions = self._positions(key).reshape(-1)
        out = np.empty((len(positions), *self.shape[1:]), np.uint8)
        for j in np.argsort(positions, kind="stable"):
            out[j] = self._read(int(positions[j]))
        return torch.from_numpy(out)

    def _positions(self, key) -> np.ndarray:
        """Non-negative positions for ``key``, checked like a tensor's index, without building an
        array of every position."""
        count = len(self)
        if isinstance(key, slice):
            return np.arange(*key.indices(count))
        key = np.asarray(key.numpy() if isinstance(key, torch.Tensor) else key)
        if key.dtype == bool:
            if key.shape != (count,):
                raise IndexError(f"boolean index of shape {key.shape} for {count} images")
            return np.flatnonzero(key)
        if key.size and (key.min() < -count or key.max() >= count):
            raise IndexError(f"index out of range for {count} images")
        return key.astype(np.int64) % max(count, 1)


class RowView:
    """Rows ``rows`` of an image array (a tensor or :class:`ShardImages`), indexed like one
    and read only when indexed."""

    def __init__(self, images, rows: np.ndarray):
        self.images, self.rows = images, np.asarray(rows, dtype=np.int64)
        self.shape = (len(self.rows), *images.shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, torch.Tensor):
            key = key.numpy()
        rows = self.rows[key]
        return self.images[int(rows)] if np.ndim(rows) == 0 else self.images[torch.from_numpy(rows)]


def readers() -> tuple[int, int, int]:
    """(processes, this DataLoader worker's number, workers in this process)."""
    shared = dist.is_available() and dist.is_initialized()
    worker = get_worker_info()
    return (dist.get_world_size() if shared else 1,
            *((worker.id, worker.num_workers) if worker else (0, 1)))


class ShardStream(IterableDataset):
    """The images of one part of a shard folder (e.g. the unlabeled pool), streamed in LitData's
    shuffled order as floats in [0, 1], augmented.

    LitData gives each reader (a process, or a DataLoader worker of one) its own chunks, and
    every reader yields the same number of images, its share of the part: where its chunks hold
    more of the part's images, the rest wait for an epoch that deals the chunks otherwise; where
    they hold fewer, it reads its first ones again. So no process waits for another at the end
    of an epoch under DDP, but with several readers an epoch sees a few images twice and a few
    not at all.

    Args:
        folder: the shard folder.
        part: indices of the images to yield.
        count: images in the folder.
        augment: an ``HWC uint8 -> HWC uint8`` function, or None.
        seed: LitData's shuffling seed (the epoch is added).
    """

    def __init__(self, folder: str, part: np.ndarray, count: int,
                 augment: Optional[Callable], seed: int = 0):
        self.folder, self.augment, self.seed = folder, augment, seed
        self.keep = np.zeros(count, dtype=bool)
        self.keep[np.asarray(part, dtype=np.int64)] = True
        self.size, self.epoch = int(self.keep.sum()), 0

    def __len__(self) -> int:
        return self.size // readers()[0]

    def check_readers(self, workers: int) -> None:
        """Refuse more readers (processes x ``workers``) than chunks holding the part's images:
        a reader dealt none of them would have nothing to yield."""
        index = json.loads((Path(self.folder) / "index.json").read_text())
        ends = np.cumsum([chunk["chunk_size"] for chunk in index["chunks"]])  # index order
        starts = np.concatenate([[0], ends[:-1]])
        holding = sum(bool(self.keep[a:b].any()) for a, b in zip(starts, ends))
        count = readers()[0] * max(workers, 1)
        if count > holding:
            raise ValueError(f"{count} readers (processes x data.num_workers) of {self.folder}, "
                             f"but only {holding} of its chunks hold images to train on and each "
                             "reader needs its own: use fewer data.num_workers, or write the "
                             "shards again with a smaller --chunk_bytes")

    def __iter__(self):
        processes, worker, workers = readers()
        mine = self.size // processes
        quota = mine // workers + (worker < mine % workers)
        stream = litdata().StreamingDataset(self.folder, shuffle=True, seed=self.seed)
        self.epoch += 1
        stream.set_epoch(self.epoch)
        given = 0
        while given < quota:
            before = given
            for item in stream:
                if self.keep[item["index"]]:
                    yield prepared(item["image"], self.augment)
                    given += 1
                    if given == quota:
                        return
            if given == before:
                raise RuntimeError(f"the chunks of {self.folder} that this process reads hold "
                                   "none of the images to train on; write the shards with a "
                                   "smaller chunk size")
