import csv
import logging
import pickle
import re
import shutil

import numpy as np
import pytest
import torch
import yaml

from helpers import QUIET, ROOT, read_json, run_cli
from datahelpers import class_folder
from ssl_ae import pipeline
from ssl_ae.rundir import STAGE_CHECKPOINT
from ssl_ae.evaluation import probes
from ssl_ae.checkpoints import load_checkpoint, load_classifier, load_encoder
from ssl_ae.data import SemiSupervisedDataModule, Split, load_source
from ssl_ae.nets import create_head


def test_run_writes_the_output_contract(tiny_run):
    for stage in ("pretrain", "finetune"):
        for name in ("config.yaml", "checkpoints/last.ckpt", "metrics.csv", "split.json"):
            assert (tiny_run / stage / name).is_file(), f"{stage}/{name} missing"
        assert list((tiny_run / stage / "tensorboard").glob("events.out.tfevents.*"))
    rows = read_json(tiny_run / "report" / "results.json")
    assert {r["method"] for r in rows} == {"frozen encoder + linear head", "logistic regression on pixels"}
    for row in rows:
        assert isinstance(row["frozen_encoder"], bool) and row["labels_per_class"] == 10
        assert row["seed"] == 0
    again = pipeline.evaluate(SemiSupervisedDataModule(), tiny_run / "finetune")
    assert {r["method"]: r["accuracy"] for r in rows} == {r.method: r.accuracy for r in again}
    linear = next(r["accuracy"] for r in rows if r["method"] == "frozen encoder + linear head")
    report = (tiny_run / "report" / "report.md").read_text()
    assert "| method | frozen encoder | k = 10 |" in report
    assert f"| frozen encoder + linear head | yes | {linear:.3f} |" in report
    for figure in ("reconstructions", "confusion", "features", "label_curve"):
        assert (tiny_run / "report" / f"{figure}.png").stat().st_size > 1000
    assert read_json(tiny_run / "report" / "splits" / "run.json")["labeled"] == read_json(
        tiny_run / "finetune" / "split.json")["labeled"]
    assert not list(tiny_run.glob("*.partial"))


def test_split_file_is_the_seeded_split_and_never_touches_test(tiny_run):
    saved = read_json(tiny_run / "finetune" / "split.json")
    assert saved["seed"] == 0 and saved["class_counts"] == {str(c): 10 for c in range(10)}
    assert not set(saved["labeled"]) & set(saved["test"])
    source = load_source("digits")
    fresh = Split.make(source.targets, 10, seed=0)
    assert saved["labeled"] == fresh.labeled and saved["test"] == fresh.test
    assert read_json(tiny_run / "pretrain" / "split.json")["test"] == saved["test"]


def test_frozen_encoder_is_bit_identical_after_finetuning(tiny_run):
    before = load_checkpoint(tiny_run / "pretrain")["state_dict"]
    after = load_checkpoint(tiny_run / "finetune" / "checkpoints" / "last.ckpt", "classifier")["state_dict"]
    encoder_keys = [k for k in before if k.startswith("encoder.")]
    assert any("running_mean" in k for k in encoder_keys) and any("num_batches" in k for k in encoder_keys)
    for key in encoder_keys:
        assert torch.equal(before[key], after[key]), key


