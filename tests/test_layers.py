"""Embedding layers: shapes, state, devices, bytes, gradients, padding, fused == slow paths, errors,
sizing to a budget."""

from __future__ import annotations

import copy
import hashlib
import inspect
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from bloombench.hashing import bucket_ids, derive_seeds, hash_ids
from bloombench.layers import (
    BloomEmbedding,
    FullEmbedding,
    HashCoFiEmbedding,
    HashEmbedding,
    HashingTrickEmbedding,
    QREmbedding,
    available_methods,
    embedding_factory,
    get_method,
    make_embedding,
    make_embedding_for_budget,
    size_for_budget,
)
from layer_reference import slow_forward, touched_rows

N, DIM = 500, 8

# The generic (contract) tests run every registered method with the examples it declares, so a new method
# is tested here without an edit; the extra configurations reach features the examples do not.
# Methods built but not registered yet are tested like registered ones (the fixture registers them).
_CLASSES = {method: get_method(method) for method in available_methods()}
REGISTERED = {label: (method, params) for method, cls in _CLASSES.items() for label, params in cls.examples.items()}
EXTRA = {
    "bloom_mean": ("bloom", {"compression_ratio": 0.2, "num_hashes": 4, "mode": "mean"}),
    "bloom_sum_otf": ("bloom", {"num_buckets": 60, "num_hashes": 3, "mode": "sum", "index": "on_the_fly"}),
    "hashcofi_table": ("hashcofi", {"compression_ratio": 0.25, "index": "table"}),
    "qr_mult": ("qr", {"combine": "mult"}),
    "qr_concat": ("qr", {"combine": "concat", "num_buckets": 30}),
    "qr_add": ("qr", {"combine": "add", "compression_ratio": 0.3}),
}
CONFIGS = {**REGISTERED, **EXTRA}
HASHED = [name for name, (method, _) in CONFIGS.items() if _CLASSES[method].hashed]


def build(name: str, *, n: int | None = N, dim: int = DIM, init: int = 7, **overrides: object):
    method, params = CONFIGS[name]
    seed_arg = {"seed": init} if method == "full" else {"init_seed": init}
    return make_embedding(method, n, dim, **{**params, **seed_arg, **overrides})


def rand_ids(shape: tuple[int, ...], n: int = N, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, n, shape, generator=torch.Generator().manual_seed(seed))


def hand_bytes(layer: torch.nn.Module) -> int:
    """Parameters + persistent buffers: exactly what state_dict holds."""
    return sum(t.numel() * t.element_size() for t in layer.state_dict().values())


def index_buffers(layer: torch.nn.Module) -> dict[str, torch.Tensor]:
    params = dict(layer.named_parameters())
    return {k: v for k, v in layer.state_dict().items() if k not in params}


# ---------------------------------------------------------------------------------------------------
# Shapes, state, copies, devices
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 4), (0,)])
def test_output_shape_any_ids_shape(name, shape):
    layer = build(name)
    out = layer(rand_ids(shape))
    assert out.shape == (*shape, DIM)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("name", CONFIGS)
def test_fused_forward_equals_gather_reference(name):
    layer = build(name)
    with torch.no_grad():  # move weights off their init so a wrong reduction cannot match by luck
        for p in layer.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) * 0.1)
    ids = rand_ids((6, 7))
    expected = slow_forward(layer, ids)
    if expected is None:
        pytest.skip(f"no unfused reference for {type(layer).__name__} in slow_forward")
    torch.testing.assert_close(layer(ids), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", CONFIGS)
def test_state_dict_round_trip_into_fresh_layer(name):
    src, dst = build(name, init=1), build(name, init=2)
    ids = rand_ids((50,))
    assert not torch.equal(src(ids), dst(ids))
    dst.load_state_dict(src.state_dict())
    assert torch.equal(src(ids), dst(ids))


@pytest.mark.parametrize("name", CONFIGS)
def test_deepcopy_is_independent_and_equal(name):
    layer = build(name)
    twin = copy.deepcopy(layer)
    ids = rand_ids((40,))
    assert torch.equal(layer(ids), twin(ids))
    with torch.no_grad():
        next(twin.parameters()).add_(1.0)
    assert not torch.equal(layer(ids), twin(ids))


@pytest.mark.parametrize("name", ["bloom_mean", "hashing_trick", "hashcofi_table", "hash_embedding"])
def test_index_tables_are_persistent_buffers(name):
    layer = build(name)
    buffers = index_buffers(layer)
    assert buffers and set(buffers) <= dict(layer.named_buffers()).keys()
    assert all(b.dtype in (torch.int32, torch.int8) for b in buffers.values())
    assert {b.shape[0] for b in buffers.values()} == {N}
    assert not index_buffers(build(name, index="on_the_fly"))


@pytest.mark.parametrize("name", CONFIGS)
def test_to_dtype_converts_weights_not_indices(name):
    layer = build(name)
    ids = rand_ids((30,))
    expected = layer(ids).double()
    index_dtypes = {k: b.dtype for k, b in layer.named_buffers()}
    layer.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in layer.parameters())
    assert {k: b.dtype for k, b in layer.named_buffers()} == index_dtypes
    out = layer(ids)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", CONFIGS)
