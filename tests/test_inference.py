import csv
import os

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import read_json, run_cli
from ssl_ae.evaluation import probes
from ssl_ae.checkpoints import load_autoencoder, load_classifier
from ssl_ae.data import load_source


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_predict_a_folder_matches_the_checkpoint(tiny_run, tmp_path):
    source = load_source("digits")
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    for i in range(12):
        Image.fromarray(source.images[i, 0].numpy(), "L").save(folder / ("sub" if i % 2 else "") / f"{i:02d}.png")
    (folder / "notes.txt").write_text("not an image")
    run_cli("predict", "--finetuned", tiny_run, "--images", folder, "--run-dir", tmp_path / "out")
    rows = {r["path"]: r for r in read_csv(tmp_path / "out" / "predict" / "predictions.csv")}
    assert len(rows) == 12 and "notes.txt" not in rows
    module = load_classifier(tiny_run / "finetune")
    expected = probes.predict_proba(module, probes.images_to_float(source.images[:12]))
    for i in range(12):
        row = rows[f"sub/{i:02d}.png" if i % 2 else f"{i:02d}.png"]
        assert row["predicted_class"] == str(expected[i].argmax())
        assert float(row["probability"]) == pytest.approx(expected[i].max(), abs=1e-4)


def test_predict_names_a_corrupt_file(tiny_run, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(SystemExit, match="broken.png"):
        run_cli("predict", "--finetuned", tiny_run, "--images", folder, "--run-dir", tmp_path / "out")


def test_embed_writes_codes_and_index(tiny_run, tmp_path):
    run_cli("embed", "--pretrained", tiny_run, "--run-dir", tmp_path)
    codes = np.load(tmp_path / "embed" / "codes.npy")
    index = read_csv(tmp_path / "embed" / "index.csv")
    assert codes.shape == (1797, 32) and len(index) == 1797
    encoder = load_autoencoder(tiny_run).encoder
    expected = probes.encode(encoder, load_source("digits").images).numpy()
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)
    split = read_json(tiny_run / "pretrain" / "split.json")
    assert [int(r["row"]) for r in index if r["part"] == "test"] == split["test"]
    assert [int(r["row"]) for r in index if r["part"] == "labeled"] == split["labeled"]


def test_embed_names_the_validation_images(tiny_run, tmp_path):
    run_cli("embed", "--pretrained", tiny_run, "--run-dir", tmp_path, "--data.val_fraction", 0.3)
    parts = [r["part"] for r in read_csv(tmp_path / "embed" / "index.csv")]
    assert parts.count("val") == 30 and parts.count("labeled") == 70  # 10 labeled a class, 3 val


def test_reconstruct_shows_corruption_and_decodes(tiny_run, tmp_path):
    run_cli("reconstruct", "--pretrained", tiny_run, "--run-dir", tmp_path, "--count", 8)
    decoded = np.load(tmp_path / "reconstruct" / "reconstructions.npy")
    assert decoded.shape == (8, 1, 8, 8) and decoded.dtype == np.uint8
    run_cli("reconstruct", "--pretrained", tiny_run, "--run-dir", tmp_path / "clean", "--count", 8,
            "--corrupt", "false")
    autoencoder = load_autoencoder(tiny_run).eval()
    test = read_json(tiny_run / "pretrain" / "split.json")["test"][:8]
    x = probes.images_to_float(load_source("digits").images[test])
    with torch.no_grad():
        expected = autoencoder.objective.to_pixels(autoencoder.decoder(autoencoder.encoder(x)))
    expected = (expected.clamp(0, 1) * 255).round().byte().numpy()
    clean = np.load(tmp_path / "clean" / "reconstruct" / "reconstructions.npy")
    assert np.abs(clean.astype(int) - expected).max() <= 1
    assert (tmp_path / "reconstruct" / "reconstructions.png").stat().st_size > 3000


def test_predict_takes_a_file_name_that_is_not_utf8(tiny_run, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(folder / f"ok{i}.png")
    try:
        os.rename(folder / "ok0.png", os.fsencode(folder) + b"/bad\xff.png")
    except OSError:
        pytest.skip("this file system takes UTF-8 names only")
    run_cli("predict", "--finetuned", tiny_run, "--images", folder, "--run-dir", tmp_path / "run")
    rows = (tmp_path / "run" / "predict" / "predictions.csv").read_bytes().splitlines()
    assert sorted(row.split(b",")[0] for row in rows[1:]) == [b"bad\xff.png", b"ok1.png"]
