"""Collision diagnostics: hand-computed cases, exact ideal-hashing formulas, bad vs good hash families."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy import stats

from bloombench.layers import (
    BloomEmbedding,
    HashCoFiEmbedding,
    HashEmbedding,
    QREmbedding,
    collision_diagnostics,
    expected_repeat_share,
    expected_signature_collision_share,
    signature_collision_probability,
)


class FixedIndexLayer(torch.nn.Module):
    """A stand-in 'hashed layer' whose indices are given by hand."""

    def __init__(self, rows: list[list[int]], num_buckets: int) -> None:
        super().__init__()
        self.rows = torch.tensor(rows)
        self.num_buckets = num_buckets
        self.num_embeddings = len(rows)
        self.padding_idx = None

    def hashed_indices(self, ids: torch.Tensor) -> torch.Tensor:
        return self.rows[ids]


def test_hand_computed_case():
    # ids 0 and 2 share the signature {1, 3}; id 1 repeats bucket 0; bucket 4 is empty.
    layer = FixedIndexLayer([[1, 3], [0, 0], [3, 1], [2, 0]], num_buckets=5)
    d = collision_diagnostics(layer)
    assert (d.num_ids, d.num_buckets, d.num_hashes) == (4, 5, 2)
    assert (d.load_min, d.load_mean, d.load_max) == (0.0, 1.6, 3.0)  # loads [3, 2, 1, 2, 0]
    assert d.chi2_statistic == pytest.approx(sum((o - 1.6) ** 2 / 1.6 for o in [3, 2, 1, 2, 0]))
    assert d.chi2_pvalue == pytest.approx(stats.chi2.sf(d.chi2_statistic, 4))
    assert (d.repeat_ids, d.repeat_share) == (1, 0.25)
    assert (d.signature_collision_ids, d.signature_collision_share, d.distinct_signatures) == (2, 0.5, 3)
    assert d.signature_space == math.comb(6, 2)
    assert d.expected_repeat_share == pytest.approx(1 / 5)
    assert d.to_dict()["repeat_ids"] == 1


def test_ids_subset_and_padding_excluded_by_default():
    layer = BloomEmbedding(100, 4, num_buckets=30, num_hashes=3, padding_idx=5)
    assert collision_diagnostics(layer).num_ids == 99  # padding id maps to its own row, not hashed
    assert collision_diagnostics(layer, ids=range(10, 20)).num_ids == 10


def test_pair_collision_probability_exact():
    assert signature_collision_probability(50, 1) == pytest.approx(1 / 50)
    for m in (3, 10, 1000):
        assert signature_collision_probability(m, 2) == pytest.approx((2 * m - 1) / m**3)
    # brute force over every pair of ordered triples in [0, 5)
    m, k = 5, 3
    tuples = list(itertools.product(range(m), repeat=k))
    counts: dict[tuple[int, ...], int] = {}
    for t in tuples:
        counts[tuple(sorted(t))] = counts.get(tuple(sorted(t)), 0) + 1
    brute = sum(c * c for c in counts.values()) / len(tuples) ** 2
    assert signature_collision_probability(m, k) == pytest.approx(brute)
    assert signature_collision_probability(m, k) >= 1 / math.comb(m + k - 1, k)  # uniform-multiset bound


def test_expected_shares_formulas():
    assert expected_repeat_share(10, 1) == 0.0
    assert expected_repeat_share(10, 3) == pytest.approx(1 - 0.9 * 0.8)
    q = (2 * 100 - 1) / 100**3
    assert expected_signature_collision_share(500, 100, 2) == pytest.approx(1 - (1 - q) ** 499)
    assert expected_signature_collision_share(1, 100, 2) == 0.0


def test_multiplicative_hash_collides_fully_murmur3_near_ideal():
    n, m, k = 4000, 400, 4
    bad = collision_diagnostics(BloomEmbedding(n, 4, num_buckets=m, num_hashes=k, hash="multiplicative"))
    good = collision_diagnostics(BloomEmbedding(n, 4, num_buckets=m, num_hashes=k, hash="murmur3", seed=1))
    # multiplicative: ids i and i + m agree under every function, so every id shares its signature
    assert bad.signature_collision_share == 1.0 and bad.distinct_signatures <= m
    assert good.expected_signature_collision_ids < 0.1
    assert good.signature_collision_ids == 0
    sd = math.sqrt(good.expected_repeat_share * (1 - good.expected_repeat_share) / n)
    assert abs(good.repeat_share - good.expected_repeat_share) < 4 * sd
    assert good.chi2_pvalue > 1e-4
    assert good.load_mean == n * k / m


def test_small_table_matches_birthday_expectation():
    # m=40, k=2: about 39% of 400 ids share a signature under ideal hashing (sd ~0.03 per seed)
    n, m, k = 400, 40, 2
    layers = [BloomEmbedding(n, 4, num_buckets=m, num_hashes=k, seed=s) for s in range(6)]
    shares = [collision_diagnostics(layer).signature_collision_share for layer in layers]
    expected = expected_signature_collision_share(n, m, k)
    assert 0.35 < expected < 0.42
    assert abs(sum(shares) / len(shares) - expected) < 0.05


def test_other_hashed_layers_and_errors():
    hashcofi = collision_diagnostics(HashCoFiEmbedding(300, 8, num_parameters=5000), ids=range(300))
    assert (hashcofi.num_hashes, hashcofi.num_buckets) == (8, 5000)
    assert collision_diagnostics(HashEmbedding(300, 8, num_buckets=60)).num_hashes == 2
    with pytest.raises(TypeError, match="needs a hashed layer"):
        collision_diagnostics(QREmbedding(300, 8))
    with pytest.raises(ValueError, match="ids are required for an open-vocabulary layer"):
        collision_diagnostics(BloomEmbedding(None, 4, num_buckets=10, index="on_the_fly"))
