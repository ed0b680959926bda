"""Ranking and rating metrics over the full item catalogue.

Every test item is ranked against *all* items, batched on the model's device:
a block of users (or sequences) is scored against the whole catalogue at once,
excluded items are scattered into the block, and ranks come from one sort per
row plus a binary search per test item. There is no per-user Python loop.

Rank definition
---------------
The rank of a test item with score ``s`` in a row of scores is::

    rank = 1 + #(competitors scoring > s) + #(competitors scoring == s) / 2

so ties are *averaged*, as :func:`scipy.stats.rankdata` does (a test item tied
with 3 others on top gets rank 2.5). All metrics are functions of these ranks;
an item counts as "in the top k" when ``rank <= k``.

Two modes decide who the competitors are:

``legacy=None`` (clean, the default)
    * Items in ``train`` (when ``exclude_train``) and in every ``exclude``
      interaction set are removed from the ranking: they compete with no test
      item. A test item that is itself excluded (e.g. also in train) is still
      ranked with its own score; it is removed only as a competitor of the
      user's *other* test items. The user's other test items do compete.
    * Sequences: the padding id 0 is never ranked; ``exclude_preceding``
      removes the items of the input sequence except the target itself.
    * Test items must have finite scores (``-inf`` marks removed items
      internally); no score may be NaN in either mode.

``legacy="spotlight"``
    Reproduces Spotlight's ``mrr_score`` / ``sequence_mrr_score`` exactly:
    excluded items are not removed but pushed to the bottom by giving them the
    lowest float32 (Spotlight sets the negated prediction to ``FLOAT_MAX``).
    They are still ranked, tied with each other, and a test item that is
    excluded itself (a test item in train, a target that occurs earlier in its
    sequence) lands at the bottom too. Sequences rank the padding id 0 like
    any item, and ``exclude_preceding`` also pushes down padding when the
    sequence contains some. Like Spotlight, items are only excluded when
    ``train`` (or ``exclude``) is passed: call with ``train=None`` (or
    ``exclude_train=False``) to reproduce ``mrr_score(model, test)``.

Per-user metrics (a "user" is a query row: a user with test items, or one test
sequence) with ``n`` distinct test items of ranks ``r_i``:

* MRR: ``mean_i 1 / r_i`` -- Spotlight's ``mrr_score`` per-user value.
* precision@k: ``#{r_i <= k} / k``; recall@k: ``#{r_i <= k} / n``;
  hit rate@k: ``1`` if any ``r_i <= k``.
* NDCG@k: ``sum_{r_i <= k} 1 / log2(1 + r_i)`` divided by the ideal
  ``sum_{j=1}^{min(n, k)} 1 / log2(1 + j)`` (binary relevance).

Reported means are plain averages over users with at least one test item
(over test sequences for sequence models). Duplicate test (user, item) pairs
count once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

__all__ = [
    "DEFAULT_KS",
    "LEGACY_MODES",
    "PADDING_ID",
    "PairRanks",
    "PerUserMetrics",
    "RankingMetrics",
    "evaluate_ranking",
    "evaluate_sequence_ranking",
    "metrics_from_ranks",
    "mrr_score",
    "rank_test_items",
    "rmse_score",
    "sequence_mrr_score",
    "sequence_ranks",
]

DEFAULT_KS: tuple[int, ...] = (5, 10, 20)
LEGACY_MODES: tuple[str, ...] = ("spotlight",)

# Scores per block (users x items): ~32M floats = 128 MiB in float32.
_BLOCK_FLOATS = 2**25
# Spotlight's push-to-bottom value, in score space (it negates predictions).
_FLOAT32_LOWEST = -float(np.finfo(np.float32).max)
PADDING_ID = 0  # padding id of SequenceInteractions


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PairRanks:
    """Rank of every distinct test (user, item) pair, sorted by user then item.

    Attributes
    ----------
    user_ids, item_ids : np.ndarray
        int64 ``(n_pairs,)``.
    ranks : np.ndarray
        float64 ``(n_pairs,)``, 1-based, ties averaged (see module docstring).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    ranks: np.ndarray


