from pathlib import Path

import pytest
import torch

from helpers import ROOT
from ssl_ae.cli import build_parser

CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
assert CONFIGS, f"no configs under {ROOT / 'configs'}"
# the image shape each folder's data has (channels, side, side)
SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28),
          "cifar10": (3, 32, 32)}
STAGES = ("pretrain", "finetune", "run", "evaluate")


def stage_of(path: Path) -> str:
    return next(s for s in STAGES if path.stem.startswith(s))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_config_parses_and_instantiates(path):
    parser = build_parser()
    stage = stage_of(path)
    extra = ["--pretrained", "x"] if stage in ("finetune", "evaluate") else []
    cfg = parser.parse_args([stage, "--config", str(path), *extra])
    init = parser.instantiate_classes(cfg)[stage]
    if stage in ("pretrain", "run"):  # its autoencoder builds and trains one finite step
        shape = SHAPES[path.parent.name]
        data = init.data.hparams
        shape = (data.channels or shape[0], data.image_size or shape[1], data.image_size or shape[2])
        module = init.model.build(shape)
        torch.manual_seed(0)
        loss = module.objective(module.encoder, module.decoder, torch.rand(4, *shape))["loss"]
        loss.backward()
        assert torch.isfinite(loss)


def test_digits_run_config_equals_the_defaults():
    parser = build_parser()
    shipped = parser.parse_args(["run", "--config", str(ROOT / "configs/digits/run.yaml")]).run
    defaults = parser.parse_args(["run"]).run
    shipped.pop("__path__", None), shipped.pop("config", None), defaults.pop("config", None)
    assert shipped == defaults
