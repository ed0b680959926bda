"""The Spotlight preset of BloomEmbedding against an independent re-computation of Spotlight's hashing.

Spotlight (``spotlight/layers.py``, murmur3 version): ``murmurhash3_32(np.arange(n, dtype=np.int32), seed)``
(scikit-learn: signed MurmurHash3_x86_32 of each 4-byte int32), the padding id's hash set to 0, then
numpy ``% m`` (floor modulo); ``m = int(compression_ratio * n)``; a ``ScaledEmbedding(m, dim,
padding_idx=0)`` whose k rows are summed.
"""

from __future__ import annotations

import struct

import mmh3
import numpy as np
import pytest
import torch

from bloombench.layers import BloomEmbedding

# Spotlight's SEEDS, in its order (listed here, not imported, so the test is an independent reference).
SPOTLIGHT_SEEDS = [
    179424941, 179425457, 179425907, 179426369, 179424977, 179425517, 179425943, 179426407,
    179424989, 179425529, 179425993, 179426447, 179425003, 179425537, 179426003, 179426453,
    179425019, 179425559, 179426029, 179426491, 179425027, 179425579, 179426081, 179426549,
]


def spotlight_reference_table(n: int, compression_ratio: float, k: int) -> np.ndarray:
    m = int(compression_ratio * n)
    table = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        key = struct.pack("<i", i)
        for j in range(k):
            h = 0 if i == 0 else mmh3.hash(key, SPOTLIGHT_SEEDS[j], signed=True)
            table[i, j] = h % m  # Python ints: floor modulo, as numpy's % on the signed hash
    return table


@pytest.mark.parametrize("n,ratio,k", [(3000, 0.2, 4), (1000, 0.5, 2), (257, 0.9, 24), (500, 1.0, 3)])
def test_index_table_equals_spotlight(n, ratio, k):
    layer = BloomEmbedding.spotlight(n, 8, compression_ratio=ratio, num_hash_functions=k)
    expected = spotlight_reference_table(n, ratio, k)
    assert layer.num_buckets == int(ratio * n) and layer.weight.shape == (int(ratio * n), 8)
    assert np.array_equal(layer.index_map.table.numpy().astype(np.int64), expected)
    assert np.array_equal(layer.hashed_indices(torch.arange(n)).numpy(), expected)


def test_signed_modulo_matters():
    # Some hashes are negative int32: floor modulo of the signed value differs from the unsigned one.
    n, m = 3000, 600
    signed = [mmh3.hash(struct.pack("<i", i), SPOTLIGHT_SEEDS[0], signed=True) for i in range(1, n)]
    assert any(h < 0 and h % m != (h + 2**32) % m for h in signed)


def test_on_the_fly_preset_equals_table_preset():
    table = BloomEmbedding.spotlight(800, 8, init_seed=1)
    otf = BloomEmbedding.spotlight(800, 8, index="on_the_fly", init_seed=1)
    ids = torch.arange(800)
    assert torch.equal(table.hashed_indices(ids), otf.hashed_indices(ids))
    torch.testing.assert_close(table(ids), otf(ids))


def test_sum_of_rows_with_shared_zero_padding_row():
    n, dim = 2000, 8
    layer = BloomEmbedding.spotlight(n, dim, init_seed=0)
    with torch.no_grad():
        assert torch.count_nonzero(layer.weight[0]) == 0
    table = spotlight_reference_table(n, 0.2, 4)
    ids = torch.arange(n)
    expected = layer.weight.detach()[torch.from_numpy(table)].sum(1)
    torch.testing.assert_close(layer(ids), expected)
    assert torch.count_nonzero(layer(torch.tensor(0))) == 0
    # Spotlight's flaw, reproduced: a real id hashing to row 0 loses that component.
    victims = np.flatnonzero((table[1:] == 0).any(1)) + 1
    assert victims.size > 0
    victim = int(victims[0])
    others = [r for r in table[victim] if r != 0]
    torch.testing.assert_close(layer(torch.tensor(victim)), layer.weight.detach()[others].sum(0))


def test_row_zero_gets_no_gradient_and_init_is_spotlights():
    n, dim = 4000, 32
    layer = BloomEmbedding.spotlight(n, dim, init_seed=0)
    rows = layer.weight.detach()[1:]
    assert abs(float(rows.std()) * dim - 1) < 0.05  # N(0, std=1/dim) per row, like ScaledEmbedding
    layer(torch.arange(n)).sum().backward()
    assert torch.count_nonzero(layer.weight.grad[0]) == 0
    assert torch.count_nonzero(layer.weight.grad[1:].abs().sum(1)) == layer.num_buckets - 1
    assert layer.mode == "sum" and layer.hash == "murmur3_int32" and layer.seeds == SPOTLIGHT_SEEDS[:4]


def test_preset_arguments_are_checked():
    with pytest.raises(ValueError, match=r"num_hash_functions must be in \[1, 24\].*got 25"):
        BloomEmbedding.spotlight(1000, 8, num_hash_functions=25)
    with pytest.raises(ValueError, match=r"compression_ratio must be a number in \(0, 1\]"):
        BloomEmbedding.spotlight(1000, 8, compression_ratio=0)
    with pytest.raises(ValueError, match=r"gives num_buckets=0"):
        BloomEmbedding.spotlight(4, 8, compression_ratio=0.2)
