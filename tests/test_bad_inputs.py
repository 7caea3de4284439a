"""Bad and hostile inputs: each gets a one-line error (exit code 1, no traceback) that names what
is wrong, and leaves no folder behind when it is found before training starts."""
import pickle
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from datahelpers import class_folder, write_png
from helpers import run_cli
from ssl_ae.cli import main
from ssl_ae.rundir import STAGE_CHECKPOINT

QUICK = ["--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false"]


def cli_error(capsys, *args) -> str:
    """Run ``ssl-ae ARGS`` in this process; return its error message (it must fail cleanly)."""
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
    code = exit_.value.code
    assert code not in (0, None)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code if isinstance(code, str) else err


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    """Tiny class folders: ``good`` (3 classes x 10 grey 8 px images) and broken variants."""
    root = tmp_path_factory.mktemp("fx")
    class_folder(root / "good", {"a": 10, "b": 10, "c": 10})
    class_folder(root / "one_class", {"a": 10})
    class_folder(root / "one_image", {"a": 10, "b": 1})
    class_folder(root / "empty_class", {"a": 10})
    (root / "empty_class" / "b").mkdir()
    (root / "no_classes").mkdir()
    write_png(root / "no_classes" / "x.png", 3)
    class_folder(root / "corrupt", {"a": 10, "b": 10})
    (root / "corrupt" / "b" / "bad.png").write_bytes(b"not a png")
    class_folder(root / "nonsquare", {"a": 2, "b": 2})
    Image.new("L", (8, 6)).save(root / "nonsquare" / "a" / "000.png")
    class_folder(root / "test_other", {"zebra": 2}, offset=200)  # not the bytes of good/a
    (root / "empty").mkdir()
    return root


def manifest(tmp_path, text: str, encoding: str = "utf-8", images: int = 4):
    for i in range(images):
        write_png(tmp_path / f"{i}.png", 40 * i)
    path = tmp_path / "m.csv"
    path.write_text(text, encoding=encoding)
    return path


# ---- settings: refused before any folder is created ------------------------------------------
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="refused only without a GPU")


def option_ids(cases: list) -> list[str]:
    """Each case's options, as the test's id (a ``pytest.param`` holds them in ``values``)."""
    return [" ".join(getattr(case, "values", case)[0]) for case in cases]


SETTINGS = [
    (["--seed", "-1"], "--seed must be at least 0"),
    (["--trainer.max_epochs", "0"], "trainer.max_epochs must be at least 1"),
    (["--trainer.max_epochs", "-5"], "trainer.max_epochs must be at least 1"),
    (["--trainer.max_steps", "0"], "max_steps 0 trains nothing"),
    pytest.param(["--trainer.accelerator", "gpu"],
                 "trainer.accelerator gpu: this machine has no CUDA GPU", marks=NO_GPU),
    (["--data.batch_size", "0"], "data.batch_size must be at least 1"),
    (["--data.num_workers", "-1"], "data.num_workers must be at least 0"),
    (["--data.labels_per_class", "0"], "data.labels_per_class must be at least 1"),
    (["--data.test_fraction", "0"], "data.test_fraction must be in (0, 1)"),
    (["--data.test_fraction", "1.5"], "data.test_fraction must be in (0, 1)"),
    (["--data.seed", "-3"], "data.seed must be at least 0"),
    (["--data.labels_per_class", "5000"], "fewer than labels_per_class=5000"),
    (["--data.labeled_fraction", "0"], "labeled_fraction must be in (0, 1]"),
    (["--data.val_fraction", "1.0"], "val_fraction must be in [0, 1)"),
    (["--data.channels", "2"], "data.channels must be 1 or 3"),
    (["--data.image_size", "0"], "data.image_size must be positive"),
    (["--data.source", "nosuch"], "unknown data source 'nosuch'"),
    (["--data.source", "../evil.py"], "not an import path"),
    (["--data.source", "os.path.nosuch"], "module 'os.path' has no 'nosuch'"),
    (["--data.source", "nosuch_pkg.Data"], "cannot import module 'nosuch_pkg'"),
    (["--data.labeled_dir", "x"], "only read with source 'folder'"),
    (["--data.labeled_file", "missing.txt"], "data.labeled_file: missing.txt is not a file"),
    (["--data.split_file", "missing.json"], "not a readable split.json"),
    (["--model.code_dim", "0"], "model.code_dim must be at least 1"),
    (["--model.lr", "0"], "model.lr must be positive"),
    (["--model.encoder", "nosuch"], "unknown encoder 'nosuch'"),
    (["--model.objective", "nosuch"], "unknown objective 'nosuch'"),
    (["--model.objective_kwargs", "{strenght: 0.3}"],
     "model.objective_kwargs: objective 'denoising' takes no strenght (it takes "),
    (["--model.encoder_kwargs", "{widht: [8]}"], "model.encoder_kwargs: encoder 'conv' takes no widht"),
    (["--model.decoder_kwargs", "{foo: 1}"], "model.decoder_kwargs: decoder 'conv' takes no foo"),
    (["--model.encoder_kwargs", "{widths: 32}"],
     "model.encoder_kwargs.widths must be a list of positive whole numbers, got 32"),
    (["--model.decoder_kwargs", "{widths: [16, 8.5]}"],
     "model.decoder_kwargs.widths must be a list of positive whole numbers, got [16, 8.5]"),
    (["--model.objective_kwargs", "{strength: high}"],
     "model.objective_kwargs.strength must be a number, got 'high'"),
    (["--model.weight_decay", "-1"], "model.weight_decay must not be negative, got -1"),
]