def test_to_cuda_moves_everything_and_matches_cpu(name):
    layer = build(name)
    ids = rand_ids((4, 9))
    expected = layer(ids)
    layer.to("cuda")
    assert all(t.device.type == "cuda" for t in [*layer.parameters(), *layer.buffers()])
    out = layer(ids.cuda())
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), expected)


# ---------------------------------------------------------------------------------------------------
# Bytes
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CONFIGS)
def test_memory_bytes_is_params_plus_buffers_and_estimate_agrees(name):
    layer = build(name, padding_idx=3)
    assert layer.memory_bytes() == hand_bytes(layer)
    method, params = CONFIGS[name]
    assert get_method(method).estimate_memory_bytes(N, DIM, **params, padding_idx=3) == layer.memory_bytes()
    assert f"bytes {layer.memory_bytes():,} vs full {N * DIM * 4:,}" in repr(layer)


def test_bloom_bytes_hand_formula_and_below_full():
    n, dim, k = 10_000, 32, 4
    layer = BloomEmbedding(n, dim, compression_ratio=0.2, num_hashes=k, padding_idx=0)
    m = 2000
    assert layer.num_buckets == m and layer.weight.shape == (m + 1, dim)
    assert layer.index_map.table.dtype == torch.int32
    assert layer.memory_bytes() == (m + 1) * dim * 4 + n * k * 4
    assert layer.memory_bytes() < FullEmbedding(n, dim).memory_bytes() == n * dim * 4
    assert BloomEmbedding(n, dim, index="on_the_fly").memory_bytes() == m * dim * 4


def test_memory_bytes_counts_persistent_buffers_only():
    layer = BloomEmbedding(100, 4, num_buckets=10)
    before = layer.memory_bytes()
    assert before == 10 * 4 * 4 + 100 * 4 * 4
    layer.register_buffer("scratch", torch.zeros(1000), persistent=False)
    assert layer.memory_bytes() == before
    layer.register_buffer("kept", torch.zeros(10, dtype=torch.float64))
    assert layer.memory_bytes() == before + 80


# ---------------------------------------------------------------------------------------------------
# Gradients and padding
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["bloom_mean", "bloom_sum_otf", "hashing_trick", "hash_embedding",
                                  "hashcofi"])
def test_gradients_reach_only_hashed_rows(name):
    layer = build(name)
    ids = rand_ids((2, 10))
    upstream = torch.randn(*ids.shape, DIM, generator=torch.Generator().manual_seed(1))
    (layer(ids) * upstream).sum().backward()
    expected = set(layer.hashed_indices(ids).flatten().tolist())
    assert touched_rows(layer.weight.grad) == expected
    assert len(expected) < layer.weight.shape[0]


