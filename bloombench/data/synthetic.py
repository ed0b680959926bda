"""Seeded synthetic interactions with Zipf item popularity.

Nothing here allocates memory proportional to ``num_items`` or ``num_users``,
so id spaces of 10^8 and more cost only what the interactions themselves cost.
"""

from __future__ import annotations

import math

import numpy as np

from bloombench.checks import check_fraction, check_int, check_number
from bloombench.data.interactions import Interactions

__all__ = ["synthetic", "zipf_rank_probabilities"]

# Ranks below this get exact Zipf weights from a small table; the tail uses a
# continuous approximation, accurate there because x^-s barely varies per unit.
_HEAD = 1024
# Items: a * rank must fit in uint64 for the affine permutation; users: the
# packed (user, time) sort key must fit in int64.
_MAX_IDS = 2**32
_T0 = 1_000_000_000  # 2001-09-09, so timestamps look like Unix seconds
_TIME_SPAN = 10 * 365 * 24 * 3600


def _tail_mass(lo: float, hi: float, s: float) -> float:
    """Integral of x^-s over [lo, hi]."""
    if abs(s - 1.0) < 1e-12:
        return math.log(hi / lo)
    return (hi ** (1.0 - s) - lo ** (1.0 - s)) / (1.0 - s)


def _tail_inverse(lo: float, mass: np.ndarray, s: float) -> np.ndarray:
    """x such that the integral of t^-s over [lo, x] equals ``mass``."""
    if abs(s - 1.0) < 1e-12:
        return lo * np.exp(mass)
    return (lo ** (1.0 - s) + (1.0 - s) * mass) ** (1.0 / (1.0 - s))


def _rank_model(num_items: int, s: float) -> tuple[np.ndarray, float]:
    """Exact head weights (ranks 1.._HEAD) and the tail mass of the rest."""
    head = min(num_items, _HEAD)
    weights = np.arange(1, head + 1, dtype=np.float64) ** -s
    # Midpoint rule: rank k covers [k - 1/2, k + 1/2] of the continuous density.
    tail = _tail_mass(head + 0.5, num_items + 0.5, s) if num_items > head else 0.0
    return weights, tail


def zipf_rank_probabilities(num_items: int, zipf_exponent: float, ranks: np.ndarray) -> np.ndarray:
    """Probability of each 0-based popularity rank under :func:`synthetic`'s sampler.

    Exact for ranks below 1024 (weights ``(rank + 1) ** -zipf_exponent``);
    beyond that, the midpoint-rule approximation the sampler uses.
    """
    weights, tail = _rank_model(num_items, zipf_exponent)
    total = weights.sum() + tail
    ranks = np.asarray(ranks, dtype=np.int64)
    head_p = weights[np.minimum(ranks, len(weights) - 1)]
    tail_p = np.array([_tail_mass(r + 0.5, r + 1.5, zipf_exponent) for r in ranks.ravel()]).reshape(
        ranks.shape
    )
    return np.where(ranks < len(weights), head_p, tail_p) / total


def _sample_ranks(rng: np.random.Generator, n: int, num_items: int, s: float) -> np.ndarray:
    """Draw ``n`` 0-based popularity ranks with P(rank r) ~ (r + 1)^-s."""
    weights, tail = _rank_model(num_items, s)
    cumulative = np.cumsum(weights)
    total = cumulative[-1] + tail
    u = rng.random(n) * total
    in_head = u < cumulative[-1]
    ranks = np.empty(n, dtype=np.int64)
    ranks[in_head] = np.searchsorted(cumulative, u[in_head], side="right")
    if tail > 0:
        lo = len(weights) + 0.5
        x = _tail_inverse(lo, u[~in_head] - cumulative[-1], s)
        # x in [K + 1/2, N + 1/2] -> 1-based rank round(x) -> 0-based rank.
        ranks[~in_head] = (
            np.clip(np.floor(x + 0.5).astype(np.int64), len(weights) + 1, num_items) - 1
        )
    return np.minimum(ranks, num_items - 1)


def _affine_permutation(rng: np.random.Generator, num_items: int) -> tuple[int, int]:
    """Random bijection r -> (a r + b) mod n, with gcd(a, n) = 1 (no dense permutation)."""
    if num_items == 1:
        return 1, 0
    while True:
        a = int(rng.integers(1, num_items))
        if math.gcd(a, num_items) == 1:
            return a, int(rng.integers(0, num_items))


