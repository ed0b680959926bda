"""Metrics from ranks (MRR, precision, recall, NDCG, hit rate) and the evaluations that report them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from bloombench.evaluation._checks import check_ks
from bloombench.evaluation.ranks import rank_test_items, sequence_ranks
from bloombench.evaluation.results import PerUserMetrics, RankingMetrics

__all__ = [
    "DEFAULT_KS",
    "evaluate_ranking",
    "evaluate_sequence_ranking",
    "metrics_from_ranks",
    "mrr_score",
    "sequence_mrr_score",
]

DEFAULT_KS: tuple[int, ...] = (5, 10, 20)


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
    ks = check_ks(ks)
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
    ks = check_ks(ks)
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
    ks = check_ks(ks)
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
