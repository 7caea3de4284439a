"""The report's figures: image grids, accuracy curves, a confusion matrix, maps of the codes."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from torchmetrics.functional.classification import multiclass_confusion_matrix  # noqa: E402

from .results import BASELINES, best_frozen, stratified  # noqa: E402


def image_grid(images: torch.Tensor, ncols: int) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (rows*H, ncols*W, C) array with 1-pixel gaps."""
    n, c, h, w = images.shape
    nrows = -(-n // ncols)
    grid = np.ones((nrows * (h + 1), ncols * (w + 1), c), dtype=np.float32)
    for i, img in enumerate(images.permute(0, 2, 3, 1).numpy()):
        r, k = divmod(i, ncols)
        grid[r * (h + 1):r * (h + 1) + h, k * (w + 1):k * (w + 1) + w] = img
    return grid


def save_figure(grid: np.ndarray, path: Path, title: str) -> Path:
    """Save an image grid from :func:`image_grid` as a titled PNG."""
    fig, ax = plt.subplots(figsize=(8, grid.shape[0] / grid.shape[1] * 8 + 0.4))
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.savefig(path, bbox_inches="tight", dpi=120)
    plt.close(fig)
    return path


@torch.no_grad()
def save_reconstructions(module, images_uint8: torch.Tensor, path: Path, n: int = 16) -> None:
    """Save test images (top row of each pair) above their reconstructions."""
    module = module.eval().cpu()
    x = images_uint8[:n].float() / 255
    recon = module(x).clamp(0, 1)
    cols = min(8, len(x))
    pairs = torch.stack([x, recon], 1)
    blank = pairs.new_ones(-len(pairs) % cols, *pairs.shape[1:])  # a short last row stays paired
    pairs = torch.cat([pairs, blank])
    rows = [pairs[i:i + cols].transpose(0, 1).flatten(0, 1) for i in range(0, len(pairs), cols)]
    grid = image_grid(torch.cat(rows), ncols=cols)
    save_figure(grid, path, "test images (odd rows) and their reconstructions (even rows)")


def contact_sheet(images: torch.Tensor, names: list[str], path: Path, title: str,
                  ncols: int = 10) -> Path:
    """Images (N, C, H, W) in [0, 1], each captioned with its name, as one PNG."""
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.45 * nrows + 0.4),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, name in zip(axes.flat, images, names):
        pixels = img.permute(1, 2, 0).numpy()
        ax.imshow(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels, cmap="gray", vmin=0, vmax=1)
        ax.set_title(name if len(name) <= 18 else "..." + name[-15:], fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, bbox_inches="tight", dpi=120)
    plt.close(fig)
    return path


def accuracy_curves(lines: dict[str, list[tuple]], path: Path, xlabel: str, ylabel: str,
                    dashed, figsize: tuple[float, float], legend: dict) -> None:
    """One line per name of (x, mean accuracy, std) points, std as bars, x on a log scale;
    ``dashed(name)`` marks the baselines."""
    fig, ax = plt.subplots(figsize=figsize)
    for name, points in lines.items():
        x, acc, std = zip(*sorted(points))
        ax.errorbar(x, acc, yerr=std, marker="o", capsize=3, label=name,
                    linestyle="--" if dashed(name) else "-")
    ax.set_xscale("log")
    ticks = sorted({x for points in lines.values() for x, _, _ in points})
    ax.set_xticks(ticks, [str(x) for x in ticks])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(**legend)
    fig.savefig(path, bbox_inches="tight", dpi=120)
    plt.close(fig)


def label_curve(summary: list[dict], path: Path) -> None:
    """Test accuracy against labels per class, one line per method, std over seeds as bars."""
    lines: dict[str, list[tuple]] = {}
    for s in stratified(summary):
        lines.setdefault(s["method"], []).append((s["labels_per_class"], s["accuracy"],
                                                  s["accuracy_std"]))
    accuracy_curves(lines, path, "labeled images per class", "test accuracy",
                    dashed=lambda method: method in BASELINES, figsize=(7, 4.5),
                    legend={"fontsize": 8})


