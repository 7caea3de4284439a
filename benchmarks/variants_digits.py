"""Frozen-encoder + linear-head test accuracy of each autoencoder variant on digits.

For every variant config in ``configs/digits/`` and every seed S it runs, through the CLI's own
entry point, exactly::

    ssl-ae pretrain --config configs/digits/pretrain_VARIANT.yaml --seed S --data.seed S --run-dir D
    ssl-ae finetune --config configs/digits/finetune.yaml --pretrained D --seed S --data.seed S --run-dir D

then scores the finetuned checkpoint on the held-out test split next to logistic regression on
pixels of the same 10 labeled images per class. Each run leaves ``rows.json`` in its folder, so
runs already done are skipped and several processes can share the work; the table (mean +- std
over seeds, sample std) is written to ``benchmarks/variants_digits.md``, every run's rows to
``benchmarks/variants_digits.json``.

    python benchmarks/variants_digits.py                      # all variants, seeds 0 1 2
    python benchmarks/variants_digits.py --variants vae --seeds 0
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

VARIANTS = ["plain", "mlp", "denoising", "sparse", "contractive", "vae", "masked"]
LABELS = {"plain": "plain, conv", "mlp": "plain, MLP 256-128", "denoising": "denoising, conv",
          "sparse": "sparse, conv", "contractive": "contractive, MLP 256-128", "vae": "VAE, conv",
          "masked": "masked, conv"}
QUIET = ["--trainer.enable_progress_bar", "false", "--overwrite", "true"]


def run_one(variant: str, seed: int, out: Path) -> list[dict]:
    """Pretrain, finetune and evaluate one variant with one seed; return the result rows."""
    from ssl_ae.cli import main
    from ssl_ae.data import SemiSupervisedDataModule
    from ssl_ae.pipeline import evaluate

    run_dir = out / variant / f"seed{seed}"
    done = run_dir / "rows.json"
    if done.is_file():
        return json.loads(done.read_text())
    seeds = ["--seed", str(seed), "--data.seed", str(seed)]
    start = time.time()
    main(["pretrain", "--config", f"configs/digits/pretrain_{variant}.yaml", *seeds,
          "--run-dir", str(run_dir), *QUIET])
    main(["finetune", "--config", "configs/digits/finetune.yaml", "--pretrained", str(run_dir),
          *seeds, "--run-dir", str(run_dir), *QUIET])
    rows = [asdict(r) for r in evaluate(SemiSupervisedDataModule(seed=seed), run_dir / "finetune")]
    for row in rows:
        row["variant"], row["seconds"] = variant, round(time.time() - start, 1)
    done.write_text(json.dumps(rows, indent=2))
    return rows


def std(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def table(out: Path) -> str:
    """Markdown table, mean +- std over the seeds found in ``out``, pixel baseline alongside."""
    lines = ["| variant | config | frozen encoder + linear head | logistic regression on pixels "
             "| seeds |", "| --- | --- | --- | --- | --- |"]
    for variant in VARIANTS:
        found = [json.loads(p.read_text()) for p in sorted((out / variant).glob("seed*/rows.json"))]
        if not found:
            continue
        accuracy = lambda method: np.array([r["accuracy"] for rows in found  # noqa: E731
                                            for r in rows if r["method"].startswith(method)])
        ae, px = accuracy("autoencoder"), accuracy("logistic")
        seeds = sorted(rows[0]["seed"] for rows in found)
        lines.append(f"| {LABELS[variant]} | `pretrain_{variant}.yaml` | {ae.mean():.4f} ± {std(ae):.4f} | "
                     f"{px.mean():.4f} ± {std(px):.4f} | {', '.join(map(str, seeds))} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/variants_digits"),
                        help="folder for the runs (checkpoints are large; runs/ is git-ignored)")
    parser.add_argument("--table", type=Path, default=Path("benchmarks/variants_digits.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    for seed in args.seeds:
        for variant in args.variants:
            run_one(variant, seed, args.out)
    result = table(args.out)
    args.table.write_text(result + "\n")
    rows = [r for path in sorted(args.out.glob("*/seed*/rows.json"))
            for r in json.loads(path.read_text())]
    args.table.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print(result)


if __name__ == "__main__":
    main()
