import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml

from helpers import QUIET, read_json, run_cli
from datahelpers import write_png
from ssl_ae import pipeline
from ssl_ae.callbacks import AtomicCheckpointIO, ScheduleGuard
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
    """Plain reconstruction whose loss turns NaN from training step ``at`` on."""

    def __init__(self, loss: str = "mse", at: int = 15):
        super().__init__(loss)
        self.steps, self.at = 0, at

    def forward(self, encoder, decoder, x):
        terms = super().forward(encoder, decoder, x)
        self.steps += self.training
        if self.steps >= self.at:
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


def test_divergence_before_any_checkpoint_says_so_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(objectives._builders, "test_diverging", Diverging)
    spec = pipeline.AutoencoderSpec(objective="test_diverging", objective_kwargs={"at": 1})
    with pytest.raises(FloatingPointError, match="at step 1 .*no checkpoint was written yet"):
        pipeline.pretrain(SemiSupervisedDataModule(), tmp_path / "run" / "pretrain", spec,
                          {"max_epochs": 3, "enable_progress_bar": False})
    assert not (tmp_path / "run").exists()


def pretrain_command(run_dir: Path, *extra: str) -> list[str]:
    return [*CLI, "pretrain", "--run-dir", str(run_dir), "--data.batch_size", "16",
            "--trainer.max_epochs", "4", "--trainer.enable_progress_bar", "false", *extra]


def epoch_losses(run_dir: Path, stage: str = "pretrain") -> dict[int, float]:
    import csv

    if not (run_dir / stage / "metrics.csv").is_file():
        return {}
    rows = list(csv.DictReader(open(run_dir / stage / "metrics.csv")))
    return {int(r["epoch"]): float(r["train/loss_epoch"]) for r in rows if r.get("train/loss_epoch")}


