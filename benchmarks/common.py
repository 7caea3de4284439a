"""What the benchmark scripts share: reading a stage config with the data root overridden."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml


def read_config(path: Optional[str], data_root: Optional[str]) -> dict:
    """The YAML config at ``path`` (empty without one), its ``data.root`` replaced by
    ``data_root`` when given."""
    config = yaml.safe_load(Path(path).read_text()) if path else {}
    if data_root:
        config["data"] = {**config.get("data", {}), "root": data_root}
    return config
