"""ROBE-Z, DHE, TT-Rec and CCE: what the contract tests of test_layers.py cannot see (they run these
methods' examples too), the training loop's per-epoch hook, and a trial of each method."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from bloombench.experiments.trial import run_trial
from bloombench.hashing import bucket_ids, derive_seeds
from bloombench.layers import (
    CCEmbedding,
    DeepHashEmbedding,
    HashCoFiEmbedding,
    RobeEmbedding,
    TTEmbedding,
    make_embedding,
    size_for_budget,
)
from bloombench.models.training import FitOptions, between_epochs, train
from layer_reference import slow_forward, touched_rows, tt_dense_table

N, DIM = 300, 8
ALL_IDS = torch.arange(N)


def upstream(shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------------
# ROBE-Z
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", ["on_the_fly", "table"])
def test_robe_z1_is_hashcofi(index):
    robe = RobeEmbedding(N, DIM, num_parameters=500, block_size=1, seed=4, index=index, init_seed=2)
    cofi = HashCoFiEmbedding(N, DIM, num_parameters=500, seed=4, index=index, init_seed=2)
    assert torch.equal(robe.hashed_indices(ALL_IDS), cofi.hashed_indices(ALL_IDS))
    assert torch.equal(robe.signs(ALL_IDS), cofi.signs(ALL_IDS))
    assert torch.equal(robe(ALL_IDS), cofi(ALL_IDS))
    assert robe.memory_bytes() == cofi.memory_bytes()


def test_robe_blocks_are_contiguous_and_wrap_around():
    z, p, seed = 4, 37, 6
    layer = RobeEmbedding(N, DIM, num_parameters=p, block_size=z, seed=seed)
    positions = layer.hashed_indices(ALL_IDS).view(N, DIM // z, z)
    keys = np.arange(N)[:, None] * (DIM // z) + np.arange(DIM // z)
    starts = bucket_ids(keys, seed=derive_seeds(seed, 2)[0], num_buckets=p)
    assert np.array_equal(positions[..., 0].numpy(), starts)
    assert torch.equal(positions, (positions[..., :1] + torch.arange(z)) % p)
    assert (positions[..., 0] > p - z).any()  # some block wraps around the circular array


def _sketch_read_out(layer, values: torch.Tensor) -> torch.Tensor:
    """Store ``values`` in the layer's array (its transpose: ``w = A^T v``), then read every id (``A w``)."""
    layer.zero_grad()
    (layer(ALL_IDS) * values).sum().backward()
    with torch.no_grad():
        layer.weight.copy_(layer.weight.grad)
        return layer(ALL_IDS)


@pytest.mark.parametrize("block_size", [1, 4])
def test_robe_and_hashcofi_read_out_is_unbiased_at_the_same_budget(block_size):
    # ROBE-Z with Z=4 and HashCoFi (= ROBE-1) hold the same 600 floats; each element collides with several
    # others, but the independent signs make the collisions cancel on average over hash seeds.
    values = upstream((N, DIM))
    seeds = range(300)
    reads = torch.stack([_sketch_read_out(RobeEmbedding(N, DIM, num_parameters=600, block_size=block_size,
                                                        seed=s), values) for s in seeds])
    single = float((reads[0] - values).norm() / values.norm())
    averaged = float((reads.mean(0) - values).norm() / values.norm())
    assert single > 1.0  # one seed: collisions dominate
    assert averaged < 0.15 * single  # ~1/sqrt(300) of it: no bias left
    cofi = _sketch_read_out(HashCoFiEmbedding(N, DIM, num_parameters=600, seed=0), values)
    if block_size == 1:
        torch.testing.assert_close(cofi, reads[0])


def test_robe_errors():
    with pytest.raises(ValueError, match=r"block_size must divide embedding_dim=8, got 3"):
        RobeEmbedding(N, DIM, block_size=3)
    with pytest.raises(ValueError, match=r"open vocabulary .*needs num_parameters"):
        RobeEmbedding(None, DIM)
    with pytest.raises(ValueError, match=r"block_size must be in \[1, num_parameters=4\], got 8"):
        RobeEmbedding(N, DIM, num_parameters=4)