@dataclass(frozen=True)
class PerUserMetrics:
    """Metrics of every query row.

    Attributes
    ----------
    user_ids : np.ndarray
        int64 ``(n_rows,)``: the users with test items in increasing order
        (factorization), or the user of each test sequence in test order
        (sequences; a user can then occur several times).
    num_test_items : np.ndarray
        int64 ``(n_rows,)`` distinct test items of each row (1 for sequences).
    mrr : np.ndarray
        float64 ``(n_rows,)``.
    precision, recall, ndcg, hit_rate : dict[int, np.ndarray]
        float64 ``(n_rows,)`` per cut-off ``k``.
    """

    user_ids: np.ndarray
    num_test_items: np.ndarray
    mrr: np.ndarray
    precision: dict[int, np.ndarray]
    recall: dict[int, np.ndarray]
    ndcg: dict[int, np.ndarray]
    hit_rate: dict[int, np.ndarray]


@dataclass(frozen=True)
class RankingMetrics:
    """Means of the ranking metrics over query rows (users or sequences).

    Attributes
    ----------
    mrr : float
    precision, recall, ndcg, hit_rate : dict[int, float]
        Keyed by the cut-off ``k``.
    num_rows : int
        Users with at least one test item, or test sequences.
    per_user : PerUserMetrics or None
        Per-row values when requested with ``per_user=True``.
    """

    mrr: float
    precision: dict[int, float]
    recall: dict[int, float]
    ndcg: dict[int, float]
    hit_rate: dict[int, float]
    num_rows: int
    per_user: PerUserMetrics | None = None

    def as_dict(self) -> dict[str, float]:
        """Flat ``{"mrr": ..., "precision@10": ..., ...}`` for logging and tables."""
        out: dict[str, float] = {"mrr": self.mrr}
        for name in ("precision", "recall", "ndcg", "hit_rate"):
            for k, value in getattr(self, name).items():
                out[f"{name}@{k}"] = value
        return out


# --------------------------------------------------------------------------- validation


def _check_legacy(legacy: str | None) -> bool:
    if legacy is None:
        return False
    if legacy in LEGACY_MODES:
        return True
    raise ValueError(f"legacy must be None or one of {LEGACY_MODES}, got {legacy!r}")


def _check_ks(ks: int | Iterable[int]) -> tuple[int, ...]:
    values = [ks] if isinstance(ks, (int, np.integer)) else list(ks)
    if not values:
        raise ValueError("ks must contain at least one cut-off, got an empty sequence")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"ks must be positive ints, got {k!r} in {ks!r}")
    return tuple(sorted({int(k) for k in values}))


