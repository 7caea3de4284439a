"""Measured results: one row per method and split, their mean ± std over seeds, and the files
they are saved as."""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np


@dataclass
class Row:
    """One measured result: a method on one split: ``labels_per_class`` images of each class
    drawn with ``seed`` (``selection`` "stratified"), or ``budget`` images in all chosen by a
    selection method (``labels_per_class`` None)."""

    method: str
    frozen_encoder: bool
    labels_per_class: Optional[int]
    seed: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    ece: float
    selection: str = "stratified"
    budget: Optional[int] = None


def write_results(rows: list[Row], folder: Path) -> None:
    """results.json (a list of rows) and results.csv (one line per row)."""
    (folder / "results.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    with open(folder / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(Row.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)


def summarize(rows: list[Row]) -> list[dict]:
    """Mean and std over seeds of every metric, per method and k."""
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        key = (r.method, r.frozen_encoder, r.labels_per_class, r.selection, r.budget)
        groups.setdefault(key, []).append(r)
    out = []
    for (method, frozen, k, selection, budget), members in groups.items():
        entry = {"method": method, "frozen_encoder": frozen, "labels_per_class": k,
                 "selection": selection, "budget": budget, "seeds": len(members)}
        for metric in ("accuracy", "balanced_accuracy", "macro_f1", "ece"):
            values = np.array([getattr(m, metric) for m in members])
            entry[metric], entry[f"{metric}_std"] = float(values.mean()), float(values.std())
        out.append(entry)
    return out


# The rows that use no pretrained encoder (dashed in the figures).
BASELINES = ("logistic regression on pixels", "logistic regression on PCA",
             "same encoder from scratch")


def stratified(summary: list[dict]) -> list[dict]:
    return [s for s in summary if s["selection"] == "stratified"]


def best_frozen(summary: list[dict]) -> dict[tuple[str, int], dict]:
    """Per (selection, budget) the frozen-encoder method with the best mean accuracy."""
    best: dict[tuple[str, int], dict] = {}
    for s in summary:
        key = (s["selection"], s["budget"])
        if s["budget"] is not None and s["frozen_encoder"] and (
                key not in best or s["accuracy"] > best[key]["accuracy"]):
            best[key] = s
    return best
