import csv

import pytest

from conftest import read_json, run_cli

KS, SEEDS = (1, 3), (0, 1)
METHODS = {"frozen encoder + linear head", "frozen encoder + MLP head",
           "frozen encoder + logistic regression", "frozen encoder + kNN",
           "frozen encoder + label propagation",
           "frozen encoder + spectral features + linear head",
           "logistic regression on pixels", "logistic regression on PCA",
           "same encoder from scratch", "full fine-tune"}


@pytest.fixture(scope="module")
def sweep_report(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "eval"
    run_cli("evaluate", "--pretrained", tiny_run, "--run-dir", out,
            "--sweep.labels_per_class", "[1, 3, 500]", "--sweep.seeds", "[0, 1]",
            "--sweep.head_steps", 20, "--sweep.scratch_steps", 5, "--sweep.full_finetune", "true")
    return out / "report"


def test_every_method_for_every_k_and_seed(sweep_report):
    rows = read_json(sweep_report / "results.json")
    seen = {(r["method"], r["labels_per_class"], r["seed"]) for r in rows}
    assert seen == {(m, k, s) for m in METHODS for k in KS for s in SEEDS}  # k=500 is impossible
    assert len(rows) == len(seen)
    for r in rows:
        assert r["frozen_encoder"] == r["method"].startswith("frozen")
        for metric in ("accuracy", "balanced_accuracy", "macro_f1", "ece"):
            assert 0.0 <= r[metric] <= 1.0
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


def test_existing_report_is_refused_before_any_work(tiny_run, monkeypatch):
    monkeypatch.setattr("ssl_ae.sweep.run_sweep", lambda *a, **k: pytest.fail("sweep ran"))
    with pytest.raises(SystemExit, match="report already holds results; pass --overwrite"):
        run_cli("evaluate", "--pretrained", tiny_run, "--run-dir", tiny_run)
