import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from helpers import read_json, run_cli
from ssl_ae.data import SemiSupervisedDataModule, load_source
from ssl_ae.data.images import conform

SHARED = Path(__file__).parents[2] / "shared" / "datasets"


class MixedDataset(Dataset):
    """Items in every accepted form; importable as ``test_data_sources.MixedDataset``."""

    classes = ["zero", "one"]

    def __init__(self, n: int = 12, test: bool = False):
        self.n, self.test = n, test

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        label = i % 2
        if i % 4 == 0:
            return Image.new("RGBA", (10, 10), (40, 40, 40, 255)), label
        if i % 4 == 1:
            return np.full((10, 10), 40, dtype=np.uint8), torch.tensor(label)
        if i % 4 == 2:
            return torch.full((3, 10, 10), 40 / 255), (label if self.test or i < 6 else None)
        return torch.full((1, 10, 10), 40, dtype=torch.uint8), (label if self.test or i < 6 else -1)


def test_dataset_by_import_path(tmp_path):
    data = SemiSupervisedDataModule(source="test_data_sources.MixedDataset", channels=1,
                                    image_size=6, dataset_kwargs={"n": 12},
                                    test_dataset_kwargs={"n": 4, "test": True}, labels_per_class=1)
    data.setup()
    src = data.source
    assert src.shape == (1, 6, 6) and (src.images == 40).all()
    assert src.classes == ["zero", "one"] and src.test.tolist() == [12, 13, 14, 15]
    assert src.targets[:12].tolist() == [0, 1, 0, 1, 0, 1, -1, -1, 0, 1, -1, -1]
    assert not {6, 7, 10, 11} & set(data.split.labeled)


class LabelledBy(Dataset):
    """One grey image per entry of ``labels``, labelled by it; importable for ``source``."""

    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return np.full((6, 6), 40, dtype=np.uint8), self.labels[i]


def test_dataset_labels_must_be_class_indices():
    def targets(labels):
        data = SemiSupervisedDataModule(source="test_data_sources.LabelledBy", image_size=6,
                                        dataset_kwargs={"labels": labels}, labels_per_class=1,
                                        test_fraction=0.5)
        data.setup()
        return data.source.targets.tolist()

    assert targets([np.int64(0), 1.0, torch.tensor([0]), np.array(1)]) == [0, 1, 0, 1]
    for bad, shown in (("cat", "'cat' (str)"), (1.5, "1.5 (float)"), (True, "True (bool)")):
        with pytest.raises(ValueError, match=rf"item 2: label {re.escape(shown)} is not a class "
                                             "index: give each item an int 0..K-1"):
            targets([0, 1, bad, 1])


class GreyThenColour(Dataset):
    """A grey first image, then colour ones (item 2 raises ``fail``, if given)."""

    def __init__(self, fail: str = ""):
        self.fail = fail

    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 2 and self.fail:
            raise {"KeyError": KeyError, "IndexError": IndexError}[self.fail]("no such entry")
        if i == 0:
            return np.full((6, 6), 40, dtype=np.uint8), 0
        return np.full((6, 6, 3), (10, 20, 30), dtype=np.uint8), i % 2


