import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import QUIET, read_json, run_cli
from ssl_ae import pipeline
from ssl_ae.callbacks import AtomicCheckpointIO
from ssl_ae.checkpoints import load_checkpoint
from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.objectives import Objective
from ssl_ae.objectives.base import objectives

CLI = [sys.executable, "-m", "ssl_ae.cli"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}


def test_same_seed_same_numbers(tmp_path):
    for name in ("a", "b"):
        run_cli("run", "--run-dir", tmp_path / name, "--pretrain_trainer.max_epochs", 2,
                "--finetune_trainer.max_epochs", 5, *QUIET)
    a, b = (read_json(tmp_path / n / "report" / "results.json") for n in ("a", "b"))
    assert a == b


def test_interrupted_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"epoch": 1}, path)

    def killed_mid_write(self, checkpoint, tmp, storage_options=None):
        Path(tmp).write_bytes(b"trunc")
        raise KeyboardInterrupt

    monkeypatch.setattr("lightning_fabric.plugins.TorchCheckpointIO.save_checkpoint", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"epoch": 2}, path)
    assert torch.load(path, weights_only=True) == {"epoch": 1}


class Diverging(Objective):
    """Plain reconstruction whose loss turns NaN from the 15th training step on."""

    def __init__(self, loss: str = "mse"):
        super().__init__(loss)
        self.steps = 0

    def forward(self, encoder, decoder, x):
        terms = super().forward(encoder, decoder, x)
        self.steps += self.training
        if self.steps >= 15:
            terms["loss"] = terms["loss"] * float("nan")
        return terms


def test_divergence_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setitem(objectives._builders, "test_diverging", Diverging)
    spec = pipeline.AutoencoderSpec(objective="test_diverging", objective_kwargs={})
    out = tmp_path / "pretrain"
    with pytest.raises(FloatingPointError, match=r"loss became nan at step 15 \(epoch 1\).*Lower the learning rate"):
        pipeline.pretrain(SemiSupervisedDataModule(batch_size=128), out, spec,
                          {"max_epochs": 3, "enable_progress_bar": False})
    assert not out.exists()
    kept = load_checkpoint(tmp_path / "pretrain.partial" / "checkpoints" / "last.ckpt")
    assert kept["epoch"] == 0 and all(torch.isfinite(v).all() for v in kept["state_dict"].values())


def pretrain_command(run_dir: Path, *extra: str) -> list[str]:
    return [*CLI, "pretrain", "--run-dir", str(run_dir), "--data.batch_size", "16",
            "--trainer.max_epochs", "4", "--trainer.enable_progress_bar", "false", *extra]


def final_loss(run_dir: Path) -> float:
    import csv

    rows = list(csv.DictReader(open(run_dir / "pretrain" / "metrics.csv")))
    return float([r for r in rows if r.get("train/loss_epoch")][-1]["train/loss_epoch"])


@pytest.mark.slow
def test_killed_pretrain_resumes_to_the_same_loss(tmp_path):
    subprocess.run(pretrain_command(tmp_path / "whole"), env=ENV, check=True, capture_output=True)
    victim = tmp_path / "killed"
    proc = subprocess.Popen(pretrain_command(victim), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    checkpoint = victim / "pretrain.partial" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists() and not (victim / "pretrain").exists()
    again = subprocess.run(pretrain_command(victim), env=ENV, capture_output=True, text=True)
    assert again.returncode != 0 and "pass --resume to continue it" in again.stderr
    subprocess.run(pretrain_command(victim, "--resume", "true"), env=ENV, check=True,
                   capture_output=True)
    resumed, whole = final_loss(victim), final_loss(tmp_path / "whole")
    print(f"final loss: resumed {resumed!r}, uninterrupted {whole!r}")
    assert resumed == pytest.approx(whole, rel=1e-6)


@pytest.mark.slow
def test_two_process_ddp_run_matches_single_process_evaluation(tmp_path, tiny_run):
    ddp = ["--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"]
    trainer_args = [f"--{stage}_trainer.{ddp[i][2:]}={ddp[i + 1]}" for stage in ("pretrain", "finetune")
                    for i in range(0, len(ddp), 2)]
    run_dir = tmp_path / "run"
    started = time.time()
    done = subprocess.run([*CLI, "run", "--run-dir", str(run_dir), "--pretrain_trainer.max_epochs", "2",
                           "--finetune_trainer.max_epochs", "20", *trainer_args, *QUIET],
                          env=ENV, capture_output=True, text=True, timeout=600)
    print(f"2-process DDP run took {time.time() - started:.1f} s")
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    prints = {line.split("]")[0] + "]": line.split()[3] for line in log.splitlines()
              if line.startswith("[process ") and " split " in line}
    assert set(prints) == {"[process 0]", "[process 1]"}, log[-3000:]
    assert len(set(prints.values())) == 1
    assert "batch size 64 per device x 2 process(es) = 128 global" in log
    reported = read_json(run_dir / "report" / "results.json")[0]["accuracy"]
    single = pipeline.evaluate(SemiSupervisedDataModule(), run_dir / "finetune")[0].accuracy
    assert single == reported
    # DDP checkpoints load in a single process, and single-process ones in DDP.
    pipeline.finetune(SemiSupervisedDataModule(), run_dir, tmp_path / "single" / "finetune",
                      trainer={"max_epochs": 2, "enable_progress_bar": False})
    back = subprocess.run([*CLI, "finetune", "--pretrained", str(tiny_run),
                           "--run-dir", str(tmp_path / "back"), "--trainer.max_epochs", "2",
                           *[a.replace("--finetune_trainer.", "--trainer.") for a in trainer_args
                             if a.startswith("--finetune_trainer.")],
                           "--trainer.enable_progress_bar", "false"],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert back.returncode == 0, back.stderr[-3000:]
    assert load_checkpoint(tmp_path / "back" / "finetune" / "checkpoints" / "last.ckpt", "classifier")
