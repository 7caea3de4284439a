"""Run folders: never overwrite finished work, never leave half-written work behind."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator, Optional


def new_run_dir(run_dir: Optional[str | Path], root: str | Path = "runs") -> Path:
    """``run_dir`` if given, else a new timestamped folder under ``root``."""
    if run_dir is not None:
        return Path(run_dir)
    return Path(root) / datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def check_writable(folder: Path, overwrite: bool) -> None:
    """Refuse a non-empty ``folder`` unless ``overwrite``."""
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"{folder} already holds results; pass --overwrite to replace them, "
                              "or choose another --run-dir")


@contextmanager
def stage_folder(folder: Path, overwrite: bool = False) -> Iterator[Path]:
    """Write a stage into ``folder.partial`` and move it to ``folder`` only when it succeeds.

    An exception removes the partial folder and leaves any earlier ``folder`` as it was.
    """
    folder = Path(folder)
    check_writable(folder, overwrite)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