def test_finetune_on_missing_checkpoint_names_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(SystemExit, match=rf"no pretrain checkpoint at {missing}: expected a .ckpt file"):
        run_cli("finetune", "--pretrained", missing, "--run-dir", tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_finetune_on_wrong_checkpoint_says_what_was_expected(tiny_run, tmp_path):
    classifier = tiny_run / "finetune" / "checkpoints" / "last.ckpt"
    with pytest.raises(SystemExit, match=rf"{classifier} is not an ssl_ae autoencoder checkpoint \(found: classifier\)"):
        run_cli("finetune", "--pretrained", classifier, "--run-dir", tmp_path / "a")
    for garbage in (tmp_path / "garbage.ckpt", tiny_run / "pretrain" / "split.json"):
        if not garbage.exists():
            garbage.write_bytes(b"not a checkpoint")
        with pytest.raises(SystemExit, match=rf"{garbage} is not a checkpoint file \(torch.save "
                                             r"writes a zip archive\); expected an ssl_ae"):
            run_cli("finetune", "--pretrained", garbage, "--run-dir", tmp_path / "b")


def test_encoder_shape_mismatch_is_named(tiny_run):
    with pytest.raises(ValueError, match=r"encoder expects images of shape \(1, 8, 8\).*data has \(3, 8, 8\)"):
        load_encoder(tiny_run, (3, 8, 8))


class Payload:
    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_is_not_executed(tmp_path):
    Payload.marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    with open(evil, "wb") as f:
        pickle.dump({"state_dict": Payload()}, f)
    with pytest.raises(ValueError, match="not a readable weights-only checkpoint"):
        load_checkpoint(evil)
    assert not Payload.marker.exists()


def test_run_refuses_a_non_empty_run_dir(tiny_run, tmp_path):
    run_dir = tmp_path / "run"  # a copy: a broken refusal must not spoil the shared run
    shutil.copytree(tiny_run, run_dir)
    results = run_dir / "report" / "results.json"
    before = results.read_bytes()
    with pytest.raises(SystemExit, match="already holds results; pass --overwrite"):
        run_cli("run", "--run-dir", run_dir)
    assert results.read_bytes() == before


def test_stages_run_on_their_own_from_shipped_configs(tmp_path):
    run_dir = tmp_path / "run"
    run_cli("pretrain", "--config", ROOT / "configs/digits/pretrain.yaml", "--run-dir", run_dir,
            "--trainer.max_epochs", 1, "--trainer.enable_progress_bar", "false")
    run_cli("finetune", "--config", ROOT / "configs/digits/finetune.yaml", "--pretrained", run_dir,
            "--run-dir", run_dir, "--trainer.max_epochs", 2, "--trainer.enable_progress_bar", "false")
    saved = (run_dir / "finetune" / "config.yaml").read_text()
    assert "max_epochs: 2" in saved and f"pretrained: {run_dir}" in saved
    with pytest.raises(SystemExit, match="finetune already holds results"):
        run_cli("finetune", "--config", ROOT / "configs/digits/finetune.yaml", "--pretrained", run_dir,
                "--run-dir", run_dir)


def test_finetune_refuses_a_different_test_split(tiny_run, tmp_path):
    data = SemiSupervisedDataModule(seed=1)
    with pytest.raises(ValueError, match="test split differs from the one pretraining held out"):
        pipeline.finetune(data, tiny_run, tmp_path / "finetune")
    assert not (tmp_path / "finetune").exists()


@pytest.mark.slow
def test_default_run_beats_pixel_baseline(tmp_path):
    margins = []
    for seed in (0, 1, 2):  # the README's results table: +0.017 on average
        run_dir = tmp_path / f"seed{seed}"
        run_cli("run", "--run-dir", run_dir, "--seed", seed, "--data.seed", seed, *QUIET)
        rows = {r["method"]: r["accuracy"] for r in read_json(run_dir / "report" / "results.json")}
        margins.append(rows["frozen encoder + linear head"] - rows["logistic regression on pixels"])
    print(f"frozen + linear minus pixels, seeds 0-2: {margins}")
    assert np.mean(margins) >= 0.015


def test_finetune_validates_on_images_carved_from_the_labeled_budget(tiny_run, tmp_path):
    data = SemiSupervisedDataModule(val_fraction=0.3)
    pipeline.finetune(data, tiny_run, tmp_path / "finetune", trainer={"max_epochs": 3,
                                                                       "enable_progress_bar": False})
    split = read_json(tmp_path / "finetune" / "split.json")
    assert split["val"] and not set(split["val"]) & (set(split["labeled"]) | set(split["test"]))
    assert "val/acc" in (tmp_path / "finetune" / "metrics.csv").read_text().splitlines()[0]


@pytest.mark.parametrize("head, fitted", [("spectral", ("graph_codes", "vectors", "values")),
                                           ("smoothed", ("graph_codes", "smoothed"))])
def test_a_graph_head_finetunes_from_the_cli_and_its_checkpoint_holds_what_it_fitted(
        tiny_run, tmp_path, head, fitted):
    run_cli("finetune", "--pretrained", tiny_run, "--run-dir", tmp_path, "--head.head", head,
            "--trainer.max_epochs", 30, "--trainer.enable_progress_bar", "false")
    module = load_classifier(tmp_path / "finetune")
    data = SemiSupervisedDataModule()
    unlabeled = data.subset("unlabeled", labels=False).images
    steps = {"steps": module.head.spec["steps"]} if head == "smoothed" else {}
    codes = probes.encode(module.encoder, unlabeled)
    refit = create_head(head, in_dim=module.encoder.code_dim, num_classes=10,
                        graph_size=len(unlabeled), **steps).fit(codes)
    for name in (*fitted, "feature_std"):
        assert torch.allclose(getattr(module.head, name), getattr(refit, name), atol=1e-5), name
    row = pipeline.evaluate(data, tmp_path / "finetune")[0]
    assert row.method == f"frozen encoder + {head} head" and row.accuracy > 0.5


def test_a_spectral_head_needs_a_frozen_encoder(tiny_run):
    spec = pipeline.HeadSpec(head="spectral", freeze_encoder=False)
    with pytest.raises(ValueError, match="pass them and set head.freeze_encoder true"):
        spec.build(load_encoder(tiny_run), [str(c) for c in range(10)], 100,
                   torch.zeros(5, 1, 8, 8))



def test_a_graph_head_without_unlabeled_images_says_how_to_get_some(tiny_run):
    spec = pipeline.HeadSpec(head="smoothed")
    with pytest.raises(ValueError, match="leaves no image unlabeled: label fewer"):
        spec.build(load_encoder(tiny_run), [str(c) for c in range(10)], 100,
                   torch.zeros(0, 1, 8, 8, dtype=torch.uint8))

def test_heads_on_the_standardised_code_are_held_back_harder_the_fewer_the_labels(tiny_run):
    classes = [str(c) for c in range(10)]
    unlabeled = torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8)

    def decay(labeled: int, head: str = "smoothed", standardize: bool = False,
              **settings) -> float:
        kwargs = {"neighbours": 3} if head in ("smoothed", "spectral") else {
            "standardize": standardize}
        spec = pipeline.HeadSpec(head=head, head_kwargs=kwargs, **settings)
        return spec.build(load_encoder(tiny_run), classes, labeled, unlabeled).hparams.weight_decay

    assert decay(40) == pytest.approx(5.0) and decay(4000) == pytest.approx(0.5)
    assert decay(5) == decay(10) == pytest.approx(10.0)  # at most one image per class counts
    assert decay(40, "linear", True) == decay(40, "mlp", True) == pytest.approx(5.0)
    assert decay(40, "spectral") == decay(40, "linear") == 1e-3  # few features; the raw code
    assert decay(40, weight_decay=0.25) == 0.25


