import numpy as np
import pytest

from ssl_ae.data import Split, labeled_subset, stratified_holdout

TARGETS = np.repeat(np.arange(4), 25)


def test_same_seed_same_split_and_test_disjoint():
    a, b = Split.make(TARGETS, 5, seed=3), Split.make(TARGETS, 5, seed=3)
    assert a == b
    assert not set(a.test) & set(a.labeled)
    assert not set(a.test) & set(a.unlabeled)
    assert set(a.labeled) <= set(a.unlabeled)
    assert sorted(a.test + a.unlabeled) == list(range(len(TARGETS)))
    assert a.class_counts == {"0": 5, "1": 5, "2": 5, "3": 5}


def test_other_seed_other_labeled_images():
    assert Split.make(TARGETS, 5, seed=0).labeled != Split.make(TARGETS, 5, seed=1).labeled


def test_official_test_split_is_kept():
    test = np.arange(80, 100)
    split = Split.make(TARGETS, 2, seed=0, test=test)
    assert split.test == test.tolist()
    assert min(split.labeled) < 80


def test_holdout_is_stratified():
    held = stratified_holdout(TARGETS, 0.2, seed=0)
    assert np.bincount(TARGETS[held]).tolist() == [5, 5, 5, 5]


def test_class_below_k_names_class_and_count():
    targets = np.array([0] * 10 + [1] * 3)
    with pytest.raises(ValueError, match=r"class 'cat' has 3 images.*labels_per_class=4"):
        labeled_subset(targets, np.arange(13), 4, seed=0, class_names=["dog", "cat"])


def test_zero_labels_rejected():
    with pytest.raises(ValueError, match="at least 1"):
        labeled_subset(TARGETS, np.arange(100), 0, seed=0)


def test_save_load_round_trip_and_leak_check(tmp_path):
    split = Split.make(TARGETS, 3, seed=0)
    split.save(tmp_path / "split.json")
    assert Split.load(tmp_path / "split.json") == split
    split.labeled = [split.test[0]]
    split.save(tmp_path / "leaky.json")
    with pytest.raises(ValueError, match="leaks 1 test images into the labeled set"):
        Split.load(tmp_path / "leaky.json")