# ---------------------------------------------------------------------------------------------------
# DHE
# ---------------------------------------------------------------------------------------------------
def test_dhe_open_vocabulary_has_zero_growth():
    layers = [DeepHashEmbedding(n, DIM, hidden_dim=16, seed=3, init_seed=0) for n in (None, 100, 10**7)]
    assert len({layer.memory_bytes() for layer in layers}) == 1
    k, w = 32, 16
    assert layers[0].memory_bytes() == 4 * (k * w + w + w * w + w + w * DIM + DIM)
    assert set(layers[0].state_dict()) == {f"layers.{i}.{p}" for i in range(3) for p in ("weight", "bias")}
    open_layer = layers[0]
    huge = torch.tensor([10**15, 2**62, 5])
    out = open_layer(huge)
    assert out.shape == (3, DIM) and torch.isfinite(out).all()
    torch.testing.assert_close(out[2], layers[1](torch.tensor(5)))  # same seeds: same function of the id
    assert "open vocabulary" in repr(open_layer)
    with pytest.raises(ValueError, match=r"open vocabulary .*needs hidden_dim"):
        DeepHashEmbedding(None, DIM)


def test_dhe_encoding_comes_from_the_hash_families():
    layer = DeepHashEmbedding(N, DIM, hidden_dim=4, num_hashes=6, seed=9, hash="xxh64")
    buckets = np.stack([bucket_ids(np.arange(N), seed=s, num_buckets=10**6, name="xxh64")
                        for s in derive_seeds(9, 6)], 1)
    expected = 2 * (buckets + 0.5) / 10**6 - 1
    np.testing.assert_allclose(layer.encode(ALL_IDS).numpy(), expected, rtol=0, atol=1e-6)
    gaussian = DeepHashEmbedding(None, DIM, hidden_dim=4, num_hashes=64, encoding="gaussian").encode(
        torch.arange(20_000))
    assert abs(float(gaussian.mean())) < 0.02 and abs(float(gaussian.std()) - 1) < 0.02
    with pytest.raises(ValueError, match=r"gaussian' needs an even num_hashes"):
        DeepHashEmbedding(N, DIM, num_hashes=3, encoding="gaussian")


def test_dhe_gradients_reach_every_mlp_parameter_and_padding_none():
    layer = DeepHashEmbedding(N, DIM, hidden_dim=8, padding_idx=0, init_seed=1)
    out = layer(torch.tensor([0, 0]))
    assert torch.count_nonzero(out) == 0
    (out * upstream(out.shape)).sum().backward()
    assert all(torch.count_nonzero(p.grad) == 0 for p in layer.parameters())
    layer.zero_grad()
    (layer(torch.tensor([1, 2, 3])) * upstream((3, DIM))).sum().backward()
    assert all(torch.count_nonzero(p.grad) > 0 for p in layer.parameters())


def test_dhe_seed_changes_the_hashes_not_the_sizes():
    a, b = (DeepHashEmbedding(N, DIM, seed=s, init_seed=0) for s in (1, 2))
    assert a.memory_bytes() == b.memory_bytes()
    assert not torch.equal(a.encode(ALL_IDS), b.encode(ALL_IDS))


# ---------------------------------------------------------------------------------------------------
# TT-Rec
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,dim,cores", [(300, 8, 3), (1000, 12, 2), (97, 7, 3), (5000, 32, 4)])
def test_tt_rows_are_the_dense_product_of_the_cores(n, dim, cores):
    layer = TTEmbedding(n, dim, rank=3, num_cores=cores, init_seed=0)
    ns = [shape[0] for shape in layer.shapes]
    assert math.prod(ns) >= n and math.prod(ns[1:]) * (ns[0] - 1) < n  # no wasted first digit
    assert math.prod(d for _, _, d, _ in layer.shapes) == dim
    ids = torch.arange(n)
    torch.testing.assert_close(layer(ids), tt_dense_table(layer), rtol=1e-5, atol=1e-6)
    digits = layer.digits(ids)
    place = torch.tensor([math.prod(ns[k + 1:]) for k in range(cores)])
    assert torch.equal((digits * place).sum(-1), ids)
    assert layer.memory_bytes() == 4 * sum(math.prod(s) for s in layer.shapes)


def test_tt_gradients_reach_only_the_core_rows_of_the_ids_digits():
    layer = TTEmbedding(N, DIM, rank=4, init_seed=0)
    ids = torch.tensor([3, 150, 299])
    (layer(ids) * upstream((3, DIM))).sum().backward()
    digits = layer.digits(ids)
    for k, core in enumerate(layer.cores):
        assert touched_rows(core.grad) == set(digits[:, k].tolist())