@pytest.mark.parametrize("args, message", SETTINGS, ids=option_ids(SETTINGS))
def test_bad_pretrain_setting_fails_before_any_folder(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    error = cli_error(capsys, "pretrain", "--run-dir", tmp_path / "run", *QUICK, *args)
    assert message in error
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


RUN_SETTINGS = [
    (["--head.head", "nosuch"], "unknown head 'nosuch'"),
    (["--head.head_kwargs", "{bogus: 1}"], "head 'linear' takes no bogus"),
    (["--head.lr", "0"], "head.lr must be positive"),
    (["--head.weight_decay", "-1"], "head.weight_decay must not be negative, got -1"),
    (["--pretrain_trainer.max_epochs", "0"], "pretrain_trainer.max_epochs must be at least 1"),
    (["--finetune_trainer.max_epochs", "0"], "finetune_trainer.max_epochs must be at least 1"),
    pytest.param(["--finetune_trainer.accelerator", "gpu"],
                 "finetune_trainer.accelerator gpu: this machine has no CUDA GPU", marks=NO_GPU),
    (["--head.head", "spectral", "--head.freeze_encoder", "false"], "set head.freeze_encoder true"),
    (["--head.head", "smoothed", "--head.head_kwargs", "{steps: -1}"],
     "head.head_kwargs.steps must be at least 0, got -1"),
    (["--head.head", "smoothed", "--head.head_kwargs", "{steps: 1.5}"],
     "head.head_kwargs.steps must be a whole number, got 1.5"),
    (["--head.head", "smoothed", "--head.head_kwargs", "{neighbours: -1}"],
     "head.head_kwargs.neighbours must be at least 1, got -1"),
    (["--head.head", "spectral", "--head.head_kwargs", "{neighbours: 0}"],
     "head.head_kwargs.neighbours must be at least 1, got 0"),
    (["--head.head", "spectral", "--head.head_kwargs", "{dims: -1}"],
     "head.head_kwargs.dims must be at least 1, got -1"),
    (["--head.head", "mlp", "--head.head_kwargs", "{hidden: 0}"],
     "head.head_kwargs.hidden must be at least 1, got 0"),
    (["--head.head", "mlp", "--head.head_kwargs", "{dropout: 1.5}"], "head.head_kwargs: dropout"),
]


@pytest.mark.parametrize("args, message", RUN_SETTINGS, ids=option_ids(RUN_SETTINGS))
def test_bad_run_setting_fails_before_pretraining(tmp_path, capsys, args, message):
    assert message in cli_error(capsys, "run", "--run-dir", tmp_path / "run", *args)
    assert not (tmp_path / "run").exists()


def test_abbreviated_option_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["pretrain", "--run-dir", str(tmp_path / "run"), "--trainer.max_ep", "1"])
    assert exit_.value.code == 2 and "max_ep" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# ---- folders and manifests --------------------------------------------------------------------