def synthetic(
    num_users: int = 943,
    num_items: int = 1682,
    num_interactions: int = 100_000,
    *,
    zipf_exponent: float = 1.0,
    sequential: bool = False,
    seed: int = 0,
    with_timestamps: bool = True,
    transition_probability: float = 0.5,
    transition_window: int = 3,
) -> Interactions:
    """Generate implicit-feedback interactions with Zipf-distributed item popularity.

    Users are drawn uniformly. Items are drawn by popularity rank with
    ``P(rank r) ~ (r + 1) ** -zipf_exponent`` (0 gives uniform items), and
    ranks are mapped to item ids by a seeded affine bijection
    ``(a r + b) mod num_items``, so the popular items are scattered over the id
    space. Repeated (user, item) pairs can occur, as in re-consumption.

    Rows are ordered by user and then by time; with ``sequential=True`` each
    next item of a user is, with probability ``transition_probability``, the
    item whose popularity rank is 1..``transition_window`` above the previous
    one (a learnable Markov structure), and otherwise a fresh Zipf draw.

    Parameters
    ----------
    num_users, num_items : int
        Id space sizes (>= 1; ``num_items <= 2**32``). The defaults give MovieLens 100K's shape.
    num_interactions : int
        Number of rows (>= 0).
    zipf_exponent : float
        Popularity skew (>= 0).
    sequential : bool
        Add the sequential structure described above.
    seed : int
        Seed for every random choice.
    with_timestamps : bool
        Attach increasing per-user timestamps (Unix-like seconds).
    transition_probability : float
        Chance that a sequential step follows the previous item (in [0, 1]).
    transition_window : int
        Largest rank step of a sequential transition (>= 1).

    Returns
    -------
    Interactions
        Without ratings; ``num_users``/``num_items`` as requested.
    """
    num_users = check_int("num_users", num_users, 1, _MAX_IDS)
    num_items = check_int("num_items", num_items, 1, _MAX_IDS)
    n = check_int("num_interactions", num_interactions, 0)
    s = check_number("zipf_exponent", zipf_exponent, low=0)
    p = check_fraction("transition_probability", transition_probability, low_open=False, high_open=False)
    window = check_int("transition_window", transition_window)

    rng = np.random.default_rng(seed)
    users = rng.integers(0, num_users, n, dtype=np.int64)
    timestamps = None
    if with_timestamps:
        # Sorting the packed key (user, time) orders rows by user, then time,
        # with one plain sort instead of a much slower lexsort.
        key = users * _TIME_SPAN + rng.integers(0, _TIME_SPAN, n, dtype=np.int64)
        key.sort()
        users, timestamps = np.divmod(key, _TIME_SPAN)
        timestamps += _T0
    else:
        users.sort()

    ranks = _sample_ranks(rng, n, num_items, s)
    if sequential and n:
        ranks = _chain_ranks(rng, users, ranks, num_items, p, window)

    a, b = _affine_permutation(rng, num_items)
    items = (ranks.astype(np.uint64) * np.uint64(a) + np.uint64(b)) % np.uint64(num_items)
    return Interactions(
        user_ids=users,
        item_ids=items.astype(np.int64),
        timestamps=timestamps,
        num_users=num_users,
        num_items=num_items,
    )


def _chain_ranks(
    rng: np.random.Generator,
    users: np.ndarray,
    fresh: np.ndarray,
    num_items: int,
    p: float,
    window: int,
) -> np.ndarray:
    """Vectorised Markov chain over each user's (sorted) rows.

    A row either starts a run (fresh Zipf rank; always at a user's first row)
    or steps forward by 1..window ranks from the previous row. Within a run,
    rank = run start rank + cumulative steps, computed with one cumsum.
    """
    n = len(users)
    starts_run = rng.random(n) >= p
    starts_run[0] = True
    starts_run[1:] |= users[1:] != users[:-1]
    steps = np.where(starts_run, 0, rng.integers(1, window + 1, n))
    cumulative = np.cumsum(steps)
    run = np.cumsum(starts_run) - 1
    run_start = np.flatnonzero(starts_run)
    offset = cumulative - cumulative[run_start][run]
    return (fresh[run_start][run] + offset) % num_items
