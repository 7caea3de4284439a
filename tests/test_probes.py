import numpy as np
import torch

from ssl_ae import probes


def test_head_on_features_learns_in_minibatches():
    torch.manual_seed(0)
    x = torch.randn(600, 4)
    y = (x[:, 0] > 0).long()
    probs = probes.head_on_features("linear", x[:500], y[:500], x[500:], 2, steps=100, lr=3e-2,
                                    batch_size=32)
    assert probs.shape == (100, 2) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (probs.argmax(1) == y[500:].numpy()).mean() > 0.9
