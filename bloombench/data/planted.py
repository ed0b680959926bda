"""Seeded interactions with planted structure: users and items from latent factors, Zipf popularity, and a
controllable catalogue size d and mean history length c.

Used by the ``regime`` experiment to locate where hashing costs little: how much a Bloom code or a hashed
table loses depends on the number of bits or rows m against k times the history length, not on m/d
alone, so the catalogue size and the history length have to be varied independently, which MovieLens
does not allow.

The model
    Every user u has a latent vector ``p_u ~ N(0, I)`` and every item i a latent vector
    ``q_i ~ N(0, I/rank)`` (so an affinity ``p_u . q_i`` has unit variance) and a seeded random popularity
    rank r_i. User u's history has ``c_u`` distinct items
    (``c_u - 1 ~ Poisson(mean_history - 1)``, capped at the catalogue), drawn without replacement with
    probability proportional to ``(r_i + 1) ** -zipf_exponent * exp(p_u . q_i / temperature)``
    (Gumbel top-k): Zipf popularity times a personal affinity; a low temperature makes histories follow the
    factors closely, a high one makes them near-random around popularity.

Cost: one ``(users in a chunk) x num_items`` block of scores at a time (``chunk_bytes``), so catalogues of
10^6 items work in bounded memory; nothing else grows with the catalogue beyond its latent factors.
"""

from __future__ import annotations

import numpy as np

from bloombench.checks import check_int, check_number
from bloombench.data.interactions import Interactions

__all__ = ["planted"]

_T0 = 1_000_000_000  # 2001-09-09, so timestamps look like Unix seconds
_TINY = np.finfo(np.float32).tiny


def planted(num_users: int = 1000, num_items: int = 5000, mean_history: float = 50.0, *, rank: int = 16,
            zipf_exponent: float = 0.8, temperature: float = 0.25, seed: int = 0,
            chunk_bytes: int = 1 << 27) -> Interactions:
    """Interactions of ``num_users`` users over ``num_items`` items with planted latent structure.

    Parameters
    ----------
    num_users, num_items : int
        Id spaces (every id in ``[0, n)``; a user always has at least one item).
    mean_history : float
        Mean number of distinct items per user (c), at least 1.
    rank : int
        Dimension of the latent factors.
    zipf_exponent : float
        Strength of the popularity bias (0: none).
    temperature : float
        Softness of the choice (> 0): lower follows the factors more closely.
    seed : int
        Seeds every random choice; the same arguments give the same interactions.
    chunk_bytes : int
        Memory of one block of scores (users x items, float32).

    Returns
    -------
    Interactions
        Rows ordered by user and then by time (each user's items in the order drawn, one second apart), no
        ratings, ``num_users``/``num_items`` as requested.
    """
    num_users = check_int("num_users", num_users)
    num_items = check_int("num_items", num_items)
    mean = check_number("mean_history", mean_history, low=1)
    rank = check_int("rank", rank)
    zipf = check_number("zipf_exponent", zipf_exponent, low=0)
    temperature = check_number("temperature", temperature, low=0, low_open=True)
    check_int("seed", seed, 0)
    chunk_bytes = check_int("chunk_bytes", chunk_bytes)

    rng = np.random.default_rng([seed, 0x91A47ED])
    # p ~ N(0, I), q ~ N(0, I/rank): the affinity p.q has unit variance whatever the rank.
    users = (rng.standard_normal((num_users, rank)) / temperature).astype(np.float32)
    items = (rng.standard_normal((num_items, rank)) / np.sqrt(rank)).astype(np.float32)
    bias = (-zipf * np.log1p(rng.permutation(num_items))).astype(np.float32)
    lengths = np.minimum(1 + rng.poisson(mean - 1.0, num_users), num_items)
    block = max(1, chunk_bytes // (4 * num_items))
    chosen: list[np.ndarray] = []
    for start in range(0, num_users, block):
        stop = min(start + block, num_users)
        logits = users[start:stop] @ items.T
        logits += bias
        # + Gumbel noise (-log of an exponential; float32 can draw an exact 0): top-k then samples
        # without replacement
        logits -= np.log(np.maximum(rng.standard_exponential(logits.shape, dtype=np.float32), _TINY))
        for row, length in zip(logits, lengths[start:stop]):
            top = np.argpartition(row, -length)[-length:]
            chosen.append(top[np.argsort(-row[top], kind="stable")])  # the order drawn
    item_ids = np.concatenate(chosen).astype(np.int64)
    user_ids = np.repeat(np.arange(num_users, dtype=np.int64), lengths)
    timestamps = _T0 + np.concatenate([np.arange(n, dtype=np.int64) for n in lengths])
    return Interactions(user_ids=user_ids, item_ids=item_ids, timestamps=timestamps, num_users=num_users,
                        num_items=num_items)
