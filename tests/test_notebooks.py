"""The notebooks in notebooks/ run top to bottom in a fresh kernel, on small settings.

Each notebook's first code cell reads its parameters from the environment: ``SSL_AE_NB_FAST=1``
swaps in tiny epochs and step counts, ``SSL_AE_NB_OUT`` is the (empty) folder everything is
written into, ``SSL_AE_NB_DATA_ROOT`` the data root of the MNIST notebook. The kernel runs in a
temporary folder with this checkout first on its ``PYTHONPATH``, so nothing is written into the
repository and the code under test is this checkout's.
"""
import csv
import json
import os
import re
import shutil
from pathlib import Path

import nbclient
import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
SHARED = REPO.parent / "shared" / "datasets"
SWEEP_METHODS = {"frozen encoder + linear head", "frozen encoder + MLP head",
                 "frozen encoder + logistic regression", "frozen encoder + kNN",
                 "frozen encoder + label propagation",
                 "frozen encoder + spectral features + linear head",
                 "frozen encoder + smoothed codes + linear head",
                 "logistic regression on pixels", "logistic regression on PCA",
                 "same encoder from scratch"}


def execute(name: str, tmp_path: Path, monkeypatch, **env: str) -> tuple[Path, "nbformat.NotebookNode"]:
    """Run notebooks/NAME.ipynb with the fast settings; return its output folder and the
    executed notebook (in memory only: the stored notebook is not touched)."""
    out, cwd = tmp_path / "out", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("SSL_AE_NB_FAST", "1")
    monkeypatch.setenv("SSL_AE_NB_OUT", str(out))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    assert not any(cwd.iterdir()), "the notebook wrote outside OUT_DIR"
    return out, book


def outputs(book) -> tuple[str, int]:
    """All text the notebook printed or displayed, and how many PNG images it displayed."""
    text, images = [], 0
    for cell in book.cells:
        for output in cell.get("outputs", []):
            text.append(output.get("text", ""))
            data = output.get("data", {})
            text.append(data.get("text/plain", "") + data.get("text/markdown", ""))
            images += "image/png" in data
    return "".join(text), images


def read_json(path: Path):
    return json.loads(path.read_text())


def assert_sweep_rows(rows: list[dict], ks: list[int], seeds: list[int]) -> None:
    assert {(r["method"], r["labels_per_class"], r["seed"]) for r in rows} == \
        {(m, k, s) for m in SWEEP_METHODS for k in ks for s in seeds}
    assert len(rows) == len(SWEEP_METHODS) * len(ks) * len(seeds)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code), \
        f"clear the outputs of {path.name} before committing"
    assert "SSL_AE_NB_FAST" in code[0].source and "SSL_AE_NB_OUT" in code[0].source


def test_quickstart(tmp_path, monkeypatch):
    out, book = execute("quickstart", tmp_path, monkeypatch)
    assert (out / "pretrain" / "checkpoints" / "last.ckpt").is_file()
    assert (out / "finetune" / "checkpoints" / "last.ckpt").is_file()
    assert (out / "reconstruct" / "reconstructions.png").stat().st_size > 3000
    report = read_json(out / "report" / "results.json")
    assert [(r["method"], r["labels_per_class"], r["seed"]) for r in report] == \
        [("frozen encoder + linear head", 10, 0), ("logistic regression on pixels", 10, 0)]
    assert report[1]["accuracy"] > 0.8  # the pixel baseline on the real test split
    assert_sweep_rows(read_json(out / "sweep" / "results.json"), ks=[1, 10], seeds=[0, 1])
    pretrain_test = read_json(out / "pretrain" / "split.json")["test"]
    assert read_json(out / "sweep" / "splits" / "k10-seed1.json")["test"] == pretrain_test
    assert (out / "sweep" / "label_curve.png").stat().st_size > 10_000
    text, images = outputs(book)
    assert "| logistic regression on PCA | no |" in text  # the sweep's table was printed
    assert images == 2  # the reconstructions and the label curve


def test_custom_folder(tmp_path, monkeypatch):
    out, book = execute("custom_folder", tmp_path, monkeypatch)
    images = out / "my_images"
    classes = sorted(p.name for p in (images / "labeled").iterdir())
    assert len(classes) == 10 and "seven" in classes
    assert all(len(list((images / "labeled" / c).glob("*.png"))) == 30 for c in classes)
    assert len(list((images / "unlabeled").rglob("*.png"))) == 1797 - 300 - 50
    split = read_json(out / "run" / "pretrain" / "split.json")
    assert len(split["labeled"]) == 5 * 10 and len(split["test"]) == 10 * 8  # 25 % of 30, rounded up
    assert max(split["labeled"] + split["test"]) < 300  # both from labeled/, listed first
    with open(out / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["path"] for r in rows) == sorted(p.name for p in (images / "new").glob("*.png"))
    assert len(rows) == 50 and all(r["predicted_class"] in classes for r in rows)
    # the predicted class is the most probable of 10: its probability is at least 1/10
    assert all(0.1 <= float(r["probability"]) <= 1.0 for r in rows)
    text, _ = outputs(book)
    correct = int(re.search(r"(\d+) of 50 new images classified correctly", text).group(1))
    print(f"custom folder notebook: {correct} of 50 new images classified correctly")
    assert correct >= 25  # chance is 5; 36-42 measured on the fast settings with seeds 0-4


@pytest.mark.slow
def test_mnist_few_label_study(tmp_path, monkeypatch):
    if not (SHARED / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST files at {SHARED}")
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (SHARED / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(f, raw)
    out, book = execute("mnist_few_label_study", tmp_path, monkeypatch,
                        SSL_AE_NB_DATA_ROOT=str(tmp_path / "data"))
    rows = read_json(out / "sweep" / "results.json")
    assert_sweep_rows(rows, ks=[10], seeds=[0, 1])
    pixels = [r["accuracy"] for r in rows if r["method"] == "logistic regression on pixels"]
    assert min(pixels) > 0.6  # the real MNIST test set, not noise
    assert read_json(out / "sweep" / "splits" / "k10-seed0.json")["test"] == list(range(60000, 70000))
    text, images = outputs(book)
    assert "| frozen encoder + kNN | yes |" in text and images == 5