FOLDERS = [
    ({"labeled_dir": "missing"}, "is not a folder"),
    ({"labeled_dir": "no_classes"}, "has no class subfolders"),
    ({"labeled_dir": "empty_class"}, "class folder"),
    ({"labeled_dir": "corrupt"}, "bad.png: not a readable image (not in an image format Pillow reads)"),
    ({"labeled_dir": "nonsquare"}, "is 8x6, not square"),
    ({"labeled_dir": "good", "test_dir": "test_other"}, "classes zebra have no training images"),
    ({"labeled_dir": "one_class"}, "a classifier needs at least 2"),
    ({"labeled_dir": "one_image"}, "class 'b' has 1 image"),
    ({"labeled_dir": "good", "labels_per_class": "20"}, "fewer than labels_per_class=20"),
    ({"unlabeled_dir": "empty", "labeled_dir": "good"}, "data.unlabeled_dir"),
    ({"unlabeled_dir": "good"}, "no labeled images"),
    ({"manifest": "missing.csv"}, "data.manifest: "),
]


@pytest.mark.parametrize("data, message", FOLDERS, ids=[str(d) for d, _ in FOLDERS])
def test_bad_folder_is_named(fx, tmp_path, capsys, data, message):
    args = []
    for key, value in data.items():
        args += [f"--data.{key}", fx / value if key.endswith("dir") or key == "manifest" else value]
    error = cli_error(capsys, "pretrain", "--run-dir", tmp_path / "run", "--data.source", "folder",
                      *QUICK, *args)
    assert message in error
    assert not (tmp_path / "run").exists()


MANIFESTS = [
    ("0.png,a\n", "must start with the header line 'path,label'"),
    ("path,label\n/etc/passwd,a\n", "absolute path '/etc/passwd' refused"),
    ("path,label\n../x.png,a\n", "leads outside the manifest's folder"),
    ("path,label\nnope.png,a\n", "1 paths in"),
    ("path,label\n0.png,a\n.,b\n", "are not files under"),
    ("path,label\n0.png,a\n.,b\n", "e.g. . (a folder)"),
    ("path,label\n\n", "lists no images"),
    ("path,label\n0.png,a\n1.png,a\n2.png,a\n", "a classifier needs at least 2"),
    ("path,label\n0.png,caf\u00e9\n", "is not UTF-8 text"),
]


@pytest.mark.parametrize("text, message", MANIFESTS, ids=[m for _, m in MANIFESTS])
def test_bad_manifest_is_named(tmp_path, capsys, text, message):
    encoding = "latin-1" if "UTF-8" in message else "utf-8"
    path = manifest(tmp_path, text, encoding)
    error = cli_error(capsys, "pretrain", "--run-dir", tmp_path / "run", "--data.source", "folder",
                      "--data.manifest", path, *QUICK)
    assert message in error
    if "UTF-8" in message:
        assert str(path) in error


# ---- checkpoints --------------------------------------------------------------------------------
class Exploit:
    def __reduce__(self):
        return (shutil.rmtree, ("/definitely/not/here",))


