"""Table and figure comparing the sweeps of several runs (issue 22's transfer benchmark):
per run the frozen encoder + linear head and the best frozen-encoder row, and the pixel
baseline, mean ± std over seeds for each k.

    python benchmarks/transfer_table.py /tmp/runs/transfer --runs adapted fixed scratch \
        --out benchmarks/issue22
"""
import argparse
import csv
import statistics
from collections import defaultdict
from pathlib import Path

from ssl_ae.evaluation.figures import accuracy_curves

LINEAR, PIXELS = "frozen encoder + linear head", "logistic regression on pixels"


def summary(results: Path) -> dict[tuple[str, int], list[float]]:
    """(method, k) -> accuracies over seeds."""
    scores = defaultdict(list)
    with open(results) as f:
        for row in csv.DictReader(f):
            scores[(row["method"], int(row["labels_per_class"]))].append(float(row["accuracy"]))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder holding the runs")
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines, table = {}, ["| run | k | frozen + linear head | best frozen row | pixels + LR |",
                        "| --- | --- | --- | --- | --- |"]
    for run in args.runs:
        scores = summary(args.root / run / "report" / "results.csv")
        for k in sorted({k for _, k in scores}):
            frozen = {m: v for (m, kk), v in scores.items() if kk == k and m.startswith("frozen")}
            best = max(frozen, key=lambda m: statistics.mean(frozen[m]))

            def cell(values: list[float]) -> str:
                return f"{statistics.mean(values):.3f} ± {statistics.pstdev(values):.3f}"

            table.append(f"| {run} | {k} | {cell(frozen[LINEAR])} | {cell(frozen[best])} "
                         f"({best.removeprefix('frozen encoder + ')}) | {cell(scores[(PIXELS, k)])} |")
            lines.setdefault(f"{run}: best frozen row", []).append(
                (k, statistics.mean(frozen[best]), statistics.pstdev(frozen[best])))
            if run == args.runs[0]:
                lines.setdefault("pixels + LR", []).append(
                    (k, statistics.mean(scores[(PIXELS, k)]), statistics.pstdev(scores[(PIXELS, k)])))
    (args.out / "table.md").write_text("\n".join(table) + "\n")
    accuracy_curves(lines, args.out / "transfer.png", "labeled images per class", "test accuracy",
                    dashed=lambda name: name.startswith("pixels"), figsize=(6, 4), legend={})
    print("\n".join(table))


if __name__ == "__main__":
    main()
