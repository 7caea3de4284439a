"""Run folders: never overwrite finished work, never pass off half-written work as finished."""
from __future__ import annotations

import shutil
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator, Optional

import torch.distributed as dist
from pytorch_lightning.utilities.rank_zero import rank_zero_only


def new_run_dir(run_dir: Optional[str | Path], root: str | Path = "runs") -> Path:
    """``run_dir`` if given, else a new timestamped folder under ``root``."""
    if run_dir is not None:
        return Path(run_dir)
    return Path(root) / datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def check_writable(folder: Path, overwrite: bool) -> None:
    """Refuse a non-empty ``folder`` unless ``overwrite`` (checked by the main process only)."""
    if rank_zero_only.rank == 0 and folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"{folder} already holds results; pass --overwrite to replace them, "
                              "or choose another --run-dir")


def partial_folder(folder: Path) -> Path:
    return folder.with_name(folder.name + ".partial")


@contextmanager
def stage_folder(folder: Path, overwrite: bool = False, resume: bool = False) -> Iterator[Path]:
    """Write a stage into ``folder.partial`` and move it to ``folder`` only when it succeeds.

    A failure keeps ``folder.partial`` (its last checkpoint is what ``resume`` continues from)
    and leaves any earlier ``folder`` as it was. In a multi-process run only the main process
    creates, checks and moves folders; the others write through it.

    Args:
        folder: the stage's final folder.
        overwrite: replace a finished ``folder`` and discard an interrupted ``folder.partial``.
        resume: keep an interrupted ``folder.partial`` to continue from.
    """
    folder, partial = Path(folder), partial_folder(Path(folder))
    if rank_zero_only.rank != 0:
        yield partial
        wait_for_main_process()
        return
    check_writable(folder, overwrite)
    if partial.exists() and not resume:
        if not overwrite:
            raise FileExistsError(f"{partial} holds an interrupted run; pass --resume to continue "
                                  "it, or --overwrite to start again")
        shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    try:
        yield partial
    except BaseException:
        print(f"stage failed: what it wrote is kept in {partial}; --resume continues from its "
              "last checkpoint, --overwrite starts again", file=sys.stderr)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    wait_for_main_process()


def wait_for_main_process() -> None:
    """In a multi-process run, wait until every process (the main one moving folders) is here."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