def test_gradients_reach_only_looked_up_rows_full_and_qr():
    ids = rand_ids((25,))
    full = build("full")
    full(ids).sum().backward()
    assert touched_rows(full.weight.grad) == set(ids.tolist())
    qr = build("qr_mult")
    (qr(ids) * torch.randn(25, DIM)).sum().backward()
    assert touched_rows(qr.quotient.grad) == set((ids // qr.num_buckets).tolist())
    assert touched_rows(qr.remainder.grad) == set((ids % qr.num_buckets).tolist())


@pytest.mark.parametrize("name", ["full", "bloom_mean", "bloom_sum_otf", "hashing_trick"])
def test_padding_row_is_zero_gets_no_gradient_and_stays_zero(name):
    pad = 4
    layer = build(name, padding_idx=pad)
    pad_row = pad if name == "full" else layer.num_buckets  # Bloom: the extra row m, outside [0, m)
    assert layer.weight.shape[0] == (N if name == "full" else layer.num_buckets + 1)
    assert torch.count_nonzero(layer.weight[pad_row]) == 0
    ids = torch.tensor([[pad, 1, 2], [pad, pad, 9]])
    if name != "full":
        assert set(layer.hashed_indices(torch.tensor([pad])).flatten().tolist()) == {pad_row}
        real = layer.hashed_indices(torch.arange(N)[torch.arange(N) != pad])
        assert int(real.max()) < layer.num_buckets  # no real id reaches the padding row
    out = layer(ids)
    assert torch.count_nonzero(out[ids == pad]) == 0
    optimizer = torch.optim.SGD(layer.parameters(), lr=1.0)
    (out * torch.randn(out.shape)).sum().backward()
    assert torch.count_nonzero(layer.weight.grad[pad_row]) == 0
    optimizer.step()
    assert torch.count_nonzero(layer.weight[pad_row]) == 0


@pytest.mark.parametrize("name", ["hashcofi", "hashcofi_table", "hash_embedding", "qr_mult", "qr_concat", "lowdim",
                                  "mixed_dim", "double_hash", "double_hash_on_the_fly", "int8", "int8_projected"])
def test_padding_id_outputs_zero_and_sends_no_gradient(name):
    pad = 0
    layer = build(name, padding_idx=pad)
    out = layer(torch.tensor([pad, pad]))
    assert torch.count_nonzero(out) == 0
    (out * torch.randn(out.shape)).sum().backward()
    assert all(torch.count_nonzero(p.grad) == 0 for p in layer.parameters())
    assert torch.count_nonzero(layer(torch.tensor([1, 2]))) > 0


# ---------------------------------------------------------------------------------------------------
# Index computation: independent reference, on the fly == table, determinism across processes
# ---------------------------------------------------------------------------------------------------
def test_bloom_index_table_matches_hashing_module():
    seed, k, m = 11, 3, 97
    layer = BloomEmbedding(N, DIM, num_buckets=m, num_hashes=k, seed=seed, hash="xxh64")
    ids = np.arange(N)
    expected = np.stack([bucket_ids(ids, seed=s, num_buckets=m, name="xxh64")
                         for s in derive_seeds(seed, k)], 1)
    assert np.array_equal(layer.index_map.table.numpy(), expected)


def test_hashcofi_positions_and_independent_signs_match_hashing_module():
    layer = HashCoFiEmbedding(N, DIM, num_parameters=1000, seed=5)
    pos_seed, sign_seed = derive_seeds(5, 2)
    keys = np.arange(20)[:, None] * DIM + np.arange(DIM)
    assert np.array_equal(layer.hashed_indices(torch.arange(20)).numpy(),
                          bucket_ids(keys, seed=pos_seed, num_buckets=1000))
    signs = 1 - 2 * (hash_ids(keys, seed=sign_seed) % 2).astype(np.int64)
    assert np.array_equal(layer.signs(torch.arange(20)).numpy(), signs)
    # the sign is not the position hash's own bit
    assert not np.array_equal(signs, 1 - 2 * (hash_ids(keys, seed=pos_seed) % 2).astype(np.int64))


def test_hashcofi_dense_and_sparse_gradients_agree():
    # The dense path gathers with index_select, the sparse one with F.embedding: same values, same gradient.
    dense, sparse = (HashCoFiEmbedding(N, DIM, num_parameters=300, seed=5, init_seed=1, sparse=s)
                     for s in (False, True))
    ids = torch.randint(0, N, (64, 3), generator=torch.Generator().manual_seed(0))
    weights = torch.randn(64, 3, DIM, generator=torch.Generator().manual_seed(1))
    outputs = [layer(ids) for layer in (dense, sparse)]
    assert torch.equal(outputs[0], outputs[1])
    for out in outputs:
        (out * weights).sum().backward()
    assert torch.allclose(dense.weight.grad, sparse.weight.grad.to_dense(), atol=1e-5)


def test_hash_embedding_uses_k_plus_one_derived_seeds():
    layer = HashEmbedding(N, DIM, num_buckets=50, num_weight_rows=40, num_hashes=3, seed=9)
    seeds = derive_seeds(9, 4)
    ids = np.arange(N)
    expected = np.stack([bucket_ids(ids, seed=s, num_buckets=50) for s in seeds[:3]], 1)
    assert np.array_equal(layer.hashed_indices(torch.arange(N)).numpy(), expected)
    assert np.array_equal(layer.weight_map.table[:, 0].numpy(),
                          bucket_ids(ids, seed=seeds[3], num_buckets=40))


@pytest.mark.parametrize("name", ["bloom_mean", "hashing_trick", "hashcofi_table", "hash_embedding"])
def test_on_the_fly_equals_table(name):
    table = build(name, index="table", padding_idx=2)
    otf = build(name, index="on_the_fly", padding_idx=2)
    assert otf.memory_bytes() == sum(p.numel() * 4 for p in otf.parameters())
    ids = rand_ids((7, 9))
    ids[0, 0] = 2
    assert torch.equal(table.hashed_indices(ids), otf.hashed_indices(ids))
    torch.testing.assert_close(table(ids), otf(ids))


def test_index_table_identical_across_processes():
    code = ("import hashlib, torch; from bloombench.layers import BloomEmbedding; "
            "t = BloomEmbedding(3000, 4, num_buckets=777, num_hashes=4, seed=123).index_map.table; "
            "print(hashlib.sha256(t.numpy().tobytes()).hexdigest())")
    here = hashlib.sha256(
        BloomEmbedding(3000, 4, num_buckets=777, num_hashes=4, seed=123).index_map.table.numpy().tobytes()
    ).hexdigest()
    # this process runs with whatever PYTHONHASHSEED pytest got; the child with a fixed, different one
    hash_seed = "1" if os.environ.get("PYTHONHASHSEED") == "4242" else "4242"
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == here


# ---------------------------------------------------------------------------------------------------
# Method-specific behaviour
# ---------------------------------------------------------------------------------------------------
def test_bloom_ratio_one_is_a_full_table():
    bloom = BloomEmbedding(N, DIM, compression_ratio=1.0, num_hashes=4, padding_idx=0, init_seed=5)
    full = FullEmbedding(N, DIM, padding_idx=0, seed=5)
    assert bloom.identity and not index_buffers(bloom)
    assert bloom.memory_bytes() == full.memory_bytes()
    ids = rand_ids((33,))
    assert torch.equal(bloom(ids), full(ids))
    assert torch.equal(bloom.hashed_indices(ids).squeeze(-1), ids)


def test_full_seed_and_init_seed_are_one_seed():
    assert torch.equal(FullEmbedding(N, DIM, seed=3).weight, FullEmbedding(N, DIM, init_seed=3).weight)
    with pytest.raises(ValueError, match=r"got seed=3, init_seed=4"):
        FullEmbedding(N, DIM, seed=3, init_seed=4)


def test_hashing_trick_is_bloom_with_one_hash():
    trick = HashingTrickEmbedding(N, DIM, num_buckets=80, seed=4, init_seed=1)
    bloom = BloomEmbedding(N, DIM, num_buckets=80, num_hashes=1, seed=4, mode="sum", init_seed=1)
    ids = rand_ids((20,))
    assert torch.equal(trick.hashed_indices(ids), bloom.hashed_indices(ids))
    assert torch.equal(trick(ids), bloom(ids))


def test_bloom_adding_a_hash_keeps_the_others():
    k3 = BloomEmbedding(N, DIM, num_buckets=90, num_hashes=3, seed=2).index_map.table
    k5 = BloomEmbedding(N, DIM, num_buckets=90, num_hashes=5, seed=2).index_map.table
    assert torch.equal(k5[:, :3], k3)


def test_bloom_mean_with_padding_row_is_empty_bag():
    layer = BloomEmbedding(N, DIM, num_buckets=50, mode="mean", padding_idx=7)
    assert torch.count_nonzero(layer(torch.tensor(7))) == 0


@pytest.mark.parametrize("name", ["bloom_sum_otf", "hashcofi", "hash_embedding"])
def test_open_vocabulary_accepts_any_non_negative_id(name):
    size = {"bloom_sum_otf": {}, "hashcofi": {"num_parameters": 300, "compression_ratio": None},
            "hash_embedding": {"num_buckets": 40, "compression_ratio": None}}[name]
    layer = build(name, n=None, index="on_the_fly", **size)
    huge = torch.tensor([10**12, 2**40 + 3])
    out = layer(huge)
    assert out.shape == (2, DIM) and torch.isfinite(out).all()
    assert layer.memory_bytes() == sum(p.numel() * 4 for p in layer.parameters())
    assert "open vocabulary" in repr(layer)
    with pytest.raises(ValueError, match=r"ids must be in \[0, .*min -1"):
        layer(torch.tensor([-1, 3]))


@pytest.mark.parametrize("name", CONFIGS)
def test_init_scale_matches_full_table(name):
    layer = build(name, n=4000, dim=32, init=0)
    with torch.no_grad():
        std = float(layer(torch.arange(4000)).std())
    assert abs(std * 32 - 1.0) < 0.1, std * 32


def test_spotlight_style_init_option_and_sum_scale():
    layer = BloomEmbedding(4000, 32, num_buckets=4000, num_hashes=4, mode="sum", init_std=1 / 32, init_seed=0)
    assert abs(float(layer.weight.detach().std()) * 32 - 1) < 0.05
    assert abs(float(layer(torch.arange(4000)).detach().std()) * 32 - 2) < 0.2  # sqrt(k) larger


def test_init_seed_reproducible_and_global_rng_otherwise():
    assert torch.equal(build("bloom_mean", init=3).weight, build("bloom_mean", init=3).weight)
    torch.manual_seed(0)
    a = BloomEmbedding(N, DIM).weight.detach().clone()
    torch.manual_seed(0)
    assert torch.equal(a, BloomEmbedding(N, DIM).weight)


@pytest.mark.parametrize("combine,std_expected", [("mult", 1.0), ("add", 1.0), ("concat", 1.0)])
def test_qr_gives_unique_pairs_and_sizes(combine, std_expected):
    layer = QREmbedding(1000, 16, combine=combine)
    assert layer.num_buckets == 32 and layer.quotient.shape[0] == 32  # ceil(sqrt(1000)), ceil(1000/32)
    ids = torch.arange(1000)
    pairs = set(zip((ids // 32).tolist(), (ids % 32).tolist()))
    assert len(pairs) == 1000
    sized = QREmbedding(1000, 16, compression_ratio=0.2, combine=combine)
    budget_rows = int(0.2 * 1000 * (2 if combine == "concat" else 1))
    rows = sized.num_rows
    assert rows <= budget_rows
    m = sized.num_buckets
    assert m + 1 + -(-1000 // (m + 1)) > budget_rows  # the next m would not fit


# ---------------------------------------------------------------------------------------------------
# Sparse gradients
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CONFIGS)
def test_sparse_gradients_and_sparse_adam(name):
    layer = build(name, sparse=True)
    before = [p.detach().clone() for p in layer.parameters()]
    ids = rand_ids((16,))
    optimizer = torch.optim.SparseAdam(list(layer.parameters()), lr=0.01)
    (layer(ids) * torch.randn(16, DIM)).sum().backward()
    assert all(p.grad.is_sparse for p in layer.parameters())
    dense = [p.grad.to_dense() for p in layer.parameters()]
    optimizer.step()
    for old, new, grad in zip(before, layer.parameters(), dense):
        changed = (old != new.detach()).reshape(old.shape[0], -1).any(1)
        assert changed.any()
        assert set(torch.nonzero(changed).flatten().tolist()) <= touched_rows(grad)


@pytest.mark.parametrize("name", ["bloom_mean", "hashcofi", "hash_embedding", "qr_add", "full", "lowdim", "mixed_dim",
                                  "double_hash", "int8_projected"])
def test_sparse_and_dense_gradients_agree(name):
    dense, sparse = build(name), build(name, sparse=True)
    ids, upstream = rand_ids((12,)), torch.randn(12, DIM)
    for layer in (dense, sparse):
        (layer(ids) * upstream).sum().backward()
    for p, q in zip(dense.parameters(), sparse.parameters()):
        torch.testing.assert_close(p.grad, q.grad.to_dense())


# ---------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CONFIGS)
def test_bad_ids(name):
    layer = build(name)
    with pytest.raises(TypeError, match="ids must have an integer dtype.*float32"):
        layer(torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="ids must have an integer dtype.*bool"):
        layer(torch.tensor([True]))
    with pytest.raises(TypeError, match="ids must be a torch.Tensor"):
        layer([1, 2])
    with pytest.raises(ValueError, match=rf"ids must be in \[0, {N}\).*min 0, max {N}"):
        layer(torch.tensor([0, N]))
    with pytest.raises(ValueError, match=rf"ids must be in \[0, {N}\).*min -3"):
        layer(torch.tensor([[-3, 1]]))
    assert layer(torch.tensor([1, 2], dtype=torch.int32)).shape == (2, DIM)
    assert layer(torch.tensor([1, 2], dtype=torch.uint8)).shape == (2, DIM)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"compression_ratio": 0}, ValueError, r"compression_ratio must be a number in \(0, 1\], got 0"),
    ({"compression_ratio": -0.1}, ValueError, r"compression_ratio .*got -0.1"),
    ({"compression_ratio": 1.5}, ValueError, r"compression_ratio .*got 1.5"),
    ({"compression_ratio": True}, ValueError, r"compression_ratio .*got True"),
    ({"compression_ratio": 0.001}, ValueError, r"gives num_buckets=0"),
    ({"compression_ratio": 0.2, "num_buckets": 10}, ValueError,
     r"at most one of .*compression_ratio, num_buckets"),
    ({"num_hashes": 0}, ValueError, r"num_hashes must be a positive int, got 0"),
    ({"num_buckets": 5, "num_hashes": 6}, ValueError, r"num_hashes must be in \[1, num_buckets=5\], got 6"),
    ({"hash": "nope"}, ValueError, r"hash must be one of \[.*'murmur3'.*got 'nope'"),
    ({"seed": -1}, ValueError, r"seed must be an int in \[0, 4294967295\].*got -1"),
    ({"seed": 2**32}, ValueError, r"seed must be an int in \[0, 4294967295\]"),
    ({"seed": 1.5}, TypeError, r"seed must be an int"),
    ({"mode": "max"}, ValueError, r"mode must be one of \['mean', 'sum'\], got 'max'"),
    ({"index": "lazy"}, ValueError, r"index must be one of \['table', 'on_the_fly'\], got 'lazy'"),
    ({"padding_idx": 500}, ValueError, r"padding_idx must be in \[-500, 500\).*got 500"),
    ({"num_buckets": 0}, ValueError, r"num_buckets must be a positive int, got 0"),
    ({"padding_row": 0}, ValueError, r"padding_row needs a padding_idx"),
    ({"padding_row": 0, "padding_idx": 0}, ValueError, r"padding_row .*needs mode='sum'"),
    ({"seeds": [1, 2]}, ValueError, r"seeds must be 4 distinct seeds"),
    ({"init_seed": -2}, ValueError, r"init_seed must be an int in"),
])
def test_bloom_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        BloomEmbedding(N, DIM, **kwargs)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match=r"open vocabulary .*needs num_buckets"):
        BloomEmbedding(None, DIM, index="on_the_fly")
    with pytest.raises(ValueError, match=r"index='table' needs a finite num_embeddings"):
        BloomEmbedding(None, DIM, num_buckets=10)
    with pytest.raises(ValueError, match=r"hash 'random' is defined on a finite vocabulary"):
        BloomEmbedding(None, DIM, num_buckets=10, index="on_the_fly", hash="random")
    with pytest.raises(ValueError, match=r"combine must be one of \['mult', 'add', 'concat'\], got 'dot'"):
        QREmbedding(N, DIM, combine="dot")
    with pytest.raises(ValueError, match=r"concat' needs an even embedding_dim .*got 7"):
        QREmbedding(N, 7, combine="concat")
    with pytest.raises(ValueError, match=r"compression_ratio=0.01 allows 5 rows.*at least 45"):
        QREmbedding(N, DIM, compression_ratio=0.01)
    with pytest.raises(ValueError, match=r"num_embeddings must be a positive int, got None"):
        QREmbedding(None, DIM)
    with pytest.raises(ValueError, match=r"embedding_dim must be a positive int, got 0"):
        FullEmbedding(N, 0)
    with pytest.raises(ValueError, match=r"at most one of .*compression_ratio, num_parameters"):
        HashCoFiEmbedding(N, DIM, compression_ratio=0.1, num_parameters=10)
    with pytest.raises(ValueError, match=r"num_hashes must be in \[1, num_buckets=2\], got 3"):
        HashEmbedding(N, DIM, num_buckets=2, num_hashes=3)
    with pytest.raises(ValueError, match=r"ids must fit in int32|num_embeddings=.* exceeds"):
        BloomEmbedding(2**31 + 1, 1, num_buckets=4, hash="murmur3_int32", index="on_the_fly")
    with pytest.raises(ValueError, match=r"method must be one of \['full', 'bloom'.*got 'lsh'"):
        make_embedding("lsh", N, DIM)
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['num_hash'\]; accepted: .*num_hashes"):
        make_embedding("bloom", N, DIM, num_hash=3)