def selection_curve(summary: list[dict], path: Path) -> None:
    """Best frozen-encoder accuracy against the labeling budget, one line per selection method."""
    lines: dict[str, list[tuple]] = {}
    for (selection, budget), s in best_frozen(summary).items():
        lines.setdefault(selection, []).append((budget, s["accuracy"], s["accuracy_std"]))
    accuracy_curves(lines, path, "labeled images in all", "test accuracy, best frozen-encoder row",
                    dashed=lambda selection: selection == "random", figsize=(6, 4),
                    legend={"title": "images chosen by"})


def confusion_figure(probs: np.ndarray, targets: np.ndarray, classes: list[str], path: Path,
                     title: str) -> None:
    """The test split's confusion matrix of one method, counts in each cell."""
    matrix = multiclass_confusion_matrix(torch.as_tensor(probs), torch.as_tensor(targets),
                                         len(classes)).numpy()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                color="white" if n > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.savefig(path, bbox_inches="tight", dpi=120)
    plt.close(fig)


def feature_map(codes: np.ndarray, targets: np.ndarray, labeled: np.ndarray, path: Path,
                max_points: int = 2000, seed: int = 0,
                class_names: Optional[list[str]] = None) -> None:
    """PCA and t-SNE of frozen codes, coloured by class (images without a label grey; a legend
    names up to 20 ``class_names``); the labeled images ringed in black (at most
    ``max_points`` images, a quarter of them labeled ones when there are that many)."""
    rng = np.random.default_rng(seed)
    others = np.setdiff1d(np.arange(len(codes)), labeled)
    labeled = rng.choice(labeled, min(max_points // 4, len(labeled)), replace=False)
    shown = np.concatenate([rng.choice(others, min(max_points - len(labeled), len(others)),
                                       replace=False), labeled])
    is_labeled = np.isin(shown, labeled)
    x = codes[shown]
    if x.shape[1] < 2:  # a one-number code: its map is a line
        x = np.pad(x, ((0, 0), (0, 2 - x.shape[1])))
    maps = {"PCA": PCA(2, random_state=seed).fit_transform(x),
            "t-SNE": TSNE(2, init="pca", random_state=seed,
                          perplexity=min(30, len(x) - 1)).fit_transform(x)}
    classes, known = targets[shown], targets[shown] >= 0  # -1: an image without a label, grey
    top = max(int(targets.max()), 0)
    cmap, vmax = ("tab10", 9) if top < 10 else ("tab20", 19) if top < 20 else ("turbo", top)
    palette = {"cmap": cmap, "vmin": 0, "vmax": vmax}  # one colour per class in every layer
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, (name, xy) in zip(axes, maps.items()):
        ax.scatter(xy[~known, 0], xy[~known, 1], c="lightgrey", s=4, alpha=0.6)
        ax.scatter(xy[known & ~is_labeled, 0], xy[known & ~is_labeled, 1],
                   c=classes[known & ~is_labeled], s=4, alpha=0.6, **palette)
        ax.scatter(xy[is_labeled, 0], xy[is_labeled, 1], c=classes[is_labeled], s=40,
                   edgecolors="black", linewidths=1.2, **palette)
        ax.set_title(f"{name} of frozen codes (ringed: labeled)")
        ax.set_xticks([]), ax.set_yticks([])
    if class_names and len(class_names) <= 20:
        colour = plt.get_cmap(cmap)
        handles = [plt.Line2D([], [], marker="o", linestyle="", color=colour(i / vmax), label=name)
                   for i, name in enumerate(class_names)]
        if not known.all():
            handles.append(plt.Line2D([], [], marker="o", linestyle="", color="lightgrey",
                                      label="no label"))
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.savefig(path, bbox_inches="tight", dpi=120)
    plt.close(fig)
