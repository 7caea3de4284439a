import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons

from ssl_ae.evaluation import probes
from ssl_ae.graph import Eigenmap, Graph
from ssl_ae.evaluation.sweep import smoothed_codes
from ssl_ae.nets.graph_heads import SmoothedHead, SpectralHead


def moons(n: int = 600) -> tuple[torch.Tensor, np.ndarray]:
    x, y = make_moons(n, noise=0.05, random_state=0)
    return torch.from_numpy(np.c_[x, np.full(n, 3.0)]).float(), y  # cosine ~ distance here


def test_one_label_per_moon_and_a_linear_boundary_on_the_eigenmap_suffice():
    """The labels alone put a straight boundary across both moons; the same linear model on
    the graph's leading eigenvector follows them, for graph images and new ones alike."""
    x, y = moons()
    graph_images, new_images = np.arange(500), np.arange(500, 600)
    labeled = np.array([np.flatnonzero(y[:500] == c)[0] for c in (0, 1)])
    eigenmap = Eigenmap.fit(Graph.build(x[graph_images], neighbours=8), dims=2)
    new = eigenmap.transform(x[new_images])
    assert eigenmap.vectors.shape == (500, 2) and new.shape == (100, 2)
    train, graph_features, new = probes.standardize(eigenmap.vectors[labeled], eigenmap.vectors,
                                                    new, stats_from=eigenmap.vectors)
    for features, truth in ((graph_features, y[graph_images]), (new, y[new_images])):
        predicted = probes.logistic_regression(train, y[labeled], features).argmax(1)
        assert (predicted == truth).mean() > 0.95
    on_labels_alone = probes.logistic_regression(x[labeled].numpy(), y[labeled], x[new_images].numpy())
    assert (on_labels_alone.argmax(1) == y[new_images]).mean() < 0.9


@pytest.mark.parametrize("dense_up_to", [10_000, 10], ids=["dense", "sparse"])
def test_vectors_are_the_leading_eigenvectors_after_the_constant_one(dense_up_to, monkeypatch):
    monkeypatch.setattr("ssl_ae.graph.eigenmap.DENSE_UP_TO", dense_up_to)
    graph = Graph.build(moons(300)[0], neighbours=8)
    eigenmap = Eigenmap.fit(graph, dims=3)
    s, degree = graph.affinity.to_dense().double().numpy(), graph.degree.double().numpy()
    walk = s * np.sqrt(degree)[None] / np.sqrt(degree)[:, None]  # D^-1 W = D^-1/2 S D^1/2
    assert np.allclose(walk.sum(1), 1.0)
    assert np.allclose(walk @ eigenmap.vectors, eigenmap.vectors * eigenmap.values, atol=1e-4)
    everything = np.sort(np.linalg.eigvalsh(s))[::-1]
    assert np.allclose(eigenmap.values, everything[1:4], atol=1e-5)


def test_a_new_image_next_to_a_graph_image_takes_its_value():
    x, _ = moons(300)
    eigenmap = Eigenmap.fit(Graph.build(x, neighbours=8), dims=2)
    twin = eigenmap.transform(x[:5] + 1e-4)
    assert np.allclose(twin, eigenmap.vectors[:5], atol=0.1 * np.abs(eigenmap.vectors).max())


def test_impossible_dimensions_say_what_is_possible():
    graph = Graph.build(torch.randn(6, 3), neighbours=2)
    with pytest.raises(ValueError, match="6 unlabeled images has 1 to 4 dimensions, got 5"):
        Eigenmap.fit(graph, dims=5)


def test_the_spectral_head_gives_a_new_image_the_features_the_sweep_gives_a_test_image():
    x, _ = moons()
    head = SpectralHead(in_dim=3, num_classes=2, graph_size=500, dims=2, neighbours=8).fit(x[:500])
    codes = probes.standardize(x.numpy(), stats_from=x[:500].numpy())[0]
    eigenmap = Eigenmap.fit(Graph.build(torch.from_numpy(codes[:500]), neighbours=8), dims=2)
    expected = probes.standardize(eigenmap.transform(torch.from_numpy(codes[500:])),
                                  stats_from=eigenmap.vectors)[0]
    assert np.allclose(head.features(x[500:]).numpy(), expected, atol=1e-4)


def test_the_smoothed_head_gives_a_new_image_the_features_the_sweep_gives_a_test_image():
    x, _ = moons()
    head = SmoothedHead(in_dim=3, num_classes=2, graph_size=500, steps=2, neighbours=8).fit(x[:500])
    codes = probes.standardize(x.numpy(), stats_from=x[:500].numpy())[0]
    graph = Graph.build(torch.from_numpy(codes[:500]), neighbours=8)
    expected = smoothed_codes(graph, codes, np.arange(500), np.arange(500, 600), steps=2)
    assert np.allclose(head.features(x[500:]).numpy(), expected[500:], atol=1e-4)
    assert not np.allclose(expected, codes, atol=0.1)  # the smoothing moved the codes


def test_a_spectral_head_refuses_codes_of_another_size():
    head = SpectralHead(in_dim=3, num_classes=2, graph_size=500)
    with pytest.raises(ValueError, match=r"built for \(500, 3\) unlabeled codes but got \(400, 3\)"):
        head.fit(moons(400)[0])