@pytest.mark.slow
def test_killed_pretrain_resumes_from_its_checkpoint_to_the_same_loss(tmp_path):
    subprocess.run(pretrain_command(tmp_path / "whole"), env=ENV, check=True, capture_output=True)
    victim = tmp_path / "killed"
    proc = subprocess.Popen(pretrain_command(victim), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    checkpoint = victim / "pretrain.partial" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists() and not (victim / "pretrain").exists()
    done_epochs = torch.load(checkpoint, weights_only=True)["epoch"] + 1
    # the epochs logged before the kill (the last checkpointed epoch's row may not be yet)
    logged = epoch_losses(victim, "pretrain.partial")
    again = subprocess.run(pretrain_command(victim), env=ENV, capture_output=True, text=True)
    assert again.returncode != 0 and "pass --resume true to continue it" in again.stderr
    resumed = subprocess.run(pretrain_command(victim, "--resume", "true",
                                              "--trainer.enable_progress_bar", "true"),
                             env=ENV, check=True, capture_output=True, text=True)
    assert "Restored all states from the checkpoint" in resumed.stdout + resumed.stderr
    trained = re.findall(r"Epoch (\d+)", resumed.stdout + resumed.stderr)
    assert trained and min(map(int, trained)) == done_epochs  # it did not start from epoch 0
    losses, whole = epoch_losses(victim), epoch_losses(tmp_path / "whole")
    print(f"epoch losses: resumed {losses}, uninterrupted {whole}")
    assert {e: losses[e] for e in logged} == logged  # the epochs logged before the kill are kept
    assert set(range(done_epochs, 4)) <= set(losses)  # and every epoch trained after it
    assert losses[3] == pytest.approx(whole[3], rel=1e-6)


def layout(run_dir: Path) -> set[str]:
    """The files of a run folder (TensorBoard's event files named by kind only)."""
    return {re.sub(r"events\.out\.tfevents\..*", "events", str(p.relative_to(run_dir)))
            for p in run_dir.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_two_process_ddp_run_matches_single_process_training(tmp_path, tiny_run):
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
    # the same training in one process with the same global batch: the same loss, within 10 %
    # (the two shard the shuffled images differently), and the same files (only rank 0 writes)
    one = tmp_path / "one_process"
    run_cli("run", "--run-dir", one, "--data.batch_size", 128, "--pretrain_trainer.max_epochs", 2,
            "--finetune_trainer.max_epochs", 20, *QUIET)
    losses = {name: epoch_losses(folder)[1] for name, folder in (("ddp", run_dir), ("one", one))}
    print(f"pretraining loss after 2 epochs: {losses}")
    assert losses["ddp"] == pytest.approx(losses["one"], rel=0.1)
    assert layout(run_dir) == layout(one)
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


def test_sigterm_stops_a_run_with_exit_code_143_and_keeps_its_checkpoint(tmp_path):
    command = pretrain_command(tmp_path / "run")[:-4] + ["--trainer.max_epochs", "500",
                                                         "--trainer.enable_progress_bar", "false"]
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    checkpoint = tmp_path / "run" / "pretrain.partial" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "stopped by SIGTERM before it finished" in err
    assert checkpoint.exists() and not (tmp_path / "run" / "pretrain").exists()


def test_run_resume_continues_after_a_finished_stage(tmp_path):
    run_dir = tmp_path / "run"
    run_cli("pretrain", "--run-dir", run_dir, "--trainer.max_epochs", 1,
            "--trainer.enable_progress_bar", "false")
    pretrained = (run_dir / "pretrain" / "checkpoints" / "last.ckpt").read_bytes()
    run_cli("run", "--run-dir", run_dir, "--resume", "true", "--finetune_trainer.max_epochs", 2, *QUIET)
    assert (run_dir / "pretrain" / "checkpoints" / "last.ckpt").read_bytes() == pretrained
    assert read_json(run_dir / "report" / "results.json")[0]["method"].startswith("frozen")


def test_failed_overwrite_leaves_the_earlier_run_whole(tmp_path, tiny_run, monkeypatch):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    before = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}

    def failing_finetune(*args, **kwargs):
        raise RuntimeError("finetune crashed")

    monkeypatch.setattr(pipeline, "finetune", failing_finetune)
    with pytest.raises(RuntimeError, match="finetune crashed"):
        run_cli("run", "--run-dir", run_dir, "--overwrite", "true",
                "--pretrain_trainer.max_epochs", 1, *QUIET)
    after = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert after == before
    assert (tmp_path / "run.partial" / "pretrain" / "checkpoints" / "last.ckpt").is_file()


def test_saved_config_reruns_to_the_same_loss(tmp_path):
    def loss(run_dir):
        rows = list(csv.DictReader(open(run_dir / "pretrain" / "metrics.csv")))
        return [r["train/loss_epoch"] for r in rows if r.get("train/loss_epoch")]

    run_cli("pretrain", "--run-dir", tmp_path / "a", "--seed", 3, "--trainer.max_epochs", 1,
            "--trainer.enable_progress_bar", "false")
    config = tmp_path / "a" / "pretrain" / "config.yaml"
    assert yaml.safe_load(config.read_text())["seed"] == 3
    run_cli("pretrain", "--config", config, "--run-dir", tmp_path / "b")
    assert loss(tmp_path / "a") == loss(tmp_path / "b")


def test_each_stage_of_run_reruns_from_its_saved_config_to_the_same_loss(tmp_path):
    def losses(stage):
        rows = list(csv.DictReader(open(stage / "metrics.csv")))
        return [r["train/loss_epoch"] for r in rows if r.get("train/loss_epoch")]

    quiet = ("--trainer.enable_progress_bar", "false")
    run_cli("run", "--run-dir", tmp_path / "run", "--seed", 3, "--pretrain_trainer.max_epochs", 1,
            "--finetune_trainer.max_epochs", 1, "--pretrain_trainer.enable_progress_bar", "false",
            "--finetune_trainer.enable_progress_bar", "false")
    run_cli("pretrain", "--config", tmp_path / "run" / "pretrain" / "config.yaml",
            "--run-dir", tmp_path / "again", *quiet)
    run_cli("finetune", "--config", tmp_path / "run" / "finetune" / "config.yaml",
            "--run-dir", tmp_path / "again", *quiet)
    for stage in ("pretrain", "finetune"):
        assert losses(tmp_path / "again" / stage) == losses(tmp_path / "run" / stage)


def test_predict_skips_bad_files_and_lists_them(tmp_path, tiny_run):
    write_png(tmp_path / "imgs" / "ok.png", 9)
    (tmp_path / "imgs" / "bad.png").write_bytes(b"broken")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        run_cli("predict", "--finetuned", tiny_run, "--images", tmp_path / "imgs",
                "--skip_bad_files", "true", "--run-dir", tmp_path / "run")
    out = tmp_path / "run" / "predict"
    assert (out / "skipped_files.txt").read_text() == f"{tmp_path / 'imgs' / 'bad.png'}\n"
    assert [r["path"] for r in csv.DictReader(open(out / "predictions.csv"))] == ["ok.png"]


def test_an_overwritten_run_names_the_encoder_where_it_ends_up(tmp_path, tiny_run):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    run_cli("run", "--run-dir", run_dir, "--overwrite", "true", "--pretrain_trainer.max_epochs", 1,
            "--finetune_trainer.max_epochs", 1, *QUIET)
    encoder = run_dir / "pretrain" / "checkpoints" / "last.ckpt"
    recorded = yaml.safe_load((run_dir / "finetune" / "config.yaml").read_text())["pretrained"]
    assert Path(recorded) == encoder and encoder.is_file()
    assert f"Encoder: `{encoder}`" in (run_dir / "report" / "report.md").read_text()


def test_run_resume_refuses_to_keep_a_finished_pretraining_of_another_model(tmp_path):
    run_dir = tmp_path / "run"
    run_cli("pretrain", "--run-dir", run_dir, "--trainer.max_epochs", 1,
            "--trainer.enable_progress_bar", "false")
    with pytest.raises(SystemExit, match=r"--resume keeps .*pretrain, which ran with other "
                                         r"model.code_dim \(32, now 8\)"):
        run_cli("run", "--run-dir", run_dir, "--resume", "true", "--model.code_dim", 8, *QUIET)
    assert not (run_dir / "finetune").exists()


class ScheduledRegression(pl.LightningModule):
    """A tiny model whose one-cycle schedule is laid out for ``share`` of the run's steps, as a
    checkpoint written by a run on 1 / share as many processes would have it."""

    def __init__(self, share: float):
        super().__init__()
        self.layer, self.share = torch.nn.Linear(2, 1), share

    def training_step(self, batch, _):
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        steps = int(self.trainer.estimated_stepping_batches * self.share)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.1, total_steps=steps)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


@pytest.mark.parametrize("share", [1.0, 0.5])
def test_a_resumed_schedule_laid_out_for_other_processes_is_refused_before_a_step(tmp_path, share):
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 2)),
                                         batch_size=2)
    trainer = pl.Trainer(max_epochs=2, callbacks=[ScheduleGuard()], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         default_root_dir=tmp_path)
    if share == 1.0:
        trainer.fit(ScheduledRegression(share), loader)
        assert trainer.global_step == 8
    else:
        with pytest.raises(ValueError, match="schedule runs 4 steps, but this run takes 8 .*resume "
                                             "with the devices and num_nodes"):
            trainer.fit(ScheduledRegression(share), loader)
        assert trainer.global_step == 0