def test_tt_rank_is_sized_to_the_budget_and_padding_is_masked():
    n, dim = 4000, 32
    budget = int(0.1 * n * dim * 4)
    (knob, rank), = size_for_budget("tt", n, dim, budget).items()
    assert knob == "rank" and TTEmbedding(n, dim, rank=rank).memory_bytes() <= budget
    assert TTEmbedding(n, dim, rank=rank + 1).memory_bytes() > budget
    assert TTEmbedding(n, dim, compression_ratio=0.1).rank == rank
    layer = TTEmbedding(N, DIM, rank=2, padding_idx=5)
    out = layer(torch.tensor([5, 5]))
    assert torch.count_nonzero(out) == 0
    with pytest.raises(ValueError, match=r"num_cores must be an int >= 2"):
        TTEmbedding(N, DIM, num_cores=1)
    with pytest.raises(ValueError, match=r"fewer than rank-1 TT cores"):
        TTEmbedding(N, DIM, compression_ratio=0.001)


@pytest.mark.parametrize("method,knob,cap", [("tt", "rank", "max_rank"),
                                             ("dhe", "hidden_dim", "max_hidden_dim")])
def test_compute_caps_bound_the_budgeted_size(method, knob, cap):
    n, dim, budget = 4000, 32, 4000 * 32 * 4 // 2
    assert size_for_budget(method, n, dim, budget)[knob] > 4
    assert size_for_budget(method, n, dim, budget, **{cap: 4}) == {knob: 4}
    assert getattr(make_embedding(method, n, dim, compression_ratio=0.5, **{cap: 4}), knob) == 4
    with pytest.raises(ValueError, match=rf"{knob} must be an int in \[1, 4\], got 5"):
        make_embedding(method, n, dim, **{knob: 5, cap: 4})


# ---------------------------------------------------------------------------------------------------
# CCE
# ---------------------------------------------------------------------------------------------------
def _trained_cce(seed: int = 0, **params: object) -> CCEmbedding:
    layer = CCEmbedding(N, DIM, num_buckets=12, num_chunks=2, seed=seed, init_seed=seed, **params)
    with torch.no_grad():  # give the ids structure worth clustering: 6 groups of similar vectors
        layer.table0.add_(upstream(layer.table0.shape, seed) * 0.1)
    return layer


def test_cce_recluster_changes_pointers_keeps_bytes_and_reads_centroids():
    layer = _trained_cce()
    before = layer.pointers.clone()
    bytes_before, dtypes = layer.memory_bytes(), [t.dtype for t in layer.state_dict().values()]
    vectors = layer(ALL_IDS).detach()
    layer.recluster()
    assert not torch.equal(layer.pointers[0], before[0]) and not torch.equal(layer.pointers[1], before[1])
    assert layer.memory_bytes() == bytes_before == 2 * 12 * DIM * 4 + 2 * N * 2 * 1  # uint8 pointers
    assert [t.dtype for t in layer.state_dict().values()] == dtypes
    assert torch.count_nonzero(layer.table1) == 0
    after = layer(ALL_IDS).detach()
    # every id now reads its cluster's centroid: the nearest of table 0's rows, chunk by chunk
    centroids = layer.table0.detach().view(12, 2, DIM // 2)
    for c in range(2):
        chunk = vectors.view(N, 2, -1)[:, c]
        nearest = torch.cdist(chunk, centroids[:, c]).argmin(1)
        assert torch.equal(layer.pointers[0, :, c].long(), nearest)
        torch.testing.assert_close(after.view(N, 2, -1)[:, c], centroids[nearest, c])
    # k-means beats the hashed start it replaced at approximating the vectors
    assert float((after - vectors).norm()) < 0.8 * float(vectors.norm())


def test_cce_reclustering_is_deterministic_given_the_seeds():
    a, b, c = _trained_cce(0), _trained_cce(0), _trained_cce(1)
    for layer in (a, b, c):
        layer.on_epoch_end()
        layer.on_epoch_end()
    assert a.num_reclusterings == 2
    assert torch.equal(a.pointers, b.pointers) and torch.equal(a.table0, b.table0)
    assert not torch.equal(a.pointers, c.pointers)


def test_cce_gradients_reach_only_pointed_rows_and_errors():
    layer = CCEmbedding(N, DIM, num_buckets=40, num_chunks=2, init_seed=0)
    ids = torch.tensor([4, 9, 200])
    (layer(ids) * upstream((3, DIM))).sum().backward()
    pointers = layer.pointed_rows(ids)
    for t, table in enumerate((layer.table0, layer.table1)):
        assert touched_rows(table.grad) == set((pointers[t] * 2 + torch.arange(2)).flatten().tolist())
    assert CCEmbedding(N, DIM, num_buckets=300).pointers.dtype == torch.int16
    with pytest.raises(ValueError, match=r"num_chunks must divide embedding_dim=8, got 3"):
        CCEmbedding(N, DIM, num_chunks=3)
    with pytest.raises(ValueError, match=r"cannot hold the pointers"):
        CCEmbedding(N, DIM, compression_ratio=0.05, num_chunks=4)


# ---------------------------------------------------------------------------------------------------
# The training loop's per-epoch hook
# ---------------------------------------------------------------------------------------------------
class _Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(3))
        self.calls: list[float] = []

    def on_epoch_end(self) -> None:
        self.calls.append(float(self.weight.detach().sum()))


