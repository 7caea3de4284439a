"""Every shipped variant config runs pretrain then finetune from the CLI (a couple of batches)."""
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from ssl_ae.checkpoints import load_checkpoint

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
VARIANTS = sorted(Path("configs").glob("*/pretrain_*.yaml"))


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory) -> Path:
    if not (SHARED / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST files at {SHARED}")
    root = tmp_path_factory.mktemp("data")
    shutil.copytree(SHARED / "MNIST" / "raw", root / "MNIST" / "raw")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("config", VARIANTS, ids=str)
def test_variant_config_runs_pretrain_then_finetune(config, tmp_path, request):
    data = ["--data.root", str(request.getfixturevalue("mnist_root"))] \
        if config.parent.name == "mnist" else []
    quick = ["--trainer.max_epochs", 1, "--trainer.limit_train_batches", 2,
             "--trainer.enable_progress_bar", "false"]
    run_cli("pretrain", "--config", config, "--run-dir", tmp_path, *data, *quick)
    run_cli("finetune", "--config", config.parent / "finetune.yaml", "--pretrained", tmp_path,
            "--run-dir", tmp_path, *data, *quick)
    model = yaml.safe_load(config.read_text())["model"]
    built = load_checkpoint(tmp_path / "pretrain")["ssl_ae"]
    assert built["objective"]["name"] == model["objective"]
    assert built["encoder"]["name"] == model["encoder"]
    assert load_checkpoint(tmp_path / "finetune" / "checkpoints" / "last.ckpt", "classifier")
