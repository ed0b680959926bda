"""What the evaluation returns: ranks of test pairs, per-row metrics and their means."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PairRanks", "PerUserMetrics", "RankingMetrics"]


@dataclass(frozen=True)
class PairRanks:
    """Rank of every distinct test (user, item) pair, sorted by user then item.

    Attributes
    ----------
    user_ids, item_ids : np.ndarray
        int64 ``(n_pairs,)``.
    ranks : np.ndarray
        float64 ``(n_pairs,)``, 1-based, ties averaged (see :mod:`bloombench.evaluation`).
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