def test_the_smoothed_head_smooths_more_the_more_unlabeled_images_per_label_unless_told(tiny_run):
    classes, encoder = [str(c) for c in range(10)], load_encoder(tiny_run)
    unlabeled = torch.randint(0, 256, (2000, 1, 8, 8), dtype=torch.uint8)

    def steps(labeled: int, **kwargs) -> int:
        spec = pipeline.HeadSpec(head="smoothed", head_kwargs={"neighbours": 3, **kwargs})
        return spec.build(encoder, classes, labeled, unlabeled).head.steps

    assert (steps(2), steps(30), steps(2000), steps(2000, steps=6)) == (8, 2, 1, 6)


@pytest.mark.parametrize("shape,frozen,expected", [((3, 32, 32), True, True),
                                                   ((1, 8, 8), True, False),
                                                   ((3, 32, 32), False, False)])
def test_unless_set_a_linear_head_standardises_the_frozen_code_of_colour_images(
        shape, frozen, expected):
    resolved = pipeline.HeadSpec(freeze_encoder=frozen).resolved(shape)
    assert resolved.head_kwargs == {"standardize": expected}
    assert pipeline.HeadSpec(head_kwargs={"standardize": False}).resolved(shape).head_kwargs == {
        "standardize": False}
    assert pipeline.HeadSpec(head="smoothed").resolved(shape).head_kwargs == {}
    with pytest.raises(ValueError, match="set head.freeze_encoder true, or standardize false"):
        pipeline.HeadSpec(head_kwargs={"standardize": True}, freeze_encoder=False).check()


