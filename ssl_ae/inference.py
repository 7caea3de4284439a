"""Using trained checkpoints: classify a folder, export codes, show reconstructions and
samples, choose which images to label."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from . import generate
from .checkpoints import follow_pretraining, load_autoencoder, load_classifier
from .data import SemiSupervisedDataModule
from .data.folders import read_items, unlabeled_items
from .data.shards import RowView
from .evaluation import probes, selection
from .evaluation.figures import contact_sheet, image_grid, save_figure
from .rundir import stage_folder


def read_folder(folder: str | Path, channels: int, size: int, skip_bad_files: bool = False):
    """uint8 images (N, C, H, W) of every image under ``folder``, their relative paths and the
    unreadable files skipped."""
    images, items, skipped = read_items(unlabeled_items(str(folder), "--images"), channels, size,
                                        skip_bad_files, "--skip_bad_files")
    return images, [it.id for it in items], skipped


def predict(finetuned: str | Path, folder: str | Path, out_csv: Path,
            skip_bad_files: bool = False) -> Path:
    """Write ``path,predicted_class,probability`` for every image under ``folder`` (and the
    unreadable files left out, with ``skip_bad_files``, to ``skipped_files.txt`` beside it)."""
    module = load_classifier(finetuned).eval()
    spec = module.encoder.spec
    images, paths, skipped = read_folder(folder, spec["in_channels"], spec["image_size"],
                                         skip_bad_files)
    if skipped:
        out_csv.with_name("skipped_files.txt").write_text("\n".join(skipped) + "\n",
                                                          errors="surrogateescape")
    probs = probes.predict_proba(module, images)
    classes = module.hparams.get("class_names") or [str(c) for c in range(probs.shape[1])]
    with open(out_csv, "w", newline="", errors="surrogateescape") as f:  # any file name
        writer = csv.writer(f)
        writer.writerow(["path", "predicted_class", "probability"])
        for path, p in zip(paths, probs):
            writer.writerow([path, classes[int(p.argmax())], f"{p.max():.4f}"])
    return out_csv


def embed(pretrained: str | Path, data: SemiSupervisedDataModule, out_dir: Path) -> Path:
    """Write the codes of every image of ``data`` as ``codes.npy`` with ``index.csv``
    (row, image id, class, part of the split: labeled, val, unlabeled or test). Launched as
    several processes (``torchrun``), they share the encoding and the main one writes."""
    follow_pretraining(data, pretrained)
    encoder = load_autoencoder(pretrained, data.image_shape).encoder
    codes = probes.encode(encoder, data.source.images).numpy()
    if rank_zero_only.rank != 0:
        return out_dir / "codes.npy"
    np.save(out_dir / "codes.npy", codes)
    part = np.full(len(codes), "unlabeled", dtype=object)
    part[data.split.labeled] = "labeled"
    part[data.split.val] = "val"
    part[data.split.test] = "test"
    ids = data.source.ids or [str(i) for i in range(len(codes))]
    classes = data.source.classes
    with open(out_dir / "index.csv", "w", newline="", errors="surrogateescape") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "id", "class", "part"])
        for i, (name, target) in enumerate(zip(ids, data.source.targets)):
            writer.writerow([i, name, classes[target] if target >= 0 else "", part[i]])
    return out_dir / "codes.npy"


@torch.no_grad()
def reconstruct(pretrained: str | Path, data: SemiSupervisedDataModule, out_dir: Path,
                count: int = 32, corrupt: bool = True) -> Path:
    """Save test images, their training-time corruption (if ``corrupt``) and the decoded
    result side by side as ``reconstructions.png``, and the decoded images as ``.npy``."""
    follow_pretraining(data, pretrained)
    autoencoder = load_autoencoder(pretrained, data.image_shape).eval()
    x = probes.images_to_float(data.source.images[torch.as_tensor(data.split.test[:count])])
    shown = autoencoder.objective.train().corrupt(x) if corrupt else x
    recon = autoencoder.objective.eval().to_pixels(autoencoder.decoder(autoencoder.encoder(shown)))
    np.save(out_dir / "reconstructions.npy", (recon.clamp(0, 1) * 255).round().byte().numpy())
    rows = [x, shown.clamp(0, 1), recon.clamp(0, 1)] if corrupt else [x, recon.clamp(0, 1)]
    grid = image_grid(torch.cat(rows), ncols=len(x))
    title = "rows: test images, " + ("their corruption, " if corrupt else "") + "reconstructions"
    return save_figure(grid, out_dir / "reconstructions.png", title)


def choose_to_label(pretrained: str | Path, data: SemiSupervisedDataModule, out_dir: Path,
                    budget: int, method: str = "kmeans", seed: int = 0) -> Path:
    """Choose ``budget`` of the non-test images to label from their frozen codes and write them
    three ways into ``out_dir``. Where the source has images without labels (an
    ``unlabeled_dir``), the choice is among those; labels are never read otherwise.

    - ``to_label.csv``: a ``path,label`` manifest with the label column empty; filled in and
      saved in the folder the paths are relative to (``data.unlabeled_dir``), it is a
      ``data.manifest``;
    - ``selected.txt``: their ids, one per line (a ``data.labeled_file`` where the source
      already knows the labels, e.g. to measure the choice);
    - ``contact_sheet.png``: the images with their ids, to label by looking.
    """
    follow_pretraining(data, pretrained)
    encoder = load_autoencoder(pretrained, data.image_shape).encoder
    pool = np.asarray(data.split.unlabeled)
    without_label = pool[data.source.targets[pool] < 0]
    pool = without_label if len(without_label) else pool
    codes = probes.encode(encoder, RowView(data.source.images, pool)).numpy()
    chosen = pool[selection.select(codes, budget, method, seed,
                                   dims=len(data.source.classes))]  # as the sweep's
    ids = data.source.ids or [str(i) for i in range(len(data.source.images))]
    names = [ids[i] for i in chosen]
    with open(out_dir / "to_label.csv", "w", newline="", errors="surrogateescape") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        writer.writerows([name, ""] for name in names)
    (out_dir / "selected.txt").write_text("\n".join(names) + "\n", encoding="utf-8",
                                          errors="surrogateescape")  # any file name
    return contact_sheet(probes.images_to_float(data.source.images[torch.as_tensor(chosen)]), names,
                         out_dir / "contact_sheet.png",
                         f"{budget} images to label, chosen by {method} (seed {seed})")


def sample(data: SemiSupervisedDataModule, pretrained: str | Path, out_dir: str | Path,
           num: int = 64, pairs: int = 4, steps: int = 10, seed: int = 0,
           overwrite: bool = False) -> list[Path]:
    """The ``sample`` stage: load a pretrained autoencoder and write its image grids.

    Args:
        data: the data module (its test images are the interpolation ends).
        pretrained: pretrain checkpoint, pretrain folder or run folder.
        out_dir: the stage folder, e.g. ``runs/x/samples``.
        num, pairs, steps, seed: see :func:`~ssl_ae.generate.write_samples`.
        overwrite: replace an existing, non-empty ``out_dir``.
    """
    follow_pretraining(data, pretrained)
    module = load_autoencoder(pretrained, data.image_shape)
    out_dir = Path(out_dir)
    with stage_folder(out_dir, overwrite, resumable=False) as work:
        test_images = data.subset("test", labels=False).images
        names = [p.name for p in generate.write_samples(module, test_images, work, num, pairs,
                                                        steps, seed)]
    return [out_dir / name for name in names]
