"""The open-vocabulary scenario: the lazy stream, the id map, the growing and LRU tables, prequential
evaluation, the stream model kind and its trial records."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bloombench.data import InteractionStream
from bloombench.evaluation import PrequentialLog, reciprocal_ranks
from bloombench.experiments.config import resolve_config
from bloombench.experiments.spec import load_spec
from bloombench.experiments.trial import run_trial
from bloombench.layers import GrowingEmbedding, IdMap, LRUEmbedding, make_embedding

TINY = dict(num_users=100_000, num_items=300, num_windows=6, events_per_window=2_000, rank=4, seed=3)


def windows(stream):
    return [(w.user_ids.copy(), w.item_ids.copy(), w.new.copy(), w.users_seen) for w in stream]


# ---------------------------------------------------------------------------------------------- stream
def test_stream_is_reproducible_and_replays():
    a, b = InteractionStream(**TINY), InteractionStream(**TINY)
    first = windows(a)
    for x, y in zip(first, windows(b)):
        assert all(np.array_equal(p, q) for p, q in zip(x[:3], y[:3])) and x[3] == y[3]
    assert all(np.array_equal(p, q) for x, y in zip(first, windows(a)) for p, q in zip(x[:3], y[:3]))
    other = windows(InteractionStream(**TINY, events_seed=1))
    assert not np.array_equal(first[2][1], other[2][1])


def test_new_users_are_exactly_the_unseen_ones_and_share_holds():
    stream = InteractionStream(**TINY, new_user_share=0.25)
    seen: set[int] = set()
    for window in stream:
        assert len(window) == TINY["events_per_window"]
        assert window.user_ids.min() >= 0 and window.user_ids.max() < TINY["num_users"]
        assert window.item_ids.min() >= 0 and window.item_ids.max() < TINY["num_items"]
        new_users = set(window.user_ids[window.new].tolist())
        assert not new_users & seen
        assert set(window.user_ids[~window.new].tolist()) <= seen
        if window.index > 0:
            assert window.new.mean() == pytest.approx(0.25)
        seen |= set(window.user_ids.tolist())
        assert window.users_seen == len(seen)
    assert len(seen) == stream.arrivals


def test_users_leave_for_good():
    stream = InteractionStream(**{**TINY, "num_windows": 12}, mean_lifetime=2.0)
    first = set(next(iter(stream)).user_ids.tolist())
    last = [w for w in stream][-1]
    assert len(first & set(last.user_ids.tolist())) < 0.05 * len(first)


def test_preferences_come_from_the_id_and_the_world_seed_only():
    ids = np.array([5, 77, 99_999_999], dtype=np.int64)
    a = InteractionStream(**{**TINY, "num_users": 10**8}, events_seed=0).preferences(ids)
    b = InteractionStream(**{**TINY, "num_users": 10**8}, events_seed=9).preferences(ids)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.sum(1), 1.0)
    assert not np.allclose(a, InteractionStream(**{**TINY, "seed": 4}).preferences(ids))


def test_internet_scale_id_space_needs_no_dense_structure():
    stream = InteractionStream(num_users=2**31, num_items=100_000, num_windows=3, events_per_window=1_000)
    window = next(iter(stream))
    assert window.user_ids.max() < 2**31 and len(np.unique(window.user_ids)) == stream._arrivals[0]
    with pytest.raises(ValueError, match="arrivals but num_users=10 ids"):
        InteractionStream(num_users=10, num_windows=3, events_per_window=100)


# ---------------------------------------------------------------------------------------------- id map
def test_id_map_matches_a_dict_through_inserts_removals_and_rebuilds():
    rng = np.random.default_rng(0)
    table, reference = IdMap(16, 10_000), {}
    for step in range(60):
        fresh = np.setdiff1d(np.unique(rng.integers(0, 2**40, 40)), np.array(list(reference), dtype=np.int64))
        values = rng.integers(0, 10_000, fresh.size)
        table.put(fresh, values)
        reference.update(zip(fresh.tolist(), values.tolist()))
        if step % 3 == 2:
            gone = np.array(sorted(reference)[::2], dtype=np.int64)
            table.remove(gone)
            for key in gone.tolist():
                del reference[key]
        probe = np.unique(np.concatenate([np.array(list(reference), dtype=np.int64), rng.integers(0, 2**40, 20)]))
        expected = np.array([reference.get(k, -1) for k in probe.tolist()])
        np.testing.assert_array_equal(table.get(probe), expected)
        assert table.num_keys == len(reference)
        assert table.keys.shape[0] >= 2 * len(reference)


# ---------------------------------------------------------------------------------------------- tables
def test_growing_table_gives_each_id_its_own_row_and_grows():
    layer = GrowingEmbedding(None, 4, initial_rows=8, init_seed=0)
    start = layer.memory_bytes()
    ids = torch.tensor([10**12, 7, 10**12, 3])
    rows = layer.rows_of(ids)
    assert rows[0] == rows[2] and len(set(rows.tolist())) == 3
    assert layer.take_fresh_rows().tolist() == sorted(set(rows.tolist())) and layer.take_fresh_rows().numel() == 0
    layer(torch.arange(100, 200))
    assert layer.num_ids == 103 and layer.num_rows >= 103 and layer.memory_bytes() > start
    assert torch.equal(layer.rows_of(ids), rows)
    assert layer.memory_bytes() == sum(t.numel() * t.element_size() for t in layer.state_dict().values())
    twin = GrowingEmbedding(None, 4, initial_rows=8, init_seed=1)
    twin.load_state_dict(layer.state_dict())
    assert torch.equal(twin(ids), layer(ids))


def test_lru_evicts_the_least_recently_used_and_keeps_its_memory():
    layer = LRUEmbedding(None, 4, capacity=4, evict_fraction=0.25, init_seed=0)
    memory = layer.memory_bytes()
    assert memory == LRUEmbedding.estimate_memory_bytes(None, 4, capacity=4, evict_fraction=0.25)
    for user in (1, 2, 3, 4):
        layer(torch.tensor([user]))
    layer(torch.tensor([1]))                        # 2 is now the least recently used
    before = layer(torch.tensor([1, 3, 4])).detach()
    layer.take_fresh_rows()
    layer(torch.tensor([5]))                        # evicts 2 only
    assert layer.num_evicted == 1 and layer.num_ids == 4
    assert torch.equal(layer(torch.tensor([1, 3, 4])), before)
    layer.take_fresh_rows()
    layer(torch.tensor([2]))                        # 2 comes back to a fresh row
    assert layer.take_fresh_rows().numel() == 1 and layer.num_evicted == 2
    assert layer.memory_bytes() == memory


def test_lru_overflow_of_one_call_falls_back_to_hashed_rows():
    layer = LRUEmbedding(1000, 4, capacity=10)
    out = layer(torch.arange(50))
    assert out.shape == (50, 4) and layer.num_ids == 10
    assert set(layer.rows_of(torch.arange(50)).tolist()) <= set(range(10))


def test_open_vocabulary_tables_take_any_id():
    for method, params in (("growing", {}), ("lru", {"capacity": 16})):
        layer = make_embedding(method, None, 8, **params)
        assert layer(torch.tensor([0, 2**62])).shape == (2, 8)
        assert "open vocabulary" in repr(layer)
    with pytest.raises(ValueError, match="needs capacity"):
        LRUEmbedding(None, 8)


# ---------------------------------------------------------------------------------------------- metrics
def test_reciprocal_ranks_average_ties():
    scores = torch.tensor([[3.0, 1.0, 3.0, 0.0], [0.0, 0.0, 0.0, 5.0]])
    rr = reciprocal_ranks(scores, torch.tensor([0, 1]))
    torch.testing.assert_close(rr, torch.tensor([1 / 1.5, 1 / 3.0], dtype=torch.float64))


def test_prequential_summary_weights_windows_by_group_events():
    log = PrequentialLog()
    new = np.array([True, False, False, False])
    log.add_window(new, {"new": np.array([0]), "returning": np.array([1, 2])},
                   lambda idx: np.full(idx.size, 0.5))
    log.add_window(~new, {"new": np.array([1]), "returning": np.array([0])}, lambda idx: np.full(idx.size, 0.1))
    summary = log.summary(range(2))
    assert summary["mrr_new"] == pytest.approx((0.5 * 1 + 0.1 * 3) / 4)
    assert summary["mrr_returning"] == pytest.approx((0.5 * 3 + 0.1 * 1) / 4)
    assert summary["mrr"] == pytest.approx((0.5 * 4 + 0.1 * 4) / 8)
    assert math.isnan(log.summary(range(0))["mrr"])


# ---------------------------------------------------------------------------------------------- model
def stream_config(method: str, params: dict, **model) -> dict:
    return {"model": {"kind": "stream", "embedding_dim": 8, "eval_events": 200, **model},
            "dataset": {"name": "stream", "synthetic": TINY}, "training": {"batch_size": 256},
            "embedding": {"method": method, "params": params}}


METHODS = {"growing": {"initial_rows": 64}, "lru": {"capacity": 500},
           "bloom": {"num_buckets": 400, "num_hashes": 2, "index": "on_the_fly"},
           "hashing_trick": {"num_buckets": 400, "index": "on_the_fly"}, "hashcofi": {"num_parameters": 3200},
           "dhe": {"hidden_dim": 16, "num_hashes": 8}}


@pytest.mark.parametrize("method", METHODS)
def test_stream_trial_records_per_window_series(method):
    torch.set_num_threads(1)
    record = run_trial(stream_config(method, METHODS[method]))
    stream = record["stream"]
    windows_ = stream["windows"]
    assert {len(v) for v in windows_.values()} == {TINY["num_windows"]}
    assert windows_["mrr_returning"][0] is None and all(x is not None for x in windows_["mrr_returning"][1:])
    assert stream["events"] == len(InteractionStream(**TINY)) == record["sizes"]["train"]
    assert stream["users_seen"] == windows_["users_seen"][-1] == InteractionStream(**TINY).arrivals
    assert stream["full_table_bytes_final"] == stream["users_seen"] * 8 * 4
    assert stream["events_per_second"] > 0 and stream["user_memory_bytes_final"] == windows_["memory_bytes"][-1]
    for part in ("validation", "test"):
        assert 0 < record[part]["mrr_new"] <= 1 and 0 < record[part]["mrr_returning"] <= 1
    memory = windows_["memory_bytes"]
    if method == "growing":
        assert memory[-1] > memory[0]
    else:
        assert len(set(memory)) == 1
    assert bool(stream["evicted"]) == (method == "lru")


def test_stream_trial_is_deterministic_and_learns():
    torch.set_num_threads(1)
    config = stream_config("bloom", METHODS["bloom"])
    a, b = run_trial(config), run_trial(config)
    assert a["stream"]["windows"]["mrr_returning"] == b["stream"]["windows"]["mrr_returning"]
    assert a["loss"] == b["loss"] and a["loss"][-1] < a["loss"][0]
    # popularity and preferences are learnt: far above a random ranking of 300 items (MRR ~ 0.02)
    assert a["test"]["mrr_returning"] > 0.05


def test_stream_kind_config_has_no_split_and_refuses_dense_optimizers():
    config = resolve_config({"model": {"kind": "stream"}})
    assert config["split"] == {"seed": 0} and set(config["dataset"]) == {"name", "data_dir", "synthetic"}
    with pytest.raises(ValueError, match="unknown key split.kind"):
        resolve_config({"model": {"kind": "stream"}, "split": {"kind": "random"}})
    with pytest.raises(ValueError, match="training.optimizer must be one of"):
        run_trial({**stream_config("bloom", METHODS["bloom"]), "training": {"optimizer": "adam"}})
    with pytest.raises(ValueError, match="set by split.seed"):
        run_trial({**stream_config("growing", {}),
                   "dataset": {"name": "stream", "synthetic": {**TINY, "events_seed": 1}}})
    with pytest.raises(ValueError, match="open vocabulary"):
        run_trial(stream_config("full", {}))


@pytest.mark.parametrize("profile", [(), ("quick",), ("full",)])
def test_open_vocabulary_spec_compares_every_method_at_equal_memory(profile):
    from bloombench.layers import get_method

    spec = load_spec("open-vocabulary", profile)
    trials = spec.final_trials()
    # DHE is in the quick profile only (its MLP at the full profile's budgets is too slow for 3e7 events)
    assert {t.config["embedding"]["method"] for t in trials} == {"growing", "lru", "bloom", "hashing_trick",
                                                                 "hashcofi", *(["dhe"] if profile != ("full",) else [])}
    budgets: dict[str, set[int]] = {}
    for trial in trials:
        config = resolve_config(trial.config)
        if config["embedding"]["method"] == "growing":
            continue
        method, params = config["embedding"]["method"], dict(config["embedding"]["params"])
        size = get_method(method).estimate_memory_bytes(None, 32, **params)
        budgets.setdefault(trial.variant.rsplit(", ", 1)[1], set()).add(size)
    for label, sizes in budgets.items():
        # within 0.5%: DHE's size moves by its hidden width, about 0.3% of 768 KiB a unit
        assert max(sizes) - min(sizes) <= 0.005 * max(sizes), (label, sizes)