def test_a_standardising_head_takes_its_statistics_from_a_sample_of_the_unlabeled_codes(
        tiny_run, monkeypatch):
    encoder = load_encoder(tiny_run)
    unlabeled = torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8)
    encoded, encode = [], probes.encode
    monkeypatch.setattr(probes, "encode", lambda net, images: encoded.append(images) or
                        encode(net, images))
    monkeypatch.setattr(pipeline, "STATISTICS_SAMPLE", 12)
    spec = pipeline.HeadSpec(head_kwargs={"standardize": True})
    head = spec.build(encoder, [str(c) for c in range(10)], 40, unlabeled).head
    (sample,) = encoded
    rows = [i for i, image in enumerate(unlabeled) if any(torch.equal(image, s) for s in sample)]
    assert len(sample) == len(rows) == 12  # 12 different unlabeled images
    codes = encode(encoder, sample)
    assert torch.allclose(head.code_mean, codes.mean(0), atol=1e-6)
    assert torch.allclose(head.code_std, codes.std(0, unbiased=False) + 1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="pass some images as unlabeled, or set standardize false"):
        spec.build(encoder, ["a", "b"], 4, unlabeled[:0])


def test_with_every_image_labeled_a_standardising_head_takes_the_labeled_codes(tiny_run, tmp_path):
    data = SemiSupervisedDataModule(labeled_fraction=1.0, labeled_in_unlabeled=False)
    spec = pipeline.HeadSpec(head_kwargs={"standardize": True})
    checkpoint = pipeline.finetune(data, tiny_run, tmp_path / "linear", spec,
                                   {"max_epochs": 1, "enable_progress_bar": False})
    head = load_classifier(checkpoint).head
    assert head.spec["standardize"] and not torch.equal(head.code_std, torch.ones_like(
        head.code_std))  # fitted and saved, with no unlabeled pool


def test_python_stages_default_to_the_cli_trainer_settings(tmp_path):
    data = SemiSupervisedDataModule()
    pipeline.pretrain(data, tmp_path / "pretrain", trainer={"limit_train_batches": 1,
                                                           "enable_progress_bar": False})
    saved = yaml.safe_load((tmp_path / "pretrain" / "config.yaml").read_text())["trainer"]
    assert saved == {**pipeline.PRETRAIN_TRAINER, "limit_train_batches": 1,
                     "enable_progress_bar": False}
    with open(tmp_path / "pretrain" / "metrics.csv") as f:
        epochs = {int(row["epoch"]) for row in csv.DictReader(f) if row["epoch"]}
    assert max(epochs) == pipeline.PRETRAIN_TRAINER["max_epochs"] - 1


def test_each_training_epoch_reports_its_time(tmp_path, caplog):
    lightning = logging.getLogger("pytorch_lightning")  # its own handler, not propagated
    caplog.set_level(logging.INFO, logger=lightning.name)
    lightning.addHandler(caplog.handler)
    try:
        pipeline.pretrain(SemiSupervisedDataModule(), tmp_path / "pretrain",
                          trainer={"max_epochs": 2, "limit_train_batches": 5,
                                   "enable_progress_bar": False})  # 10 steps: one of warm-up
    finally:
        lightning.removeHandler(caplog.handler)
    printed = caplog.text
    for epoch in (0, 1):  # benchmarks/budgeted_pretrain.py times epochs by these lines
        assert re.search(rf"epoch {epoch}: [0-9.]+ s, [0-9.]+ batches/s", printed), printed


def test_a_folder_given_as_a_path_object_is_saved_as_text_and_resumes(tmp_path):
    folder = class_folder(tmp_path / "images", {"a": 6, "b": 6})
    data = SemiSupervisedDataModule(source="folder", labeled_dir=folder, labels_per_class=1,
                                    image_size=8, batch_size=4)
    trainer = {"max_epochs": 1, "enable_progress_bar": False}
    pipeline.pretrain(data, tmp_path / "run", trainer=trainer)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["labeled_dir"] == str(folder)
    (tmp_path / "run").rename(tmp_path / "run.partial")
    pipeline.pretrain(data, tmp_path / "run", trainer=trainer, resume=True)
    assert (tmp_path / "run" / STAGE_CHECKPOINT).is_file()


def test_resuming_on_another_split_is_refused_and_keeps_the_interrupted_stage(tiny_run, tmp_path):
    interrupted = tmp_path / "pretrain.partial"
    shutil.copytree(tiny_run / "pretrain", interrupted)
    before = (interrupted / "split.json").read_text()
    with pytest.raises(ValueError, match=r"started with other data.seed: pass the data settings"):
        pipeline.pretrain(SemiSupervisedDataModule(seed=1), tmp_path / "pretrain", resume=True)
    assert (interrupted / "split.json").read_text() == before
    assert (interrupted / STAGE_CHECKPOINT).is_file() and not (tmp_path / "pretrain").exists()