def bad_checkpoint(tmp_path, kind: str, tiny_run):
    path = tmp_path / "bad.ckpt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes((tiny_run / "pretrain" / STAGE_CHECKPOINT).read_bytes()[:1000])
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"state_dict": Exploit()}))
    elif kind == "classifier":
        shutil.copy(tiny_run / "finetune" / STAGE_CHECKPOINT, path)
    elif kind in ("extra_argument", "other_shape"):
        checkpoint = torch.load(tiny_run / "pretrain" / STAGE_CHECKPOINT, weights_only=True)
        encoder = checkpoint["ssl_ae"]["encoder"]
        if kind == "extra_argument":
            encoder["no_such_argument"] = 3
        else:
            encoder["image_size"] = 16
        torch.save(checkpoint, path)
    return path


CHECKPOINTS = [
    ("missing", "no pretrain checkpoint at"),
    ("empty", "is an empty file"),
    ("truncated", "is not a readable weights-only checkpoint"),
    ("pickle", "is not a readable weights-only checkpoint"),
    ("classifier", "is not an ssl_ae autoencoder checkpoint"),
    ("extra_argument", "cannot be rebuilt"),
    ("other_shape", "encoder expects images of shape (1, 16, 16)"),
]
# every kind through finetune; each other command reading --pretrained with a few of them
CHECKPOINT_CASES = [("finetune", *case) for case in CHECKPOINTS] + [
    (command, kind, message) for command, kind in
    [("evaluate", "empty"), ("evaluate", "other_shape"), ("embed", "pickle"),
     ("reconstruct", "extra_argument"), ("sample", "truncated")]
    for k, message in CHECKPOINTS if k == kind]


@pytest.mark.parametrize("command, kind, message", CHECKPOINT_CASES,
                         ids=[f"{c}-{k}" for c, k, _ in CHECKPOINT_CASES])
def test_bad_pretrained_checkpoint_is_named(tiny_run, tmp_path, capsys, command, kind, message):
    path = tmp_path / "missing" if kind == "missing" else bad_checkpoint(tmp_path, kind, tiny_run)
    error = cli_error(capsys, command, "--pretrained", path, "--run-dir", tmp_path / "run")
    assert message in error
    assert not (tmp_path / "run").exists()


def test_bad_finetuned_checkpoint_and_images_for_predict(tiny_run, fx, tmp_path, capsys):
    run = ["predict", "--run-dir", tmp_path / "run"]
    assert "no finetune checkpoint at" in cli_error(capsys, *run, "--finetuned", tmp_path / "x",
                                                    "--images", fx / "good")
    finetuned = tiny_run / "finetune"
    assert "--images: " in cli_error(capsys, *run, "--finetuned", finetuned, "--images", fx / "nope")
    error = cli_error(capsys, *run, "--finetuned", finetuned, "--images", fx / "corrupt")
    assert "bad.png" in error and "--skip_bad_files true" in error
    assert not (tmp_path / "run").exists() and not (tmp_path / "run" / "predict.partial").exists()


COUNTS = [
    (["reconstruct", "--count", "0"], "--count must be at least 1"),
    (["reconstruct", "--count", "-5"], "--count must be at least 1"),
    (["sample", "--pairs", "0"], "--pairs must be at least 1"),
    (["sample", "--steps", "1"], "--steps must be at least 2"),
    (["evaluate", "--sweep.seeds", "[]"], "need at least one value"),
    (["evaluate", "--sweep.labels_per_class", "[0]"], "sweep settings must be positive"),
    (["evaluate", "--sweep.head_steps", "0"], "sweep settings must be positive"),
    (["evaluate", "--sweep.seeds", "[-1]"], "sweep settings must be positive"),
    (["evaluate", "--sweep.spectral_dims", "5000"], "got 5000: use fewer dimensions"),
    (["evaluate", "--sweep.budgets", "[1]"], "sweep.budgets must be at least 2"),
    (["evaluate", "--sweep.selection", "[nosuch]"], "sweep.selection: unknown nosuch"),
    (["select", "--budget", "0"], "--budget must be at least 1"),
    (["select", "--budget", "5", "--method", "nosuch"], "--method 'nosuch': choose one of"),
    (["select", "--budget", "5000"], "budget 5000: choose between 1 and the 1347"),
]


