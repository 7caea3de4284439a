"""Custom sources without code: a folder per class, a folder of unlabeled images, a CSV manifest.

- ``labeled_dir``: one subfolder per class (its name is the class name), images searched
  recursively inside each.
- ``unlabeled_dir``: images without labels, searched recursively.
- ``test_dir``: one subfolder per class, like ``labeled_dir``: held-out images that serve as the
  test split (as a built-in source's official test split) instead of a seeded holdout.
- ``manifest``: a CSV with a ``path,label`` header; an empty label (or ``-1``) means unlabeled.
  Paths are relative to the CSV's folder and may not leave it (no absolute paths, no ``..``
  escapes, no links to elsewhere).

Files whose suffix is not an image suffix (``.txt``, ``.DS_Store``, ...) and hidden files are
ignored. An unreadable image fails with its path, or with ``skip_bad_files`` is left out with a
warning and listed in ``ImageSource.skipped``. A file found twice (the same resolved path, or the
same bytes under another name) is kept once, with a warning: as a test image if either copy is
one, else as a labeled one, so no image is in two parts of a split. Symbolic links inside the
folders are followed, wherever they point (a linked folder once); a broken link is an unreadable
file. Class names are compared in Unicode's composed form (NFC), so a folder named on macOS
(decomposed accents) and a manifest label typed elsewhere name one class.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import unicodedata
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Optional

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from . import decode_cache as decoded
from .images import in_common_channels, natural_channels, pil_to_uint8, upright
from .sources import ImageSource

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".tif", ".tiff",
                  ".webp", ".ppm", ".pgm", ".pbm", ".tga"}
SPLIT_ROLES = {"train": "train", "training": "train", "test": "test", "testing": "test",
               "val": "test", "valid": "test", "validation": "test", "dev": "test",
               "pred": "pred", "unlabeled": "unlabeled", "unlabelled": "unlabeled"}
BAD_IMAGE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass
class Item:
    """One image file: where it is, its class name (None: unlabeled), its id and whether it
    belongs to the test split."""

    path: str
    label: Optional[str]
    id: str
    test: bool = False
    digest: bytes = b""
    _stat: Optional[os.stat_result] = field(default=None, init=False, repr=False, compare=False)

    @property
    def rank(self) -> int:
        """Which copy of a repeated file is kept: test, then labeled, then unlabeled."""
        return 0 if self.test else 1 if self.label is not None else 2

    def stat(self) -> os.stat_result:
        if self._stat is None:
            self._stat = os.stat(self.path)
        return self._stat

    def file(self) -> tuple[int, int]:
        """The file itself (device, inode): the same for a path reached through a link."""
        return self.stat().st_dev, self.stat().st_ino


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES and not name.startswith(".")


def split_roles(name: str) -> set[str]:
    """The dataset splits a folder name reads as (``test``, ``seg_train``, ``val-images``: one
    each; most class names: none)."""
    return {SPLIT_ROLES[w] for w in re.split(r"[\W\d_]+", name.lower()) if w in SPLIT_ROLES}


def class_name(name: str) -> str:
    """A class name in Unicode's composed form (NFC)."""
    return unicodedata.normalize("NFC", name)


