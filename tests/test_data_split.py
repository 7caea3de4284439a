import json

import numpy as np
import pytest

from datahelpers import class_folder
from helpers import read_json
from ssl_ae import pipeline
from ssl_ae.data import SemiSupervisedDataModule, Split, labeled_subset, stratified_holdout

TARGETS = np.repeat(np.arange(3), 40)


def test_fraction_split_labels_that_share_of_each_class():
    split = Split.make(TARGETS, labeled_fraction=0.25, seed=0, test_fraction=0.25)
    assert split.labeled_by == "labeled_fraction" and split.labels_per_class is None
    assert split.class_counts == {"0": 8, "1": 8, "2": 8}  # 25 % of the 30 non-test per class
    assert not set(split.labeled) & set(split.test)
    with pytest.raises(ValueError, match=r"labeled_fraction must be in \(0, 1\], got 0"):
        Split.make(TARGETS, labeled_fraction=0.0)


def test_val_is_taken_from_the_labeled_budget_only():
    plain = Split.make(TARGETS, 10, seed=4)
    with_val = Split.make(TARGETS, 10, seed=4, val_fraction=0.2)
    assert sorted(with_val.labeled + with_val.val) == plain.labeled  # same 10 per class, split 8 + 2
    assert with_val.class_counts == {"0": 8, "1": 8, "2": 8}
    assert np.bincount(TARGETS[with_val.val]).tolist() == [2, 2, 2]
    assert with_val.test == plain.test and with_val.unlabeled == plain.unlabeled
    with pytest.raises(ValueError, match=r"class '0' has 1 labeled images: val_fraction=0.5 would "
                                         "leave none"):
        Split.make(TARGETS, 1, val_fraction=0.5)


def test_labeled_in_unlabeled_option():
    inside = Split.make(TARGETS, 5, seed=0, val_fraction=0.2)
    outside = Split.make(TARGETS, 5, seed=0, val_fraction=0.2, labeled_in_unlabeled=False)
    assert set(inside.labeled + inside.val) <= set(inside.unlabeled)
    assert not set(outside.labeled + outside.val) & set(outside.unlabeled)
    assert sorted(outside.unlabeled + outside.labeled + outside.val) == inside.unlabeled
    assert outside.labeled == inside.labeled


def test_images_without_label_are_only_ever_unlabeled():
    targets = np.concatenate([TARGETS, np.full(50, -1)])
    split = Split.make(targets, 5, seed=0, labeled_fraction=None)
    no_label = set(range(120, 170))
    assert no_label <= set(split.unlabeled)
    assert not no_label & set(split.test + split.labeled)


def test_explicit_labeled_file_by_path_and_index(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 6, "b": 6})
    listing = tmp_path / "labeled.txt"
    listing.write_text("# my picks\na/001.png\nb/004.png\n\n3\n")
    data = SemiSupervisedDataModule(source="folder", labeled_dir=str(root),
                                    labeled_file=str(listing), test_fraction=0.3)
    data.setup()
    ids = data.source.ids
    assert [ids[i] for i in data.split.labeled] == ["a/001.png", "a/003.png", "b/004.png"]
    assert data.split.labeled_by == "labeled_file" and not set(data.split.labeled) & set(data.split.test)
    listing.write_text("a/001.png\nc/nothing.png\n99\n")
    with pytest.raises(ValueError, match=r"1 entries of .*labeled.txt name no image of the source, "
                                         r"e.g. c/nothing.png"):
        SemiSupervisedDataModule(source="folder", labeled_dir=str(root), labeled_file=str(listing)).setup()


def test_a_labeled_file_names_an_accented_folder_however_the_accent_was_typed(tmp_path):
    decomposed = "cafe\u0301"  # as macOS writes the folder's name; "café" typed elsewhere
    root = class_folder(tmp_path / "lab", {decomposed: 6, "tea": 6})
    listing = tmp_path / "labeled.txt"
    listing.write_text("caf\u00e9/001.png\ntea/002.png\n", encoding="utf-8")
    data = SemiSupervisedDataModule(source="folder", labeled_dir=str(root),
                                    labeled_file=str(listing), test_fraction=0.3)
    data.setup()
    assert [data.source.ids[i] for i in data.split.labeled] == [f"{decomposed}/001.png",
                                                                  "tea/002.png"]


def test_labeled_file_that_leaves_a_class_without_labels_is_warned_about(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 6, "b": 6, "c": 6})
    listing = tmp_path / "labeled.txt"
    listing.write_text("a/001.png\na/002.png\n")
    data = SemiSupervisedDataModule(source="folder", labeled_dir=str(root), labeled_file=str(listing))
    with pytest.warns(UserWarning, match=r"labels no image of class b, c: a head trained on it "
                                         r"never predicts that class"):
        data.setup()
    assert data.split.class_counts == {"a": 2, "b": 0, "c": 0}


