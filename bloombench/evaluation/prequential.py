"""Prequential (test-then-train) ranking metrics of a stream, per window and per user group.

Each window's events are ranked *before* the model trains on them. Ranks are over the **full catalogue**
(every item competes; nothing is excluded, since the stream has repeat consumption), with ties averaged
as in :mod:`bloombench.evaluation.ranks`: ``rank = 1 + #(score > s) + #(score == s) / 2``. Scoring every
event of a large stream against 10^5+ items would cost more than training on it, so a seeded sample of
at most ``per_group`` events per window and per group (events of new users, of returning users) is
ranked; sampling events rather than negative items keeps each rank exact (sampled-negative metrics
are biased, Krichene & Rendle 2020). Group means are unbiased for the group's events in the window;
pooled figures weight each window's group means by the group's number of events.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

__all__ = ["GROUPS", "PrequentialLog", "reciprocal_ranks", "sample_events"]

#: The user groups of a window: events of users seen for the first time, and of users seen before.
GROUPS = ("new", "returning")
_HIT_K = 10


def reciprocal_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``1 / rank`` of ``targets[i]`` in row i of ``scores`` ``(n, items)`` (ties averaged), float64 ``(n,)``."""
    target = scores.gather(1, targets.reshape(-1, 1))
    # int32 counts: the bool-to-int64 reduction torch picks by default costs twice as much
    above = (scores > target).sum(1, dtype=torch.int32)
    ties = (scores == target).sum(1, dtype=torch.int32) - 1
    return 1.0 / (1.0 + above.double() + ties.double() / 2.0)


def sample_events(rng: np.random.Generator, new: np.ndarray, per_group: int) -> dict[str, np.ndarray]:
    """Indices of at most ``per_group`` events of each group (sorted), drawn without replacement."""
    out = {}
    for group, members in zip(GROUPS, (np.flatnonzero(new), np.flatnonzero(~new))):
        take = min(per_group, members.size)
        out[group] = np.sort(rng.choice(members, take, replace=False)) if take < members.size else members
    return out


@dataclasses.dataclass
class PrequentialLog:
    """Per-window sums of one pass: for each group, events, ranked events, Σ 1/rank and hits@10."""

    events: dict[str, list[int]] = dataclasses.field(default_factory=lambda: {g: [] for g in GROUPS})
    ranked: dict[str, list[int]] = dataclasses.field(default_factory=lambda: {g: [] for g in GROUPS})
    rr_sum: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {g: [] for g in GROUPS})
    hits: dict[str, list[int]] = dataclasses.field(default_factory=lambda: {g: [] for g in GROUPS})

    def add_window(self, new: np.ndarray, ranked: dict[str, np.ndarray],
                   reciprocal: Callable[[np.ndarray], np.ndarray]) -> None:
        """Rank the sampled events of a window (``ranked``: indices per group) and log them.

        ``reciprocal(indices)`` returns the reciprocal ranks of those events.
        """
        counts = {"new": int(new.sum()), "returning": int((~new).sum())}
        for group in GROUPS:
            rr = reciprocal(ranked[group]) if ranked[group].size else np.zeros(0)
            self.events[group].append(counts[group])
            self.ranked[group].append(int(rr.size))
            self.rr_sum[group].append(float(rr.sum()))
            self.hits[group].append(int(np.count_nonzero(rr >= 1.0 / _HIT_K)))

    def window_means(self, group: str, values: str = "rr_sum") -> list[float | None]:
        """Mean reciprocal rank (``values="rr_sum"``) or hit rate@10 (``"hits"``) of ``group`` per window;
        None where no event of the group was ranked."""
        sums = getattr(self, values)[group]
        return [s / n if n else None for s, n in zip(sums, self.ranked[group])]

    def summary(self, windows: Sequence[int] | range) -> dict[str, float]:
        """``mrr``, ``hit_rate@10``, each also ``_new`` and ``_returning``, over ``windows`` (NaN where
        nothing was ranked)."""
        out: dict[str, float] = {}
        pooled = {"mrr": [0.0, 0], f"hit_rate@{_HIT_K}": [0.0, 0]}
        for group in GROUPS:
            for name, values in (("mrr", "rr_sum"), (f"hit_rate@{_HIT_K}", "hits")):
                means = self.window_means(group, values)
                total, weight = 0.0, 0
                for w in windows:
                    if means[w] is not None:
                        total += means[w] * self.events[group][w]
                        weight += self.events[group][w]
                out[f"{name}_{group}"] = total / weight if weight else math.nan
                pooled[name][0] += total
                pooled[name][1] += weight
        for name, (total, weight) in pooled.items():
            out[name] = total / weight if weight else math.nan
        return dict(sorted(out.items()))
