"""benchmarks/slim_checkpoint.py: a pretrain checkpoint carried in parts and joined again."""
import importlib.util
from pathlib import Path

import torch

from ssl_ae.checkpoints import load_autoencoder, load_encoder

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "slim_checkpoint.py"


def slim_module():
    spec = importlib.util.spec_from_file_location("slim_checkpoint", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_split_and_joined_checkpoint_keeps_the_encoder_exactly(tiny_run, tmp_path, monkeypatch):
    slim = slim_module()
    monkeypatch.setattr(slim, "PART", 20_000)  # several parts even for the tiny encoder
    original = tiny_run / "pretrain" / "checkpoints" / "last.ckpt"
    slim.split(original, tmp_path / "parts")
    parts = sorted((tmp_path / "parts").iterdir())
    assert len(parts) > 2 and all(p.stat().st_size <= 20_000 for p in parts)
    joined = tmp_path / "run" / "pretrain" / "checkpoints" / "last.ckpt"
    slim.join(tmp_path / "parts", joined)
    assert "optimizer_states" not in torch.load(joined, weights_only=True)
    before, after = load_encoder(original).state_dict(), load_encoder(tmp_path / "run").state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    decoder = load_autoencoder(tmp_path / "run").decoder.state_dict()
    for name, value in load_autoencoder(original).decoder.state_dict().items():
        torch.testing.assert_close(decoder[name], value, rtol=1e-2, atol=1e-2)  # bfloat16
