"""The shipped configs: each parses and builds; each runs from the CLI (every variant through
pretrain and finetune, the shipped MNIST, Fashion-MNIST and CIFAR-10 configs through pretrain,
evaluate and, where there is one, their finetune config, a couple of batches each). CIFAR-10 runs
where SSL_AE_CIFAR10 names a folder holding its train/ and test/ class folders
(../shared/datasets/cifar10_from_mirror.py)."""
import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from helpers import ROOT, read_json, run_cli
from ssl_ae.checkpoints import load_checkpoint
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


SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
VARIANTS = sorted(p for p in (ROOT / "configs").glob("*/pretrain_*.yaml")
                  if p.parent.name in ("digits", "mnist"))
SHIPPED = sorted((ROOT / "configs").glob("*mnist/pretrain.yaml"))
assert VARIANTS and SHIPPED, f"no configs under {ROOT / 'configs'}"
QUICK = ["--trainer.max_epochs", 1, "--trainer.limit_train_batches", 2,
         "--trainer.enable_progress_bar", "false"]


def copy_raw(folder: str, root: Path) -> Path:
    if not (SHARED / folder / "raw").is_dir():
        pytest.skip(f"no {folder} files at {SHARED}")
    if not (root / folder).is_dir():
        shutil.copytree(SHARED / folder / "raw", root / folder / "raw")
    return root


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.mark.slow
@pytest.mark.parametrize("config", VARIANTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_variant_config_runs_pretrain_then_finetune(config, tmp_path, data_root):
    data = ["--data.root", copy_raw("MNIST", data_root)] if config.parent.name == "mnist" else []
    run_cli("pretrain", "--config", config, "--run-dir", tmp_path, *data, *QUICK)
    run_cli("finetune", "--config", config.parent / "finetune.yaml", "--pretrained", tmp_path,
            "--run-dir", tmp_path, *data, *QUICK, "--head.head", "linear")  # any head will do
    model = yaml.safe_load(config.read_text())["model"]
    built = load_checkpoint(tmp_path / "pretrain")["ssl_ae"]
    assert built["objective"]["name"] == model["objective"]
    assert built["encoder"]["name"] == model["encoder"]
    assert load_checkpoint(tmp_path / "finetune" / "checkpoints" / "last.ckpt", "classifier")


@pytest.mark.slow
@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_config_runs_pretrain_then_evaluate(config, tmp_path, data_root):
    folder = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}[config.parent.name]
    data = ["--data.root", copy_raw(folder, data_root)]
    run_cli("pretrain", "--config", config, "--run-dir", tmp_path, *data, *QUICK)
    run_cli("evaluate", "--config", config.parent / "evaluate.yaml", "--pretrained", tmp_path,
            "--run-dir", tmp_path, *data, "--sweep.seeds", "[0]", "--sweep.scratch_steps", 2)
    rows = read_json(tmp_path / "report" / "results.json")
    assert {r["labels_per_class"] for r in rows} == set(yaml.safe_load(
        (config.parent / "evaluate.yaml").read_text())["sweep"]["labels_per_class"])
    propagated = {r["labels_per_class"] for r in rows
                  if r["method"] == "frozen encoder + label propagation"}
    assert propagated == {r["labels_per_class"] for r in rows}
    assert len(read_json(tmp_path / "report" / "splits" / "k10-seed0.json")["test"]) == 10_000
    finetune = config.parent / "finetune.yaml"
    if finetune.is_file():
        run_cli("finetune", "--config", finetune, "--pretrained", tmp_path, "--run-dir", tmp_path,
                *data, *QUICK)
        head = load_checkpoint(tmp_path / "finetune", "classifier")["ssl_ae"]["head"]
        assert head["name"] == yaml.safe_load(finetune.read_text())["head"]["head"]


@pytest.mark.slow
def test_cifar10_configs_run_pretrain_evaluate_finetune(tmp_path):
    root = os.environ.get("SSL_AE_CIFAR10")
    if not root or not Path(root, "test").is_dir():
        pytest.skip("set SSL_AE_CIFAR10 to a folder holding CIFAR-10's train/ and test/ class folders")
    data = ["--data.labeled_dir", Path(root, "train"), "--data.test_dir", Path(root, "test")]
    configs = ROOT / "configs/cifar10"
    run_cli("pretrain", "--config", configs / "pretrain.yaml", "--run-dir", tmp_path, *data, *QUICK)
    assert load_checkpoint(tmp_path / "pretrain")["ssl_ae"]["objective"]["name"] == "siamese"
    run_cli("evaluate", "--config", configs / "evaluate.yaml", "--pretrained", tmp_path,
            "--run-dir", tmp_path, *data, "--sweep.seeds", "[0]", "--sweep.scratch_steps", 2,
            "--sweep.labels_per_class", "[4]")
    split = read_json(tmp_path / "report" / "splits" / "k4-seed0.json")
    assert len(split["test"]) == 10_000 and len(split["labeled"]) == 40
    run_cli("finetune", "--config", configs / "finetune.yaml", "--pretrained", tmp_path,
            "--run-dir", tmp_path, *data, *QUICK)
    head = load_checkpoint(tmp_path / "finetune", "classifier")["ssl_ae"]["head"]
    assert head["name"] == "smoothed" and head["graph_size"] == 50_000  # every non-test image
