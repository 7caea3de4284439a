import numpy as np
import pytest
import torch

from ssl_ae.evaluation import probes


def test_head_on_features_learns_in_minibatches():
    torch.manual_seed(0)
    x = torch.randn(600, 4)
    y = (x[:, 0] > 0).long()
    probs = probes.head_on_features("linear", x[:500], y[:500], x[500:], 2, steps=100, lr=3e-2,
                                    batch_size=32)
    assert probs.shape == (100, 2) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (probs.argmax(1) == y[500:].numpy()).mean() > 0.9


@pytest.mark.parametrize("probe", ["logistic_regression", "knn"])
def test_a_class_missing_from_the_labeled_images_still_gets_its_column(probe):
    rng = np.random.default_rng(0)
    train_x, test_x = rng.normal(size=(12, 4)), rng.normal(size=(5, 4))
    train_y = np.array([0, 1] * 6)  # class 2 of 3 was never chosen for labeling
    probs = getattr(probes, probe)(train_x, train_y, test_x, num_classes=3)
    assert probs.shape == (5, 3) and (probs[:, 2] == 0).all()
    assert np.allclose(probs.sum(1), 1)


@pytest.mark.parametrize("probe", ["logistic_regression", "knn"])
def test_labeled_images_of_one_class_give_that_class(probe):
    """A small labeling budget can pick images of one class only."""
    rng = np.random.default_rng(0)
    probs = getattr(probes, probe)(rng.normal(size=(2, 4)), np.array([1, 1]),
                                   rng.normal(size=(5, 4)), num_classes=3)
    assert probs.shape == (5, 3) and (probs.argmax(1) == 1).all() and np.allclose(probs.sum(1), 1)


def test_images_are_encoded_on_this_process_gpu_where_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert probes.encoding_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert probes.encoding_device() == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "3")  # torchrun's fourth process on a machine of two GPUs
    assert probes.encoding_device() == torch.device("cuda", 1)
