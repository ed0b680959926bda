"""The ideal-hashing predictions against simulation: Bloom fill and false positives, row collisions."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from bloombench.theory import bloom_false_positive_rate, bloom_fill, hashed_collision_share


@pytest.mark.parametrize("k, c, m", [(4, 50, 336), (2, 20, 1000), (1, 300, 100)])
def test_bloom_fill_and_false_positives_match_a_simulation(k: int, c: int, m: int) -> None:
    rng = np.random.default_rng(0)
    fills, positives = [], []
    for _ in range(400):
        bits = np.zeros(m, bool)
        bits[rng.integers(0, m, (c, k))] = True
        fills.append(bits.mean())
        positives.append(bits[rng.integers(0, m, (2000, k))].all(axis=1).mean())
    assert bloom_fill(k, c, m) == pytest.approx(np.mean(fills), abs=0.01)
    assert bloom_false_positive_rate(k, c, m) == pytest.approx(np.mean(positives), abs=0.01)
    assert bloom_fill(k, c, m) == pytest.approx(1 - math.exp(-k * c / m), abs=0.01)


def test_hashed_collision_share_matches_a_simulation() -> None:
    rng = np.random.default_rng(1)
    shares = []
    for _ in range(200):
        rows = rng.integers(0, 300, 1000)
        counts = np.bincount(rows, minlength=300)
        shares.append((counts[rows] > 1).mean())
    assert hashed_collision_share(1000, 300) == pytest.approx(np.mean(shares), abs=0.01)
    assert hashed_collision_share(1, 10) == 0.0 and hashed_collision_share(5, 1) == 1.0


def test_edges_and_bad_arguments() -> None:
    assert bloom_fill(4, 0, 10) == 0.0 and bloom_fill(1, 3, 1) == 1.0
    with pytest.raises(ValueError, match="num_bits"):
        bloom_fill(2, 3, 0)


def test_the_theory_module_imports_no_torch() -> None:
    code = "import sys, bloombench.theory; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
