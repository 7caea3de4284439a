import csv
import json

import numpy as np
import pytest
import torch

from helpers import run_cli
from datahelpers import class_folder, write_png
from ssl_ae import inference
from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.evaluation.probes import standardize
from ssl_ae.evaluation.selection import METHODS, nearest_centres, select


def blobs(per_blob: tuple[int, ...] = (200, 150, 100, 50, 20), seed: int = 0):
    """Well separated Gaussian blobs of unequal sizes in 16 dimensions, and their blob index."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (len(per_blob), 16))
    codes = np.concatenate([c + rng.normal(0, 0.5, (n, 16)) for c, n in zip(centres, per_blob)])
    return codes.astype(np.float32), np.repeat(np.arange(len(per_blob)), per_blob)


@pytest.mark.parametrize("method", ["kmeans", "spectral"])
def test_one_pick_per_cluster_where_random_misses_the_small_ones(method):
    codes, blob = blobs()
    for seed in range(5):
        assert sorted(blob[select(codes, 5, method, seed)]) == [0, 1, 2, 3, 4]
    missed = [len(set(blob[select(codes, 5, "random", seed)])) < 5 for seed in range(20)]
    assert sum(missed) >= 15  # a uniform draw of 5 rarely covers all five blobs


@pytest.mark.parametrize("method", METHODS)
def test_selection_is_seeded_distinct_and_of_the_budget(method):
    codes, _ = blobs()
    first, again = select(codes, 30, method, seed=3), select(codes, 30, method, seed=3)
    assert np.array_equal(first, again) and len(np.unique(first)) == 30
    assert 0 <= first.min() and first.max() < len(codes)
    assert not np.array_equal(first, select(codes, 30, method, seed=4))


def rays(per_ray: int = 150, seed: int = 0):
    """Codes along four directions from their mean in 16 dimensions, two close ones and their
    opposites, each at lengths from 1 to 20, and the index of their direction."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, 16)
    b = a + 0.3 * rng.normal(0, 1, 16)
    directions = np.stack([a, b, -a, -b]) / np.linalg.norm([a, b, a, b], axis=1, keepdims=True)
    lengths = rng.uniform(1, 20, (per_ray, 1))
    codes = np.concatenate([d * lengths + rng.normal(0, 0.02, (per_ray, 16)) for d in directions])
    return codes.astype(np.float32), np.repeat(np.arange(4), per_ray)


def test_kmeans_clusters_directions_not_lengths():
    """Where a code's length varies more than its direction, k-means on the codes themselves
    splits by length and misses a direction; k-means on their directions picks one image per
    direction."""
    codes, ray = rays()
    by_length = torch.from_numpy(standardize(codes, stats_from=codes)[0])
    missed = [len(set(ray[nearest_centres(by_length, 4, seed)])) < 4 for seed in range(10)]
    assert sum(missed) >= 2
    for seed in range(10):
        assert sorted(ray[select(codes, 4, "kmeans", seed)]) == [0, 1, 2, 3]


def test_identical_codes_still_give_distinct_images():
    picks = select(np.ones((8, 4), np.float32), 5, "kmeans", seed=0)
    assert len(np.unique(picks)) == 5


def test_selection_errors():
    codes, _ = blobs()
    with pytest.raises(ValueError, match="unknown selection method 'nosuch'"):
        select(codes, 5, "nosuch")
    with pytest.raises(ValueError, match="budget 1000: choose between 1 and the 520"):
        select(codes, 1000)


def test_select_never_reads_labels(tiny_run, tmp_path):
    """The same data with its labels shuffled (split kept) gives the same choice."""
    chosen = []
    for shuffle in (False, True):
        data = SemiSupervisedDataModule(split_file=str(tiny_run / "pretrain" / "split.json"))
        data.setup()
        if shuffle:
            data.source.targets = np.random.default_rng(0).permutation(data.source.targets)
        out = tmp_path / str(shuffle)
        out.mkdir()
        inference.choose_to_label(tiny_run, data, out, budget=12)
        chosen.append((out / "selected.txt").read_text())
    assert chosen[0] == chosen[1] and len(chosen[0].split()) == 12


def test_select_command_writes_a_manifest_to_fill_in_for_the_unlabeled_folder(tiny_run, tmp_path):
    labeled = class_folder(tmp_path / "lab", {"a": 4, "b": 4})
    for i in range(30):  # images without labels, distinct from the labeled ones
        write_png(tmp_path / "photos" / f"p{i:02d}.png", 100 + 4 * i)
    run = tmp_path / "run"
    run_cli("pretrain", "--run-dir", run, "--data.source", "folder", "--data.labeled_dir", labeled,
            "--data.unlabeled_dir", tmp_path / "photos", "--data.labels_per_class", 2,
            "--trainer.max_epochs", 1, "--trainer.enable_progress_bar", "false")
    run_cli("select", "--pretrained", run, "--run-dir", run, "--budget", 6, "--data.source",
            "folder", "--data.labeled_dir", labeled, "--data.unlabeled_dir", tmp_path / "photos",
            "--data.labels_per_class", 2)
    out = run / "select"
    rows = list(csv.DictReader(open(out / "to_label.csv")))
    assert len(rows) == 6 and all(r["label"] == "" and r["path"].startswith("p") for r in rows)
    assert (out / "selected.txt").read_text().split() == [r["path"] for r in rows]
    assert (out / "contact_sheet.png").stat().st_size > 2000
    # filled in and saved beside the photos, the sheet labels exactly those images
    with open(tmp_path / "photos" / "to_label.csv", "w", newline="") as f:
        csv.writer(f).writerows([["path", "label"]] + [[r["path"], "ab"[i % 2]]
                                                        for i, r in enumerate(rows)])
    data = SemiSupervisedDataModule(source="folder", manifest=str(tmp_path / "photos" / "to_label.csv"),
                                    unlabeled_dir=str(tmp_path / "photos"), labels_per_class=1)
    with pytest.warns(UserWarning, match="6 image files repeat"):
        data.setup()
    labeled = {data.source.ids[i] for i in np.flatnonzero(data.source.targets >= 0)}
    assert labeled == {r["path"] for r in rows}


def test_images_chosen_by_select_are_finetuned_on_as_the_labeled_file(tiny_run, tmp_path):
    """select's selected.txt as data.labeled_file: the pretraining's test split is kept and
    exactly the chosen images are labeled (before: the holdout was drawn anew around them)."""
    run_cli("select", "--pretrained", tiny_run, "--run-dir", tmp_path, "--budget", 20)
    picks = tmp_path / "select" / "selected.txt"
    run_cli("finetune", "--pretrained", tiny_run, "--run-dir", tmp_path, "--data.labeled_file",
            picks, "--trainer.max_epochs", 1, "--trainer.enable_progress_bar", "false")
    split = json.loads((tmp_path / "finetune" / "split.json").read_text())
    assert split["test"] == json.loads((tiny_run / "pretrain" / "split.json").read_text())["test"]
    assert sorted(split["labeled"]) == sorted(int(i) for i in picks.read_text().split())
