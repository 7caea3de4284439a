"""Random-number state in checkpoints, so a resumed run draws the same noise and shuffles."""
from __future__ import annotations

import random

import torch


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