# ---------------------------------------------------------------------------------------------------
# Registry and budgets
# ---------------------------------------------------------------------------------------------------
def test_make_embedding_builds_every_method():
    classes = {"full": FullEmbedding, "bloom": BloomEmbedding, "hashing_trick": HashingTrickEmbedding,
               "hashcofi": HashCoFiEmbedding, "hash_embedding": HashEmbedding, "qr": QREmbedding}
    assert set(classes) <= set(available_methods())
    for method in available_methods():
        layer = make_embedding(method, N, DIM)
        assert type(layer) is get_method(method) and layer(torch.tensor([1, 2])).shape == (2, DIM)
        assert type(layer) is classes.get(method, type(layer))


@pytest.mark.parametrize("method", available_methods())
def test_every_method_declares_its_facts(method):
    cls = get_method(method)
    assert cls.examples, f"{method} declares no examples: the contract tests and the asv suite need one"
    assert isinstance(cls.hashed, bool) and all(isinstance(p, dict) for p in cls.examples.values())
    if cls.hashed:  # the spec varies a hashed method's seed per repeat: it must take one
        assert "seed" in inspect.signature(cls.__init__).parameters


def test_embedding_factory_matches_models_protocol():
    factory = embedding_factory("bloom", compression_ratio=0.5, num_hashes=2)
    layer = factory(N, DIM, 0, sparse=True)
    assert isinstance(layer, BloomEmbedding) and layer.padding_idx == 0 and layer.sparse
    assert layer.num_buckets == 250 and layer.num_hashes == 2
    with pytest.raises(TypeError, match="unknown argument"):
        embedding_factory("qr", num_hashes=2)


