"""Accuracy of the frozen code against pretraining time: pretrain a shipped config for several
epoch counts, each its own one-cycle schedule (so a point is what a user who trains that long
gets), time it, and score the frozen-encoder rows of ``ssl-ae evaluate`` on the official test
split (the same draws: k labels per class, seeds 0-4). The test split only reports here: no
setting is chosen by it.

Points accumulate in ``OUT/curve.json`` (one per epoch count, a rerun replaces it), and
``OUT/curve.png`` and ``OUT/curve.md`` are redrawn from all of them. A finished ``ssl-ae
evaluate`` report adds its point without training again (``--report``).

    python benchmarks/pretrain_curve.py --config configs/cifar10/pretrain.yaml --data-root DATA \
        --epochs 4 12 --work /tmp/curve --out benchmarks/issue17/cifar10
    python benchmarks/pretrain_curve.py --config configs/cifar10/pretrain.yaml --data-root DATA \
        --report RUN/report/results.csv --report-epochs 28 --report-seconds 1868 \
        --out benchmarks/issue17/cifar10
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytorch_lightning as pl  # noqa: E402

from ssl_ae.data import SemiSupervisedDataModule, Split  # noqa: E402
from ssl_ae.evaluation.metrics import score  # noqa: E402
from ssl_ae.evaluation.sweep import SweepSpec, build_cache, methods  # noqa: E402
from ssl_ae.pipeline import AutoencoderSpec, pretrain  # noqa: E402

from common import read_config  # noqa: E402

LINEAR = "frozen encoder + linear head"


def frozen_scores(data: SemiSupervisedDataModule, run: Path, ks: list[int],
                  seeds: list[int]) -> dict[str, dict[str, list[float]]]:
    """method -> k (as text, the JSON key) -> test accuracy per seed, for the sweep's
    frozen-encoder rows only."""
    spec = SweepSpec(labels_per_class=ks, seeds=seeds)
    cache = build_cache(data, run, spec)
    y_test = cache.targets[cache.test]
    scores: dict[str, dict[str, list[float]]] = {}
    for k in ks:
        for seed in seeds:
            split = Split.make(cache.targets.numpy(), k, seed, test=cache.test)
            for method, frozen, probs in methods(cache, split, spec):
                if not frozen:
                    break  # the rest are baselines that do not read the pretrained code
                scores.setdefault(method, {}).setdefault(str(k), []).append(
                    score(probs, y_test)["accuracy"])
    return scores


def report_scores(results: Path, ks: list[int]) -> dict[str, dict[str, list[float]]]:
    """The same, read from an ``ssl-ae evaluate`` results.csv."""
    scores: dict[str, dict[str, list[float]]] = {}
    with open(results) as f:
        for row in csv.DictReader(f):
            if (row["frozen_encoder"] == "True" and row["selection"] == "stratified"
                    and int(row["labels_per_class"]) in ks):
                scores.setdefault(row["method"], {}).setdefault(
                    row["labels_per_class"], []).append(float(row["accuracy"]))
    return scores


def draw(points: dict[str, dict], out: Path) -> None:
    """curve.png (per k, one colour: the linear head solid, the best frozen row dashed, against
    minutes) and curve.md."""
    lines: dict[int, dict[str, list]] = {}
    table = ["| epochs | minutes | k | frozen + linear head | best frozen row |",
             "| --- | --- | --- | --- | --- |"]
    for epochs, point in sorted(points.items(), key=lambda item: int(item[0])):
        minutes = point["seconds"] / 60
        for k in sorted({int(k) for per_k in point["scores"].values() for k in per_k}):
            at_k = {m: per_k[str(k)] for m, per_k in point["scores"].items() if str(k) in per_k}
            best = max(at_k, key=lambda m: statistics.mean(at_k[m]))
            for kind, method in (("linear", LINEAR), ("best", best)):
                lines.setdefault(k, {}).setdefault(kind, []).append(
                    (minutes, statistics.mean(at_k[method]), statistics.pstdev(at_k[method])))
            table.append(f"| {epochs} | {minutes:.1f} | {k} | {statistics.mean(at_k[LINEAR]):.3f} | "
                         f"{statistics.mean(at_k[best]):.3f} ({best.removeprefix('frozen encoder + ')}) |")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (k, kinds), colour in zip(sorted(lines.items()), plt.get_cmap("tab10").colors):
        for kind, style, label in (("linear", "-", "frozen + linear head"),
                                   ("best", "--", "best frozen row")):
            x, acc, std = zip(*kinds[kind])
            ax.errorbar(x, acc, yerr=std, marker="o", capsize=3, color=colour, linestyle=style,
                        label=f"k = {k}: {label}")
    ax.set_xlabel("pretraining minutes (2 CPU cores)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(out / "curve.png", bbox_inches="tight", dpi=120)
    plt.close(fig)
    (out / "curve.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="a shipped pretrain config")
    parser.add_argument("--data-root", help="its data: built-in root, or the folder of train/ and test/")
    parser.add_argument("--epochs", type=int, nargs="*", default=[], help="epoch counts to pretrain")
    parser.add_argument("--work", type=Path, help="folder for the pretraining runs (one per count)")
    parser.add_argument("--report", type=Path, help="an ssl-ae evaluate results.csv to add as a point")
    parser.add_argument("--report-epochs", type=int)
    parser.add_argument("--report-seconds", type=float, help="its pretraining wall time")
    parser.add_argument("--ks", type=int, nargs="+", default=[4, 25, 400])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.epochs and args.work is None:
        parser.error("--epochs needs --work")
    if args.report and (args.report_epochs is None or args.report_seconds is None):
        parser.error("--report needs --report-epochs and --report-seconds")
    config = read_config(args.config, args.data_root)
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "curve.json"
    points = json.loads(store.read_text()) if store.exists() else {}

    def add(epochs: int, seconds: float, scores: dict) -> None:
        points[str(epochs)] = {"seconds": seconds, "scores": scores}
        store.write_text(json.dumps(points, indent=1))  # each point kept as soon as it is measured

    if args.report:
        add(args.report_epochs, args.report_seconds, report_scores(args.report, args.ks))
    for epochs in args.epochs:
        pl.seed_everything(config.get("seed", 0), workers=True)
        data = SemiSupervisedDataModule(**config["data"])
        start = time.time()
        pretrain(data, args.work / f"epochs{epochs}", AutoencoderSpec(**config["model"]),
                 {**config.get("trainer", {}), "max_epochs": epochs, "enable_progress_bar": False})
        seconds = time.time() - start
        add(epochs, seconds, frozen_scores(data, args.work / f"epochs{epochs}", args.ks, args.seeds))
    draw(points, args.out)


if __name__ == "__main__":
    main()