def list_images(folder: Path) -> list[str]:
    """Image files under ``folder``, recursively, as paths relative to it in pathlib's order
    (part by part); hidden files and folders skipped, linked folders followed (each folder
    once, so a link to an enclosing folder is no loop; a folder beside a link to it keeps
    its own name). Plain strings: a folder of 100,000 images is listed in a fraction of a
    second."""
    found: list[str] = []
    prefix = len(os.path.join(str(folder), ""))
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        here = os.stat(dirpath)
        if (here.st_dev, here.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((here.st_dev, here.st_ino))
        # real folders before links, each by name: a folder reached both ways is named the
        # same on every filesystem, whatever order its directory lists
        dirnames[:] = sorted((d for d in dirnames if not d.startswith(".")),
                             key=lambda d: (os.path.islink(os.path.join(dirpath, d)), d))
        found += [os.path.join(dirpath, f)[prefix:] for f in filenames if is_image_name(f)]
    return sorted(found, key=lambda p: p.split(os.sep))


def _folder(path: str, option: str) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{option}: {folder} is not a folder")
    return folder


def class_folder_items(labeled_dir: str, test: bool = False) -> list[Item]:
    """The images of a folder with one subfolder per class; with ``test``, those of
    ``test_dir``: marked as test images, their ids prefixed ``test/``."""
    key = "test_dir" if test else "labeled_dir"
    root = _folder(labeled_dir, f"data.{key}")
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(f"data.{key}: {root} has no class subfolders; put the images of "
                         "each class in a subfolder named after the class")
    roles = {d.name: split_roles(d.name) for d in classes}
    splits = [name for name, role in roles.items() if role]
    # split folders: each named a split, or names of two different splits among them (not
    # freight_train and passenger_train, or covid_test_negative and _positive: classes)
    if all(name.lower() in SPLIT_ROLES for name in roles) or len(set().union(*roles.values())) > 1:
        raise ValueError(f"data.{key}: the subfolders of {root} include "
                         f"{', '.join(splits)}: splits, not classes; give the "
                         "folder of training images (one subfolder per class) as "
                         "data.labeled_dir and the folder of test images as data.test_dir")
    strays = sorted(f.name for f in root.iterdir() if f.is_file() and is_image_name(f.name))
    if strays:
        warnings.warn(f"data.{key}: {len(strays)} images lie directly in {root}, outside the "
                      f"class subfolders, and are left out, e.g. {', '.join(strays[:3])}; move "
                      "them into their class's subfolder (or data.unlabeled_dir)", stacklevel=2)
    items = []
    for folder in classes:
        files = list_images(folder)
        if not files:
            raise ValueError(f"data.{key}: class folder {folder} holds no images "
                             f"(suffixes {', '.join(sorted(IMAGE_SUFFIXES))}); fill or remove it")
        head, id_head = str(folder), ("test/" if test else "") + folder.name + "/"
        items += [Item(os.path.join(head, f), class_name(folder.name),
                       id_head + f.replace(os.sep, "/"), test) for f in files]
    return items


def unlabeled_items(unlabeled_dir: str, option: str = "data.unlabeled_dir") -> list[Item]:
    """The images under a folder of unlabeled images (``option`` names it in errors)."""
    root = _folder(unlabeled_dir, option)
    files = list_images(root)
    if not files:
        raise ValueError(f"{option}: {root} holds no images "
                         f"(suffixes {', '.join(sorted(IMAGE_SUFFIXES))})")
    return [Item(os.path.join(str(root), f), None, f.replace(os.sep, "/")) for f in files]


def safe_relative(raw: str, base: Path, where: str) -> Path:
    """``base / raw``, refusing paths that are absolute or lead outside ``base``."""
    if not raw:
        raise ValueError(f"{where}: empty path")
    if PurePosixPath(raw).is_absolute() or PureWindowsPath(raw).anchor:
        raise ValueError(f"{where}: absolute path {raw!r} refused; manifest paths must be "
                         f"relative to the manifest's folder {base}")
    normal = os.path.normpath(raw.replace("\\", "/"))
    path = base / normal
    if normal.split(os.sep)[0] == "..":
        raise ValueError(f"{where}: path {raw!r} leads outside the manifest's folder {base}; "
                         "move the images under that folder and list them relative to it")
    if not path.resolve().is_relative_to(base.resolve()):
        raise ValueError(f"{where}: path {raw!r} goes through a symbolic link to "
                         f"{path.resolve()}, outside the manifest's folder {base}; copy the "
                         "images under that folder (or list their class folder as "
                         "data.labeled_dir, whose links are followed)")
    return path


def manifest_items(manifest: str) -> list[Item]:
    """The rows of a ``path,label`` CSV (empty label or ``-1``: unlabeled)."""
    csv_path = Path(manifest)
    if not csv_path.is_file():
        raise FileNotFoundError(f"data.manifest: {csv_path} is not a file")
    base = csv_path.parent
    try:  # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as err:
        raise ValueError(f"data.manifest: {csv_path} is not UTF-8 text ({err.reason} at byte "
                         f"{err.start}); save it as UTF-8 (\"CSV UTF-8\" in a spreadsheet)") from err
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["path", "label"]:
        raise ValueError(f"data.manifest: {csv_path} must start with the header line 'path,label'")
    extra = [c.strip() for c in rows[0][2:] if c.strip()]
    for column, name in enumerate(rows[0][2:], start=2):
        held_out = {row[column].strip() for row in rows[1:] if len(row) > column
                    and split_roles(row[column]) & {"test"}}
        if held_out:
            raise ValueError(f"data.manifest: {csv_path}'s column {name.strip()} marks rows "
                             f"{', '.join(sorted(held_out))}, but a manifest reads only "
                             "path,label: those rows would be trained on. Put the test images "
                             "in a class folder of their own (data.test_dir: one subfolder per "
                             "class) and leave them out of the manifest")
    if extra:
        warnings.warn(f"data.manifest: {csv_path}: columns {', '.join(extra)} are not read "
                      "(a manifest reads path,label)", stacklevel=2)
    items, missing = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        raw = row[0].strip()
        label = class_name(row[1].strip()) if len(row) > 1 else ""
        path = safe_relative(raw, base, f"{csv_path} line {line}")
        if not path.is_file():
            missing.append(raw + (" (a folder)" if path.is_dir() else ""))
            continue
        unlabeled = label in ("", "-1")
        items.append(Item(str(path), None if unlabeled else label, path.relative_to(base).as_posix()))
    if missing:
        raise FileNotFoundError(
            f"data.manifest: {len(missing)} paths in {csv_path} are not files under {base}, "
            f"e.g. {', '.join(missing[:5])}; fix the paths (relative to the CSV's folder, one "
            "image file each)")
    if not items:
        raise ValueError(f"data.manifest: {csv_path} lists no images")
    return items


DIGEST_BYTES = 16


def decode(path: str, channels: Optional[int], size: int) -> tuple[np.ndarray, bytes, int, bool]:
    """The image at ``path`` as uint8 (channels, size, size), turned upright as its EXIF
    orientation says (phone photos), a hash of the file's bytes, its own channels (which
    ``channels`` None keeps) and whether it was resized."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        opened = Image.open(io.BytesIO(raw))
    except UnidentifiedImageError:  # its own message names the in-memory buffer, not the file
        raise UnidentifiedImageError("not in an image format Pillow reads") from None
    with opened as img:
        img.load()
        turned = upright(img)
        digest = hashlib.blake2b(raw, digest_size=DIGEST_BYTES).digest()
        own = natural_channels(turned)
        return (pil_to_uint8(turned, channels or own, size), digest, own,
                turned.size != (size, size))


def first_shape(items: list[Item], channels: Optional[int], size: Optional[int],
                skip_bad_files: bool, skip_option: str) -> tuple[int, int]:
    """``channels`` and ``size``, each taken from the first readable image when None."""
    if channels is not None and size is not None:
        return channels, size
    for item in items:
        try:
            with Image.open(item.path) as img:
                img.load()
                w, h = img.size
                c = natural_channels(img)
        except BAD_IMAGE_ERRORS as err:
            if skip_bad_files:
                continue
            raise bad_file(item.path, err, skip_option) from err
        if size is None and w != h:
            raise ValueError(f"{item.path} is {w}x{h}, not square: set data.image_size to the "
                             "side all images should be resized to")
        return channels or c, size or w
    raise ValueError("no readable image among the files given")


def bad_file(path: str, err: Exception | str, skip_option: str) -> ValueError:
    return ValueError(f"{path}: not a readable image ({err}); fix or remove it, or set "
                      f"{skip_option} true to leave unreadable files out")


def read_items(items: list[Item], channels: Optional[int], size: Optional[int],
               skip_bad_files: bool, skip_option: str = "data.skip_bad_files",
               cache: bool = False) -> tuple[torch.Tensor, list[Item], list[str]]:
    """Decode every item: uint8 (N, C, S, S) images, the items kept, the paths skipped
    (``skip_option`` names the setting in errors). With ``cache``, an earlier decoding of the
    same files and settings is read back instead (:mod:`ssl_ae.data.decode_cache`). Unless
    ``channels`` says, the images are grey if all of them are, else colour."""
    size_given = size
    first_channels, size = first_shape(items, channels, size, skip_bad_files, skip_option)
    key = decoded.cache_key([(it.path, it.stat()) for it in items], channels=channels, size=size,
                            skip_bad_files=skip_bad_files) if cache else None
    entry = decoded.load(key) if key else None
    if entry is None:
        entry = decode_all(items, channels, size, skip_bad_files, skip_option)
        if key:
            decoded.save(key, entry)
    if channels is None and first_channels == 1 and entry["colour"].any():
        first = items[int(entry["kept"][0])].path
        warnings.warn(f"{int(entry['colour'].sum())} of {len(entry['colour'])} images are colour "
                      f"though the first, {first}, is grey: all are read in colour; set "
                      "data.channels 1 to read them as grey", stacklevel=2)
    kept = [items[i] for i in entry["kept"].tolist()]
    resized = entry.get("resized")
    if size_given is None and resized is not None and resized.any():
        example = kept[int(resized.nonzero()[0])].path
        warnings.warn(f"{int(resized.sum())} of {len(kept)} images are not {size}x{size} like the "
                      f"first, {kept[0].path}, and are resized (squashed) to it, e.g. {example}; "
                      "set data.image_size to choose the side", stacklevel=2)
    digests = entry["digests"].numpy().tobytes()
    for i, item in enumerate(kept):
        item.digest = digests[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES]
    skipped = entry["skipped"]
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image files (skip_bad_files), e.g. "
                      f"{', '.join(skipped[:3])}; the run folder lists them in skipped_files.txt",
                      stacklevel=2)
    return entry["images"], kept, skipped


def decode_all(items: list[Item], channels: Optional[int], size: int, skip_bad_files: bool,
               skip_option: str) -> dict:
    """The images of the readable items, their positions and byte digests (as tensors, which a
    weights-only load reads fast), the paths skipped. ``channels`` None reads each image once
    in its own channels: all grey stay grey, else the grey ones are repeated over three
    channels (as reading them in colour does)."""

    def one(item: Item):
        try:
            return decode(item.path, channels, size)
        except BAD_IMAGE_ERRORS as err:
            if not skip_bad_files:
                raise bad_file(item.path, err, skip_option) from err
            return None

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(one, items, chunksize=64))
    kept = [i for i, r in enumerate(results) if r is not None]
    if not kept:
        raise ValueError("no readable image among the files given")
    digests = np.frombuffer(b"".join(results[i][1] for i in kept), np.uint8)
    images = np.stack(in_common_channels([results[i][0] for i in kept]))
    return {"images": torch.from_numpy(images),
            "kept": torch.tensor(kept),
            "colour": torch.tensor([results[i][2] == 3 for i in kept]),
            "resized": torch.tensor([results[i][3] for i in kept]),
            "digests": torch.from_numpy(digests.reshape(len(kept), DIGEST_BYTES).copy()),
            "skipped": [it.path for it, r in zip(items, results) if r is None]}


def drop_broken_links(items: list[Item], skip_bad_files: bool) -> tuple[list[Item], list[str]]:
    """The items whose file exists, and the paths of those that do not (links to nothing),
    which fail unless ``skip_bad_files``."""
    kept, broken = [], []
    for item in items:
        try:
            item.stat()
        except OSError as err:
            reason = (f"a link to {os.readlink(item.path)}, which does not exist"
                      if os.path.islink(item.path) else err)
            if not skip_bad_files:
                raise bad_file(item.path, reason, "data.skip_bad_files") from err
            broken.append(item.path)
            continue
        kept.append(item)
    if broken:
        warnings.warn(f"skipped {len(broken)} links to missing files (skip_bad_files), e.g. "
                      f"{', '.join(broken[:3])}", stacklevel=3)
    return kept, broken


def keep_once(items: list[Item], keys: list) -> list[int]:
    """Indices of ``items`` keeping one item per key (``keys[i]`` is item i's; the lowest
    ``rank``, then the first); warns with an example when some repeat."""
    best: dict = {}
    for i, (item, k) in enumerate(zip(items, keys)):
        if k in best:
            check_same_label(items[best[k]], item)
        if k not in best or item.rank < items[best[k]].rank:
            best[k] = i
    kept = sorted(best.values())
    if len(kept) < len(items):
        chosen = set(kept)
        dropped = next(i for i in range(len(items)) if i not in chosen)
        twin = items[best[keys[dropped]]]
        warnings.warn(f"{len(items) - len(kept)} image files repeat another one (the same file, "
                      f"or the same bytes) and are kept once, as test before labeled before "
                      f"unlabeled, e.g. {items[dropped].path} = {twin.path}", stacklevel=3)
    return kept


def check_same_label(first: Item, again: Item) -> None:
    """Refuse one image given two classes (the same file, or the same bytes)."""
    if first.label is not None and again.label is not None and first.label != again.label:
        raise ValueError(f"one image has two classes: {first.path} as {first.label!r} and "
                         f"{again.path} as {again.label!r} (the same file or the same bytes); "
                         "keep the right one and remove or relabel the other")


def load_folder(labeled_dir: Optional[str] = None, unlabeled_dir: Optional[str] = None,
                manifest: Optional[str] = None, channels: Optional[int] = None,
                image_size: Optional[int] = None, skip_bad_files: bool = False,
                test_dir: Optional[str] = None, decode_cache: bool = False) -> ImageSource:
    """A source from a class folder, an unlabeled folder and/or a CSV manifest.

    Args:
        labeled_dir: folder with one subfolder per class.
        unlabeled_dir: folder of unlabeled images (searched recursively).
        manifest: ``path,label`` CSV; empty label = unlabeled.
        channels: 1 or 3; None: 1 if every image is grey, else 3.
        image_size: side every image is resized to; None takes the first image's (if square).
        skip_bad_files: leave unreadable images out (with a warning) instead of failing.
        test_dir: folder with one subfolder per class, held out as the test split; without it
            the data module holds out a seeded stratified fraction.
        decode_cache: keep the decoded images on disk and reuse them while no file changes.
    """
    if not (labeled_dir or unlabeled_dir or manifest):
        raise ValueError("source 'folder' needs data.labeled_dir, data.unlabeled_dir and/or "
                         "data.manifest")
    if labeled_dir and test_dir and Path(labeled_dir).resolve() == Path(test_dir).resolve():
        raise ValueError(f"data.test_dir is data.labeled_dir ({test_dir}): test images must be "
                         "held out; give data.test_dir a folder of other images, or leave it "
                         "unset for a seeded holdout")
    items = []
    if labeled_dir:
        items += class_folder_items(labeled_dir)
    if manifest:
        items += manifest_items(manifest)
    if unlabeled_dir:
        items += unlabeled_items(unlabeled_dir)
    if test_dir:
        items += class_folder_items(test_dir, test=True)
    items, broken = drop_broken_links(items, skip_bad_files)
    listed = {it.label for it in items if it.label is not None and not it.test}
    items = [items[i] for i in keep_once(items, [it.file() for it in items])]
    images, items, skipped = read_items(items, channels, image_size, skip_bad_files,
                                        cache=decode_cache)
    skipped = broken + skipped
    unique = keep_once(items, [it.digest for it in items])
    if len(unique) < len(items):
        images, items = images[torch.as_tensor(unique)], [items[i] for i in unique]
    classes = sorted({it.label for it in items if it.label is not None and not it.test})
    if classes and listed - set(classes):
        warnings.warn(f"classes {', '.join(sorted(listed - set(classes)))} have no training "
                      "image left (unreadable ones skipped, or all also test images) and are left "
                      "out", stacklevel=2)
    if not classes:
        raise ValueError("no labeled images: give data.labeled_dir or labels in data.manifest")
    unknown = sorted({it.label for it in items if it.test} - set(classes))
    if unknown:
        raise ValueError(f"data.test_dir: classes {', '.join(unknown)} have no training images; "
                         f"the training classes are {', '.join(classes)}; rename or remove them")
    index = {name: i for i, name in enumerate(classes)}
    targets = np.array([-1 if it.label is None else index[it.label] for it in items], dtype=np.int64)
    test = np.flatnonzero([it.test for it in items]) if test_dir else None
    if test is not None and not len(test):
        raise ValueError(f"data.test_dir: no readable image in {test_dir}")
    return ImageSource("folder", images, targets, classes, test=test, ids=[it.id for it in items],
                       skipped=skipped)