def test_train_calls_on_epoch_end_between_epochs_only():
    inner = _Counting()
    net = nn.Sequential(nn.Identity(), inner)
    data = [torch.arange(10.0)]
    options = FitOptions(epochs=3, batch_size=4, lr=0.1, optimizer="sgd", device="cpu", progress=False)
    train(net, data, lambda batch, gen: (inner.weight.sum() - batch[0].sum()) ** 2, options)
    assert len(inner.calls) == 2  # after epochs 1 and 2, not after the last
    assert inner.calls[0] != 0  # called after training happened
    between_epochs(nn.Sequential(inner, inner))  # a module shared twice is called once
    assert len(inner.calls) == 3


def test_cce_reclusters_while_a_model_trains():
    layer = CCEmbedding(N, DIM, num_buckets=20, init_seed=0)
    pointers = layer.pointers.clone()
    ids = torch.arange(N)
    options = FitOptions(epochs=2, batch_size=100, lr=0.05, optimizer="adam", device="cpu", progress=False)
    train(layer, [ids], lambda batch, gen: (layer(batch[0]) - 1).pow(2).mean(), options)
    assert layer.num_reclusterings == 1 and not torch.equal(layer.pointers, pointers)


# ---------------------------------------------------------------------------------------------------
# A factorization trial with each method
# ---------------------------------------------------------------------------------------------------
SYNTHETIC = {"name": "synthetic",
             "synthetic": {"num_users": 120, "num_items": 150, "num_interactions": 3000, "seed": 3}}


@pytest.mark.parametrize("method,params", [("robe", {"block_size": 4}), ("dhe", {}), ("tt", {}), ("cce", {}),
                                           ("cce", {"num_chunks": 1})])
def test_factorization_trial_runs_with_each_method(method, params):
    config = {"dataset": SYNTHETIC, "model": {"embedding_dim": 8},
              "embedding": {"method": method, "params": {"compression_ratio": 0.25, **params}},
              "training": {"epochs": 2, "batch_size": 256, "seed": 0}}
    record = run_trial(config)
    assert 0 < record["test"]["mrr"] <= 1 and np.isfinite(record["loss"]).all()
    full = (120 + 150) * 8 * 4
    assert 0 < record["embedding_bytes"] <= 0.25 * full
    layer = make_embedding(method, 150, 8, compression_ratio=0.25, **params)
    assert slow_forward(layer, torch.arange(150)) is not None  # every method has its reference


@pytest.mark.parametrize("ids", [torch.tensor([3, 150, 299, 3]), torch.randint(0, N, (5, 40), generator=torch.Generator().manual_seed(2))])
def test_tt_whole_table_contraction_equals_the_per_id_chain(monkeypatch, ids):
    import bloombench.layers.tt as tt

    results = []
    for share in (0, 10 ** 6):  # never / always contract the whole table
        monkeypatch.setattr(tt, "_WHOLE_TABLE_SHARE", share)
        layer = TTEmbedding(N, DIM, rank=4, padding_idx=3, init_seed=0)
        out = layer(ids)
        (out * upstream(out.shape)).sum().backward()
        results.append((out.detach(), [core.grad for core in layer.cores]))
    (per_id, per_id_grads), (whole, whole_grads) = results
    torch.testing.assert_close(whole, per_id, rtol=1e-5, atol=1e-7)
    assert torch.count_nonzero(whole[ids == 3]) == 0  # padding still masked
    for a, b in zip(whole_grads, per_id_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
        assert set(torch.nonzero(a.abs().sum(1)).flatten().tolist()) == touched_rows(b)