@pytest.mark.parametrize("args, message", COUNTS, ids=[" ".join(a) for a, _ in COUNTS])
def test_impossible_counts_are_refused(tiny_run, tmp_path, capsys, args, message):
    error = cli_error(capsys, *args, "--pretrained", tiny_run, "--run-dir", tmp_path / "run")
    assert message in error
    assert not (tmp_path / "run").exists()


def test_run_dir_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert "is a file, not a folder" in cli_error(capsys, "pretrain", "--run-dir",
                                                  tmp_path / "file", *QUICK)
    assert "Not a directory" in cli_error(capsys, "pretrain", "--run-dir", tmp_path / "file" / "x",
                                          *QUICK)


# ---- resume ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage, message", [
    ("truncate", "is not a readable weights-only checkpoint"),
    ("other_model", "cannot resume, the checkpoint does not fit this model"),
])
def test_resume_from_a_damaged_checkpoint_is_one_line(tiny_run, tmp_path, capsys, damage, message):
    last = tmp_path / "run" / "pretrain.partial" / STAGE_CHECKPOINT
    last.parent.mkdir(parents=True)
    good = (tiny_run / "pretrain" / STAGE_CHECKPOINT).read_bytes()
    last.write_bytes(good[:2000] if damage == "truncate" else good)
    other = ["--model.code_dim", "7"] if damage == "other_model" else []
    error = cli_error(capsys, "pretrain", "--run-dir", tmp_path / "run", "--resume", "true",
                      *QUICK, *other)
    assert message in error and "--overwrite true" in error
    assert last.read_bytes()[:100] == good[:100]  # what was there is kept


def test_resume_refuses_a_checkpoint_that_runs_code(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    ran = tmp_path / "ran"
    last = tmp_path / "run" / "pretrain.partial" / STAGE_CHECKPOINT
    last.parent.mkdir(parents=True)
    torch.save({"state_dict": Touch(str(ran))}, last)
    error = cli_error(capsys, "pretrain", "--run-dir", tmp_path / "run", "--resume", "true", *QUICK)
    assert "not a readable weights-only checkpoint" in error and not ran.exists()


class Touch:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


# ---- the same data ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder_run(fx, tmp_path_factory):
    """A pretrain stage on the 8 px ``good`` folder (digits are 8 px grey too)."""
    run = tmp_path_factory.mktemp("folder") / "run"
    main(["pretrain", "--run-dir", str(run), "--data.source", "folder",
          "--data.labeled_dir", str(fx / "good"), "--data.labels_per_class", "2", *QUICK])
    return run


@pytest.mark.parametrize("command", ["finetune", "evaluate"])
def test_stage_on_other_data_than_its_split_is_refused(folder_run, tmp_path, capsys, command):
    # the folder images and digits have the same shape: only the split's fingerprint tells
    error = cli_error(capsys, command, "--pretrained", folder_run, "--run-dir", tmp_path / "run",
                      "--trainer.max_epochs", "1") if command == "finetune" else \
        cli_error(capsys, command, "--pretrained", folder_run, "--run-dir", tmp_path / "run")
    assert "belongs to other data" in error or "was drawn from other data" in error
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["finetune", "evaluate"])
def test_digits_encoder_on_a_folder_of_the_same_shape_is_refused(tiny_run, fx, tmp_path, capsys,
                                                                   command):
    error = cli_error(capsys, command, "--pretrained", tiny_run, "--run-dir", tmp_path / "run",
                      "--data.source", "folder", "--data.labeled_dir", fx / "good",
                      "--data.labels_per_class", "2")
    assert "describes 1797 images but source 'folder' has 30" in error
    assert not (tmp_path / "run").exists()


def test_split_file_of_other_data_is_refused(folder_run, fx, tmp_path, capsys):
    class_folder(tmp_path / "shifted", {"a": 10, "b": 10, "c": 10}, size=8)
    write_png(tmp_path / "shifted" / "a" / "000.png", 200)  # one image differs
    error = cli_error(capsys, "pretrain", "--run-dir", tmp_path / "run", "--data.source", "folder",
                      "--data.labeled_dir", tmp_path / "shifted",
                      "--data.split_file", folder_run / "pretrain" / "split.json", *QUICK)
    assert "was drawn from other data" in error


