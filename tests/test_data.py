"""Tests of bloombench.data: containers, sequences, filters, splits, synthetic data, statistics."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from bloombench.data import (
    Interactions,
    SequenceInteractions,
    dataset_statistics,
    filter_min_interactions,
    leave_last_out,
    random_split,
    synthetic,
    temporal_split,
    user_split,
    zipf_rank_probabilities,
)


def _random_interactions(seed: int, n: int = 400, users: int = 15, items: int = 30) -> Interactions:
    rng = np.random.default_rng(seed)
    return Interactions(
        user_ids=rng.integers(0, users, n),
        item_ids=rng.integers(0, items, n),
        # Unique ratings act as row markers in the split tests.
        ratings=np.arange(n, dtype=np.float32),
        timestamps=rng.integers(0, 20, n),  # many ties on purpose
        num_users=users + 2,
        num_items=items + 3,
    )


def _markers(part: Interactions) -> np.ndarray:
    return part.ratings.astype(np.int64)


# --------------------------------------------------------------------------- Interactions


class TestInteractions:
    def test_defaults_and_dtypes(self):
        data = Interactions(np.array([0, 2], dtype=np.int32), [1, 0], ratings=[1, 5])
        assert data.user_ids.dtype == np.int64 and data.item_ids.dtype == np.int64
        assert data.ratings.dtype == np.float32
        assert (data.num_users, data.num_items, len(data)) == (3, 2, 2)
        assert data.timestamps is None

    def test_empty(self):
        data = Interactions([], [])
        assert len(data) == 0 and data.num_users == 0 and data.num_items == 0

    @pytest.mark.parametrize(
        "kwargs, error, message",
        [
            (dict(user_ids=[0.0, 1.0], item_ids=[0, 1]), TypeError, "user_ids"),
            (dict(user_ids=[0, 1], item_ids=["a", "b"]), TypeError, "item_ids"),
            (dict(user_ids=[0, -1], item_ids=[0, 1]), ValueError, "non-negative"),
            (dict(user_ids=[0, 1], item_ids=[0]), ValueError, "same length"),
            (dict(user_ids=[0, 3], item_ids=[0, 1], num_users=3), ValueError, "num_users=3"),
            (dict(user_ids=[0, 1], item_ids=[0, 5], num_items=5), ValueError, "num_items=5"),
            (dict(user_ids=[0, 1], item_ids=[0, 1], ratings=[1.0]), ValueError, "ratings"),
            (
                dict(user_ids=[0, 1], item_ids=[0, 1], timestamps=[1.5, 2.0]),
                TypeError,
                "timestamps",
            ),
            (dict(user_ids=[[0, 1]], item_ids=[[0, 1]]), ValueError, "one-dimensional"),
        ],
    )
    def test_validation(self, kwargs, error, message):
        with pytest.raises(error, match=message):
            Interactions(**kwargs)

    def test_integral_float_timestamps_accepted(self):
        data = Interactions([0], [0], timestamps=np.array([874965758.0]))
        assert data.timestamps.dtype == np.int64 and data.timestamps[0] == 874965758

    def test_to_csr(self):
        data = Interactions([0, 0, 2, 2], [1, 3, 0, 0], ratings=[4, 2, 1, 3], num_items=5)
        dense = data.to_csr().toarray()
        expected = np.zeros((3, 5))
        expected[0, 1], expected[0, 3], expected[2, 0] = 4, 2, 1 + 3  # duplicates are summed
        np.testing.assert_array_equal(dense, expected)
        implicit = Interactions([1], [2]).to_csr()
        assert implicit.shape == (2, 3) and implicit[1, 2] == 1

    def test_subset_keeps_id_space(self):
        data = Interactions(
            [0, 1, 2], [2, 1, 0], ratings=[1, 2, 3], timestamps=[7, 8, 9], num_users=10
        )
        part = data.subset(np.array([False, True, True]))
        assert part.num_users == 10 and part.num_items == 3
        np.testing.assert_array_equal(part.timestamps, [8, 9])
        np.testing.assert_array_equal(data.subset([2, 0]).item_ids, [0, 2])
        assert len(data.subset([])) == 0
        with pytest.raises(ValueError, match="boolean mask"):
            data.subset(np.array([True, False]))

    def test_from_raw_ids(self):
        data = Interactions.from_raw_ids(np.array([50, 7, 50]), np.array([3, 1000, 1000]))
        np.testing.assert_array_equal(data.user_ids, [1, 0, 1])
        np.testing.assert_array_equal(data.item_ids, [0, 1, 1])
        np.testing.assert_array_equal(data.user_map, [7, 50])
        np.testing.assert_array_equal(data.item_map, [3, 1000])


# --------------------------------------------------------------------------- sequences


def _reference_sequences(
    data: Interactions, max_length: int, min_length, step
) -> tuple[list, list]:
    """Plain-Python Spotlight semantics, written independently of the vectorised code."""
    step = max_length if step is None else step
    sequences, users = [], []
    for user in sorted(set(data.user_ids.tolist())):
        rows = [r for r in range(len(data)) if data.user_ids[r] == user]
        if data.timestamps is not None:
            rows.sort(key=lambda r: data.timestamps[r])  # Python's sort is stable
        items = [int(data.item_ids[r]) + 1 for r in rows]
        for end in range(len(items), 0, -step):
            window = items[max(end - max_length, 0) : end]
            if min_length is not None and len(window) < min_length:
                continue
            sequences.append([0] * (max_length - len(window)) + window)
            users.append(user)
    return sequences, users


class TestSequences:
    def test_hand_computed_non_overlapping(self):
        # User 0's items by row: 10@t5, 11@t1, 12@t3, 13@t3 -> time order 11, 12, 13, 10
        # (12 before 13: tie keeps row order); shifted +1: 12, 13, 14, 11.
        data = Interactions(
            [0, 0, 0, 0, 2], [10, 11, 12, 13, 4], timestamps=[5, 1, 3, 3, 0], num_items=20
        )
        seqs = data.to_sequences(max_length=3)
        assert isinstance(seqs, SequenceInteractions)
        assert seqs.sequences.tolist() == [[13, 14, 11], [0, 0, 12], [0, 0, 5]]
        assert seqs.user_ids.tolist() == [0, 0, 2]
        assert seqs.num_items == 21 and seqs.max_length == 3 and len(seqs) == 3

    def test_hand_computed_step_and_min_length(self):
        # No timestamps: row order is the sequence order. Shifted items 1..5.
        data = Interactions([0] * 5, [0, 1, 2, 3, 4])
        assert data.to_sequences(3, step=1).sequences.tolist() == [
            [3, 4, 5], [2, 3, 4], [1, 2, 3], [0, 1, 2], [0, 0, 1],
        ]  # fmt: skip
        assert data.to_sequences(3, step=2).sequences.tolist() == [[3, 4, 5], [1, 2, 3], [0, 0, 1]]
        assert data.to_sequences(3, min_length=2, step=1).sequences.tolist() == [
            [3, 4, 5], [2, 3, 4], [1, 2, 3], [0, 1, 2],
        ]  # fmt: skip
        assert data.to_sequences(4).sequences.tolist() == [[2, 3, 4, 5], [0, 0, 0, 1]]
        assert data.to_sequences(4, min_length=2).sequences.tolist() == [[2, 3, 4, 5]]

    @pytest.mark.parametrize(
        "max_length, min_length, step",
        [(5, None, None), (4, 2, 1), (3, 3, 2), (7, 1, 3), (1, None, 1)],
    )
    @pytest.mark.parametrize("with_time", [True, False])
    def test_matches_reference(self, max_length, min_length, step, with_time):
        data = _random_interactions(seed=max_length * 10 + (step or 0), n=120, users=6)
        if not with_time:
            data.timestamps = None
        seqs = data.to_sequences(max_length, min_length, step)
        expected, users = _reference_sequences(data, max_length, min_length, step)
        assert seqs.sequences.tolist() == expected
        assert seqs.user_ids.tolist() == users
        assert seqs.sequences.dtype == np.int64

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            (dict(max_length=0), "max_length"),
            (dict(step=0), "step"),
            (dict(max_length=3, min_length=4), "min_length"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            Interactions([0], [0]).to_sequences(**kwargs)

    def test_sequence_subset_and_validation(self):
        seqs = Interactions([0, 0, 1], [0, 1, 2]).to_sequences(2, step=1)
        part = seqs.subset(np.array([0, 2]))
        assert part.sequences.tolist() == [[1, 2], [0, 3]] and part.user_ids.tolist() == [0, 1]
        with pytest.raises(ValueError, match="num_items"):
            SequenceInteractions(np.array([[0, 5]]), np.array([0]), num_items=5)


# --------------------------------------------------------------------------- filters


def _reference_filter(
    pairs: list[tuple[int, int]], min_user: int, min_item: int
) -> list[tuple[int, int]]:
    while True:
        users = {u: sum(1 for a, _ in pairs if a == u) for u, _ in pairs}
        items = {i: sum(1 for _, b in pairs if b == i) for _, i in pairs}
        kept = [(u, i) for u, i in pairs if users[u] >= min_user and items[i] >= min_item]
        if len(kept) == len(pairs):
            return kept
        pairs = kept


class TestFilter:
    def test_iterates_until_stable(self):
        users = np.array([0, 0, 1, 1, 2, 2, 3, 3])
        items = np.array([7, 8, 8, 9, 6, 5, 7, 8])
        # min 2/2: items 9, 6, 5 have 1 -> drop rows (1,9), (2,6), (2,5); user 1 now has 1
        # row -> drop (1,8); remaining (0,7)(0,8)(3,7)(3,8) are stable.
        out = filter_min_interactions(Interactions(users, items), min_user=2, min_item=2)
        np.testing.assert_array_equal(out.user_map[out.user_ids], [0, 0, 3, 3])
        np.testing.assert_array_equal(out.item_map[out.item_ids], [7, 8, 7, 8])
        assert (out.num_users, out.num_items) == (2, 2)
        np.testing.assert_array_equal(out.user_ids, [0, 0, 1, 1])  # contiguous ids

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_matches_reference(self, seed):
        data = _random_interactions(seed, n=300, users=40, items=60)
        out = filter_min_interactions(data, min_user=6, min_item=5)
        got = list(
            zip(
                out.user_map[out.user_ids].tolist(),
                out.item_map[out.item_ids].tolist(),
                strict=True,
            )
        )
        expected = _reference_filter(
            list(zip(data.user_ids.tolist(), data.item_ids.tolist(), strict=True)), 6, 5
        )
        assert got == expected
        kept_rows = _markers(out)  # ratings/timestamps travel with their rows
        np.testing.assert_array_equal(out.timestamps, data.timestamps[kept_rows])

    def test_composes_existing_maps(self):
        data = Interactions.from_raw_ids(np.array([100, 100, 200]), np.array([5, 6, 5]))
        out = filter_min_interactions(data, min_user=2)
        np.testing.assert_array_equal(out.user_map, [100])
        np.testing.assert_array_equal(out.item_map, [5, 6])

    def test_bad_threshold(self):
        with pytest.raises(ValueError, match="min_user"):
            filter_min_interactions(Interactions([0], [0]), min_user=-1)


# --------------------------------------------------------------------------- splits


def _check_partition(data: Interactions, parts) -> None:
    markers = [set(_markers(p).tolist()) for p in parts]
    assert sum(len(m) for m in markers) == len(data)
    assert set().union(*markers) == set(range(len(data)))
    for part in parts:
        assert part.num_users == data.num_users and part.num_items == data.num_items
        assert np.all(np.diff(_markers(part)) > 0)  # original row order kept


class TestSplits:
    def test_random_split(self):
        data = _random_interactions(0, n=1000)
        parts = random_split(data, (0.7, 0.2, 0.1), seed=3)
        _check_partition(data, parts)
        assert [len(p) for p in parts] == [700, 200, 100]
        again = random_split(data, (0.7, 0.2, 0.1), seed=3)
        other = random_split(data, (0.7, 0.2, 0.1), seed=4)
        assert all(
            np.array_equal(_markers(a), _markers(b)) for a, b in zip(parts, again, strict=True)
        )
        assert not np.array_equal(_markers(parts[2]), _markers(other[2]))

    @pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.1, 0.2), (1.2, -0.1, -0.1)])
    def test_random_split_bad_fractions(self, fractions):
        with pytest.raises(ValueError, match="fractions"):
            random_split(_random_interactions(0), fractions)

    def test_user_split(self):
        data = _random_interactions(1, n=1000, users=50)
        parts = user_split(data, test_fraction=0.2, validation_fraction=0.1, seed=5)
        _check_partition(data, parts)
        user_sets = [set(p.user_ids.tolist()) for p in parts]
        assert [len(s) for s in user_sets] == [35, 5, 10]
        assert not (
            user_sets[0] & user_sets[1]
            or user_sets[0] & user_sets[2]
            or user_sets[1] & user_sets[2]
        )
        again = user_split(data, test_fraction=0.2, validation_fraction=0.1, seed=5)
        assert set(again[2].user_ids.tolist()) == user_sets[2]
        with pytest.raises(ValueError, match="test_fraction"):
            user_split(data, test_fraction=0.7, validation_fraction=0.5)

    def test_temporal_split(self):
        data = _random_interactions(2, n=1000)
        train, val, test = temporal_split(data, (0.6, 0.2, 0.2))
        _check_partition(data, (train, val, test))
        assert [len(train), len(val), len(test)] == [600, 200, 200]
        assert train.timestamps.max() <= val.timestamps.min()
        assert val.timestamps.max() <= test.timestamps.min()

    def test_leave_last_out_hand_computed(self):
        # user 0: times 1..5 -> test t5, val t4; user 1: two rows -> test gets its last,
        # validation nothing (one row must stay in train); user 2: one row -> train only.
        users = [0, 0, 0, 0, 0, 1, 1, 2]
        times = [3, 5, 1, 4, 2, 9, 8, 7]
        data = Interactions(users, [0, 1, 2, 3, 4, 5, 6, 7], ratings=np.arange(8), timestamps=times)
        train, val, test = leave_last_out(data)
        assert _markers(test).tolist() == [1, 5]
        assert _markers(val).tolist() == [3]
        assert _markers(train).tolist() == [0, 2, 4, 6, 7]
        train2, val2, test2 = leave_last_out(data, n=2, validation=False)
        assert _markers(test2).tolist() == [1, 3, 5] and len(val2) == 0
        _check_partition(data, (train2, val2, test2))

    def test_leave_last_out_ties_keep_row_order(self):
        data = Interactions([0, 0, 0], [0, 1, 2], ratings=[0, 1, 2], timestamps=[1, 1, 1])
        train, val, test = leave_last_out(data)
        assert _markers(test).tolist() == [2] and _markers(val).tolist() == [1]

    @pytest.mark.parametrize("split", [temporal_split, leave_last_out])
    def test_time_splits_need_timestamps(self, split):
        with pytest.raises(ValueError, match="timestamps"):
            split(Interactions([0, 1], [1, 0]))


# --------------------------------------------------------------------------- synthetic


class TestSynthetic:
    def test_shape_and_seed(self):
        a = synthetic(50, 200, 3000, seed=7)
        b = synthetic(50, 200, 3000, seed=7)
        c = synthetic(50, 200, 3000, seed=8)
        assert len(a) == 3000 and (a.num_users, a.num_items) == (50, 200)
        assert a.ratings is None and a.timestamps is not None
        assert a.item_ids.max() < 200 and a.user_ids.max() < 50
        np.testing.assert_array_equal(a.item_ids, b.item_ids)
        np.testing.assert_array_equal(a.timestamps, b.timestamps)
        assert not np.array_equal(a.item_ids, c.item_ids)
        assert synthetic(5, 5, 10, with_timestamps=False).timestamps is None

    def test_rows_sorted_by_user_then_time(self):
        data = synthetic(20, 100, 2000, seed=1)
        key = data.user_ids * 10**10 + data.timestamps
        assert np.all(np.diff(key) >= 0)

    def test_zipf_probabilities_exact_head(self):
        ranks = np.arange(5000)
        p = zipf_rank_probabilities(5000, 1.0, ranks)
        exact = 1.0 / (ranks + 1)
        exact /= exact.sum()
        np.testing.assert_allclose(p, exact, rtol=1e-3)
        assert abs(p.sum() - 1) < 1e-4

    @pytest.mark.parametrize("exponent", [0.8, 1.0, 1.5])
    def test_zipf_skew(self, exponent):
        n, items = 200_000, 3000
        data = synthetic(100, items, n, zipf_exponent=exponent, seed=2)
        counts = np.sort(np.bincount(data.item_ids, minlength=items))[::-1]
        expected = zipf_rank_probabilities(items, exponent, np.arange(5)) * n
        # Most popular items match the Zipf head within ~5 standard deviations.
        np.testing.assert_allclose(counts[:5], expected, atol=5 * np.sqrt(expected[0]))

    def test_uniform_when_exponent_zero(self):
        data = synthetic(10, 50, 50_000, zipf_exponent=0.0, seed=3)
        counts = np.bincount(data.item_ids, minlength=50)
        assert counts.min() > 800 and counts.max() < 1200  # expected 1000 each

    def test_popular_items_scattered(self):
        data = synthetic(10, 10_000, 50_000, seed=4)
        top = np.argsort(np.bincount(data.item_ids, minlength=10_000))[::-1][:20]
        assert top.max() - top.min() > 1000  # not the ids 0..19

    def test_sequential_structure(self):
        data = synthetic(
            30, 997, 3000, sequential=True, transition_probability=1.0, transition_window=1, seed=5
        )
        same_user = data.user_ids[1:] == data.user_ids[:-1]
        steps = (data.item_ids[1:] - data.item_ids[:-1])[same_user] % 997
        # Every transition moves one popularity rank, i.e. by the affine multiplier.
        assert len(np.unique(steps)) == 1
        loose = synthetic(30, 997, 3000, sequential=False, seed=5)
        same = loose.user_ids[1:] == loose.user_ids[:-1]
        assert len(np.unique((loose.item_ids[1:] - loose.item_ids[:-1])[same] % 997)) > 100

    def test_huge_id_space_without_dense_memory(self):
        tracemalloc.start()
        start = time.perf_counter()
        data = synthetic(10**8, 10**8, 10**5, sequential=True, seed=6)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 64 * 2**20  # a dense float64 table of 1e8 items would be 800 MB
        assert elapsed < 10
        assert data.num_items == 10**8 and data.item_ids.max() < 10**8
        assert data.item_ids.max() > 10**6  # ids really spread over the space

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            (dict(num_users=0), "num_users"),
            (dict(num_items=2**33), "num_items"),
            (dict(zipf_exponent=-1.0), "zipf_exponent"),
            (dict(transition_probability=1.5), "transition_probability"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        args = dict(num_users=5, num_items=5, num_interactions=5) | kwargs
        with pytest.raises(ValueError, match=message):
            synthetic(**args)


# --------------------------------------------------------------------------- statistics


def test_dataset_statistics():
    data = Interactions(
        [0, 0, 0, 2, 2, 5], [1, 2, 1, 0, 1, 3], ratings=[1, 2, 3, 4, 5, 1], num_users=8, num_items=5
    )
    stats = dataset_statistics(data)
    assert stats == {
        "users": 8,
        "items": 5,
        "interactions": 6,
        "active_users": 3,
        "active_items": 4,
        "density": 6 / 40,
        "has_ratings": True,
        "has_timestamps": False,
        "min_per_user": 1,
        "median_per_user": 2.0,
        "max_per_user": 3,
    }
    assert dataset_statistics(Interactions([], []))["max_per_user"] == 0
