"""Reading torch files without running code stored in them."""
from __future__ import annotations

from pathlib import Path

import torch


def read_weights_only(path: Path, advice: str) -> dict:
    """``torch.load`` of ``path`` that never runs code stored in it; errors say why, and ``advice``."""
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is an empty file (a write that failed, e.g. on a full disk); "
                         f"{advice}")
    with open(path, "rb") as f:
        head = f.read(2)
    if head != b"PK" and head[:1] != b"\x80":  # torch.save's zip archive, or an older pickle
        raise ValueError(f"{path} is not a checkpoint file (torch.save writes a zip archive); "
                         f"{advice}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        reason = first_lines(err)
        raise ValueError(f"{path} is not a readable weights-only checkpoint ({type(err).__name__}"
                         f"{': ' + reason if reason else ''}); {advice}") from err


def first_lines(err: Exception, count: int = 1) -> str:
    """The first ``count`` lines of an error's message, joined: enough for a one-line error."""
    return " ".join(line.strip() for line in str(err).strip().splitlines()[:count])
