"""Tests for bloombench.evaluation: hand-computed cases and slow loop references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from bloombench.data import Interactions, SequenceInteractions
from bloombench.evaluation import (
    evaluate_ranking,
    evaluate_sequence_ranking,
    metrics_from_ranks,
    mrr_score,
    rank_test_items,
    rmse_score,
    sequence_mrr_score,
    sequence_ranks,
)

FLOAT_MAX = np.finfo(np.float32).max


# --------------------------------------------------------------------------- stand-in models


class TableModel:
    """Factorization stand-in: fixed (num_users, num_items) score table."""

    def __init__(self, scores: np.ndarray, device: str = "cpu") -> None:
        self.scores = torch.as_tensor(np.asarray(scores, dtype=np.float32), device=device)
        self.device = torch.device(device)
        self.batches: list[int] = []

    def predict_scores(self, user_ids: torch.Tensor) -> torch.Tensor:
        assert user_ids.dtype == torch.long and user_ids.device == self.device
        self.batches.append(len(user_ids))
        return self.scores[user_ids].clone()


class SequenceTableModel:
    """Sequence stand-in: scores are a rounded function of the input sequence, so
    equal prefixes get equal scores and ties are common."""

    def __init__(self, num_items: int, seed: int, decimals: int | None = 1, device: str = "cpu") -> None:
        g = torch.Generator().manual_seed(seed)
        self.weights = torch.randn(num_items, num_items, generator=g).to(device)
        self.decimals = decimals
        self.device = torch.device(device)

    def predict_sequence_scores(self, sequences: torch.Tensor) -> torch.Tensor:
        position = torch.arange(1, sequences.shape[1] + 1, device=sequences.device, dtype=torch.float32)
        scores = (self.weights[sequences] * position[None, :, None]).sum(1) / sequences.shape[1]
        return scores if self.decimals is None else torch.round(scores, decimals=self.decimals)


class ConstantSequenceModel:
    """Returns the same score row for every sequence."""

    def __init__(self, row: list[float]) -> None:
        self.row = torch.tensor(row, dtype=torch.float32)
        self.device = torch.device("cpu")

    def predict_sequence_scores(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.row.repeat(len(sequences), 1)


class RatingModel:
    def __init__(self, table: dict[tuple[int, int], float], as_tensor: bool = False) -> None:
        self.table = table
        self.as_tensor = as_tensor
        self.calls = 0

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray):
        self.calls += 1
        out = np.array([self.table[(int(u), int(i))] for u, i in zip(user_ids, item_ids)], dtype=np.float32)
        return torch.from_numpy(out) if self.as_tensor else out


def interactions(pairs: list[tuple[int, int]], num_users: int, num_items: int) -> Interactions:
    users = np.array([u for u, _ in pairs], dtype=np.int64)
    items = np.array([i for _, i in pairs], dtype=np.int64)
    return Interactions(users, items, num_users=num_users, num_items=num_items)


def one_sequence(seq: list[int], num_items: int) -> SequenceInteractions:
    return SequenceInteractions(np.array([seq]), np.array([0]), num_items=num_items)


# --------------------------------------------------------------------------- slow references


def reference_clean_ranks(scores: np.ndarray, test: Interactions, excluded: list[Interactions]):
    """Rank of each distinct test pair among non-excluded items other than itself, ties halved."""
    banned: dict[int, set[int]] = {}
    for inter in excluded:
        for u, i in zip(inter.user_ids, inter.item_ids):
            banned.setdefault(int(u), set()).add(int(i))
    out = {}
    for u, i in sorted(set(zip(test.user_ids.tolist(), test.item_ids.tolist()))):
        row = scores[u]
        s = row[i]
        greater = tied = 0
        for j in range(len(row)):
            if j == i or j in banned.get(u, set()):
                continue
            if row[j] > s:
                greater += 1
            elif row[j] == s:
                tied += 1
        out[(u, i)] = 1 + greater + tied / 2
    return out


def reference_spotlight_mrr(scores: np.ndarray, test: Interactions, train: Interactions | None):
    """Spotlight's mrr_score algorithm, one user at a time with scipy's rankdata."""
    test_csr = test.to_csr()
    train_csr = None if train is None else train.to_csr()
    mrrs, ranks = [], {}
    for u in range(test_csr.shape[0]):
        targets = test_csr[u].indices
        if not len(targets):
            continue
        predictions = -scores[u].astype(np.float32)
        if train_csr is not None:
            predictions[train_csr[u].indices] = FLOAT_MAX
        r = rankdata(predictions)
        ranks.update({(u, int(i)): r[i] for i in targets})
        mrrs.append((1.0 / r[targets]).mean())
    return np.array(mrrs), ranks


def reference_sequence_ranks(model, test: SequenceInteractions, exclude_preceding: bool, legacy: bool):
    out = []
    for seq in test.sequences:
        prefix, target = seq[:-1], int(seq[-1])
        row = model.predict_sequence_scores(torch.as_tensor(prefix[None, :]))[0].numpy()
        if legacy:  # Spotlight: negate, push excluded to FLOAT_MAX, rankdata
            predictions = -row.copy()
            if exclude_preceding:
                predictions[prefix] = FLOAT_MAX
            out.append(rankdata(predictions)[target])
            continue
        banned = {0} | (set(prefix.tolist()) if exclude_preceding else set())
        s = row[target]
        greater = sum(1 for j in range(len(row)) if j != target and j not in banned and row[j] > s)
        tied = sum(1 for j in range(len(row)) if j != target and j not in banned and row[j] == s)
        out.append(1 + greater + tied / 2)
    return np.array(out)


def random_split(seed: int, num_users: int = 23, num_items: int = 31):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.normal(size=(num_users, num_items)), 1)  # rounding induces ties

    def draw(n: int) -> Interactions:
        return Interactions(
            rng.integers(0, num_users, n), rng.integers(0, num_items, n), num_users=num_users, num_items=num_items
        )

    # Overlaps between the sets (and duplicate test pairs) happen by chance and are intended.
    return scores, draw(90), draw(160), draw(25)


# --------------------------------------------------------------------------- hand-computed: factorization


def test_ties_are_averaged_and_metrics_follow_from_ranks():
    model = TableModel([[3.0, 5.0, 5.0, 1.0, 5.0]])
    test = interactions([(0, 0), (0, 1)], 1, 5)
    ranks = rank_test_items(model, test)
    # item 1 ties with items 2 and 4 on top: 1 + 0 + 2/2; item 0 has three items above it.
    np.testing.assert_array_equal(ranks.ranks, [4.0, 2.0])
    res = evaluate_ranking(model, test, ks=(1, 2))
    assert res.mrr == pytest.approx((1 / 4 + 1 / 2) / 2)
    assert res.precision == {1: 0.0, 2: 0.5}
    assert res.recall == {1: 0.0, 2: 0.5}
    assert res.hit_rate == {1: 0.0, 2: 1.0}
    idcg = 1 + 1 / math.log2(3)
    assert res.ndcg[2] == pytest.approx((1 / math.log2(3)) / idcg)
    assert res.ndcg[1] == 0.0
    # Without exclusions, Spotlight's semantics give the same ranks.
    np.testing.assert_array_equal(rank_test_items(model, test, legacy="spotlight").ranks, [4.0, 2.0])


def test_train_items_are_removed_in_clean_mode_and_sunk_in_legacy_mode():
    model = TableModel([[0.9, 0.8, 0.7, 0.6, 0.5]])
    train = interactions([(0, 0), (0, 2)], 1, 5)
    test = interactions([(0, 3)], 1, 5)
    assert rank_test_items(model, test, train).ranks[0] == 2.0  # only item 1 competes above
    assert rank_test_items(model, test, train, exclude_train=False).ranks[0] == 4.0
    assert rank_test_items(model, test, train, legacy="spotlight").ranks[0] == 2.0
    assert rank_test_items(model, test, None, legacy="spotlight").ranks[0] == 4.0

    # A test item that is also a train item: clean ranks it with its own score,
    # Spotlight sinks it to the bottom, tied with item 0 (positions 4 and 5).
    test_in_train = interactions([(0, 2)], 1, 5)
    assert rank_test_items(model, test_in_train, train).ranks[0] == 2.0
    assert rank_test_items(model, test_in_train, train, legacy="spotlight").ranks[0] == 4.5


def test_excluded_test_item_is_no_competitor_for_other_test_items():
    model = TableModel([[0.9, 0.8, 0.7, 0.6, 0.5]])
    train = interactions([(0, 1)], 1, 5)
    test = interactions([(0, 1), (0, 3)], 1, 5)
    ranks = rank_test_items(model, test, train)
    np.testing.assert_array_equal(ranks.item_ids, [1, 3])
    # item 1 (in train) is ranked: only item 0 above; item 3 sees items 0 and 2 above, not 1.
    np.testing.assert_array_equal(ranks.ranks, [2.0, 3.0])
    # Other (non-excluded) test items do compete: without train, item 3 is 4th.
    np.testing.assert_array_equal(rank_test_items(model, test).ranks, [2.0, 4.0])


def test_extra_exclusions_apply_even_without_train_exclusion():
    model = TableModel([[0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.2, 0.3, 0.4, 0.5]])
    train = interactions([(0, 0)], 2, 5)
    valid = interactions([(0, 1), (1, 4)], 2, 5)
    test = interactions([(0, 3), (1, 2)], 2, 5)
    r = rank_test_items(model, test, train, exclude=valid, exclude_train=False).ranks
    np.testing.assert_array_equal(r, [3.0, 2.0])  # user 0: items 0, 2 above; user 1: item 3 above
    r = rank_test_items(model, test, train, exclude=[valid]).ranks
    np.testing.assert_array_equal(r, [2.0, 2.0])
    r = rank_test_items(model, test, train, exclude=[valid], legacy="spotlight").ranks
    np.testing.assert_array_equal(r, [2.0, 2.0])


def test_duplicate_test_pairs_count_once_and_users_without_test_items_are_skipped():
    model = TableModel([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.0, 0.0, 0.0]])
    test = interactions([(1, 1), (1, 1), (0, 0), (1, 0)], 3, 3)
    ranks = rank_test_items(model, test)
    np.testing.assert_array_equal(ranks.user_ids, [0, 1, 1])
    np.testing.assert_array_equal(ranks.item_ids, [0, 0, 1])
    np.testing.assert_array_equal(ranks.ranks, [3.0, 1.0, 2.0])
    np.testing.assert_allclose(mrr_score(model, test), [1 / 3, (1 + 1 / 2) / 2])
    res = evaluate_ranking(model, test, ks=2, per_user=True)
    assert res.num_rows == 2
    np.testing.assert_array_equal(res.per_user.user_ids, [0, 1])
    np.testing.assert_array_equal(res.per_user.num_test_items, [1, 2])
    np.testing.assert_allclose(res.per_user.recall[2], [0.0, 1.0])
    assert res.recall[2] == pytest.approx(0.5)


def test_metrics_from_ranks_hand_example():
    # user 0 has test items at ranks 1 and 3, user 1 one item at rank 2.5 (a tie).
    res = metrics_from_ranks(np.array([1.0, 3.0, 2.5]), np.array([0, 0, 1]), ks=(3, 1, 2), per_user=True)
    log3 = math.log2(3)
    assert list(res.precision) == [1, 2, 3]
    np.testing.assert_allclose(res.per_user.mrr, [(1 + 1 / 3) / 2, 1 / 2.5])
    np.testing.assert_allclose(res.per_user.precision[1], [1.0, 0.0])
    np.testing.assert_allclose(res.per_user.precision[2], [0.5, 0.0])
    np.testing.assert_allclose(res.per_user.precision[3], [2 / 3, 1 / 3])
    np.testing.assert_allclose(res.per_user.recall[3], [1.0, 1.0])
    np.testing.assert_allclose(res.per_user.hit_rate[2], [1.0, 0.0])
    np.testing.assert_allclose(res.per_user.ndcg[1], [1.0, 0.0])
    np.testing.assert_allclose(res.per_user.ndcg[2], [1 / (1 + 1 / log3), 0.0])
    np.testing.assert_allclose(res.per_user.ndcg[3], [(1 + 0.5) / (1 + 1 / log3), 1 / math.log2(3.5)])
    assert res.mrr == pytest.approx(((1 + 1 / 3) / 2 + 0.4) / 2)
    assert res.ndcg[3] == pytest.approx(((1.5) / (1 + 1 / log3) + 1 / math.log2(3.5)) / 2)
    flat = res.as_dict()
    assert flat["mrr"] == res.mrr and flat["hit_rate@2"] == 0.5 and flat["recall@1"] == 0.25


# --------------------------------------------------------------------------- hand-computed: sequences


def test_sequence_padding_is_ranked_only_in_legacy_mode():
    model = ConstantSequenceModel([10.0, 4.0, 3.0, 2.0, 1.0])  # id 0 is padding
    test = one_sequence([0, 1, 3, 2], 5)
    assert sequence_ranks(model, test)[0] == 2.0  # only item 1 above
    assert sequence_ranks(model, test, legacy="spotlight")[0] == 3.0  # padding above too
    assert sequence_ranks(model, test, exclude_preceding=True)[0] == 1.0
    # Spotlight pushes the preceding items (padding included) down.
    assert sequence_ranks(model, test, exclude_preceding=True, legacy="spotlight")[0] == 1.0
    np.testing.assert_allclose(sequence_mrr_score(model, test), [0.5])
    np.testing.assert_allclose(sequence_mrr_score(model, test, legacy="spotlight"), [1 / 3])


def test_sequence_target_seen_before():
    model = ConstantSequenceModel([10.0, 4.0, 3.0, 2.0, 1.0])
    test = one_sequence([0, 2, 1, 2], 5)
    # Clean: the target keeps its score; padding, 1 (and 2 as a competitor) are removed.
    assert sequence_ranks(model, test, exclude_preceding=True)[0] == 1.0
    # Spotlight: ids 0, 2, 1 sink and tie at positions 3..5 -> 4; items 3 and 4 stay above.
    assert sequence_ranks(model, test, exclude_preceding=True, legacy="spotlight")[0] == 4.0


def test_sequence_ties_and_metrics():
    model = ConstantSequenceModel([0.0, 5.0, 5.0, 5.0, 1.0])
    test = SequenceInteractions(np.array([[0, 4, 1], [3, 2, 4]]), np.array([7, 9]), num_items=5)
    np.testing.assert_array_equal(sequence_ranks(model, test), [2.0, 4.0])
    res = evaluate_sequence_ranking(model, test, ks=(2, 3), per_user=True)
    np.testing.assert_array_equal(res.per_user.user_ids, [7, 9])
    assert res.mrr == pytest.approx((0.5 + 0.25) / 2)
    assert res.hit_rate == {2: 0.5, 3: 0.5} == res.recall
    assert res.precision == {2: 0.25, 3: 0.5 / 3}
    # With exclude_preceding, sequence 1 drops items 3 and 2 -> only item 1 above item 4.
    np.testing.assert_array_equal(sequence_ranks(model, test, exclude_preceding=True), [2.0, 2.0])


def test_padding_target_rejected_in_clean_mode_only():
    model = ConstantSequenceModel([1.0, 2.0, 3.0])
    test = one_sequence([0, 0, 0], 3)
    with pytest.raises(ValueError, match="padding id"):
        sequence_ranks(model, test)
    assert sequence_ranks(model, test, legacy="spotlight")[0] == 3.0


# --------------------------------------------------------------------------- random data vs references


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_clean_ranks_match_loop_reference(seed):
    scores, test, train, valid = random_split(seed)
    model = TableModel(scores)
    overlap = set(zip(test.user_ids.tolist(), test.item_ids.tolist())) & set(
        zip(train.user_ids.tolist(), train.item_ids.tolist())
    )
    assert overlap  # the data does contain test items that are also train items
    for exclude_train, expected_sets in ((True, [train, valid]), (False, [valid])):
        got = rank_test_items(model, test, train, exclude=[valid], exclude_train=exclude_train, batch_size=4)
        expected = reference_clean_ranks(scores.astype(np.float32), test, expected_sets)
        assert list(zip(got.user_ids.tolist(), got.item_ids.tolist())) == sorted(expected)
        np.testing.assert_array_equal(got.ranks, [expected[k] for k in sorted(expected)])
    assert np.any(got.ranks != np.round(got.ranks))  # the data did produce ties


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_legacy_matches_spotlight_reference(seed):
    scores, test, train, _ = random_split(seed)
    model = TableModel(scores)
    for passed_train in (train, None):
        expected_mrr, expected_ranks = reference_spotlight_mrr(scores, test, passed_train)
        got = rank_test_items(model, test, passed_train, legacy="spotlight", batch_size=5)
        np.testing.assert_array_equal(got.ranks, [expected_ranks[k] for k in sorted(expected_ranks)])
        np.testing.assert_allclose(mrr_score(model, test, passed_train, legacy="spotlight"), expected_mrr)


@pytest.mark.parametrize("seed", [0, 1])
def test_topk_metrics_match_sorted_list_reference(seed):
    """Tie-free scores: compare with metrics computed from each user's top-k list."""
    rng = np.random.default_rng(100 + seed)
    num_users, num_items, ks = 17, 40, (1, 3, 10)
    scores = rng.normal(size=(num_users, num_items))
    train_pairs, test_pairs = [], []
    for u in range(num_users - 2):  # the last two users have no test items
        items = rng.permutation(num_items)
        n_test = int(rng.integers(1, 6))
        test_pairs += [(u, int(i)) for i in items[:n_test]]
        train_pairs += [(u, int(i)) for i in items[n_test : n_test + int(rng.integers(0, 10))]]
    test = interactions(test_pairs, num_users, num_items)
    train = interactions(train_pairs, num_users, num_items)
    res = evaluate_ranking(TableModel(scores), test, train, ks=ks, per_user=True, batch_size=3)

    expected = {name: {k: [] for k in ks} for name in ("precision", "recall", "ndcg", "hit_rate")}
    for u in range(num_users - 2):
        relevant = {i for uu, i in test_pairs if uu == u}
        seen = {i for uu, i in train_pairs if uu == u}
        ranking = [i for i in np.argsort(-scores[u].astype(np.float32)) if i not in seen]
        for k in ks:
            top = ranking[:k]
            hits = [pos for pos, i in enumerate(top, start=1) if i in relevant]
            ideal = sum(1 / math.log2(1 + p) for p in range(1, min(len(relevant), k) + 1))
            expected["precision"][k].append(len(hits) / k)
            expected["recall"][k].append(len(hits) / len(relevant))
            expected["hit_rate"][k].append(float(bool(hits)))
            expected["ndcg"][k].append(sum(1 / math.log2(1 + p) for p in hits) / ideal)
    np.testing.assert_array_equal(res.per_user.user_ids, np.arange(num_users - 2))
    for name, per_k in expected.items():
        for k in ks:
            np.testing.assert_allclose(getattr(res.per_user, name)[k], per_k[k], err_msg=f"{name}@{k}")
            assert getattr(res, name)[k] == pytest.approx(np.mean(per_k[k]))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("legacy", [None, "spotlight"])
