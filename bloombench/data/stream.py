"""A seeded interaction stream over an internet-scale user id space, with churn, generated lazily.

The HashCoFi scenario (Karatzoglou et al., AISTATS 2010): 10^8 possible user ids, users arrive over time,
are active for a while and leave, and a share of every window's events comes from users never seen
before. Nothing here has the size of the id space: a window is generated from the users active in it,
and a user's preferences are derived from its id by seeded hashes (:mod:`bloombench.hashing`), not
stored.

The model
    *Items.* ``rank`` topics; a seeded affine bijection (:func:`~bloombench.data.synthetic.synthetic`'s)
    lays the catalogue out so that topic t holds every ``rank``-th item of it, in decreasing popularity:
    an item of topic t is drawn with Zipf popularity ``(r + 1) ** -zipf_exponent`` over its rank r in
    the topic.
    *Users.* The j-th user to arrive gets id ``(a j + b) mod num_users`` (a seeded bijection: ids are
    spread over the id space and never reused). User u prefers topic k with probability
    ``softmax(z_u / temperature)_k``, ``z_u ~ N(0, I_rank)`` computed from murmur3 hashes of the keys
    ``u * rank + k`` (Box-Muller), and has a Pareto activity weight ``U ** (-1 / activity_exponent)``
    (Zipf-like: a few users make many of the events), also from its id.
    *Time.* Every window has ``events_per_window`` events. ``new_user_share`` of them come from the
    users arriving in the window (``new_user_events`` events each on average, at least one: a user is
    new exactly in its arrival window), the rest from the users active since earlier windows, drawn in
    proportion to their activity. A user stays for ``1 + Geometric`` windows (mean ``mean_lifetime``)
    and then leaves for good. Window 0 has only arrivals. An event picks its user's topic from the
    user's preferences, then an item of that topic. Repeat consumption happens, as in real streams.

Cost: per window, the active users (arrivals x lifetime, not the id space) and its events. Two seeds:
``seed`` fixes the world (the catalogue layout, the id bijection, every user's preferences and activity)
and ``events_seed`` the realisation (arrivals' events, lifetimes, which user and item each event has), so
repeats of an experiment can draw new streams from one world.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from bloombench.checks import check_fraction, check_int, check_number
from bloombench.data.synthetic import _affine_permutation, _sample_ranks
from bloombench.hashing import derive_seeds, hash_ids

__all__ = ["InteractionStream", "StreamPart", "StreamWindow"]

_TWO32 = 2.0**32


@dataclasses.dataclass(frozen=True)
class StreamWindow:
    """The events of one window, in time order.

    Attributes
    ----------
    index : int
        Window number.
    user_ids, item_ids : np.ndarray
        int64 ``(events,)``.
    new : np.ndarray
        bool ``(events,)``: the event's user had no event in an earlier window.
    users_seen : int
        Distinct users with an event up to and including this window.
    """

    index: int
    user_ids: np.ndarray
    item_ids: np.ndarray
    new: np.ndarray
    users_seen: int

    def __len__(self) -> int:
        return int(self.user_ids.size)


@dataclasses.dataclass(frozen=True)
class StreamPart:
    """Windows ``[start, stop)`` of a stream: what a trial's ``validation`` or ``test`` names."""

    name: str
    start: int
    stop: int
    events: int

    def __len__(self) -> int:
        return self.events


