from pathlib import Path

import pytest
import torch

from helpers import QUIET, run_cli


@pytest.fixture(autouse=True)
def _single_thread():
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _own_decode_cache(tmp_path_factory, monkeypatch):
    """Each test decodes folders into its own cache, never the user's."""
    monkeypatch.setenv("SSL_AE_CACHE_DIR", str(tmp_path_factory.mktemp("decoded")))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A whole `ssl-ae run` on digits with a few epochs: shared, read-only, by many tests."""
    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    run_cli("run", "--run-dir", run_dir, "--pretrain_trainer.max_epochs", 2,
            "--finetune_trainer.max_epochs", 5, *QUIET)
    return run_dir