@pytest.mark.parametrize("options, changed", [
    (["--model.lr", 0.01], "model.lr (0.002, now 0.01)"),
    (["--trainer.max_epochs", 8], "trainer.max_epochs (2, now 8)"),
    (["--seed", 7], "seed (0, now 7)"),
    (["--data.batch_size", 16], "data.batch_size (64, now 16)"),
])
def test_resuming_with_other_seed_model_schedule_or_batches_is_refused_by_name(tiny_run, tmp_path, options,
                                                                   changed):
    """The interrupted stage's optimiser state and learning-rate schedule are its settings'."""
    interrupted = tmp_path / "run" / "pretrain.partial"
    shutil.copytree(tiny_run / "pretrain", interrupted)
    before = (interrupted / "config.yaml").read_text()
    args = {"--trainer.max_epochs": 2, "--trainer.enable_progress_bar": "false"}
    args.update(dict(zip(options[::2], options[1::2])))
    with pytest.raises(SystemExit, match=r"--resume continues .*pretrain.partial, which ran with "
                                         r"other " + changed.replace("(", r"\(").replace(")", r"\)")):
        run_cli("pretrain", "--run-dir", tmp_path / "run", "--resume", "true",
                *[str(x) for kv in args.items() for x in kv])
    assert (interrupted / "config.yaml").read_text() == before


def test_resuming_a_finished_run_on_another_split_is_refused_and_keeps_its_report(tiny_run,
                                                                                  tmp_path):
    shutil.copytree(tiny_run, tmp_path / "run")
    before = (tmp_path / "run" / "report" / "results.json").read_text()
    with pytest.raises(SystemExit, match=r"--resume keeps .*finetune, which started with other "
                                         "data.labels_per_class"):
        run_cli("run", "--run-dir", tmp_path / "run", "--resume", "true",
                "--data.labels_per_class", 2, *QUIET)
    assert (tmp_path / "run" / "report" / "results.json").read_text() == before


def test_a_run_labeled_by_fraction_reports_without_a_per_class_axis(tiny_run, tmp_path):
    shutil.copytree(tiny_run / "pretrain", tmp_path / "run" / "pretrain")  # finished: kept
    run_cli("run", "--run-dir", tmp_path / "run", "--resume", "true", "--data.labeled_fraction",
            0.1, "--finetune_trainer.max_epochs", 2, *QUIET)
    report = tmp_path / "run" / "report"
    assert "| method | frozen encoder | the labeled images |" in (report / "report.md").read_text()
    assert (report / "confusion.png").is_file() and not (report / "label_curve.png").exists()


def test_resuming_a_finetuning_from_another_encoder_file_is_refused(tiny_run, tmp_path):
    interrupted = tmp_path / "finetune.partial"
    shutil.copytree(tiny_run / "finetune", interrupted)
    pipeline.check_resumed_encoder(interrupted, tiny_run)  # its own: the run folder resolves to it
    other = tmp_path / "other.ckpt"
    shutil.copy(tiny_run / "pretrain" / STAGE_CHECKPOINT, other)
    with pytest.raises(ValueError, match=r"--resume continues .*finetune.partial, which started "
                                         r"from the encoder of .*last.ckpt, not .*other.ckpt"):
        pipeline.check_resumed_encoder(interrupted, other)


def test_resuming_from_another_working_folder_takes_the_same_folder_spelled_otherwise(
        tmp_path, monkeypatch):
    from datahelpers import class_folder

    class_folder(tmp_path / "photos", {"a": 6, "b": 6})
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    started = SemiSupervisedDataModule(source="folder", labeled_dir="../photos", labels_per_class=2)
    started.setup()
    (tmp_path / "stage.partial").mkdir()
    started.save_split(tmp_path / "stage.partial")  # as the interrupted stage wrote it
    monkeypatch.chdir(tmp_path)
    same = SemiSupervisedDataModule(source="folder", labeled_dir="photos", labels_per_class=2)
    same.setup()
    pipeline.check_resumed_split(same, tmp_path / "stage")  # the same images: no refusal
    with pytest.raises(ValueError, match="started with other data.labels_per_class"):
        other = SemiSupervisedDataModule(source="folder", labeled_dir="photos", labels_per_class=3)
        other.setup()
        pipeline.check_resumed_split(other, tmp_path / "stage")
