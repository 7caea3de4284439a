"""The approximate neighbour search (FAISS) against the exact one: recall, no self edges, the same
label propagation, and the automatic choice by pool size."""
import numpy as np
import pytest
import torch

from ssl_ae.graph import Graph, approximate, nearest, neighbours

pytest.importorskip("faiss")


def clustered_codes(n: int = 6000, dims: int = 32, clusters: int = 20, seed: int = 0):
    """Codes around ``clusters`` centres (the structure real codes have) and their cluster."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(clusters, dims, generator=g) * 3
    labels = torch.randint(clusters, (n,), generator=g)
    return centres[labels] + torch.randn(n, dims, generator=g), labels


def recall(found: torch.Tensor, exact: torch.Tensor) -> float:
    return np.mean([len(set(a.tolist()) & set(b.tolist())) / exact.shape[1]
                    for a, b in zip(found, exact)])


def test_approximate_search_finds_the_exact_neighbours():
    codes, _ = clustered_codes()
    exact, exact_sims = nearest(codes, codes, 10, exclude_self=True, approximate=False)
    found, sims = nearest(codes, codes, 10, exclude_self=True, approximate=True)
    assert found.shape == exact.shape == (len(codes), 10)
    assert recall(found, exact) >= 0.95
    assert not (found == torch.arange(len(codes))[:, None]).any()
    assert (sims <= exact_sims[:, :1] + 1e-5).all()  # nothing closer than the true nearest


def test_queries_outside_the_keys_and_determinism():
    codes, _ = clustered_codes()
    queries, _ = clustered_codes(500, seed=1)
    exact, _ = nearest(queries, codes, 5, approximate=False)
    first, _ = approximate.ivf_nearest(queries, codes, 5)
    again, _ = approximate.ivf_nearest(queries, codes, 5)
    assert torch.equal(first, again)
    assert recall(first, exact) >= 0.95


def test_label_propagation_on_the_approximate_graph_matches_the_exact_one():
    codes, clusters = clustered_codes(4000)
    labeled = np.concatenate([np.flatnonzero(clusters.numpy() == c)[:2] for c in range(20)])
    spread = {a: Graph.build(codes, 10, approximate=a).propagate(labeled, clusters[labeled], 20)
              for a in (False, True)}
    agree = (spread[False].argmax(1) == spread[True].argmax(1)).float().mean()
    assert agree >= 0.99
    assert (spread[True].argmax(1) == clusters).float().mean() >= 0.95


def test_large_pools_choose_the_approximate_search(monkeypatch):
    codes, _ = clustered_codes(2000)
    monkeypatch.setattr(neighbours, "APPROXIMATE_FROM", 1000)
    calls = []
    monkeypatch.setattr(neighbours, "ivf_nearest", lambda *a: calls.append(a) or
                        approximate.ivf_nearest(*a))
    nearest(codes, codes, 5, exclude_self=True)
    assert len(calls) == 1
    nearest(codes[:999], codes[:999], 5)  # below the threshold: exact
    assert len(calls) == 1


def test_without_faiss_a_large_pool_warns_and_searches_exactly(monkeypatch):
    codes, _ = clustered_codes(1500)
    monkeypatch.setattr(neighbours, "APPROXIMATE_FROM", 1000)
    monkeypatch.setattr(neighbours, "faiss_available", lambda: False)
    with pytest.warns(UserWarning, match="pip install faiss-cpu"):
        found, _ = nearest(codes, codes, 5, exclude_self=True)
    assert torch.equal(found, nearest(codes, codes, 5, exclude_self=True, approximate=False)[0])
