"""Run folders: never overwrite finished work, never pass off half-written work as finished.

The layout: a run folder holds one folder per stage (``pretrain``, ``finetune``, ``report``, ...);
a training stage keeps its weights in ``checkpoints/last.ckpt``. A stage is written into
``STAGE.partial`` and renamed when it finishes.
"""
from __future__ import annotations

import errno
import os
import shutil
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator, Optional

try:
    import fcntl
except ImportError:  # Windows: folders are not guarded against a second command
    fcntl = None
import torch.distributed as dist
from pytorch_lightning.utilities.rank_zero import rank_zero_only

STAGE_CHECKPOINT = Path("checkpoints") / "last.ckpt"


def new_run_dir(run_dir: Optional[str | Path], root: str | Path = "runs") -> Path:
    """``run_dir`` if given (refused if a file is in its place), else a new timestamped folder
    under ``root``."""
    if run_dir is not None:
        folder = Path(run_dir)
        folder = folder.resolve() if folder.name in ("", "..") else folder  # "." or "..": named
        holds_results(folder)
        return folder
    return Path(root) / datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def holds_results(folder: Path) -> bool:
    """Whether ``folder`` exists and is not empty (a file in its place is refused)."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} is a file, not a folder; choose another --run-dir")
    return folder.is_dir() and any(folder.iterdir())


def check_writable(folder: Path, overwrite: bool) -> None:
    """Refuse a non-empty ``folder`` unless ``overwrite`` (checked by the main process only)."""
    if rank_zero_only.rank == 0 and holds_results(folder) and not overwrite:
        raise FileExistsError(f"{folder} already holds results; pass --overwrite true to replace "
                              "them, or choose another --run-dir")


def partial_folder(folder: Path) -> Path:
    return folder.with_name(folder.name + ".partial")


def has_checkpoint(folder: Path) -> bool:
    return (folder / STAGE_CHECKPOINT).is_file()


@contextmanager
def held(folder: Path) -> Iterator[None]:
    """Hold ``folder`` for this command while the block runs; refuse if another command holds
    it (the hold ends with the command, however it ends, so a killed one leaves none)."""
    if fcntl is None:
        yield
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FileExistsError(f"another command is writing {folder}; wait for it to finish "
                                  "or stop it, or choose another --run-dir") from None
        except OSError as error:  # a file system without locks: nothing to guard with
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        yield
    finally:
        os.close(handle)


def replace_folder(new: Path, folder: Path) -> None:
    """Move ``new`` to ``folder``; an earlier ``folder`` is deleted only once ``new`` is there."""
    old = folder.with_name(folder.name + ".replaced")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def stage_folder(folder: Path, overwrite: bool = False, resume: bool = False,
                 resumable: bool = True) -> Iterator[Path]:
    """Write a stage into ``folder.partial`` and move it to ``folder`` only when it succeeds.

    A training stage that fails after its first checkpoint keeps ``folder.partial`` for
    ``resume`` to continue from; any other failure removes it. An earlier ``folder`` stays as it
    was until the new one is complete. In a multi-process run only the main process creates,
    checks and moves folders; the others write through it.

    Args:
        folder: the stage's final folder.
        overwrite: replace a finished ``folder`` and discard an interrupted ``folder.partial``.
        resume: continue from an interrupted ``folder.partial``.
        resumable: the stage trains and checkpoints (else nothing it leaves can be continued).
    """
    folder, partial = Path(folder), partial_folder(Path(folder))
    if rank_zero_only.rank != 0:
        yield partial
        wait_for_main_process()
        return
    check_writable(folder, overwrite)
    if partial.exists() and not (resume and resumable):
        discard_partial(partial, keep_checkpointed=resumable and not overwrite)
    created = [p for p in partial.parents if not p.exists()]  # removed again if left empty
    partial.mkdir(parents=True, exist_ok=True)
    with held(partial):
        try:
            yield partial
        except BaseException:
            if resumable and has_checkpoint(partial):
                print(f"stage failed: what it wrote is kept in {partial}; --resume true "
                      "continues from its last checkpoint, --overwrite true starts again",
                      file=sys.stderr)
            else:
                shutil.rmtree(partial, ignore_errors=True)
                for parent in created:
                    if parent.is_dir() and not any(parent.iterdir()):
                        parent.rmdir()
            raise
        replace_folder(partial, folder)
    wait_for_main_process()


@contextmanager
def run_folder(folder: Path, overwrite: bool = False, resume: bool = False) -> Iterator[Path]:
    """The folder a whole run writes its stages into.

    A run that replaces earlier results (``overwrite``) is written into ``folder.partial`` and
    swapped in only when every stage has finished, so a failure leaves the earlier run whole;
    ``resume`` continues such a run, or else the unfinished stages of ``folder``.
    """
    folder, partial = Path(folder), partial_folder(Path(folder))
    if rank_zero_only.rank != 0:  # the main process made its choice before starting the others
        yield partial if partial.is_dir() else folder
        return
    replacing = holds_results(folder) and overwrite
    if not (resume and partial.is_dir()) and not replacing:
        if not resume:
            clear_dead_stages(folder)
            check_writable(folder, overwrite)
        yield folder  # each stage guards its own folder
        return
    if partial.is_dir() and not resume:
        discard_partial(partial, keep_checkpointed=False)
    created = not partial.is_dir()
    partial.mkdir(parents=True, exist_ok=True)
    with held(partial):
        try:
            yield partial
        except BaseException:
            if created and not any(partial.iterdir()):
                partial.rmdir()
            raise
        carry_over(folder, partial)
        replace_folder(partial, folder)


def discard_partial(partial: Path, keep_checkpointed: bool = True) -> None:
    """Remove what a stage left in ``partial``; with ``keep_checkpointed``, refuse (naming
    ``--resume``) if it holds a checkpoint to continue from, or if another command writes it."""
    with held(partial):
        if keep_checkpointed and has_checkpoint(partial):
            raise FileExistsError(f"{partial} holds an interrupted run; pass --resume true to "
                                  "continue it, or --overwrite true to start again")
        shutil.rmtree(partial)


def clear_dead_stages(folder: Path) -> None:
    """Remove the stages of ``folder`` killed before their first checkpoint (nothing there can
    be continued); refuse, naming ``--resume``, if one holds a checkpoint."""
    if folder.is_dir():
        for stage in sorted(p for p in folder.glob("*.partial") if p.is_dir()):
            discard_partial(stage)


def carry_over(old: Path, new: Path) -> None:
    """Move what ``old`` holds and ``new`` does not (other commands' results: embed, select,
    ...) into ``new``, so that replacing ``old`` by ``new`` loses only what ``new`` replaces."""
    if old.is_dir():
        for entry in old.iterdir():
            if not (new / entry.name).exists() and not entry.name.endswith(".partial"):
                entry.rename(new / entry.name)


def join_launched_processes() -> bool:
    """Join the process group of a multi-process launch (``torchrun``: ``WORLD_SIZE`` > 1), if
    this process is part of one, so a command that does not train shares its work through it
    (Lightning's fits join by themselves); whether it is."""
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available()
    if launched and not dist.is_initialized():
        dist.init_process_group("gloo")
    return launched


def leave_process_group() -> None:
    """Once every process is here, leave the process group, so that no process exits while
    another still talks to it (gloo aborts a process torn down mid-exchange)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wait_for_main_process() -> None:
    """In a multi-process run, wait until every process (the main one moving folders) is here."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def resolve_checkpoint(path: str | Path, stage: str = "pretrain") -> Path:
    """Accept a checkpoint file, a stage folder or a run folder; return the checkpoint file."""
    path = Path(path)
    candidates = [path, path / STAGE_CHECKPOINT, path / stage / STAGE_CHECKPOINT]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no {stage} checkpoint at {path}: expected a .ckpt file, a {stage} folder holding "
        f"{STAGE_CHECKPOINT}, or a run folder holding {stage}/{STAGE_CHECKPOINT}")


def saved_split(pretrained: Path) -> Optional[Path]:
    """The split.json the pretrain stage of ``pretrained`` wrote, if any: beside a stage's
    ``checkpoints/`` folder, not beside a checkpoint copied elsewhere."""
    if not pretrained.is_dir() and pretrained.parent.name != STAGE_CHECKPOINT.parent.name:
        return None
    folder = pretrained if pretrained.is_dir() else pretrained.parent.parent
    return next((p for p in (folder / "split.json", folder / "pretrain" / "split.json")
                 if p.is_file()), None)
