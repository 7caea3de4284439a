"""What the benchmark scripts share: reading a stage config with the data root overridden,
and how a score over seeds is printed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import yaml


def mean_std(values: Sequence[float]) -> str:
    """``mean ± std`` of a row's scores over seeds, as every benchmark prints them."""
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def print_scores(scores: dict[str, list[float]], **facts) -> None:
    """Print ``facts`` (the run, k, seeds, ...) and each row's scores over seeds as ``mean ±
    std``, as one JSON line."""
    print(json.dumps({**facts, **{row: mean_std(v) for row, v in scores.items()}},
                     ensure_ascii=False))


def read_config(path: Optional[str], data_root: Optional[str]) -> dict:
    """The YAML config at ``path`` (empty without one) with its data pointed at ``data_root``
    when given: ``data.root`` for a built-in source; for ``source: folder``, the class folders
    ``data_root/train`` (``labeled_dir``) and ``data_root/test`` (``test_dir``)."""
    config = yaml.safe_load(Path(path).read_text()) if path else {}
    if data_root:
        data = config.get("data", {})
        place = ({"labeled_dir": f"{data_root}/train", "test_dir": f"{data_root}/test"}
                 if data.get("source") == "folder" else {"root": data_root})
        config["data"] = {**data, **place}
    return config
