from pathlib import Path

import pytest

from ssl_ae.cli import build_parser

CONFIGS = sorted(Path("configs").rglob("*.yaml"))
STAGES = ("pretrain", "finetune", "run", "evaluate")


def stage_of(path: Path) -> str:
    return next(s for s in STAGES if path.stem.startswith(s))


@pytest.mark.parametrize("path", CONFIGS, ids=str)
def test_shipped_config_parses_and_instantiates(path):
    parser = build_parser()
    stage = stage_of(path)
    extra = ["--pretrained", "x"] if stage in ("finetune", "evaluate") else []
    cfg = parser.parse_args([stage, "--config", str(path), *extra])
    parser.instantiate_classes(cfg)


def test_digits_run_config_equals_the_defaults():
    parser = build_parser()
    shipped = parser.parse_args(["run", "--config", "configs/digits/run.yaml"]).run
    defaults = parser.parse_args(["run"]).run
    shipped.pop("__path__", None), shipped.pop("config", None), defaults.pop("config", None)
    assert shipped == defaults
