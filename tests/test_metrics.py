import pytest
import torch

from ssl_ae.evaluation.metrics import score

# 4 test images of 2 classes, predicted 0, 0, 1, 1 (each with confidence 0.9) for truth 0, 0, 0, 1
PROBS = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])
TRUTH = torch.tensor([0, 0, 0, 1])


def test_scores_of_a_hand_computed_case():
    got = score(PROBS, TRUTH)
    # recall 2/3 and 1; precision 1 and 1/2; F1 0.8 and 2/3
    assert got["accuracy"] == pytest.approx(0.75)
    assert got["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert got["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    # one confidence bin at 0.9 holding 75 % correct answers
    assert got["ece"] == pytest.approx(0.15)


def test_perfect_and_calibrated_predictions():
    got = score(torch.eye(3)[[0, 1, 2, 2]], torch.tensor([0, 1, 2, 2]))
    assert got == pytest.approx({"accuracy": 1.0, "balanced_accuracy": 1.0, "macro_f1": 1.0,
                                 "ece": 0.0})


def test_balanced_accuracy_averages_the_classes_the_test_split_has():
    """Truth has classes 0 and 1 only; one image of class 1 is predicted as class 2."""
    truth = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    predicted = torch.tensor([0, 0, 0, 0, 1, 1, 1, 2])
    got = score(torch.nn.functional.one_hot(predicted, 3).float(), truth)
    assert got["balanced_accuracy"] == pytest.approx((1.0 + 0.75) / 2)