class InteractionStream:
    """Iterate the windows of a seeded stream (see the module notes); iterating again replays it.

    Parameters
    ----------
    num_users : int
        Size of the user id space (ids in ``[0, num_users)``); at least the users that arrive.
    num_items : int
        Catalogue size.
    num_windows, events_per_window : int
        Length of the stream.
    new_user_share : float
        Share of a window's events (after window 0) from users arriving in it, in (0, 1).
    new_user_events : float
        Mean events of a user in its arrival window (>= 1).
    mean_lifetime : float
        Mean windows a user stays (>= 1).
    activity_exponent : float
        Tail exponent of the users' Pareto activity (> 0; smaller: more skewed).
    rank : int
        Topics (the rank of the planted preferences).
    zipf_exponent : float
        Popularity skew within a topic (>= 0).
    temperature : float
        Softness of the topic preferences (> 0; lower: more concentrated).
    seed, events_seed : int
        The world's and the realisation's seeds.
    """

    def __init__(self, num_users: int = 10**8, num_items: int = 100_000, num_windows: int = 50,
                 events_per_window: int = 20_000, *, new_user_share: float = 0.2, new_user_events: float = 2.0,
                 mean_lifetime: float = 10.0, activity_exponent: float = 1.5, rank: int = 16,
                 zipf_exponent: float = 0.8, temperature: float = 0.3, seed: int = 0,
                 events_seed: int = 0) -> None:
        self.num_users = check_int("num_users", num_users, 1, 2**31)
        self.num_items = check_int("num_items", num_items)
        self.num_windows = check_int("num_windows", num_windows)
        self.events_per_window = check_int("events_per_window", events_per_window)
        self.new_user_share = check_fraction("new_user_share", new_user_share)
        self.new_user_events = check_number("new_user_events", new_user_events, low=1)
        self.mean_lifetime = check_number("mean_lifetime", mean_lifetime, low=1)
        self.activity_exponent = check_number("activity_exponent", activity_exponent, low=0, low_open=True)
        self.rank = check_int("rank", rank)
        if self.rank > self.num_items:
            raise ValueError(f"rank must be <= num_items={self.num_items}, got {self.rank}")
        self.zipf_exponent = check_number("zipf_exponent", zipf_exponent, low=0)
        self.temperature = check_number("temperature", temperature, low=0, low_open=True)
        self.seed = check_int("seed", seed, 0, 2**32 - 1)
        self.events_seed = check_int("events_seed", events_seed, 0, 2**32 - 1)
        self._arrivals = [self._arrivals_in(w) for w in range(self.num_windows)]
        total = sum(self._arrivals)
        if total > self.num_users:
            raise ValueError(f"the stream has {total:,} arrivals but num_users={self.num_users:,} ids; "
                             "raise num_users or lower new_user_share")
        world = np.random.default_rng([self.seed, 0x5EA3])
        self._item_map = _affine_permutation(world, self.num_items)
        self._user_map = _affine_permutation(world, self.num_users)
        self._seeds = derive_seeds(self.seed, 3)

    # ---- sizes ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.num_windows * self.events_per_window

    def _arrivals_in(self, window: int) -> int:
        new_events = self.events_per_window if window == 0 else round(self.new_user_share * self.events_per_window)
        return max(1, min(new_events, round(new_events / self.new_user_events)))

    @property
    def arrivals(self) -> int:
        """Users that arrive over the whole stream (each has at least one event)."""
        return sum(self._arrivals)

    def part(self, name: str, start: int, stop: int) -> StreamPart:
        """Windows ``[start, stop)`` as a named part."""
        if not 0 <= start <= stop <= self.num_windows:
            raise ValueError(f"a part must lie in [0, {self.num_windows}], got [{start}, {stop})")
        return StreamPart(name, start, stop, (stop - start) * self.events_per_window)

    # ---- users, from their ids ----------------------------------------------------------------------
    def user_ids_of(self, arrival: np.ndarray) -> np.ndarray:
        """Id of the j-th arriving user (the seeded bijection of the id space)."""
        a, b = self._user_map
        return (arrival * a + b) % self.num_users  # a, j < 2**31: no int64 overflow

    def _uniform(self, keys: np.ndarray, seed: int) -> np.ndarray:
        return (hash_ids(keys, seed=seed).astype(np.float64) + 0.5) / _TWO32

    def preferences(self, user_ids: np.ndarray) -> np.ndarray:
        """Topic probabilities of each user, ``(len(user_ids), rank)`` float64, from its id."""
        keys = (user_ids[:, None] * self.rank + np.arange(self.rank)).reshape(-1)
        u1, u2 = self._uniform(keys, self._seeds[0]), self._uniform(keys, self._seeds[1])
        z = (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).reshape(-1, self.rank)
        z /= self.temperature
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        return z / z.sum(axis=1, keepdims=True)

    def activity(self, user_ids: np.ndarray) -> np.ndarray:
        """Pareto activity weight of each user (>= 1), from its id."""
        return self._uniform(user_ids, self._seeds[2]) ** (-1.0 / self.activity_exponent)

    # ---- events ---------------------------------------------------------------------------------
    def _items(self, rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
        """One item per event of ``users``: a topic from the user's preferences, then a Zipf item in it."""
        unique, inverse = np.unique(users, return_inverse=True)
        cdf = np.cumsum(self.preferences(unique), axis=1)[inverse]
        topics = np.minimum((cdf < rng.random(users.size)[:, None] * cdf[:, -1:]).sum(axis=1), self.rank - 1)
        slots = np.empty(users.size, dtype=np.int64)
        for topic in range(self.rank):
            at = np.flatnonzero(topics == topic)
            size = (self.num_items - topic + self.rank - 1) // self.rank
            slots[at] = topic + self.rank * _sample_ranks(rng, at.size, size, self.zipf_exponent)
        a, b = self._item_map
        return (slots * a + b) % self.num_items

    def __iter__(self) -> Iterator[StreamWindow]:
        rng = np.random.default_rng([self.events_seed, self.seed, 0xE7E7])
        active = np.zeros(0, dtype=np.int64)        # ids of the users active now
        weight = np.zeros(0, dtype=np.float64)
        leaves = np.zeros(0, dtype=np.int64)         # window from which each is gone
        arrived = 0
        for window, count in enumerate(self._arrivals):
            active, weight, leaves = active[leaves > window], weight[leaves > window], leaves[leaves > window]
            new_ids = self.user_ids_of(np.arange(arrived, arrived + count, dtype=np.int64))
            arrived += count
            new_weight = self.activity(new_ids)
            # window 0 (and a window that everyone has left) has only arrivals
            new_events = self.events_per_window if active.size == 0 else round(self.new_user_share * self.events_per_window)
            # each arrival has one event, the others go to arrivals by activity
            extra = rng.choice(count, new_events - count, p=new_weight / new_weight.sum()) if new_events > count \
                else np.zeros(0, dtype=np.int64)
            users = [new_ids, new_ids[extra]]
            returning = self.events_per_window - new_events
            if returning:
                cumulative = np.cumsum(weight)
                picks = np.searchsorted(cumulative, rng.random(returning) * cumulative[-1], side="right")
                users.append(active[np.minimum(picks, active.size - 1)])
            user_ids = np.concatenate(users)
            new = np.zeros(user_ids.size, dtype=bool)
            new[:new_events] = True
            order = rng.permutation(user_ids.size)  # time order within the window
            user_ids, new = user_ids[order], new[order]
            item_ids = self._items(rng, user_ids)
            lifetimes = 1 + rng.geometric(1.0 / self.mean_lifetime, count)
            active = np.concatenate([active, new_ids])
            weight = np.concatenate([weight, new_weight])
            leaves = np.concatenate([leaves, window + lifetimes])
            yield StreamWindow(window, user_ids, item_ids, new, arrived)

    def __repr__(self) -> str:
        return (f"InteractionStream(num_users={self.num_users:,}, num_items={self.num_items:,}, "
                f"{self.num_windows} windows x {self.events_per_window:,} events, "
                f"{self.arrivals:,} arrivals, seed={self.seed}, events_seed={self.events_seed})")