@pytest.mark.parametrize("method", [m for m in available_methods() if get_method(m).size_params])
@pytest.mark.parametrize("budget_share", [0.15, 0.3])
def test_size_for_budget_is_maximal_within_budget(method, budget_share):
    n, dim = 2000, 32  # Bloom's k=4 int32 table alone is 12.5% of a full dim-32 table
    budget = int(budget_share * n * dim * 4)
    size = size_for_budget(method, n, dim, budget)
    (knob, value), = size.items()
    layer = make_embedding(method, n, dim, **size)
    assert layer.memory_bytes() <= budget
    _, _, high = get_method(method).budget_knob(n, dim)
    assert value == high or get_method(method).estimate_memory_bytes(n, dim, **{knob: value + 1}) > budget
    assert make_embedding_for_budget(method, n, dim, budget).memory_bytes() == layer.memory_bytes()


def test_all_methods_fit_the_same_budget():
    n, dim, budget = 3000, 32, 3000 * 32 * 4 // 4  # a quarter of the full table
    for method in [m for m in available_methods() if m != "full"]:
        (knob, value), = size_for_budget(method, n, dim, budget).items()
        used = make_embedding(method, n, dim, **{knob: value}).memory_bytes()
        # within 10% of the budget, unless one knob step costs more (a table's width: n * 4 bytes a column)
        top = get_method(method).budget_knob(n, dim)[2] == value
        step = math.inf if top else get_method(method).estimate_memory_bytes(n, dim, **{knob: value + 1}) - used
        assert used <= budget < used + step and (used > budget * 0.9 or step > budget * 0.1), method
    # the index table is charged: Bloom k=4 keeps fewer rows than the hashing trick at equal bytes
    bloom = size_for_budget("bloom", n, dim, budget)["num_buckets"]
    assert bloom == (budget - n * 4 * 4) // (dim * 4)
    assert size_for_budget("bloom", n, dim, budget, index="on_the_fly")["num_buckets"] == budget // (dim * 4)