def _check_batch_size(batch_size: int | None, row_width: int) -> int:
    if batch_size is None:
        return max(1, _BLOCK_FLOATS // max(row_width, 1))
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    return int(batch_size)


def _require_method(model: Any, name: str) -> None:
    if not callable(getattr(model, name, None)):
        raise TypeError(f"model must have a {name}() method, got {type(model).__name__}")


def _model_device(model: Any) -> torch.device:
    return torch.device(getattr(model, "device", "cpu"))


def _id_space(interactions: Any, attr: str, ids: np.ndarray) -> int:
    """``num_users``/``num_items``, inferred as ``max + 1`` when unset (duck-typed inputs)."""
    value = getattr(interactions, attr, None)
    if value is None:
        return int(ids.max()) + 1 if ids.size else 0
    return int(value)


def _pairs(interactions: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    users = np.asarray(interactions.user_ids, dtype=np.int64).reshape(-1)
    items = np.asarray(interactions.item_ids, dtype=np.int64).reshape(-1)
    if users.shape != items.shape:
        raise ValueError(f"{name}.user_ids and {name}.item_ids differ in length: {len(users)} vs {len(items)}")
    return users, items


def _exclusion_sets(
    train: Any, exclude: Any, exclude_train: bool
) -> list[tuple[str, Any]]:
    sets: list[tuple[str, Any]] = []
    if train is not None and exclude_train:
        sets.append(("train", train))
    if exclude is not None:
        extra = [exclude] if hasattr(exclude, "user_ids") else list(exclude)
        sets.extend((f"exclude[{i}]", inter) for i, inter in enumerate(extra))
    return sets


def _exclusion_csr(sets: list[tuple[str, Any]], num_users: int, num_items: int) -> sp.csr_matrix | None:
    """All excluded (user, item) pairs as one boolean-like CSR matrix (None if none)."""
    if not sets:
        return None
    users, items = [], []
    for name, inter in sets:
        u, i = _pairs(inter, name)
        other_items = _id_space(inter, "num_items", i)
        if other_items != num_items:
            raise ValueError(f"{name}.num_items={other_items} does not match test.num_items={num_items}")
        users.append(u)
        items.append(i)
    u, i = np.concatenate(users), np.concatenate(items)
    n_users = max(num_users, int(u.max()) + 1 if u.size else 0)
    return sp.csr_matrix((np.ones(len(u), dtype=np.int8), (u, i)), shape=(n_users, num_items))


# --------------------------------------------------------------------------- ranking core


def _sort_rows(scores: torch.Tensor) -> torch.Tensor:
    """Ascending sort of every row; numpy's SIMD sort is several times faster on CPU."""
    if scores.device.type == "cpu":
        return torch.from_numpy(np.sort(scores.numpy(), axis=1))
    return torch.sort(scores, dim=1).values


def _rank_block(
    scores: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    slots: torch.Tensor,
    row_counts: np.ndarray,
    excluded_rows: torch.Tensor | None,
    excluded_cols: torch.Tensor | None,
    legacy: bool,
) -> np.ndarray:
    """Ranks of the test cells ``(rows, cols)`` of a score block.

    ``slots[p]`` is the position of pair ``p`` among its row's test items and
    ``row_counts`` (non-increasing) the number of test items per row, so the
    rows holding a slot ``j`` are a prefix of the block. ``scores`` is
    modified in place.
    """
    if legacy:
        if excluded_rows is not None:
            scores[excluded_rows, excluded_cols] = _FLOAT32_LOWEST
        own = scores[rows, cols]  # after exclusion: an excluded test item sinks too
        not_self = torch.ones_like(rows)
    else:
        own = scores[rows, cols]  # before exclusion: the test item keeps its own score
        if not torch.isfinite(own).all():
            raise ValueError("model returned a non-finite score for a test item; clean evaluation needs finite ones")
        # -inf removes a competitor: it is neither above nor tied with a finite score
        # (a competitor the model itself scores -inf is thus correctly never above).
        if excluded_rows is not None:
            scores[excluded_rows, excluded_cols] = float("-inf")
        # 1 where the test item is still in its row (then it is one of the ties).
        not_self = (scores[rows, cols] == own).long()

    ascending = _sort_rows(scores)
    # Sorting puts NaN last; a NaN competitor would silently count as below everything.
    if torch.isnan(ascending[:, -1]).any():
        raise ValueError("model returned NaN scores")
    n_items = scores.shape[1]
    greater = torch.empty_like(rows)
    equal = torch.empty_like(rows)
    # searchsorted needs a dense (rows, values) matrix: fill it in slot ranges of
    # doubling width; rows are ordered by decreasing count so each range uses a
    # prefix of the block and padding stays below the number of pairs.
    start = 0
    max_slots = int(row_counts[0]) if len(row_counts) else 0
    while start < max_slots:
        stop = min(max(2 * start, 1), max_slots)
        n_rows = int(np.count_nonzero(row_counts > start))
        sel = torch.nonzero((slots >= start) & (slots < stop)).squeeze(1)
        values = torch.zeros(n_rows, stop - start, dtype=scores.dtype, device=scores.device)
        values[rows[sel], slots[sel] - start] = own[sel]
        seq = ascending[:n_rows]
        below = torch.searchsorted(seq, values)  # # scores < s
        at_most = torch.searchsorted(seq, values, right=True)  # # scores <= s
        greater[sel] = n_items - at_most[rows[sel], slots[sel] - start]
        equal[sel] = (at_most - below)[rows[sel], slots[sel] - start]
        start = stop
    ties = (equal - not_self).cpu().numpy()
    return 1.0 + greater.cpu().numpy() + 0.5 * ties


def rank_test_items(
    model: Any,
    test: Any,
    train: Any = None,
    *,
    exclude: Any = None,
    exclude_train: bool = True,
    legacy: str | None = None,
    batch_size: int | None = None,
) -> PairRanks:
    """Rank every distinct test (user, item) pair among all items.

    Parameters
    ----------
    model : object
        Has ``predict_scores(user_ids: LongTensor) -> (n, num_items)`` scores
        and optionally ``device`` (default CPU).
    test : Interactions
        Test pairs (``user_ids``, ``item_ids``, ``num_items``); duplicates count once.
    train : Interactions, optional
        Training pairs, excluded when ``exclude_train`` is true.
    exclude : Interactions or sequence of Interactions, optional
        Further pairs to exclude (e.g. validation), regardless of ``exclude_train``.
    exclude_train : bool
        Exclude ``train`` (default). ``False`` ranks train items like any other.
    legacy : {None, "spotlight"}
        Clean semantics or Spotlight's; see the module docstring.
    batch_size : int, optional
        Users per scored block; default ``2**25 // num_items``.

    Returns
    -------
    PairRanks

    Raises
    ------
    TypeError
        If ``model`` has no ``predict_scores``.
    ValueError
        On empty ``test``, mismatching item spaces, a bad ``legacy``/``batch_size``,
        a score block of the wrong shape, or NaN (clean mode: non-finite) scores.
    """
    is_legacy = _check_legacy(legacy)
    _require_method(model, "predict_scores")
    users, items = _pairs(test, "test")
    if users.size == 0:
        raise ValueError("test has no interactions to rank")
    num_items = _id_space(test, "num_items", items)
    num_users = _id_space(test, "num_users", users)
    block = _check_batch_size(batch_size, num_items)
    excluded = _exclusion_csr(_exclusion_sets(train, exclude, exclude_train), num_users, num_items)

    keys = np.unique(users * num_items + items)  # dedupe; sorted by user, then item
    pair_users, pair_items = keys // num_items, keys % num_items
    row_users, first, counts = np.unique(pair_users, return_index=True, return_counts=True)
    # Heaviest users first (see _rank_block); ``perm`` lists pairs in that order.
    order = np.argsort(-counts, kind="stable")
    ordered_counts = counts[order]
    offsets = np.concatenate(([0], np.cumsum(ordered_counts)))
    pair_row = np.repeat(np.arange(len(order)), ordered_counts)
    slot = np.arange(len(keys)) - offsets[pair_row]
    perm = first[order][pair_row] + slot

    device = _model_device(model)
    ranks = np.empty(len(keys), dtype=np.float64)
    with torch.no_grad():
        for lo in range(0, len(order), block):
            hi = min(lo + block, len(order))
            block_users = row_users[order[lo:hi]]
            scores = model.predict_scores(torch.as_tensor(block_users, device=device)).detach()
            if scores.shape != (hi - lo, num_items):
                raise ValueError(
                    f"model.predict_scores returned shape {tuple(scores.shape)}, expected "
                    f"({hi - lo}, test.num_items={num_items})"
                )
            if scores.dtype in (torch.float16, torch.bfloat16):
                scores = scores.float()  # exact, and float32 holds the legacy sentinel
            on = scores.device
            p_lo, p_hi = offsets[lo], offsets[hi]
            ex_rows = ex_cols = None
            if excluded is not None:
                sub = excluded[block_users]
                ex_rows = torch.as_tensor(np.repeat(np.arange(hi - lo), np.diff(sub.indptr)), device=on)
                ex_cols = torch.as_tensor(sub.indices.astype(np.int64), device=on)
            ranks[perm[p_lo:p_hi]] = _rank_block(
                scores,
                torch.as_tensor(pair_row[p_lo:p_hi] - lo, device=on),
                torch.as_tensor(pair_items[perm[p_lo:p_hi]], device=on),
                torch.as_tensor(slot[p_lo:p_hi], device=on),
                ordered_counts[lo:hi],
                ex_rows,
                ex_cols,
                is_legacy,
            )
    return PairRanks(user_ids=pair_users, item_ids=pair_items, ranks=ranks)


def sequence_ranks(
    model: Any,
    test: Any,
    *,
    exclude_preceding: bool = False,
    legacy: str | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Rank the last item of every test sequence given the items before it.

    Parameters
    ----------
    model : object
        Has ``predict_sequence_scores(sequences: LongTensor (n, L-1)) -> (n, num_items)``
        and optionally ``device``.
    test : SequenceInteractions
        ``sequences`` ``(n_seq, L)`` with ``L >= 2``, left-padded with id 0, and
        ``num_items`` (including the padding id).
    exclude_preceding : bool
        Exclude the items of the input part of each sequence (Spotlight's option).
    legacy : {None, "spotlight"}
        Clean semantics (padding never ranked) or Spotlight's; see module docstring.
    batch_size : int, optional
        Sequences per scored block; default ``2**25 // num_items``.

    Returns
    -------
    np.ndarray
        float64 ``(n_seq,)`` ranks, ties averaged.

    Raises
    ------
    TypeError
        If ``model`` has no ``predict_sequence_scores``.
    ValueError
        On empty ``test``, sequences shorter than 2, a padding target in clean
        mode, a bad ``legacy``/``batch_size``, wrongly shaped or NaN scores.
    """
    is_legacy = _check_legacy(legacy)
    _require_method(model, "predict_sequence_scores")
    sequences = np.asarray(test.sequences, dtype=np.int64)
    if sequences.ndim != 2 or sequences.shape[1] < 2:
        raise ValueError(f"test.sequences must have shape (n, L) with L >= 2, got {sequences.shape}")
    if len(sequences) == 0:
        raise ValueError("test has no sequences to rank")
    num_items = int(test.num_items)
    targets = sequences[:, -1]
    if not is_legacy and np.any(targets == PADDING_ID):
        bad = int(np.flatnonzero(targets == PADDING_ID)[0])
        raise ValueError(
            f"test.sequences[{bad}] ends with the padding id {PADDING_ID}; clean evaluation needs a real "
            "target item in the last column (legacy='spotlight' ranks it anyway)"
        )
    block = _check_batch_size(batch_size, num_items)
    device = _model_device(model)
    ranks = np.empty(len(sequences), dtype=np.float64)
    with torch.no_grad():
        for lo in range(0, len(sequences), block):
            hi = min(lo + block, len(sequences))
            prefix = torch.as_tensor(sequences[lo:hi, :-1], device=device)
            scores = model.predict_sequence_scores(prefix).detach()
            if scores.shape != (hi - lo, num_items):
                raise ValueError(
                    f"model.predict_sequence_scores returned shape {tuple(scores.shape)}, expected "
                    f"({hi - lo}, test.num_items={num_items})"
                )
            if scores.dtype in (torch.float16, torch.bfloat16):
                scores = scores.float()
            on = scores.device
            n = hi - lo
            ex_rows, ex_cols = [], []
            if exclude_preceding:
                width = prefix.shape[1]
                ex_rows.append(torch.arange(n, device=on).repeat_interleave(width))
                ex_cols.append(prefix.to(on).reshape(-1))
            if not is_legacy:  # the padding id is not an item
                ex_rows.append(torch.arange(n, device=on))
                ex_cols.append(torch.full((n,), PADDING_ID, dtype=torch.long, device=on))
            ranks[lo:hi] = _rank_block(
                scores,
                torch.arange(n, device=on),
                torch.as_tensor(targets[lo:hi], device=on),
                torch.zeros(n, dtype=torch.long, device=on),
                np.ones(n, dtype=np.int64),
                torch.cat(ex_rows) if ex_rows else None,
                torch.cat(ex_cols) if ex_cols else None,
                is_legacy,
            )
    return ranks


# --------------------------------------------------------------------------- metrics


def metrics_from_ranks(
    ranks: np.ndarray,
    rows: np.ndarray,
    ks: int | Iterable[int] = DEFAULT_KS,
    *,
    user_ids: np.ndarray | None = None,
    per_user: bool = False,
) -> RankingMetrics:
    """Aggregate test-item ranks into per-row and mean metrics.

    Parameters
    ----------
    ranks : np.ndarray
        ``(n_pairs,)`` 1-based ranks (possibly fractional from averaged ties).
    rows : np.ndarray
        ``(n_pairs,)`` 0-based query row of each pair; rows ``0..max`` must all occur.
    ks : int or iterable of int
        Cut-offs for precision, recall, NDCG and hit rate.
    user_ids : np.ndarray, optional
        User of each row, stored in ``per_user``; default the row index.
    per_user : bool
        Keep the per-row arrays in the result.

    Returns
    -------
    RankingMetrics
    """
    ks = _check_ks(ks)
    ranks = np.asarray(ranks, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    if ranks.shape != rows.shape or ranks.ndim != 1 or ranks.size == 0:
        raise ValueError(f"ranks and rows must be equal non-empty 1-d arrays, got {ranks.shape} and {rows.shape}")
    if np.any(ranks < 1):
        raise ValueError(f"ranks must be >= 1, got minimum {ranks.min()}")
    n_rows = int(rows.max()) + 1
    counts = np.bincount(rows, minlength=n_rows)
    if np.any(counts == 0):
        raise ValueError("rows must number the query rows 0..n-1 without gaps")
    mrr = np.bincount(rows, 1.0 / ranks, n_rows) / counts
    discounts = np.cumsum(1.0 / np.log2(np.arange(2, max(ks) + 2)))  # ideal DCG at 1..max(k)
    precision, recall, ndcg, hit = {}, {}, {}, {}
    for k in ks:
        inside = ranks <= k
        hits = np.bincount(rows, inside, n_rows)
        dcg = np.bincount(rows, np.where(inside, 1.0 / np.log2(1.0 + ranks), 0.0), n_rows)
        precision[k] = hits / k
        recall[k] = hits / counts
        hit[k] = (hits > 0).astype(np.float64)
        ndcg[k] = dcg / discounts[np.minimum(counts, k) - 1]
    details = None
    if per_user:
        ids = np.arange(n_rows, dtype=np.int64) if user_ids is None else np.asarray(user_ids, dtype=np.int64)
        details = PerUserMetrics(ids, counts, mrr, precision, recall, ndcg, hit)

    def means(values: dict[int, np.ndarray]) -> dict[int, float]:
        return {k: float(v.mean()) for k, v in values.items()}

    return RankingMetrics(
        mrr=float(mrr.mean()),
        precision=means(precision),
        recall=means(recall),
        ndcg=means(ndcg),
        hit_rate=means(hit),
        num_rows=n_rows,
        per_user=details,
    )


def evaluate_ranking(
    model: Any,
    test: Any,
    train: Any = None,
    *,
    exclude: Any = None,
    exclude_train: bool = True,
    ks: int | Iterable[int] = DEFAULT_KS,
    legacy: str | None = None,
    batch_size: int | None = None,
    per_user: bool = False,
) -> RankingMetrics:
    """Full-catalogue MRR, precision, recall, NDCG and hit rate of a factorization model.

    Arguments as :func:`rank_test_items`, plus ``ks`` (cut-offs) and
    ``per_user`` (keep per-user arrays). Means are over users with at least
    one test item.
    """
    ks = _check_ks(ks)
    pairs = rank_test_items(
        model, test, train, exclude=exclude, exclude_train=exclude_train, legacy=legacy, batch_size=batch_size
    )
    users, rows = np.unique(pairs.user_ids, return_inverse=True)
    return metrics_from_ranks(pairs.ranks, rows, ks, user_ids=users, per_user=per_user)


def mrr_score(
    model: Any,
    test: Any,
    train: Any = None,
    *,
    exclude: Any = None,
    exclude_train: bool = True,
    legacy: str | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Per-user MRR, like Spotlight's ``mrr_score``.

    Returns
    -------
    np.ndarray
        float64, one value per user with test items, in increasing user id.
        Arguments as :func:`rank_test_items`.
    """
    pairs = rank_test_items(
        model, test, train, exclude=exclude, exclude_train=exclude_train, legacy=legacy, batch_size=batch_size
    )
    _, rows, counts = np.unique(pairs.user_ids, return_inverse=True, return_counts=True)
    return np.bincount(rows, 1.0 / pairs.ranks) / counts


def evaluate_sequence_ranking(
    model: Any,
    test: Any,
    *,
    exclude_preceding: bool = False,
    ks: int | Iterable[int] = DEFAULT_KS,
    legacy: str | None = None,
    batch_size: int | None = None,
    per_user: bool = False,
) -> RankingMetrics:
    """MRR, precision, recall, NDCG and hit rate of next-item prediction.

    Each test sequence is one row with a single target (its last item), so
    recall@k equals hit rate@k and precision@k is hit rate@k / k. Arguments
    as :func:`sequence_ranks`; ``per_user`` keeps one value per sequence.
    """
    ks = _check_ks(ks)
    ranks = sequence_ranks(model, test, exclude_preceding=exclude_preceding, legacy=legacy, batch_size=batch_size)
    user_ids = getattr(test, "user_ids", None)
    return metrics_from_ranks(ranks, np.arange(len(ranks)), ks, user_ids=user_ids, per_user=per_user)


def sequence_mrr_score(
    model: Any,
    test: Any,
    exclude_preceding: bool = False,
    legacy: str | None = None,
    *,
    batch_size: int | None = None,
) -> np.ndarray:
    """Reciprocal rank of the last item of each test sequence, like Spotlight's.

    Returns
    -------
    np.ndarray
        float64 ``(n_seq,)``; its mean is the sequence MRR. Arguments as
        :func:`sequence_ranks`.
    """
    return 1.0 / sequence_ranks(
        model, test, exclude_preceding=exclude_preceding, legacy=legacy, batch_size=batch_size
    )


# --------------------------------------------------------------------------- ratings


def rmse_score(model: Any, test: Any, *, batch_size: int = 2**20) -> float:
    """Root mean squared error of an explicit model's predicted ratings.

    Parameters
    ----------
    model : object
        Has ``predict(user_ids, item_ids) -> (n,)`` predicted ratings
        (numpy array or tensor).
    test : Interactions
        Pairs with ``ratings``.
    batch_size : int
        Pairs per ``predict`` call.

    Returns
    -------
    float
        ``sqrt(mean((rating - prediction) ** 2))``, accumulated in float64.

    Raises
    ------
    TypeError
        If ``model`` has no ``predict``.
    ValueError
        If ``test`` is empty or has no ratings, or predictions have the wrong shape.
    """
    _require_method(model, "predict")
    users, items = _pairs(test, "test")
    if getattr(test, "ratings", None) is None:
        raise ValueError("rmse_score needs test interactions with ratings, got test.ratings=None")
    ratings = np.asarray(test.ratings, dtype=np.float64).reshape(-1)
    if ratings.shape != users.shape:
        raise ValueError(f"test.ratings has {len(ratings)} entries for {len(users)} pairs")
    if users.size == 0:
        raise ValueError("test has no interactions to score")
    batch_size = _check_batch_size(batch_size, 1)
    squared = 0.0
    with torch.no_grad():
        for lo in range(0, len(users), batch_size):
            hi = min(lo + batch_size, len(users))
            predicted = model.predict(users[lo:hi], items[lo:hi])
            if isinstance(predicted, torch.Tensor):
                predicted = predicted.detach().cpu().numpy()
            predicted = np.asarray(predicted, dtype=np.float64)
            if predicted.shape != (hi - lo,):
                raise ValueError(f"model.predict returned shape {predicted.shape}, expected ({hi - lo},)")
            squared += float(np.sum((ratings[lo:hi] - predicted) ** 2))
    return float(np.sqrt(squared / len(users)))