def test_split_records_the_data_fingerprint(folder_run):
    import json
    split = json.loads((folder_run / "pretrain" / "split.json").read_text())
    assert len(split["data_fingerprint"]) == 16
    assert np.unique(split["test"] + split["unlabeled"]).size == split["num_images"]


@pytest.mark.parametrize("command", ["embed", "reconstruct", "select", "sample"])
def test_commands_on_a_pretrained_run_refuse_another_test_split(tiny_run, tmp_path, capsys, command):
    """Another seed would call some of the pretraining's training images test images."""
    budget = ["--budget", 10] if command == "select" else []
    error = cli_error(capsys, command, "--pretrained", tiny_run, "--run-dir", tmp_path,
                      "--data.seed", 1, *budget)
    assert "test split differs from the one pretraining held out" in error
    assert not (tmp_path / command).exists()


@pytest.mark.parametrize("command", ["finetune", "evaluate", "embed", "reconstruct", "select",
                                     "sample"])
def test_a_checkpoint_away_from_its_split_file_still_refuses_another_test_split(
        tiny_run, tmp_path, capsys, command):
    """The checkpoint itself records the data and test split it was pretrained with."""
    moved = tmp_path / "moved.ckpt"  # no split.json beside it
    shutil.copy(tiny_run / "pretrain" / "checkpoints" / "last.ckpt", moved)
    budget = ["--budget", 10] if command == "select" else []
    error = cli_error(capsys, command, "--pretrained", moved, "--run-dir", tmp_path / "run",
                      "--data.seed", 1, *budget)
    assert "pretrained on these images with another test split held out (data.seed 0" in error
    assert not (tmp_path / "run").exists()
    if command == "embed":  # the test split it held out is accepted
        main(["embed", "--pretrained", str(moved), "--run-dir", str(tmp_path / "run")])
        assert (tmp_path / "run" / "embed").is_dir()


@pytest.mark.parametrize("args", [
    ["evaluate", "--pretrained", "x", "--resume", "true"],  # nothing of it trains
    ["embed", "--pretrained", "x", "--resume", "true"],
    ["shard", "--out", "x", "--run-dir", "y"],  # it writes to --out
], ids=lambda a: " ".join(a))
def test_options_a_command_would_ignore_are_refused(capsys, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    assert "unrecognized arguments" in cli_error(capsys, *args)


@pytest.mark.parametrize("args, message", [
    (["--finetune_trainer.strategy", "bogus"], r"finetune_trainer: .*strategy"),
    (["--data.finetune_augment", "[{name: HorizontalFlipp}]"], r"HorizontalFlipp"),
    (["--pretrain_trainer.fast_dev_run", "true"],
     r"pretrain_trainer.fast_dev_run turns checkpoints off.*--pretrain_trainer.max_steps 1"),
    (["--data.dataset_kwargs", "{bogus: 1}"],
     r"data.dataset_kwargs is only read with a Dataset import path as source"),
    (["--seed", "5000000000"], r"--seed must be below 2\*\*32"),
])
def test_run_refuses_a_bad_later_stage_setting_before_its_first_stage(tmp_path, args, message):
    with pytest.raises(SystemExit, match=message):
        run_cli("run", "--run-dir", tmp_path / "run", "--pretrain_trainer.max_epochs", 1, *args)
    assert not (tmp_path / "run").exists()


def test_a_damaged_saved_config_is_named_on_resume(tmp_path):
    interrupted = tmp_path / "run" / "pretrain.partial"
    interrupted.mkdir(parents=True)
    (interrupted / "config.yaml").write_text("seed: [0\n")
    with pytest.raises(SystemExit, match=r"pretrain.partial/config.yaml is not readable YAML"):
        run_cli("pretrain", "--run-dir", tmp_path / "run", "--resume", "true")