def test_size_for_budget_errors():
    with pytest.raises(ValueError, match=r"'full' needs 64,000 bytes, over budget_bytes=1,000"):
        size_for_budget("full", N, 32, 1000)
    assert size_for_budget("full", N, 32, 64_000) == {}
    with pytest.raises(ValueError, match=r"smallest 'bloom' layer \(num_buckets=4\) needs"):
        size_for_budget("bloom", N, 32, 100)
    with pytest.raises(ValueError, match=r"do not pass \['compression_ratio'\]"):
        size_for_budget("bloom", N, 32, 10_000, compression_ratio=0.2)
    with pytest.raises(ValueError, match=r"budget_bytes must be a positive int"):
        size_for_budget("bloom", N, 32, 0)


def test_bytes_ratio_sizes_every_method_to_a_share_of_the_full_tables_bytes():
    n, dim = 2000, 32
    full = n * dim * 4
    for method in [m for m in available_methods() if get_method(m).size_params]:
        layer = make_embedding(method, n, dim, bytes_ratio=0.25)
        assert layer.memory_bytes() == make_embedding_for_budget(method, n, dim, full // 4).memory_bytes(), method
        assert layer.memory_bytes() <= full // 4, method
    # through a model's factory too, with the table's padding row and sparse gradients passed on
    layer = embedding_factory("bloom", bytes_ratio=0.25, num_hashes=2, index="on_the_fly")(n, dim, 0, sparse=True)
    assert layer.memory_bytes() <= full // 4 and layer.padding_idx == 0 and layer.sparse
    assert make_embedding("full", n, dim, bytes_ratio=1.0).memory_bytes() == full


@pytest.mark.parametrize(("params", "error", "message"), [
    ({"bytes_ratio": 0.0}, ValueError, r"bytes_ratio must be a number in \(0, 1\], got 0.0"),
    ({"bytes_ratio": "0.2"}, ValueError, r"bytes_ratio must be a number in \(0, 1\]"),
    ({"bytes_ratio": 0.2, "compression_ratio": 0.2}, ValueError, r"give at most one of .*bytes_ratio"),
    ({"bytes_ratio": 0.001}, ValueError, r"smallest 'bloom' layer"),
])
def test_bytes_ratio_errors_name_the_argument(params, error, message):
    with pytest.raises(error, match=message):
        make_embedding("bloom", N, 32, **params)


def test_bytes_ratio_needs_a_finite_vocabulary():
    with pytest.raises(ValueError, match=r"bytes_ratio .* needs a finite num_embeddings, got None"):
        make_embedding("hashing_trick", None, 32, bytes_ratio=0.2, index="on_the_fly")


@pytest.mark.parametrize("name", ["bloom_sum_otf", "hashcofi"])
def test_on_the_fly_hashing_is_not_revalidated_at_every_call(name, monkeypatch):
    # The family, seeds and sizes are checked when the index is built; forward calls the unchecked kernels.
    from bloombench.hashing import registry, torch_ops, validation

    layer = build(name)
    ids = rand_ids((64,))
    expected = layer.hashed_indices(ids)

    def refuse(*args, **kwargs):
        raise AssertionError("hashing arguments re-checked on the hot path")

    monkeypatch.setattr(registry, "_REGISTRY", {})
    for module in (validation, torch_ops):
        monkeypatch.setattr(module, "check_int", refuse)
    torch.testing.assert_close(layer.hashed_indices(ids), expected, rtol=0, atol=0)


def test_hash_index_reads_the_largest_id_from_the_family_key_width():
    from bloombench.layers import HashIndex

    assert HashIndex(None, 10, [1], "murmur3_int32", index="on_the_fly").max_id == 2**31 - 1
    assert HashIndex(None, 10, [1], "xxh64", index="on_the_fly").max_id == 2**63 - 1
    assert HashIndex(None, 10, [1, 1], "murmur3_int32", index="on_the_fly", key_stride=4,
                     key_offsets=[0, 3]).max_id == (2**31 - 1 - 3) // 4


@pytest.mark.parametrize("name", HASHED)
def test_layers_pickle_with_their_resolved_hash_family(name):
    import pickle

    layer = build(name)
    ids = rand_ids((3, 5))
    clone = pickle.loads(pickle.dumps(layer))
    torch.testing.assert_close(clone(ids), layer(ids), rtol=0, atol=0)


@pytest.mark.parametrize("name", CONFIGS)
def test_ids_on_another_device_name_both_devices(name):
    layer = build(name)
    ids = torch.tensor([1, 2], device="meta")  # another device without a GPU
    with pytest.raises(ValueError, match=r"ids are on meta but the layer is on cpu; move one of them"):
        layer(ids)


def test_an_index_table_that_cannot_fit_is_refused_up_front(monkeypatch):
    with pytest.raises(MemoryError, match=r"index='table' for 10,000,000,000 ids x 4 hashes needs "
                                          r"160,000,000,000 bytes stored .* use index='on_the_fly'"):
        BloomEmbedding(10**10, 8, num_buckets=1000)
    import bloombench.layers.hash_index as hash_index

    monkeypatch.setattr(hash_index, "available_memory_bytes", lambda: 1_000_000)
    with pytest.raises(MemoryError, match="more than the 1,000,000 bytes of free memory"):
        BloomEmbedding(100_000, 8, num_buckets=1000)
    assert BloomEmbedding(100_000, 8, num_buckets=1000, index="on_the_fly").memory_bytes() == 1000 * 8 * 4
