"""Decode once: a folder source's decoded images kept on disk, so the next stage or run reads
one file instead of decoding every image again.

An entry is keyed by every file's path, size and modification time and by the conversion
settings, so a changed, added or removed file (or another ``channels``/``image_size``) misses
and decodes afresh. Entries are written atomically and read weights-only; an unreadable entry
is decoded again, a cache that cannot be written only warns, and only the 8 most recently used
entries are kept. The folder is ``$SSL_AE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ssl_ae/decoded``
(``~/.cache/ssl_ae/decoded``); deleting it is always safe.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from pathlib import Path
from typing import Optional

import torch

from ..safe_load import first_lines

VERSION = 3  # bump when the decoding itself changes
KEEP = 8  # entries kept: the most recently used


def cache_dir() -> Path:
    if os.environ.get("SSL_AE_CACHE_DIR"):
        return Path(os.environ["SSL_AE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ssl_ae" / "decoded"


def cache_key(files: list[tuple[str, os.stat_result]], **settings) -> str:
    """A digest of the files (path, size, inode, modification and change times, from their
    ``os.stat``: a file replaced in place under its old modification time, as ``tar`` or
    ``rsync -t`` leave it, still gets a new change time) and the settings."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"v{VERSION} {sorted(settings.items())}\n".encode())
    digest.update("".join(f"{path}\0{s.st_size}\0{s.st_ino}\0{s.st_mtime_ns}\0{s.st_ctime_ns}\n"
                          for path, s in files).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def load(key: str) -> Optional[dict]:
    """The entry stored under ``key``, or None."""
    file = cache_dir() / f"{key}.pt"
    if not file.is_file():
        return None
    try:
        entry = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:
        warnings.warn(f"decode cache entry {file} is unreadable ({type(err).__name__}); "
                      "decoding the images again", stacklevel=2)
        return None
    with contextlib.suppress(OSError):  # a read-only cache still serves its entries
        os.utime(file)  # recently used: evicted last
    return entry


def save(key: str, entry: dict) -> None:
    """Store ``entry`` under ``key``, atomically; warn (and go on) if it cannot be written."""
    folder = cache_dir()
    partial = folder / f"{key}.pt.{os.getpid()}.partial"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(entry, partial)
        os.replace(partial, folder / f"{key}.pt")
        evict(folder)
    except (OSError, RuntimeError) as err:  # torch's zip writer fails a full disk with either
        warnings.warn(f"could not write the decode cache in {folder} ({first_lines(err)}); the "
                      "images will be decoded again next time (set SSL_AE_CACHE_DIR to a "
                      "writable folder, or data.decode_cache false)", stacklevel=2)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def evict(folder: Path) -> None:
    """Delete all but the ``KEEP`` most recently used entries, and what a process that died
    while writing one left."""
    entries = sorted(folder.glob("*.pt"), key=lambda f: f.stat().st_mtime_ns, reverse=True)
    for stale in entries[KEEP:]:
        stale.unlink(missing_ok=True)
    for partial in folder.glob("*.pt.*.partial"):  # KEY.pt.PID.partial
        pid = partial.name.split(".")[-2]
        if not (pid.isdigit() and alive(int(pid))):
            partial.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether process ``pid`` is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True
