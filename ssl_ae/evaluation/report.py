"""The report of an evaluation, one run's split or a whole sweep alike: results files, tables,
``report.md`` and its figures."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .. import generate
from ..checkpoints import load_autoencoder
from ..rundir import stage_folder
from . import figures, probes
from .results import Row, best_frozen, stratified, summarize, write_results


@dataclass
class Shown:
    """One method's test predictions, drawn as the report's confusion matrix; its labeled
    images are ringed in the map of the codes."""

    method: str
    labels_per_class: Optional[int]
    probs: np.ndarray
    targets: np.ndarray
    labeled: np.ndarray


def write_report(rows: list[Row], out_dir: str | Path, pretrained: str | Path, data,
                 overwrite: bool = False, *, splits: Optional[dict] = None,
                 codes: Optional[np.ndarray] = None, shown: Optional[Shown] = None,
                 pretrained_name: Optional[str | Path] = None) -> list[dict]:
    """Write the report of ``rows`` into ``out_dir`` and return their mean ± std summary.

    ``results.json``/``.csv`` (every row), ``splits/`` (the labeled images of every split),
    ``report.md`` and its figures: accuracy against labels per class and against the labeling
    budget (when images were chosen), the confusion matrix of ``shown``, PCA and t-SNE of the
    frozen codes, reconstructions of test images and, for a VAE, prior samples and
    interpolations.

    Args:
        rows: every method on every split.
        out_dir: the report folder, written whole or not at all.
        pretrained: the pretraining run or checkpoint whose encoder was evaluated.
        data: the (set up) data module the rows were measured on.
        overwrite: replace an existing report.
        splits: name -> :class:`~ssl_ae.data.Split` of every split; default: the data
            module's own, named ``run``.
        codes: the frozen codes of every image, for their map; default: encoded here.
        shown: the predictions drawn as a confusion matrix; none: no confusion matrix.
        pretrained_name: how report.md names ``pretrained`` (default: as given).
    """
    summary = summarize(rows)
    autoencoder = load_autoencoder(pretrained, data.image_shape)
    splits = splits or {"run": data.split}
    if codes is None:
        codes = probes.encode(autoencoder.encoder, data.source.images).numpy()
    test = np.asarray(next(iter(splits.values())).test)
    labeled = np.asarray(shown.labeled if shown is not None else data.split.labeled)
    count = len({r.seed for r in rows})
    seeds = f"mean ± std over {count} seeds" if count > 1 else "one seed"
    with stage_folder(Path(out_dir), overwrite, resumable=False) as work:
        write_results(rows, work)
        (work / "splits").mkdir()
        for name, split in splits.items():
            split.save(work / "splits" / f"{name}.json")
        sections = ["## Test accuracy\n\n" + summary_table(summary),
                    "Balanced accuracy, macro F1 and expected calibration error per run are in "
                    "`results.csv`; the labeled images of every run are in `splits/`."]
        drawn = stratified(summary)
        if drawn and all(s["labels_per_class"] is not None for s in drawn):  # else no axis
            figures.label_curve(summary, work / "label_curve.png")
            sections.append("![accuracy against labels](label_curve.png)")
        if shown is not None:
            figures.confusion_figure(shown.probs, shown.targets, data.source.classes,
                                     work / "confusion.png",
                                     shown.method + (f", k = {shown.labels_per_class}"
                                                     if shown.labels_per_class else ""))
            sections.append("![confusion matrix](confusion.png)")
        figures.feature_map(codes, data.source.targets, labeled, work / "features.png",
                            class_names=data.source.classes)
        figures.save_reconstructions(autoencoder, data.source.images[torch.as_tensor(test[:16])],
                                     work / "reconstructions.png")
        sections += ["![frozen codes](features.png)", "![reconstructions](reconstructions.png)"]
        if any(r.budget is not None for r in rows):
            figures.selection_curve(summary, work / "selection_curve.png")
            sections += ["## Which images to label\n\nAt each budget (labeled images in all) the "
                         "images are chosen from the frozen codes of the non-test images, without "
                         "their labels (`random`: a uniform draw, which a user who cannot see the "
                         "classes would make), then every method trains on them. The best "
                         "frozen-encoder row is the highest of the frozen-encoder rows on the test "
                         "split: a summary to compare the ways of choosing, optimistic by that "
                         "choice among rows, not a model chosen on the test images.",
                         selection_table(summary),
                         "![accuracy against budget](selection_curve.png)"]
        if getattr(autoencoder.objective, "needs_code", None) == "gaussian" and len(test) >= 2:
            written = generate.write_samples(autoencoder, data.source.images[torch.as_tensor(test)],
                                             work, pairs=min(4, len(test) // 2))
            sections += [f"![{p.stem}]({p.name})" for p in written]
        (work / "report.md").write_text(
            f"# Few-label evaluation: `{data.source_name}`\n\n"
            f"Encoder: `{pretrained_name or pretrained}`. Test split: {len(test)} images held "
            "out before pretraining and never used for training or selection. Every method "
            "trains on the same labeled images of each split and is scored once on the test "
            f"split; {seeds}."
            "\n\n" + "\n\n".join(sections) + "\n")
    print(summary_table(summary))
    return summary


def mean_std(entry: dict) -> str:
    """An entry's accuracy, with its std when it is a mean over several seeds."""
    std = f" ± {entry['accuracy_std']:.3f}" if entry["seeds"] > 1 else ""
    return f"{entry['accuracy']:.3f}{std}"


def summary_table(summary: list[dict]) -> str:
    """Mean ± std over seeds (a single seed's accuracy alone), one row per method, one column
    per labels-per-class value."""
    summary = stratified(summary)
    ks = sorted({s["labels_per_class"] for s in summary})
    methods = list(dict.fromkeys((s["method"], s["frozen_encoder"]) for s in summary))
    cell = {(s["method"], s["labels_per_class"]): s for s in summary}
    heads = [f"k = {k}" if k is not None else "the labeled images" for k in ks]  # a fraction, a file
    lines = ["| method | frozen encoder | " + " | ".join(heads) + " |",
             "| --- | --- | " + " | ".join("---" for _ in ks) + " |"]
    for method, frozen in methods:
        cells = [mean_std(cell[method, k]) if (method, k) in cell else "" for k in ks]
        lines.append(f"| {method} | {'yes' if frozen else 'no'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def selection_table(summary: list[dict]) -> str:
    """Mean ± std over seeds for each selection method and labeling budget: every method's
    row, then the best frozen-encoder row."""
    picked = [s for s in summary if s["budget"] is not None]
    budgets = sorted({s["budget"] for s in picked})
    cell = {(s["method"], s["selection"], s["budget"]): s for s in picked}
    best = best_frozen(summary)
    lines = ["| method | images chosen by | " + " | ".join(f"{b} labels" for b in budgets) + " |",
             "| --- | --- | " + " | ".join("---" for _ in budgets) + " |"]
    for method, selection in dict.fromkeys((s["method"], s["selection"]) for s in picked):
        cells = [mean_std(cell[method, selection, b]) if (method, selection, b) in cell else ""
                 for b in budgets]
        lines.append(f"| {method} | {selection} | " + " | ".join(cells) + " |")
    for selection in dict.fromkeys(s["selection"] for s in picked):
        cells = [f"**{best[selection, b]['accuracy']:.3f}** ({best[selection, b]['method']})"
                 if (selection, b) in best else "" for b in budgets]
        lines.append(f"| best frozen-encoder row | {selection} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
