import csv
import itertools
import shutil

import pytest

import numpy as np
import torch

from helpers import read_json, run_cli
from ssl_ae.evaluation import probes
from ssl_ae.data import SemiSupervisedDataModule, load_source
from ssl_ae.evaluation.metrics import score
from ssl_ae.data.splits import Split
from ssl_ae.evaluation.sweep import SweepSpec, build_cache, methods
from ssl_ae.modules.classifier import few_label_smoothing

KS, SEEDS = (1, 3), (0, 1)
METHODS = {"frozen encoder + linear head", "frozen encoder + MLP head",
           "frozen encoder + logistic regression", "frozen encoder + kNN",
           "frozen encoder + label propagation",
           "frozen encoder + spectral features + linear head",
           "frozen encoder + smoothed codes + linear head",
           "logistic regression on pixels", "logistic regression on PCA",
           "same encoder from scratch", "full fine-tune"}


@pytest.fixture(scope="module")
def sweep_report(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "eval"
    with pytest.warns(UserWarning, match=r"sweep.labels_per_class \[500\] skipped"):
        run_cli("evaluate", "--pretrained", tiny_run, "--run-dir", out,
                "--sweep.labels_per_class", "[1, 3, 500]", "--sweep.seeds", "[0, 1]",
                "--sweep.head_steps", 20, "--sweep.scratch_steps", 5, "--sweep.full_finetune",
                "true")
    return out / "report"


def test_every_method_for_every_k_and_seed(sweep_report):
    rows = read_json(sweep_report / "results.json")
    seen = {(r["method"], r["labels_per_class"], r["seed"]) for r in rows}
    assert seen == {(m, k, s) for m in METHODS for k in KS for s in SEEDS}  # k=500 is impossible
    assert len(rows) == len(seen)
    for r in rows:
        assert r["frozen_encoder"] == r["method"].startswith("frozen")
    with open(sweep_report / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)


def test_rows_match_their_split_files_and_the_pretrain_test_split(sweep_report, tiny_run):
    test = read_json(tiny_run / "pretrain" / "split.json")["test"]
    labeled_sets = {}
    for k in KS:
        for seed in SEEDS:
            split = read_json(sweep_report / "splits" / f"k{k}-seed{seed}.json")
            assert split["test"] == test and split["seed"] == seed
            assert split["class_counts"] == {str(c): k for c in range(10)}
            assert not set(split["labeled"]) & set(test)
            labeled_sets[k, seed] = split["labeled"]
    assert labeled_sets[1, 0] != labeled_sets[1, 1]


def test_report_and_figures(sweep_report):
    text = (sweep_report / "report.md").read_text()
    assert "| frozen encoder + linear head | yes | " in text and "k = 3" in text
    for figure in ("label_curve.png", "confusion.png", "features.png", "reconstructions.png"):
        assert (sweep_report / figure).stat().st_size > 5000, figure


def test_sweep_with_no_possible_k_says_so(tiny_run, tmp_path):
    with pytest.raises(SystemExit, match="no labels_per_class in \\[1000\\] is possible"):
        run_cli("evaluate", "--pretrained", tiny_run, "--run-dir", tmp_path,
                "--sweep.labels_per_class", "[1000]")
    assert not any(tmp_path.iterdir())


def test_existing_report_is_refused_before_any_work(tiny_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"  # a copy: a broken refusal must not spoil the shared run
    shutil.copytree(tiny_run, run_dir)
    monkeypatch.setattr("ssl_ae.evaluation.sweep.run_sweep", lambda *a, **k: pytest.fail("sweep ran"))
    with pytest.raises(SystemExit, match="report already holds results; pass --overwrite"):
        run_cli("evaluate", "--pretrained", run_dir, "--run-dir", run_dir)


def test_pixel_baseline_row_is_recomputed_from_its_saved_split(sweep_report):
    source = load_source("digits")
    split = read_json(sweep_report / "splits" / "k3-seed1.json")
    pixels = probes.images_to_float(source.images).flatten(1).numpy()
    lab, test = split["labeled"], split["test"]
    probs = probes.logistic_regression(pixels[lab], source.targets[lab], pixels[test])
    expected = score(probs, torch.from_numpy(source.targets[test]))
    row = next(r for r in read_json(sweep_report / "results.json")
               if r["method"] == "logistic regression on pixels" and r["labels_per_class"] == 3
               and r["seed"] == 1)
    assert {m: row[m] for m in expected} == pytest.approx(expected)
    with open(sweep_report / "results.csv") as f:
        csv_row = next(r for r in csv.DictReader(f) if r["method"] == row["method"]
                       and r["labels_per_class"] == "3" and r["seed"] == "1")
    assert float(csv_row["accuracy"]) == pytest.approx(row["accuracy"])


def test_no_test_image_is_in_the_label_propagation_graph(tiny_run):
    cache = build_cache(SemiSupervisedDataModule(), tiny_run)
    test = read_json(tiny_run / "pretrain" / "split.json")["test"]
    assert np.array_equal(cache.test, test) and not set(cache.pool) & set(test)
    assert len(cache.graph.codes) == len(cache.pool) == 1797 - len(test)
    assert torch.equal(cache.graph.codes, torch.from_numpy(cache.codes[cache.pool]))


def test_selection_axis_trains_every_method_on_the_chosen_images(tiny_run, tmp_path):
    run_cli("evaluate", "--pretrained", tiny_run, "--run-dir", tmp_path,
            "--sweep.labels_per_class", "[1]", "--sweep.seeds", "[0]", "--sweep.budgets", "[12]",
            "--sweep.head_steps", 20, "--sweep.scratch_steps", 5)
    report = tmp_path / "report"
    rows = [r for r in read_json(report / "results.json") if r["budget"] == 12]
    assert {r["selection"] for r in rows} == {"random", "kmeans", "spectral"}
    assert len(rows) == 3 * (len(METHODS) - 1) and all(r["labels_per_class"] is None for r in rows)
    test = read_json(tiny_run / "pretrain" / "split.json")["test"]
    for how in ("random", "kmeans", "spectral"):
        split = read_json(report / "splits" / f"budget12-{how}-seed0.json")
        assert len(split["labeled"]) == 12 and not set(split["labeled"]) & set(test)
    text = (report / "report.md").read_text()
    assert "## Which images to label" in text and "| best frozen-encoder row | kmeans |" in text
    assert (report / "selection_curve.png").stat().st_size > 10_000
    assert (report / "label_curve.png").is_file()  # the stratified rows keep their curve
    assert "![accuracy against labels](label_curve.png)" in text


def test_heads_on_frozen_codes_are_held_back_harder_the_fewer_the_labels(tiny_run, monkeypatch):
    cache = build_cache(SemiSupervisedDataModule(), tiny_run)
    decays = []

    def head_on_features(head, train_x, train_y, test_x, num_classes, steps, lr, weight_decay):
        decays.append(weight_decay)
        return np.zeros((len(test_x), num_classes))

    monkeypatch.setattr(probes, "head_on_features", head_on_features)
    for k, spec in ((1, SweepSpec()), (4, SweepSpec()), (4, SweepSpec(head_decay=2.0))):
        split = Split.make(cache.targets.numpy(), k, 0, test=cache.test)
        heads = itertools.islice(methods(cache, split, spec), 4)  # the linear and MLP heads
        assert [method for method, _, _ in heads][-1] == "frozen encoder + MLP head"
    assert decays == pytest.approx([10.0, 1e-3, 10.0, 10.0, 5.0, 1e-3, 5.0, 5.0,
                                    1.0, 1e-3, 1.0, 1.0])  # spectral: few features, 0.001


def test_codes_are_smoothed_more_the_more_unlabeled_images_per_label(tiny_run, monkeypatch):
    assert [few_label_smoothing(k * 10, 50_000) for k in (1, 4, 10, 25, 100, 400)] == [
        8, 8, 6, 4, 2, 1]  # CIFAR-10's 50,000 graph images; a quarter of the sqrt of the ratio
    assert [few_label_smoothing(k * 5, 250) for k in (1, 5)] == [2, 1]
    cache = build_cache(SemiSupervisedDataModule(), tiny_run)
    assert len(cache.pool) == 1347  # digits less its test split
    trained_on = []

    def head_on_features(head, train_x, train_y, test_x, num_classes, steps, lr, weight_decay):
        trained_on.append(train_x)
        return np.zeros((len(test_x), num_classes))

    monkeypatch.setattr(probes, "head_on_features", head_on_features)
    for k, spec, steps in ((1, SweepSpec(), 3), (3, SweepSpec(), 2), (25, SweepSpec(), 1),
                           (1, SweepSpec(smoothing_steps=5), 5)):
        split = Split.make(cache.targets.numpy(), k, 0, test=cache.test)
        smoothed_row = list(itertools.islice(methods(cache, split, spec), 3))[-1][0]
        assert smoothed_row == "frozen encoder + smoothed codes + linear head"
        expected = torch.from_numpy(cache.smoothed(steps)[split.labeled]).float()
        assert torch.equal(trained_on[-1], expected), (k, steps)
    assert sorted(cache.smoothings) == [1, 2, 3, 5]  # each step count smoothed once
    assert not np.allclose(cache.smoothed(3), cache.smoothed(1), atol=0.05)


def test_a_source_with_unlabeled_images_is_swept_on_its_labeled_ones(tiny_run, tmp_path):
    """Images without a label (an unlabeled_dir) are in the graph, never among the labels; the
    sweep draws its own labels, so data.labels_per_class (10) need not fit 6 images a class."""
    from datahelpers import class_folder, write_png

    labeled = class_folder(tmp_path / "labeled", {"a": 6, "b": 6, "c": 6})
    test = class_folder(tmp_path / "test", {"a": 2, "b": 2, "c": 2}, offset=200)
    for i in range(8):
        write_png(tmp_path / "unlabeled" / f"{i}.png", 100 + i)
    encoder = tmp_path / "encoder" / "checkpoints" / "last.ckpt"  # no split.json beside it
    encoder.parent.mkdir(parents=True)
    shutil.copy(tiny_run / "pretrain" / "checkpoints" / "last.ckpt", encoder)
    run_cli("evaluate", "--pretrained", encoder, "--run-dir", tmp_path / "run",
            "--data.source", "folder", "--data.labeled_dir", labeled, "--data.test_dir", test,
            "--data.unlabeled_dir", tmp_path / "unlabeled",
            "--sweep.labels_per_class", "[1, 2]", "--sweep.seeds", "[0]", "--sweep.budgets", "[6]",
            "--sweep.head_steps", 20, "--sweep.scratch_steps", 5)
    report = tmp_path / "run" / "report"
    assert {r["labels_per_class"] for r in read_json(report / "results.json")} == {1, 2, None}
    targets = SemiSupervisedDataModule(source="folder", labeled_dir=str(labeled), test_dir=str(test),
                                       unlabeled_dir=str(tmp_path / "unlabeled"),
                                       labels_per_class=1).loaded_source().targets
    for how in ("random", "kmeans", "spectral"):
        chosen = read_json(report / "splits" / f"budget6-{how}-seed0.json")["labeled"]
        assert len(chosen) == 6 and (targets[chosen] >= 0).all()


def test_each_row_is_reproduced_by_sweeping_its_k_and_seed_alone(sweep_report, tiny_run, tmp_path):
    """A row depends on its (k, seed) only, not on which rows were swept before it."""
    run_cli("evaluate", "--pretrained", tiny_run, "--run-dir", tmp_path, "--seed", 7,
            "--sweep.labels_per_class", "[3]", "--sweep.seeds", "[1]",
            "--sweep.head_steps", 20, "--sweep.scratch_steps", 5, "--sweep.full_finetune", "true")
    alone = {r["method"]: r for r in read_json(tmp_path / "report" / "results.json")}
    swept = {r["method"]: r for r in read_json(sweep_report / "results.json")
             if r["labels_per_class"] == 3 and r["seed"] == 1}
    assert alone.keys() == swept.keys() == METHODS
    for method in METHODS:
        assert alone[method]["accuracy"] == pytest.approx(swept[method]["accuracy"]), method
        assert alone[method]["ece"] == pytest.approx(swept[method]["ece"]), method


@pytest.mark.parametrize("options, message", [
    (["--sweep.labels_per_class", "[2, 1, 1]"], r"sweep.labels_per_class lists 1 more than once"),
    (["--sweep.seeds", "[0, 0]"], r"sweep.seeds lists 0 more than once"),
    (["--sweep.budgets", "[10, 10]"], r"sweep.budgets lists 10 more than once"),
    (["--sweep.propagation_alpha", "2.0"], r"sweep.propagation_alpha must lie in \[0, 1\)"),
    (["--sweep.head_lr", "0"], r"sweep.head_lr must be positive"),
    (["--sweep.budgets", "[10]", "--sweep.selection", "[]"],
     r"sweep.budgets .* no sweep.selection"),
    (["--sweep.budgets", "[5000]"], r"sweep.budgets 5000: only 1347 non-test images have labels"),
    (["--sweep.scratch_steps", "0", "--sweep.full_finetune", "true"],
     r"sweep.full_finetune needs sweep.scratch_steps above 0"),
    (["--sweep.scratch_steps", "-1"], r"sweep settings must be positive .*scratch_steps"),
])
def test_sweep_settings_that_would_mislead_are_refused_before_any_training(tiny_run, tmp_path,
                                                                           monkeypatch, options,
                                                                           message):
    monkeypatch.setattr("ssl_ae.evaluation.sweep.methods",
                        lambda *a, **k: pytest.fail("a method trained"))
    with pytest.raises(SystemExit, match=message):
        run_cli("evaluate", "--pretrained", tiny_run, "--run-dir", tmp_path / "run",
                "--sweep.labels_per_class", "[1]", "--sweep.seeds", "[0]", *options)
    assert not (tmp_path / "run").exists()


def test_no_scratch_steps_leave_the_rows_that_train_an_encoder_out(tiny_run, monkeypatch):
    cache = build_cache(SemiSupervisedDataModule(), tiny_run)
    monkeypatch.setattr("ssl_ae.evaluation.sweep.train_encoder",
                        lambda *a, **k: pytest.fail("an encoder trained"))
    split = Split.make(cache.targets.numpy(), 1, 0, test=cache.test)
    rows = [method for method, _, _ in methods(cache, split, SweepSpec(head_steps=2,
                                                                       scratch_steps=0))]
    assert set(rows) == METHODS - {"same encoder from scratch", "full fine-tune"}


def test_the_confusion_matrix_shows_the_largest_k_in_any_order(tiny_run):
    from ssl_ae.evaluation.sweep import run_sweep

    _, kept = run_sweep(SemiSupervisedDataModule(), tiny_run,
                        SweepSpec(labels_per_class=[3, 1], seeds=[0], head_steps=5,
                                  scratch_steps=2))
    assert kept["shown"].labels_per_class == 3


def test_select_spectral_chooses_as_the_sweep_does_from_the_same_codes(tiny_run):
    from ssl_ae.checkpoints import load_autoencoder
    from ssl_ae.evaluation.selection import select

    cache = build_cache(SemiSupervisedDataModule(), tiny_run)  # the sweep's codes: standardised
    raw = probes.encode(load_autoencoder(tiny_run, (1, 8, 8)).encoder,
                        cache.images[torch.as_tensor(cache.pool)]).numpy()
    assert np.array_equal(select(raw, 12, "spectral", 0, dims=len(cache.classes)),
                          select(cache.codes[cache.pool], 12, "spectral", 0,
                                 eigenmap=cache.diffusion))
