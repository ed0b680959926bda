"""Train / validation / test splits of :class:`Interactions`.

Every split returns ``(train, validation, test)``; all three keep the input's
``num_users``/``num_items`` (and id maps) so models and metrics see one id
space. Rows keep their original relative order inside each part.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bloombench.checks import check_fraction, check_int
from bloombench.data.interactions import Interactions

__all__ = ["random_split", "user_split", "temporal_split", "leave_last_out"]

Split = tuple[Interactions, Interactions, Interactions]


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3:
        raise ValueError(
            f"fractions must be (train, validation, test), got {len(values)} values: {fractions!r}"
        )
    if any(not np.isfinite(f) or f < 0 for f in values) or abs(sum(values) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions!r}")
    return values  # type: ignore[return-value]


def _cut(order: np.ndarray, fractions: tuple[float, float, float]) -> list[np.ndarray]:
    """Split ``order`` (row or group indices) into train/validation/test chunks.

    Validation and test sizes are rounded; train takes the remainder, so the
    chunks always cover ``order`` exactly.
    """
    n = len(order)
    n_val = int(round(fractions[1] * n))
    n_test = min(int(round(fractions[2] * n)), n - n_val)
    n_train = n - n_val - n_test
    return [order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]]


def _parts(interactions: Interactions, chunks: list[np.ndarray]) -> Split:
    # Sorting restores the original row order inside each part.
    train, val, test = (interactions.subset(np.sort(chunk)) for chunk in chunks)
    return train, val, test


def _require_timestamps(interactions: Interactions, name: str) -> np.ndarray:
    if interactions.timestamps is None:
        raise ValueError(
            f"{name} needs timestamps, but these interactions have none "
            "(e.g. ML-1M loaded from ratings_no_timestamps.dat.gz); "
            "use random_split or user_split instead"
        )
    return interactions.timestamps


def random_split(
    interactions: Interactions,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
) -> Split:
    """Assign each interaction to train/validation/test uniformly at random.

    Parameters
    ----------
    interactions : Interactions
    fractions : (float, float, float)
        Shares of train, validation and test; non-negative, summing to 1.
    seed : int
        Seed of the shuffle.
    """
    fractions = _check_fractions(fractions)
    order = np.random.default_rng(seed).permutation(len(interactions))
    return _parts(interactions, _cut(order, fractions))


def user_split(
    interactions: Interactions,
    test_fraction: float = 0.1,
    validation_fraction: float = 0.1,
    *,
    seed: int = 0,
) -> Split:
    """Hold out whole users: all interactions of a user land in one part.

    The fractions are shares of the users that have at least one interaction.
    """
    test_fraction = check_fraction("test_fraction", test_fraction, low_open=False, high_open=False)
    validation_fraction = check_fraction("validation_fraction", validation_fraction, low_open=False,
                                         high_open=False)
    if test_fraction + validation_fraction > 1.0 + 1e-9:
        raise ValueError(
            "test_fraction + validation_fraction must be <= 1, got "
            f"{test_fraction} + {validation_fraction}"
        )
    fractions = (1.0 - test_fraction - validation_fraction, validation_fraction, test_fraction)
    users = np.unique(interactions.user_ids)
    shuffled = np.random.default_rng(seed).permutation(len(users))
    role = np.empty(len(users), dtype=np.int8)
    for part, chunk in enumerate(_cut(shuffled, fractions)):
        role[chunk] = part
    row_role = role[np.searchsorted(users, interactions.user_ids)]
    chunks = [np.flatnonzero(row_role == part) for part in range(3)]
    return _parts(interactions, chunks)


def temporal_split(
    interactions: Interactions, fractions: Sequence[float] = (0.8, 0.1, 0.1)
) -> Split:
    """Global time split: the earliest interactions train, the latest test.

    Ties in time are broken by row order (stable sort), so the split is
    deterministic. Raises ``ValueError`` without timestamps.
    """
    timestamps = _require_timestamps(interactions, "temporal_split")
    fractions = _check_fractions(fractions)
    order = np.argsort(timestamps, kind="stable")
    return _parts(interactions, _cut(order, fractions))


def leave_last_out(interactions: Interactions, n: int = 1, *, validation: bool = True) -> Split:
    """Per user, hold out the most recent ``n`` interactions for test.

    With ``validation=True`` the ``n`` interactions before those form the
    validation set. A user always keeps at least one training interaction:
    users with few interactions give up fewer (test first, then validation).
    Ties in time keep row order. Raises ``ValueError`` without timestamps.
    """
    _require_timestamps(interactions, "leave_last_out")
    n = check_int("n", n)
    order = interactions.user_time_order()
    users_sorted = interactions.user_ids[order]
    _, starts, counts = np.unique(users_sorted, return_index=True, return_counts=True)
    group = np.repeat(np.arange(len(counts)), counts)
    rank_from_end = np.repeat(starts + counts - 1, counts) - np.arange(len(order))
    held_test = np.minimum(n, counts - 1)
    held_val = np.minimum(n, counts - 1 - held_test) if validation else np.zeros_like(counts)
    n_test, n_val = held_test[group], held_val[group]
    role = np.where(rank_from_end < n_test, 2, np.where(rank_from_end < n_test + n_val, 1, 0))
    chunks = [order[role == part] for part in range(3)]
    return _parts(interactions, chunks)