def test_labeled_file_saved_by_notepad_or_in_latin_1(tmp_path):
    """A byte-order mark is read past; a line that is not UTF-8 is named, with what to do."""
    root = class_folder(tmp_path / "lab", {"a": 6, "b": 6})
    listing = tmp_path / "labeled.txt"
    listing.write_bytes("a/001.png\r\nb/004.png\r\n".encode("utf-8-sig"))
    data = SemiSupervisedDataModule(source="folder", labeled_dir=str(root), labeled_file=str(listing))
    data.setup()
    assert [data.source.ids[i] for i in data.split.labeled] == ["a/001.png", "b/004.png"]
    listing.write_bytes("a/001.png\nb/caf\u00e9.png\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"data.labeled_file: 1 entries .* name no image .*"
                                         r"some lines are not UTF-8 text: save the file as UTF-8"):
        SemiSupervisedDataModule(source="folder", labeled_dir=str(root), labeled_file=str(listing)).setup()



def test_a_split_saved_from_a_labeled_file_is_not_reused_once_the_file_changes(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 6, "b": 6})
    listing = tmp_path / "labeled.txt"
    listing.write_text("a/001.png\nb/004.png\n")
    first = SemiSupervisedDataModule(source="folder", labeled_dir=str(root), labeled_file=str(listing),
                                     test_fraction=0.3)
    first.save_split(tmp_path)
    assert SemiSupervisedDataModule(**first.hparams).reuse_split(tmp_path / "split.json")
    listing.write_text("a/002.png\nb/005.png\n")
    edited = SemiSupervisedDataModule(**first.hparams)
    assert not edited.reuse_split(tmp_path / "split.json")
    edited.setup()
    assert [edited.source.ids[i] for i in edited.split.labeled] == ["a/002.png", "b/005.png"]

def test_explicit_labels_may_not_be_official_test_images():
    with pytest.raises(ValueError, match=r"labeled file lists 1 images of the test split"):
        Split.make(TARGETS, labeled=np.array([0, 119]), test=np.arange(100, 120))


def finetune_once(run_dir, data, out):
    return pipeline.finetune(data, run_dir, out, trainer={"max_epochs": 1, "enable_progress_bar": False})


def test_later_stage_reloads_the_split_instead_of_recomputing(tiny_run, tmp_path):
    saved = tmp_path / "pretrain_split.json"
    original = read_json(tiny_run / "pretrain" / "split.json")
    # An edited split with the same settings: a recomputed split could never produce it.
    edited = dict(original, labeled=original["labeled"][1:])
    saved.write_text(json.dumps(edited))
    data = SemiSupervisedDataModule()
    assert data.reuse_split(saved)
    data.setup()
    assert data.split.labeled == edited["labeled"]
    # Other settings (a label-curve study: fewer labels per class) get a fresh split.
    fewer = SemiSupervisedDataModule(labels_per_class=5)
    assert not fewer.reuse_split(saved)
    fewer.setup()
    assert fewer.split.class_counts["0"] == 5 and fewer.split.test == original["test"]


def test_finetune_stage_uses_the_pretrain_split_json(tiny_run, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(Split, "make", classmethod(lambda cls, *a, **k: calls.append(1)))
    finetune_once(tiny_run, SemiSupervisedDataModule(), tmp_path / "ft")
    assert not calls, "the split was recomputed"
    assert read_json(tmp_path / "ft" / "split.json") == read_json(tiny_run / "pretrain" / "split.json")


FOUR_CLASSES = np.repeat(np.arange(4), 25)


def test_same_seed_same_split_and_test_disjoint():
    a, b = Split.make(FOUR_CLASSES, 5, seed=3), Split.make(FOUR_CLASSES, 5, seed=3)
    assert a == b
    assert not set(a.test) & set(a.labeled)
    assert not set(a.test) & set(a.unlabeled)
    assert set(a.labeled) <= set(a.unlabeled)
    assert sorted(a.test + a.unlabeled) == list(range(len(FOUR_CLASSES)))
    assert a.class_counts == {"0": 5, "1": 5, "2": 5, "3": 5}


def test_other_seed_other_labeled_images():
    assert Split.make(FOUR_CLASSES, 5, seed=0).labeled != Split.make(FOUR_CLASSES, 5, seed=1).labeled


def test_official_test_split_is_kept():
    test = np.arange(80, 100)
    split = Split.make(FOUR_CLASSES, 2, seed=0, test=test)
    assert split.test == test.tolist()
    assert min(split.labeled) < 80


def test_holdout_is_stratified():
    held = stratified_holdout(FOUR_CLASSES, 0.2, seed=0)
    assert np.bincount(FOUR_CLASSES[held]).tolist() == [5, 5, 5, 5]


def test_class_below_k_names_class_and_count():
    targets = np.array([0] * 10 + [1] * 3)
    with pytest.raises(ValueError, match=r"class 'cat' has 3 images.*labels_per_class=4"):
        labeled_subset(targets, np.arange(13), 4, seed=0, class_names=["dog", "cat"])


def test_zero_labels_rejected():
    with pytest.raises(ValueError, match="at least 1"):
        labeled_subset(FOUR_CLASSES, np.arange(100), 0, seed=0)


def test_save_load_round_trip_and_leak_check(tmp_path):
    split = Split.make(FOUR_CLASSES, 3, seed=0)
    split.save(tmp_path / "split.json")
    assert Split.load(tmp_path / "split.json") == split
    split.labeled = [split.test[0]]
    split.save(tmp_path / "leaky.json")
    with pytest.raises(ValueError, match="leaks 1 test images into the labeled set"):
        Split.load(tmp_path / "leaky.json")