@pytest.mark.parametrize("exclude_preceding", [False, True])
def test_sequence_ranks_match_loop_reference(seed, legacy, exclude_preceding):
    rng = np.random.default_rng(seed)
    num_items, n_seq, length = 13, 40, 6
    lengths = rng.integers(1, length + 1, n_seq)  # real items per window; the rest is padding
    sequences = rng.integers(1, num_items, (n_seq, length))
    sequences[np.arange(length)[None, :] < (length - lengths)[:, None]] = 0
    test = SequenceInteractions(sequences, np.arange(n_seq), num_items=num_items)
    assert np.any(sequences[:, :-1] == sequences[:, -1:])  # some targets occur earlier
    model = SequenceTableModel(num_items, seed)
    got = sequence_ranks(model, test, exclude_preceding=exclude_preceding, legacy=legacy, batch_size=7)
    expected = reference_sequence_ranks(model, test, exclude_preceding, legacy is not None)
    np.testing.assert_array_equal(got, expected)


def test_batch_size_does_not_change_results():
    scores, test, train, valid = random_split(7, num_users=30, num_items=20)
    model = TableModel(scores)
    results = [
        rank_test_items(model, test, train, exclude=valid, batch_size=b).ranks for b in (1, 2, 7, 64, None)
    ]
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    model.batches.clear()
    rank_test_items(model, test, train, batch_size=7)
    n_users = len(np.unique(test.user_ids))
    assert max(model.batches) == 7 and sum(model.batches) == n_users


