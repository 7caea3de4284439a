"""Results: rows, baselines, the markdown/JSON report and figures."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


@dataclass
class Row:
    """One measured result: a method on one (labels per class, seed) split."""

    method: str
    frozen_encoder: bool
    labels_per_class: int
    seed: int
    accuracy: float


def pixel_baseline(data) -> Row:
    """Logistic regression on raw pixels of the same labeled images, scored on the same test set."""
    from sklearn.linear_model import LogisticRegression

    labeled, test = data.subset("labeled", labels=True), data.subset("test", labels=True)
    pixels = lambda ds: ds.images.flatten(1).float().div(255).numpy()  # noqa: E731
    model = LogisticRegression(max_iter=5000).fit(pixels(labeled), labeled.targets.numpy())
    accuracy = float(model.score(pixels(test), test.targets.numpy()))
    return Row("logistic regression on pixels", False, data.split.labels_per_class, data.split.seed,
               accuracy)


def image_grid(images: torch.Tensor, ncols: int) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (rows*H, ncols*W, C) array with 1-pixel gaps."""
    n, c, h, w = images.shape
    nrows = -(-n // ncols)
    grid = np.ones((nrows * (h + 1), ncols * (w + 1), c), dtype=np.float32)
    for i, img in enumerate(images.permute(0, 2, 3, 1).numpy()):
        r, k = divmod(i, ncols)
        grid[r * (h + 1):r * (h + 1) + h, k * (w + 1):k * (w + 1) + w] = img
    return grid


@torch.no_grad()
def save_reconstructions(module, images_uint8: torch.Tensor, path: Path, n: int = 16) -> None:
    """Save test images (top row of each pair) above their reconstructions."""
    module = module.eval().cpu()
    x = images_uint8[:n].float() / 255
    recon = module(x).clamp(0, 1)
    pairs = torch.stack([x, recon], 1)
    rows = [pairs[i:i + 8].transpose(0, 1).flatten(0, 1) for i in range(0, len(x), 8)]
    grid = image_grid(torch.cat(rows), ncols=min(8, len(x)))
    fig, ax = plt.subplots(figsize=(8, grid.shape[0] / grid.shape[1] * 8))
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_axis_off()
    ax.set_title("test images (odd rows) and their reconstructions (even rows)")
    fig.savefig(path, bbox_inches="tight", dpi=120)
    plt.close(fig)


def markdown_table(rows: list[Row]) -> str:
    lines = ["| method | frozen encoder | labels per class | seed | test accuracy |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r.method} | {'yes' if r.frozen_encoder else 'no'} | {r.labels_per_class} | "
              f"{r.seed} | {r.accuracy:.4f} |" for r in rows]
    return "\n".join(lines)


def write_report(rows: list[Row], out_dir: Path, pretrained: Path, data, overwrite: bool = False) -> None:
    """Write results.json, report.md and reconstructions.png into ``out_dir``."""
    from .checkpoints import load_autoencoder
    from .rundir import stage_folder

    with stage_folder(out_dir, overwrite) as work:
        (work / "results.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
        split = data.split
        (work / "report.md").write_text(
            f"# ssl_ae report\n\nData: `{data.source_name}`, {len(split.labeled)} labeled images "
            f"({split.labels_per_class} per class, seed {split.seed}), {len(split.unlabeled)} "
            f"unlabeled, {len(split.test)} test (never used for training or selection).\n\n"
            f"{markdown_table(rows)}\n\n![reconstructions](reconstructions.png)\n")
        save_reconstructions(load_autoencoder(pretrained, data.image_shape),
                             data.subset("test", labels=False).images, work / "reconstructions.png")
    print(markdown_table(rows))
