"""Test accuracy of ``ssl-ae finetune`` with each head, over several labeled draws.

For each seed (the data module's split seed, so a different k labeled images per class each
time) and head, finetune through the package's own ``pipeline.finetune`` (Trainer, checkpoint)
on the pretrained run, reload the checkpoint and score it on the test split with
``pipeline.evaluate``; print the mean ± std of each head as JSON, plus the finetune wall time.
``--dev`` scores on the unlabeled pool instead (labels of non-test images only: the
development metric, for choosing settings without reading the test split).

    python benchmarks/finetune_heads.py RUN_DIR --config configs/mnist/finetune.yaml \
        --data.root DATA [--heads linear spectral] [--seeds 0 1 2 3 4] [--out OUT_DIR] [--dev]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from common import mean_std, read_config
from ssl_ae import pipeline
from ssl_ae.checkpoints import load_classifier
from ssl_ae.evaluation import probes
from ssl_ae.evaluation.metrics import score
from ssl_ae.data import SemiSupervisedDataModule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="pretrained run folder")
    parser.add_argument("--config", required=True, help="finetune config (data, head, trainer)")
    parser.add_argument("--data.root", dest="data_root", help="data root overriding the config's")
    parser.add_argument("--heads", nargs="+", default=["linear", "spectral"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", help="keep the finetune folders here (default: a temporary folder)")
    parser.add_argument("--dev", action="store_true",
                        help="score on the unlabeled pool, not the test split")
    args = parser.parse_args()
    config = read_config(args.config, args.data_root)
    trainer = {**config.get("trainer", {}), "enable_progress_bar": False}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out or scratch)
        results = {head: {"accuracy": [], "seconds": []} for head in args.heads}
        for seed in args.seeds:
            for head in args.heads:
                pl.seed_everything(config.get("seed", 0))
                data = SemiSupervisedDataModule(**{**config["data"], "seed": seed})
                spec = pipeline.HeadSpec(**{**config.get("head", {}), "head": head})
                start = time.perf_counter()
                checkpoint = pipeline.finetune(data, args.run_dir, out / f"{head}_seed{seed}",
                                               spec, trainer)
                results[head]["seconds"].append(time.perf_counter() - start)
                results[head]["accuracy"].append(
                    pool_accuracy(data, checkpoint) if args.dev else
                    pipeline.evaluate(data, checkpoint)[0].accuracy)
    summary = {head: {"accuracy": mean_std(r["accuracy"]),
                      "per seed": [round(a, 4) for a in r["accuracy"]],
                      "finetune s": round(float(np.mean(r["seconds"])), 1)}
               for head, r in results.items()}
    print(json.dumps({"run": args.run_dir, "seeds": args.seeds,
                      "scored on": "unlabeled pool" if args.dev else "test split", **summary},
                     ensure_ascii=False))


def pool_accuracy(data: SemiSupervisedDataModule, checkpoint) -> float:
    """Accuracy of a finetuned checkpoint on the unlabeled pool (non-test images) less the
    labeled ones."""
    module = load_classifier(checkpoint, data.image_shape).eval()
    rows = np.setdiff1d(data.split.unlabeled, data.split.labeled)
    with torch.no_grad():
        probs = probes.predict_proba(module, probes.images_to_float(
            data.source.images[torch.as_tensor(rows)]))
    return score(probs, data.source.targets[rows])["accuracy"]


if __name__ == "__main__":
    main()