def test_works_with_real_sequence_windows():
    data = Interactions(
        np.array([0, 0, 0, 1, 1, 1, 1]),
        np.array([2, 0, 1, 3, 1, 2, 0]),
        timestamps=np.array([3, 1, 2, 4, 1, 3, 2]),
    )
    test = data.to_sequences(max_length=3)
    model = SequenceTableModel(test.num_items, seed=5, decimals=None)
    ranks = sequence_ranks(model, test)
    np.testing.assert_array_equal(ranks, reference_sequence_ranks(model, test, False, False))
    assert np.all(ranks >= 1) and np.all(ranks <= test.num_items - 1)  # padding never ranked


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    scores, test, train, valid = random_split(11, num_users=50, num_items=70)
    cpu = rank_test_items(TableModel(scores), test, train, exclude=valid)
    gpu = rank_test_items(TableModel(scores, device="cuda"), test, train, exclude=valid)
    np.testing.assert_array_equal(gpu.ranks, cpu.ranks)
    legacy_cpu = rank_test_items(TableModel(scores), test, train, legacy="spotlight")
    legacy_gpu = rank_test_items(TableModel(scores, device="cuda"), test, train, legacy="spotlight")
    np.testing.assert_array_equal(legacy_gpu.ranks, legacy_cpu.ranks)
    seqs = SequenceInteractions(np.array([[0, 3, 1, 2], [4, 4, 2, 1]]), np.array([0, 1]), num_items=5)
    for legacy in (None, "spotlight"):
        np.testing.assert_array_equal(
            sequence_ranks(SequenceTableModel(5, 0, device="cuda"), seqs, exclude_preceding=True, legacy=legacy),
            sequence_ranks(SequenceTableModel(5, 0), seqs, exclude_preceding=True, legacy=legacy),
        )