def test_a_dataset_is_colour_if_any_image_is_and_says_so_when_the_first_is_grey():
    data = SemiSupervisedDataModule(source="test_data_sources.GreyThenColour", test_fraction=0.5)
    with pytest.warns(UserWarning, match="5 of 6 images are colour though the first is grey"):
        source = data.loaded_source()
    assert source.shape == (3, 6, 6) and (source.images[0] == 40).all()
    assert source.images[1, :, 0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize("error", ["KeyError", "IndexError"])
def test_any_error_of_a_dataset_item_is_named_by_item(error):
    data = SemiSupervisedDataModule(source="test_data_sources.GreyThenColour",
                                    dataset_kwargs={"fail": error})
    with pytest.raises(ValueError, match=rf"\(\*\*dataset_kwargs\), item 2: {error}: .*no such entry"):
        data.loaded_source()


def test_dataset_import_errors_say_what_is_missing():
    with pytest.raises(ValueError, match="cannot import module 'nopkg'"):
        SemiSupervisedDataModule(source="nopkg.Data").setup()
    with pytest.raises(ValueError, match="module 'test_data_sources' has no 'Nothing'"):
        SemiSupervisedDataModule(source="test_data_sources.Nothing").setup()
    with pytest.raises(ValueError, match="unknown data source 'cifar'; known: cifar10, cifar100"):
        load_source("cifar")


def test_builtin_source_missing_files_says_what_to_place_where(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"cifar10 not found in {tmp_path}: place "
                                                r"cifar-10-batches-py/ .*--data.download true"):
        load_source("cifar10", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"MNIST/raw/ holding the four original files "
                                                r"train-images-idx3-ubyte.gz"):
        load_source("mnist", tmp_path)


def gz_only_root(tmp_path) -> Path:
    if not (SHARED / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST files at {SHARED}")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (SHARED / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(f, raw)
    return tmp_path


def test_mnist_loads_from_the_original_gz_files_only(tmp_path):
    root = gz_only_root(tmp_path)
    source = load_source("mnist", root)
    assert source.images.shape == (70000, 1, 28, 28) and source.images.dtype == torch.uint8
    assert source.test.tolist() == list(range(60000, 70000))
    assert np.bincount(source.targets[:60000]).tolist()[:3] == [5923, 6742, 5958]
    data = SemiSupervisedDataModule(source="mnist", root=str(root), channels=3)
    data.setup()
    assert data.image_shape == (3, 28, 28) and data.split.test == source.test.tolist()
    assert all(torch.equal(data.source.images[:, c], source.images[:, 0]) for c in range(3))
    resized = conform(source.images[:50], None, 32)
    assert resized.shape == (50, 1, 32, 32)
    assert (resized.float().mean() - source.images[:50].float().mean()).abs() < 2  # resized, not changed


def test_a_damaged_archive_is_named_and_never_downloaded_over(tmp_path, monkeypatch):
    root = gz_only_root(tmp_path)
    damaged = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:-100])  # a copy cut short
    kept = damaged.read_bytes()

    def no_network(*args, **kwargs):
        raise AssertionError("download: false went to the network")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with pytest.raises(ValueError, match=rf"mnist: {damaged} is not the original file \(its MD5 "
                                         "differs"):
        load_source("mnist", root)
    assert damaged.read_bytes() == kept


def test_every_archive_of_a_builtin_source_has_a_known_md5():
    import torchvision

    from ssl_ae.data.sources import TORCHVISION, original_md5

    for spec in TORCHVISION.values():
        sums = original_md5(getattr(torchvision.datasets, spec.dataset_class))
        assert all(Path(a).name in sums for a in spec.archives), spec.dataset_class


@pytest.mark.slow
def test_pipeline_runs_on_mnist_from_gz_files(tmp_path):
    root = gz_only_root(tmp_path / "data")
    run_dir = tmp_path / "run"
    run_cli("run", "--run-dir", run_dir, "--data.source", "mnist", "--data.root", root,
            "--pretrain_trainer.max_epochs", 1, "--pretrain_trainer.limit_train_batches", 20,
            "--finetune_trainer.max_epochs", 3, "--seed", 0, "--pretrain_trainer.enable_progress_bar", "false",
            "--finetune_trainer.enable_progress_bar", "false")
    split = read_json(run_dir / "finetune" / "split.json")
    assert split["test"] == list(range(60000, 70000)) and len(split["labeled"]) == 100
    rows = {r["method"]: r["accuracy"] for r in read_json(run_dir / "report" / "results.json")}
    assert rows["logistic regression on pixels"] > 0.6  # the real MNIST test set, not noise
    assert "frozen encoder + linear head" in rows  # 20 pretraining steps: no accuracy claim


