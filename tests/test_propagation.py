import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons

from ssl_ae.graph import Graph, nearest


def test_nearest_excludes_self_and_orders_by_similarity():
    points = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    index, sims = nearest(points, points, 1, exclude_self=True)
    assert index.flatten().tolist() == [1, 0, 3, 2]
    assert torch.all(sims < 1.0)


def test_one_label_per_moon_spreads_along_each_moon():
    """Two interleaved half circles: a straight boundary through the two labeled points gets
    many wrong, following the graph gets nearly all right."""
    x, y = make_moons(600, noise=0.05, random_state=0)
    x = torch.from_numpy(np.c_[x, np.full(len(x), 3.0)]).float()  # cosine ~ distance here
    graph_images, new_images = np.arange(500), np.arange(500, 600)
    labeled = np.array([np.flatnonzero(y[:500] == c)[0] for c in (0, 1)])
    graph = Graph.build(x[graph_images], neighbours=8)
    spread = graph.propagate(labeled, torch.from_numpy(y[labeled]), num_classes=2)
    assert np.allclose(spread.sum(1).numpy(), 1.0)
    assert (spread.argmax(1).numpy() == y[graph_images]).mean() > 0.95
    probs = graph.extend(spread, x[new_images])
    assert probs.shape == (100, 2) and np.allclose(probs.sum(1), 1.0)
    assert (probs.argmax(1) == y[new_images]).mean() > 0.95
    nearest_label = ((x[new_images, None] - x[labeled][None]).norm(dim=2).argmin(1)).numpy()
    assert (y[labeled][nearest_label] == y[new_images]).mean() < 0.9  # the labels alone do not suffice


def test_labeled_images_keep_their_label_and_unreached_images_are_uniform():
    a = torch.randn(20, 3) * 0.01 + torch.tensor([5.0, 0, 0])
    b = torch.randn(20, 3) * 0.01 + torch.tensor([0, 5.0, 0])
    graph = Graph.build(torch.cat([a, b]), neighbours=3)
    spread = graph.propagate(np.array([0]), torch.tensor([2]), num_classes=3)
    assert spread[0].argmax() == 2 and (spread[:20].argmax(1) == 2).all()
    assert torch.allclose(spread[20:], torch.full((20, 3), 1 / 3))  # no path from the label


def test_graph_needs_two_images():
    with pytest.raises(ValueError, match="at least 2"):
        Graph.build(torch.zeros(1, 4))


def test_smoothing_averages_within_each_cluster_and_new_images_take_their_clusters_value():
    """A random walk never leaves a connected cluster: smoothed long enough, each cluster's
    features reach their degree-weighted mean, and an image placed by its neighbours gets it."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(20, 3, generator=generator) * 0.01 + torch.tensor([5.0, 0, 0])
    b = torch.randn(20, 3, generator=generator) * 0.01 + torch.tensor([0, 5.0, 0])
    graph = Graph.build(torch.cat([a, b]), neighbours=3)
    features = torch.randn(40, 4, generator=generator)
    assert torch.equal(graph.smooth(features, steps=0), features)
    once = graph.smooth(features, steps=1)
    assert once[:20].var(0).sum() < features[:20].var(0).sum()
    settled = graph.smooth(features, steps=5000)
    for cluster in (slice(0, 20), slice(20, 40)):
        weights = graph.degree[cluster, None] / graph.degree[cluster].sum()
        expected = (weights * features[cluster]).sum(0)
        assert torch.allclose(settled[cluster], expected.expand(20, 4), atol=1e-4)
    placed = graph.place(torch.tensor([[5.0, 0.01, 0], [0.01, 5.0, 0]]), settled)
    assert torch.allclose(placed, settled[[0, 20]], atol=1e-4)
