"""Containers for user-item interaction data.

:class:`Interactions` holds one row per (user, item) event with optional
ratings and timestamps; :class:`SequenceInteractions` holds fixed-length,
left-padded item sequences derived from it for sequence models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["Interactions", "SequenceInteractions", "remap_ids"]


def remap_ids(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map arbitrary ids to contiguous 0-based ids, preserving their order.

    Returns
    -------
    codes : np.ndarray
        int64 array: the new id of each entry of ``values``.
    uniques : np.ndarray
        Sorted distinct values; ``uniques[codes] == values``.
    """
    # pandas' hash-based factorize is several times faster than np.unique's sort.
    codes, uniques = pd.factorize(np.asarray(values), sort=True)
    return codes.astype(np.int64, copy=False), np.asarray(uniques)


def _as_id_array(values: object, name: str) -> np.ndarray:
    """Return ``values`` as a 1-d int64 array of non-negative ids.

    Empty input of any dtype is accepted (``np.asarray([])`` is float64).
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must have an integer dtype, got {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.min() < 0:
        raise ValueError(f"{name} must be non-negative, got minimum {int(arr.min())}")
    return arr


def _check_count(value: int | None, ids: np.ndarray, name: str, ids_name: str) -> int:
    """Validate (or infer) the size of an id space against the ids it must contain."""
    inferred = int(ids.max()) + 1 if ids.size else 0
    if value is None:
        return inferred
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int or None, got {type(value).__name__}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    if inferred > value:
        raise ValueError(
            f"{ids_name} contains id {inferred - 1}, but {name}={value} allows only ids < {value}"
        )
    return value


@dataclass(eq=False)
class Interactions:
    """User-item interactions with optional explicit ratings and timestamps.

    Parameters
    ----------
    user_ids, item_ids : np.ndarray
        Integer arrays of shape ``(n,)``; converted to int64. Ids are 0-based and
        item 0 is a real item (sequence padding is handled by
        :meth:`to_sequences`, which shifts ids by one).
    ratings : np.ndarray, optional
        Explicit feedback of shape ``(n,)``; stored as float32.
    timestamps : np.ndarray, optional
        Event times of shape ``(n,)``; stored as int64. Float input is accepted
        only if every value is integral (some dumps store Unix seconds as floats).
    num_users, num_items : int, optional
        Sizes of the id spaces; default ``max(ids) + 1``. Must exceed every id.
    user_map, item_map : np.ndarray, optional
        Original (raw dataset) id of each contiguous id, when the ids were
        remapped: ``user_map[u]`` is the raw id of user ``u``.

    Raises
    ------
    TypeError
        If ids are not integers or timestamps are non-integral.
    ValueError
        If arrays differ in length, ids are negative, or ids do not fit the
        declared ``num_users``/``num_items``.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    ratings: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    num_users: int | None = None
    num_items: int | None = None
    user_map: np.ndarray | None = field(default=None, repr=False)
    item_map: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.user_ids = _as_id_array(self.user_ids, "user_ids")
        self.item_ids = _as_id_array(self.item_ids, "item_ids")
        n = len(self.user_ids)
        if len(self.item_ids) != n:
            raise ValueError(
                f"user_ids and item_ids must have the same length, got {n} and {len(self.item_ids)}"
            )
        if self.ratings is not None:
            ratings = np.asarray(self.ratings)
            if ratings.shape != (n,):
                raise ValueError(f"ratings must have shape ({n},), got {ratings.shape}")
            if ratings.size and not np.issubdtype(ratings.dtype, np.number):
                raise TypeError(f"ratings must be numeric, got dtype {ratings.dtype}")
            self.ratings = ratings.astype(np.float32, copy=False)
        if self.timestamps is not None:
            self.timestamps = self._validate_timestamps(self.timestamps, n)
        self.num_users = _check_count(self.num_users, self.user_ids, "num_users", "user_ids")
        self.num_items = _check_count(self.num_items, self.item_ids, "num_items", "item_ids")
        for name, size in (("user_map", self.num_users), ("item_map", self.num_items)):
            mapping = getattr(self, name)
            if mapping is not None:
                mapping = np.asarray(mapping)
                if mapping.shape != (size,):
                    raise ValueError(f"{name} must have shape ({size},), got {mapping.shape}")
                setattr(self, name, mapping)

    @staticmethod
    def _validate_timestamps(values: object, n: int) -> np.ndarray:
        ts = np.asarray(values)
        if ts.shape != (n,):
            raise ValueError(f"timestamps must have shape ({n},), got {ts.shape}")
        if ts.size == 0:
            return np.zeros(0, dtype=np.int64)
        if np.issubdtype(ts.dtype, np.integer):
            return ts.astype(np.int64, copy=False)
        if np.issubdtype(ts.dtype, np.floating):
            as_int = ts.astype(np.int64)
            if np.all(np.isfinite(ts)) and np.array_equal(as_int, ts):
                return as_int
            raise TypeError("timestamps must be integral; got non-integral float values")
        raise TypeError(f"timestamps must have an integer dtype, got {ts.dtype}")

    @classmethod
    def from_raw_ids(
        cls,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        ratings: np.ndarray | None = None,
        timestamps: np.ndarray | None = None,
    ) -> Interactions:
        """Build interactions from arbitrary (e.g. dataset) ids.

        Ids are remapped to contiguous 0-based ids in increasing order of the
        raw id; ``user_map``/``item_map`` keep the raw id of every new id.
        """
        users, user_map = remap_ids(user_ids)
        items, item_map = remap_ids(item_ids)
        return cls(
            user_ids=users,
            item_ids=items,
            ratings=ratings,
            timestamps=timestamps,
            num_users=len(user_map),
            num_items=len(item_map),
            user_map=user_map,
            item_map=item_map,
        )

    def __len__(self) -> int:
        return len(self.user_ids)

    def __repr__(self) -> str:
        return (
            f"<Interactions: {self.num_users} users x {self.num_items} items, "
            f"{len(self)} interactions, ratings={'yes' if self.ratings is not None else 'no'}, "
            f"timestamps={'yes' if self.timestamps is not None else 'no'}>"
        )

    def to_csr(self) -> sp.csr_matrix:
        """Return a ``num_users x num_items`` CSR matrix.

        Values are the ratings, or 1 without ratings. Duplicate (user, item)
        pairs are summed, as scipy does when converting from COO.
        """
        data = self.ratings if self.ratings is not None else np.ones(len(self), dtype=np.float32)
        return sp.csr_matrix(
            (data, (self.user_ids, self.item_ids)),
            shape=(self.num_users, self.num_items),
        )

    def subset(self, index: np.ndarray) -> Interactions:
        """Return the rows selected by a boolean mask or an integer index.

        The id spaces (``num_users``, ``num_items``) and id maps are kept, so
        subsets of the same data remain comparable (e.g. train/test splits).
        """
        index = np.asarray(index)
        if index.dtype == bool and index.shape != (len(self),):
            raise ValueError(f"boolean mask must have shape ({len(self)},), got {index.shape}")
        if index.dtype != bool and index.size and not np.issubdtype(index.dtype, np.integer):
            raise TypeError(
                f"index must be a boolean mask or integer array, got dtype {index.dtype}"
            )
        if index.size == 0:
            index = np.zeros(0, dtype=np.int64)
        return Interactions(
            user_ids=self.user_ids[index],
            item_ids=self.item_ids[index],
            ratings=None if self.ratings is None else self.ratings[index],
            timestamps=None if self.timestamps is None else self.timestamps[index],
            num_users=self.num_users,
            num_items=self.num_items,
            user_map=self.user_map,
            item_map=self.item_map,
        )

    def user_time_order(self) -> np.ndarray:
        """Row indices sorted by user, then by timestamp (row order without them).

        The sort is stable: rows with equal (user, timestamp) keep their order.
        """
        if self.timestamps is None or not len(self):
            return np.argsort(self.user_ids, kind="stable")
        t_min = int(self.timestamps.min())
        span = int(self.timestamps.max()) - t_min + 1
        if self.num_users * span < 2**63:
            # One stable sort of a packed key is ~2-3x faster than np.lexsort.
            key = self.user_ids * span + (self.timestamps - t_min)
            return np.argsort(key, kind="stable")
        return np.lexsort((self.timestamps, self.user_ids))

    def to_sequences(
        self,
        max_length: int = 10,
        min_length: int | None = None,
        step: int | None = None,
    ) -> SequenceInteractions:
        """Cut each user's history into fixed-length windows (Spotlight semantics).

        Per user, items are ordered by timestamp (stable, so ties keep row
        order) or, without timestamps, by row order. Windows end at the last
        item and move backwards by ``step``: for a user with ``c`` items the
        windows are ``items[max(e - max_length, 0):e]`` for
        ``e = c, c - step, c - 2 step, ... > 0``. Each window is left-padded
        with 0 to ``max_length``; item ids are shifted by +1 so that 0 is the
        padding id.

        Parameters
        ----------
        max_length : int
            Window length (>= 1).
        min_length : int, optional
            Drop windows with fewer than ``min_length`` real items; ``None``
            keeps all windows.
        step : int, optional
            Stride between window ends (>= 1); default ``max_length`` gives
            non-overlapping windows.

        Returns
        -------
        SequenceInteractions
            Windows ordered by user id, and within a user from the most recent
            window backwards.
        """
        max_length = _positive_int(max_length, "max_length")
        step = max_length if step is None else _positive_int(step, "step")
        if min_length is not None:
            min_length = _positive_int(min_length, "min_length")
            if min_length > max_length:
                raise ValueError(f"min_length must be <= max_length={max_length}, got {min_length}")

        order = self.user_time_order()
        users_sorted = self.user_ids[order]
        items_sorted = self.item_ids[order] + 1

        users, starts, counts = np.unique(users_sorted, return_index=True, return_counts=True)
        n_windows = -(-counts // step)  # ceil(count / step)
        window_user = np.repeat(np.arange(len(users)), n_windows)
        # k-th window of a user (k = 0 is the most recent one).
        first_window = np.cumsum(n_windows) - n_windows
        k = np.arange(int(n_windows.sum())) - np.repeat(first_window, n_windows)
        end_in_user = counts[window_user] - k * step  # exclusive end, > 0
        if min_length is not None:
            keep = np.minimum(end_in_user, max_length) >= min_length
            window_user, end_in_user = window_user[keep], end_in_user[keep]
        # Lay users out back to back, each preceded by max_length - 1 padding
        # zeros; every window is then one contiguous slice of this array, and
        # windows reaching before a user's first item pick up the zeros.
        pad = max_length - 1
        row_user = np.repeat(np.arange(len(users)), counts)
        padded = np.zeros(len(items_sorted) + len(users) * pad, dtype=np.int64)
        padded[np.arange(len(items_sorted)) + (row_user + 1) * pad] = items_sorted
        window_end = starts[window_user] + end_in_user + (window_user + 1) * pad
        windows = np.lib.stride_tricks.sliding_window_view(padded, max_length)
        sequences = windows[window_end - max_length]
        return SequenceInteractions(
            sequences=sequences.reshape(-1, max_length),
            user_ids=users[window_user].astype(np.int64, copy=False),
            num_items=self.num_items + 1,
            max_length=max_length,
        )


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


@dataclass(eq=False)
class SequenceInteractions:
    """Fixed-length item sequences for sequence models.

    Item ids inside ``sequences`` are the :class:`Interactions` item ids
    **shifted by +1**, so that 0 is the padding id (use ``padding_idx=0``);
    hence ``num_items == interactions.num_items + 1``.

    Parameters
    ----------
    sequences : np.ndarray
        int64 array ``(n_seq, max_length)``, left-padded with 0.
    user_ids : np.ndarray
        int64 array ``(n_seq,)``: the user each window came from.
    num_items : int
        Size of the shifted item id space (including padding id 0).
    max_length : int, optional
        Window length; defaults to ``sequences.shape[1]``.
    """

    sequences: np.ndarray
    user_ids: np.ndarray
    num_items: int
    max_length: int | None = None

    def __post_init__(self) -> None:
        seqs = np.asarray(self.sequences)
        if seqs.ndim != 2:
            raise ValueError(f"sequences must be two-dimensional, got shape {seqs.shape}")
        if seqs.size and not np.issubdtype(seqs.dtype, np.integer):
            raise TypeError(f"sequences must have an integer dtype, got {seqs.dtype}")
        self.sequences = seqs.astype(np.int64, copy=False)
        self.user_ids = _as_id_array(self.user_ids, "user_ids")
        if len(self.user_ids) != len(self.sequences):
            raise ValueError(
                f"user_ids must have one entry per sequence ({len(self.sequences)}), "
                f"got {len(self.user_ids)}"
            )
        if self.max_length is None:
            self.max_length = int(self.sequences.shape[1])
        elif self.max_length != self.sequences.shape[1]:
            raise ValueError(
                f"max_length={self.max_length} does not match sequences.shape[1]="
                f"{self.sequences.shape[1]}"
            )
        if self.sequences.size and (
            self.sequences.min() < 0 or self.sequences.max() >= self.num_items
        ):
            raise ValueError(
                f"sequence ids must lie in [0, num_items={self.num_items}), got range "
                f"[{self.sequences.min()}, {self.sequences.max()}]"
            )

    def __len__(self) -> int:
        return len(self.sequences)

    def __repr__(self) -> str:
        return (
            f"<SequenceInteractions: {len(self)} sequences of length {self.max_length}, "
            f"{self.num_items} item ids incl. padding>"
        )

    def subset(self, index: np.ndarray) -> SequenceInteractions:
        """Return the sequences selected by a boolean mask or integer index."""
        index = np.asarray(index)
        if index.size == 0:
            index = np.zeros(0, dtype=np.int64)
        return SequenceInteractions(
            sequences=self.sequences[index].reshape(-1, self.max_length),
            user_ids=self.user_ids[index],
            num_items=self.num_items,
            max_length=self.max_length,
        )
