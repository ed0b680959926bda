"""The low-dimensional, mixed-dimension, frequency-based double hashing and int8 layers, and how training
counts reach the layers that use them (the contract tests of test_layers.py cover them through their
``examples``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bloombench.data import Interactions
from bloombench.experiments import run_trial
from bloombench.layers import (
    DoubleHashEmbedding,
    Int8Embedding,
    LowDimEmbedding,
    MixedDimEmbedding,
    available_methods,
    count_ids,
    embedding_factory,
    get_method,
    make_embedding,
    size_for_budget,
)
from bloombench.layers.int8 import dequantize_rows, quantize_rows
from bloombench.layers.mixed_dim import alpha_power_dims, frequency_blocks
from bloombench.models import ImplicitFactorizationModel
from bloombench.models.representations import build_embedding, make_sequence_net

N, DIM = 500, 8
FREQUENCY_METHODS = [m for m in available_methods() if getattr(get_method(m), "uses_frequencies", False)]


def zipf_counts(n: int = N, seed: int = 0) -> np.ndarray:
    """Counts with a shuffled popularity order (so id order is *not* the popularity rank)."""
    counts = (1000 / np.arange(1, n + 1)).astype(np.int64)
    return np.random.default_rng(seed).permutation(counts)


def test_the_frequency_methods_are_the_ones_declaring_it():
    assert sorted(FREQUENCY_METHODS) == ["double_hash", "mixed_dim"]


# ---------------------------------------------------------------------------------------------------
# lowdim
# ---------------------------------------------------------------------------------------------------
def test_lowdim_is_a_table_times_a_projection_and_counts_it():
    layer = LowDimEmbedding(1000, 32, compression_ratio=0.25, init_seed=0)
    assert layer.inner_dim == int(0.25 * 1000 * 32 / (1000 + 32)) == 7
    assert layer.weight.shape == (1000, 7) and layer.projection.shape == (7, 32)
    assert layer.memory_bytes() == 4 * (1000 * 7 + 7 * 32) <= 0.25 * 1000 * 32 * 4
    ids = torch.tensor([3, 9])
    torch.testing.assert_close(layer(ids), layer.weight[ids] @ layer.projection)
    (layer(ids) * torch.randn(2, 32)).sum().backward()
    assert set(torch.nonzero(layer.weight.grad.abs().sum(1)).flatten().tolist()) == {3, 9}
    assert torch.count_nonzero(layer.projection.grad) == 7 * 32  # the projection learns from every id


# ---------------------------------------------------------------------------------------------------
# mixed_dim
# ---------------------------------------------------------------------------------------------------
def test_mixed_dim_blocks_by_count_mass_and_dims_by_the_alpha_rule():
    counts = np.array([0, 5, 1, 40, 2, 0, 10, 3, 1, 20])
    layer = MixedDimEmbedding(10, 16, base_dim=16, num_blocks=2, alpha=0.5, frequencies=counts)
    # ranked 3, 9 | 6, 1, 7, 4, 2, 8, 0, 5: the first two ids hold 60 of 82 counts, past half the mass
    assert layer.block_sizes == [2, 8]
    p0, p1 = 60 / 82 / 2, 22 / 82 / 8
    assert layer.block_dims == [16, round(16 * (p1 / p0) ** 0.5)] == [16, 5]
    block, row = layer.locate(torch.tensor([3, 9, 6, 5]))
    assert block.tolist() == [0, 0, 1, 1] and row.tolist() == [0, 1, 0, 7]
    assert layer.memory_bytes() == 4 * (2 * 16 + 8 * 5 + (16 + 5) * 16 + 10)  # rows, projections, ranks
    flat = MixedDimEmbedding(10, 16, base_dim=16, num_blocks=2, alpha=0.0, frequencies=counts)
    assert flat.block_dims == [16, 16]  # alpha 0: one width, a low-dimensional table in blocks


def test_alpha_power_dims_and_blocks_by_hand():
    assert alpha_power_dims(np.array([0.1, 0.01, 0.001]), 32, 0.5) == [32, 10, 3]
    assert alpha_power_dims(np.array([0.1, 0.01, 0.0]), 8, 0.3) == [8, 4, 1]
    order, sizes, probabilities = frequency_blocks(np.ones(12), 3)
    assert sizes.tolist() == [4, 4, 4] and np.allclose(probabilities, 1 / 12)
    _, sizes, _ = frequency_blocks(np.array([100.0, 1, 1, 1]), 4)  # one id holds the mass: fewer blocks
    assert sizes.sum() == 4 and len(sizes) < 4


def test_mixed_dim_sizes_to_a_ratio_and_gradients_reach_only_used_blocks():
    layer = MixedDimEmbedding(N, 32, compression_ratio=0.2, frequencies=zipf_counts(), init_seed=0)
    used = 4 * (sum(n * d for n, d in zip(layer.block_sizes, layer.block_dims)) + 32 * sum(layer.block_dims))
    assert used <= 0.2 * N * 32 * 4 < used + 4 * (N + 32)  # the widest head that fits (a step: ~a column)
    assert layer.block_dims == sorted(layer.block_dims, reverse=True) and layer.block_dims[0] == layer.base_dim
    tail = int(np.argmin(zipf_counts()))
    (layer(torch.tensor([tail])) * torch.randn(32)).sum().backward()
    block, row = layer.locate(torch.tensor([tail]))
    tables = layer.block_tables()
    assert int(block) == len(tables) - 1
    touched = torch.nonzero(layer.weight.grad.flatten()).flatten()
    start = sum(n * d for n, d in zip(layer.block_sizes[:-1], layer.block_dims[:-1]))
    d = layer.block_dims[-1]
    assert touched.tolist() == list(range(start + int(row) * d, start + (int(row) + 1) * d))
    assert int(torch.count_nonzero(layer.projection.grad)) == d * 32  # only the tail block's projection


# ---------------------------------------------------------------------------------------------------
# double_hash
# ---------------------------------------------------------------------------------------------------
def test_double_hash_gives_the_k_most_frequent_ids_their_own_rows():
    counts = zipf_counts()
    layer = DoubleHashEmbedding(N, DIM, num_rows=100, num_frequent=30, frequencies=counts, init_seed=0)
    top = np.sort(np.argsort(-counts, kind="stable")[:30])
    assert layer.frequent_ids.tolist() == top.tolist() and layer.num_buckets == 70
    rows = layer.row_indices(torch.arange(N))
    own = rows[torch.from_numpy(top)]
    assert sorted(own[:, 0].tolist()) == list(range(30)) and set(own[:, 1].tolist()) == {layer.num_rows - 1}
    others = np.setdiff1d(np.arange(N), top)
    shared = rows[torch.from_numpy(others)]
    assert int(shared.min()) >= 30 and int(shared.max()) < 100  # K + [0, m)
    # an own row is read by nothing else, and a frequent id's gradient reaches its row only
    assert not set(own[:, 0].tolist()) & set(shared.flatten().tolist())
    (layer(torch.from_numpy(top[:1])) * torch.randn(1, DIM)).sum().backward()
    assert torch.nonzero(layer.weight.grad.abs().sum(1)).flatten().tolist() == [int(own[0, 0])]
    assert layer.memory_bytes() == 101 * DIM * 4 + 30 * 4 + N * 2 * 4


def test_double_hash_defaults_and_padding_never_frequent():
    layer = DoubleHashEmbedding(N, DIM, compression_ratio=0.2)
    assert (layer.num_frequent, layer.num_buckets) == (50, 50)
    assert layer.frequent_ids.tolist() == list(range(50))  # no counts: id order is the popularity rank
    counts = np.zeros(N)
    counts[7] = 1e6
    padded = DoubleHashEmbedding(N, DIM, num_rows=10, frequencies=counts, padding_idx=7)
    assert 7 not in padded.frequent_ids.tolist()
    assert torch.count_nonzero(padded(torch.tensor([7]))) == 0


# ---------------------------------------------------------------------------------------------------
# int8
# ---------------------------------------------------------------------------------------------------
def test_int8_fake_quantisation_passes_gradients_straight_through():
    layer = Int8Embedding(N, DIM, init_seed=0)
    ids = torch.tensor([[4, 4, 9], [0, 17, 9]])
    upstream = torch.randn(*ids.shape, DIM, generator=torch.Generator().manual_seed(1))
    (layer(ids) * upstream).sum().backward()
    expected = torch.zeros(N, DIM).index_add_(0, ids.flatten(), upstream.reshape(-1, DIM))
    torch.testing.assert_close(layer.weight.grad, expected)  # d out / d master = identity (STE)


def test_int8_error_bound_and_stored_form():
    layer = Int8Embedding(N, DIM, init_seed=0)
    with torch.no_grad():
        layer.weight.mul_(torch.logspace(-3, 2, N).unsqueeze(1))  # rows of very different scales
        out = layer(torch.arange(N))
    amax = layer.weight.detach().abs().amax(1, keepdim=True)
    error = (out - layer.weight.detach()).abs()
    assert bool((error <= amax / 254 * (1 + 2**-15)).all())  # half a step of max|row| / 127
    # the scale is max|row| / 127 rounded up to 17 bits: the largest element is off by at most 2**-16
    torch.testing.assert_close(out.abs().amax(1, keepdim=True), amax, rtol=2**-16, atol=0)
    state = layer.state_dict()
    assert set(state) == {"codes", "scale"} and state["codes"].dtype == torch.int8
    assert state["scale"].dtype == torch.float32 and state["scale"].shape == (N,)
    assert layer.memory_bytes() == N * DIM + 4 * N
    assert layer.training_memory_bytes() == layer.memory_bytes() + N * DIM * 4
    torch.testing.assert_close(dequantize_rows(state["codes"], state["scale"]), out, rtol=0, atol=0)
    codes, scale = quantize_rows(dequantize_rows(state["codes"], state["scale"]))
    assert torch.equal(codes, state["codes"]) and torch.equal(scale, state["scale"])  # idempotent


def test_int8_with_a_ratio_below_its_own_size_projects():
    full = Int8Embedding(1000, 32)
    assert full.projection is None and full.compression() == pytest.approx(1 / 4 + 1 / 32)
    small = Int8Embedding(1000, 32, compression_ratio=0.2)
    assert small.projection is not None and small.inner_dim == (0.2 * 1000 * 32 * 4 - 4000) // (1000 + 128)
    assert small.memory_bytes() == 1000 * small.inner_dim + 4000 + 4 * small.inner_dim * 32
    assert set(small.state_dict()) == {"codes", "scale", "projection"}


@pytest.mark.parametrize("method,size", [("lowdim", "inner_dim"), ("int8", "inner_dim"), ("mixed_dim", "base_dim")])
def test_a_ratio_below_one_column_builds_the_one_column_layer(method, size):
    # A spec's ratios are checked on a 10,000 x 4 probe table, where one column is already a quarter.
    layer = make_embedding(method, 10_000, 4, compression_ratio=0.05)
    assert getattr(layer, size) == 1 and layer.compression() > 0.05
    with pytest.raises(ValueError, match=r"smallest .* layer .* needs"):  # byte budgets stay strict
        size_for_budget(method, 10_000, 4, int(0.05 * 10_000 * 4 * 4))


@pytest.mark.parametrize("method,kwargs,match", [
    ("lowdim", {"inner_dim": 9}, r"inner_dim must be an int in \[1, 8\], got 9"),
    ("lowdim", {"compression_ratio": 0.2, "inner_dim": 2}, r"at most one of .*compression_ratio, inner_dim"),
    ("mixed_dim", {"alpha": -1}, r"alpha must be a finite number >= 0, got -1"),
    ("mixed_dim", {"num_blocks": 0}, r"num_blocks must be a positive int, got 0"),
    ("mixed_dim", {"frequencies": [1, 2]}, r"frequencies must have one count per id, shape \(500,\)"),
    ("double_hash", {"frequencies": -np.ones(N)}, r"frequencies must be finite and non-negative"),
    ("double_hash", {"frequencies": ["a"] * N}, r"frequencies must be numbers"),
    ("double_hash", {"num_rows": 10, "num_frequent": 10}, r"num_frequent must be in \[0, 9\]"),
    ("double_hash", {"index": "lazy"}, r"index must be one of \['table', 'on_the_fly'\]"),
])
def test_bad_arguments(method, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_embedding(method, N, DIM, **kwargs)


# ---------------------------------------------------------------------------------------------------
# Frequencies: from the training split, through the factory protocol, to the layers that use them
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", FREQUENCY_METHODS)
def test_frequencies_change_the_layer(method):
    by_id = make_embedding(method, N, DIM, init_seed=0)
    counted = make_embedding(method, N, DIM, init_seed=0, frequencies=zipf_counts())
    ids = torch.arange(N)
    assert not torch.equal(by_id(ids), counted(ids))
    assert "training counts" in repr(counted) and "id order" in repr(by_id)
    assert counted.prepare_seconds > 0


def test_build_embedding_passes_counts_only_to_factories_that_use_them():
    def refuse() -> np.ndarray:
        raise AssertionError("counted for a method that does not use counts")

    for method in ("full", "lowdim", "int8", "bloom"):
        build_embedding(embedding_factory(method), N, DIM, None, False, refuse)
    build_embedding(lambda n, d, pad: torch.nn.Embedding(n, d), N, DIM, None, False, refuse)  # 3 arguments
    counts = zipf_counts()
    layer = build_embedding(embedding_factory("double_hash", num_rows=40), N, DIM, None, True, lambda: counts)
    assert layer.sparse and layer.frequent_ids.tolist() == np.sort(np.argsort(-counts, kind="stable")[:20]).tolist()
    with pytest.raises(TypeError, match=r"'lowdim' factory takes no \['frequencies'\]"):
        embedding_factory("lowdim")(N, DIM, frequencies=counts)


def test_factorization_counts_the_training_split_only():
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 40, 600), np.minimum(rng.zipf(1.5, 600) - 1, 49)
    items[400:] = 55  # held out: a rare training item is the most frequent overall
    items[0] = 55
    train = Interactions(users[:400], items[:400], num_users=40, num_items=60)
    model = ImplicitFactorizationModel(embedding_dim=8, embedding_factory=embedding_factory(
        "double_hash", num_rows=20, num_frequent=10))
    model.fit(train, epochs=1)  # the model sees nothing but the training split: no leakage by construction
    tables = model.embedding_tables()
    for role, ids, n in (("users", train.user_ids, 40), ("items", train.item_ids, 60)):
        expected = make_embedding("double_hash", n, 8, num_rows=20, num_frequent=10, frequencies=count_ids(ids, n))
        assert torch.equal(tables[role].frequent_ids, expected.frequent_ids), role
    everything = count_ids(items, 60)
    leaked = make_embedding("double_hash", 60, 8, num_rows=20, num_frequent=10, frequencies=everything)
    assert not torch.equal(tables["items"].frequent_ids, leaked.frequent_ids)  # the held-out counts differ


def test_sequence_nets_pass_item_counts_and_padding_ranks_last():
    counts = np.arange(30)[::-1].copy()  # item 0 (padding) would be the most frequent
    net = make_sequence_net("pooling", 30, 8, embedding_factory("mixed_dim", base_dim=8), False, lambda: counts)
    layer = net.item_embeddings
    assert layer.custom_frequencies and int(layer.rank[0]) == 29 and int(layer.rank[1]) == 0
    assert torch.count_nonzero(layer(torch.tensor([0]))) == 0


@pytest.mark.parametrize("method", ["lowdim", "mixed_dim", "double_hash", "int8"])
def test_factorization_trial_with_both_tables(method):
    synthetic = {"name": "synthetic", "synthetic": {"num_users": 60, "num_items": 80, "num_interactions": 3000,
                                                     "seed": 3}}
    record = run_trial({"dataset": synthetic, "model": {"embedding_dim": 8},
                        "embedding": {"method": method, "params": {"compression_ratio": 0.4}, "tables": "both"},
                        "training": {"epochs": 2, "batch_size": 256, "seed": 0}})
    assert len(record["loss"]) == 2 and np.isfinite(record["loss"]).all() and record["test"]["mrr"] > 0
    full = (60 + 80) * 8 * 4
    assert record["embedding_bytes"] <= 0.4 * full + 4 * (60 + 80) + 8 * (60 + 80) + 4 * 100  # + index buffers
    uses = getattr(get_method(method), "uses_frequencies", False)
    assert (record["prepare_seconds"] > 0) == uses
    if method == "int8":  # the float32 masters train but are not the stored form: counted in model_bytes
        assert record["model_bytes"] >= full + 4 * (60 + 80)  # masters + biases


@pytest.mark.parametrize("sparse", [False, True])
def test_mixed_dim_whole_table_projection_equals_the_per_block_lookup(monkeypatch, sparse):
    import bloombench.layers.mixed_dim as mixed_dim

    ids = torch.randint(0, N, (6, 50), generator=torch.Generator().manual_seed(4))
    results = []
    for share in (0, 10 ** 6):  # never / always project the whole table (sparse gradients: never)
        monkeypatch.setattr(mixed_dim, "_WHOLE_TABLE_SHARE", share)
        layer = MixedDimEmbedding(N, 32, compression_ratio=0.2, frequencies=zipf_counts(), padding_idx=int(ids[0, 0]),
                                  sparse=sparse, init_seed=0)
        out = layer(ids)
        (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
        results.append((out.detach(), [p.grad.to_dense() if p.grad.is_sparse else p.grad for p in layer.parameters()]))
    (blocks, block_grads), (whole, whole_grads) = results
    torch.testing.assert_close(whole, blocks, rtol=1e-5, atol=1e-7)
    assert torch.count_nonzero(whole[ids == ids[0, 0]]) == 0
    for a, b in zip(whole_grads, block_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