def test_dataset_pixels_of_every_integer_type_are_read_on_their_scale():
    from ssl_ae.data.images import to_pil

    wide = np.array([[0, 65535], [32768, 257]], np.uint16)
    assert np.asarray(to_pil(wide)).tolist() == [[0, 255], [128, 1]]
    assert np.asarray(to_pil(np.array([[0, 200]], np.int64))).tolist() == [[0, 200]]
    for bad in (np.array([[0, 256]], np.int32), np.array([[-1, 5]], np.int64)):
        with pytest.raises(ValueError, match=r"integer pixels must lie in 0\.\.255"):
            to_pil(bad)


def test_a_normalised_float_image_is_refused_not_clipped():
    from ssl_ae.data.images import to_pil

    assert np.asarray(to_pil(np.array([[0.0, 1.0]], np.float32))).tolist() == [[0, 255]]
    with pytest.raises(ValueError, match=r"float pixels must lie in \[0, 1\], got -2\.1\.\.2\.6: "
                                         "give images before any Normalize"):
        to_pil(np.array([[-2.1, 2.6]], np.float32))


class ItemsOf(Dataset):
    """Two items of the form ``kind`` names."""

    def __init__(self, kind: str):
        self.kind = kind

    def __len__(self):
        return 2

    def __getitem__(self, i):
        image = np.full((6, 6), 40, dtype=np.uint8)
        return {"dict": {"image": image, "label": i}, "triple": (image, i, "meta")}[self.kind]


class Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        yield np.full((6, 6), 40, dtype=np.uint8), 0


@pytest.mark.parametrize("source, kwargs, message", [
    ("ItemsOf", {"kind": "dict"},
     r"item 0: a dict \(keys image, label\), not \(image, label\): wrap the Dataset"),
    ("ItemsOf", {"kind": "triple"}, r"item 0: a 3-tuple, not \(image, label\)"),
    ("Stream", {}, r"has no len\(\) \(an IterableDataset\?\): give a map-style Dataset"),
], ids=["dict", "triple", "iterable"])
def test_items_that_are_not_image_and_label_say_what_to_return(source, kwargs, message):
    data = SemiSupervisedDataModule(source=f"test_data_sources.{source}", dataset_kwargs=kwargs)
    with pytest.raises(ValueError, match=message):
        data.loaded_source()


def test_test_labels_of_an_image_folder_lacking_a_class_follow_the_class_names(tmp_path):
    from datahelpers import class_folder

    train = class_folder(tmp_path / "train", {"bird": 2, "cat": 2, "dog": 2})
    test = class_folder(tmp_path / "test", {"bird": 2, "dog": 2}, offset=100)  # no cat
    data = SemiSupervisedDataModule(source="torchvision.datasets.ImageFolder",
                                    dataset_kwargs={"root": str(train)},
                                    test_dataset_kwargs={"root": str(test)}, labels_per_class=1)
    source = data.loaded_source()
    assert source.classes == ["bird", "cat", "dog"]
    assert source.targets[source.test].tolist() == [0, 0, 2, 2]  # ImageFolder numbers dog 1


def test_a_dataset_photo_stands_upright_as_its_exif_orientation_says(tmp_path):
    from ssl_ae.data.pydataset import read_dataset

    pixels = np.zeros((4, 4, 3), np.uint8)
    pixels[0, 0] = 255  # a white top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    Image.fromarray(pixels).save(tmp_path / "photo.png", exif=exif)
    with Image.open(tmp_path / "photo.png") as photo:
        arrays, *_ = read_dataset([(photo, 0)], "photos", 3, 4)
    assert arrays[0][:, 0, 3].tolist() == [255, 255, 255]  # now the top-right corner


def test_an_image_of_an_unreadable_shape_is_named_with_the_shape_given():
    from ssl_ae.data.images import to_pil

    with pytest.raises(ValueError, match=r"shape \(32, 32, 3\): expected an \(H, W\) or \(H, W, "
                                         r"1\|3\|4\) array, or a \(1\|3\|4, H, W\) tensor"):
        to_pil(torch.zeros(32, 32, 3))  # a tensor laid out as an array