# --------------------------------------------------------------------------- RMSE


@pytest.mark.parametrize("as_tensor", [False, True])
def test_rmse_hand_example(as_tensor):
    test = Interactions(np.array([0, 0, 1]), np.array([0, 1, 1]), ratings=np.array([1.0, 2.0, 3.0]))
    model = RatingModel({(0, 0): 1.5, (0, 1): 2.0, (1, 1): 1.0}, as_tensor=as_tensor)
    assert rmse_score(model, test) == pytest.approx(math.sqrt((0.25 + 0.0 + 4.0) / 3))
    assert rmse_score(model, test, batch_size=2) == pytest.approx(math.sqrt(4.25 / 3))
    assert model.calls == 3  # one call, then two batches


def test_rmse_needs_ratings():
    with pytest.raises(ValueError, match="ratings"):
        rmse_score(RatingModel({}), Interactions(np.array([0]), np.array([0])))


# --------------------------------------------------------------------------- bad input


def test_bad_arguments_raise_clear_errors():
    model = TableModel(np.zeros((2, 3)))
    test = interactions([(0, 1)], 2, 3)
    with pytest.raises(ValueError, match="legacy"):
        rank_test_items(model, test, legacy="lightfm")
    with pytest.raises(ValueError, match="ks"):
        evaluate_ranking(model, test, ks=(5, 0))
    with pytest.raises(ValueError, match="ks"):
        evaluate_ranking(model, test, ks=())
    with pytest.raises(ValueError, match="batch_size"):
        rank_test_items(model, test, batch_size=0)
    with pytest.raises(TypeError, match="predict_scores"):
        rank_test_items(object(), test)
    with pytest.raises(TypeError, match="predict_sequence_scores"):
        sequence_ranks(model, one_sequence([1, 2], 3))
    with pytest.raises(ValueError, match="no interactions"):
        rank_test_items(model, interactions([], 2, 3))
    with pytest.raises(ValueError, match="num_items"):
        rank_test_items(model, test, interactions([(0, 0)], 2, 4))
    with pytest.raises(ValueError, match="shape"):
        rank_test_items(TableModel(np.zeros((2, 4))), test)
    with pytest.raises(ValueError, match="L >= 2"):
        sequence_ranks(ConstantSequenceModel([0.0, 1.0]), SequenceInteractions(np.array([[1]]), [0], num_items=2))


def test_nan_scores_rejected_in_both_modes():
    model = TableModel([[0.5, np.nan, 0.2]])
    test = interactions([(0, 0)], 1, 3)
    for legacy in (None, "spotlight"):
        with pytest.raises(ValueError, match="NaN"):
            rank_test_items(model, test, legacy=legacy)
    with pytest.raises(ValueError, match="non-finite"):
        rank_test_items(TableModel([[-np.inf, 1.0]]), interactions([(0, 0)], 1, 2))
