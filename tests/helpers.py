"""What many tests share: the repository root, quiet trainer flags, the CLI, JSON files."""
import json
from pathlib import Path

from ssl_ae.cli import main

ROOT = Path(__file__).resolve().parents[1]  # configs are found from any working directory

QUIET = ["--pretrain_trainer.enable_progress_bar", "false",
         "--finetune_trainer.enable_progress_bar", "false"]


def run_cli(*args) -> None:
    """``ssl-ae ARGS...`` in this process (paths and numbers given as they are)."""
    main([str(a) for a in args])


def read_json(path: Path):
    return json.loads(Path(path).read_text())
