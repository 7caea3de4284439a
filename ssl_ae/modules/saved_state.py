"""What the modules save in a checkpoint beside their weights: their spec, under
``CHECKPOINT_KEY``, and the random-number state, so a resumed run draws the same noise and
shuffles."""
from __future__ import annotations

import random

import torch

CHECKPOINT_KEY = "ssl_ae"


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
