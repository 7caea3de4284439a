"""Lightning overhead: one pretraining epoch through our Trainer vs a plain PyTorch loop.

Both sides train the same ``AutoencoderModule`` (same seed, so the same initial weights, data
order and noise) with the same AdamW + one-cycle schedule on the same DataLoader, at the config's
trainer precision (for bf16-mixed the plain loop runs under bfloat16 autocast). The Lightning
side is the pipeline's own Trainer (CSV and TensorBoard loggers, last.ckpt, divergence guard),
progress bar off as in the plain loop. Each run is a fresh process, so peak resident memory is
its own; the two alternate, round after round, so a slower moment of the machine hits both.

    python benchmarks/lightning_overhead.py --config configs/mnist/pretrain.yaml \
        --data.root DATA --rounds 5 --out benchmarks/lightning_overhead.json

Without ``--config`` it uses the digits defaults (no download needed).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.modules.autoencoder import one_cycle
from ssl_ae.pipeline import AutoencoderSpec, make_trainer

from common import read_config

CHECK_IMAGES = 1024


def settings(args: argparse.Namespace) -> tuple[dict, dict, str]:
    """The config's data and model sections and its trainer precision (32-bit or bf16-mixed)."""
    config = read_config(args.config, args.data_root)
    precision = str(config.get("trainer", {}).get("precision", "32-true"))
    if precision not in ("32", "32-true", "bf16-mixed"):
        sys.exit(f"precision {precision!r}: this benchmark compares 32-true or bf16-mixed only")
    return config.get("data", {}), config.get("model", {}), precision


def epoch_loss_on(module, images: torch.Tensor) -> float:
    """Training loss of the trained module on fixed images with fixed noise: equal weights give
    an equal number."""
    torch.manual_seed(1234)
    module.train()
    with torch.no_grad():
        return float(module.objective(module.encoder, module.decoder, images)["loss"])


def plain_epoch(module, loader, bf16: bool) -> float:
    """The loop Lightning runs for us, written out (under bfloat16 autocast if ``bf16``, as
    Lightning's bf16-mixed precision does); returns the epoch's mean training loss."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=module.hparams.lr,
                                  weight_decay=module.hparams.weight_decay)
    scheduler = one_cycle(optimizer, module.hparams.lr, len(loader))
    module.train()
    total, seen = 0.0, 0
    for batch in loader:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = module.objective(module.encoder, module.decoder, batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        total, seen = total + float(loss.detach()) * len(batch), seen + len(batch)
    return total / seen


def worker(mode: str, data_kwargs: dict, model_kwargs: dict, precision: str, seed: int) -> dict:
    """One epoch in this process; returns its time, losses and peak memory."""
    data = SemiSupervisedDataModule(**data_kwargs)
    data.setup()
    torch.manual_seed(seed)
    module = AutoencoderSpec(**model_kwargs).build(data.image_shape)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        if mode == "plain":
            epoch_loss = plain_epoch(module, data.train_dataloader(), precision == "bf16-mixed")
        else:
            trainer = make_trainer(Path(tmp), max_epochs=1, enable_progress_bar=False,
                                   accelerator="cpu", devices=1, precision=precision)
            trainer.fit(module, data)
            epoch_loss = float(trainer.callback_metrics["train/loss_epoch"])
        seconds = time.perf_counter() - start
    fixed = data.source.images[torch.as_tensor(data.split.unlabeled[:CHECK_IMAGES])].float() / 255
    return {"mode": mode, "seconds": seconds, "images": len(data.split.unlabeled),
            "epoch_loss": epoch_loss, "loss_after_epoch": epoch_loss_on(module, fixed),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_worker(mode: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--worker", mode, "--seed", str(args.seed)]
    command += ["--config", args.config] if args.config else []
    command += ["--data.root", args.data_root] if args.data_root else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {mode} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarize(runs: list[dict]) -> dict:
    by_mode = {m: [r for r in runs if r["mode"] == m] for m in ("plain", "lightning")}
    med = {m: {k: float(np.median([r[k] for r in rs])) for k in ("seconds", "peak_rss_mb")}
           for m, rs in by_mode.items()}
    images = runs[0]["images"]
    return {
        "time_ratio": med["lightning"]["seconds"] / med["plain"]["seconds"],
        "memory_ratio": med["lightning"]["peak_rss_mb"] / med["plain"]["peak_rss_mb"],
        "images_per_second": {m: images / v["seconds"] for m, v in med.items()},
        "median": med,
        "max_loss_difference": max(abs(a[k] - b[k]) for a, b in zip(by_mode["plain"], by_mode["lightning"])
                                   for k in ("epoch_loss", "loss_after_epoch")),
    }


def table(result: dict) -> str:
    s, runs = result["summary"], result["runs"]
    lines = ["| round | side | seconds | images/s | epoch loss | loss after epoch | peak RSS (MB) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        lines.append(f"| {r['round']} | {r['mode']} | {r['seconds']:.1f} | {r['images'] / r['seconds']:.0f} "
                     f"| {r['epoch_loss']:.6f} | {r['loss_after_epoch']:.6f} | {r['peak_rss_mb']:.0f} |")
    lines += ["", f"Median time Lightning / plain: **{s['time_ratio']:.3f}x**; peak memory "
              f"Lightning / plain: **{s['memory_ratio']:.3f}x**; largest loss difference: "
              f"{s['max_loss_difference']:.2e}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="a pretrain config (its data and model sections, "
                        "and the trainer's precision)")
    parser.add_argument("--data.root", dest="data_root", help="folder holding the dataset")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the runs and summary as JSON here")
    parser.add_argument("--worker", choices=("plain", "lightning"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, *settings(args), args.seed)))
        return
    runs = []
    for round_ in range(args.rounds):
        order = ("plain", "lightning") if round_ % 2 == 0 else ("lightning", "plain")
        for mode in order:
            runs.append({"round": round_, **run_worker(mode, args)})
            print(f"round {round_} {mode}: {runs[-1]['seconds']:.1f} s", file=sys.stderr)
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, "
              f"{torch.get_num_threads()} threads, torch {torch.__version__}",
              "command": " ".join(sys.argv), "runs": runs, "summary": summarize(runs)}
    print(table(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
