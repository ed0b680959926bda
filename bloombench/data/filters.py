"""Activity filters (k-core style) with contiguous id remapping."""

from __future__ import annotations

import numpy as np

from bloombench.data.interactions import Interactions, remap_ids

__all__ = ["filter_min_interactions"]


def _count(ids: np.ndarray, size: int) -> np.ndarray:
    """Occurrences of each id, read back per row (avoids a dense table for huge id spaces)."""
    if size <= 4 * len(ids) + 1_000_000:
        return np.bincount(ids, minlength=size)[ids]
    _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    return counts[inverse]


def _min_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def filter_min_interactions(
    interactions: Interactions, *, min_user: int = 1, min_item: int = 1
) -> Interactions:
    """Keep users with >= ``min_user`` and items with >= ``min_item`` interactions.

    Removing rare items can push users below the threshold and vice versa, so
    the filter is repeated until no row is removed (the ``(min_user,
    min_item)``-core). Surviving users and items are renumbered to contiguous
    ids in their original order.

    Parameters
    ----------
    interactions : Interactions
        Input data (not modified).
    min_user, min_item : int
        Minimum number of interactions (rows, duplicates counted) per user/item.

    Returns
    -------
    Interactions
        Filtered data whose ``user_map``/``item_map`` give, for every new id,
        the original id (composed with the input's maps when it has them).
    """
    min_user = _min_count(min_user, "min_user")
    min_item = _min_count(min_item, "min_item")
    users, items = interactions.user_ids, interactions.item_ids
    keep = np.arange(len(interactions))
    while True:
        ok = (_count(users, interactions.num_users) >= min_user) & (
            _count(items, interactions.num_items) >= min_item
        )
        if ok.all():
            break
        keep, users, items = keep[ok], users[ok], items[ok]

    new_users, kept_users = remap_ids(users)
    new_items, kept_items = remap_ids(items)
    if interactions.user_map is not None:
        kept_users = interactions.user_map[kept_users]
    if interactions.item_map is not None:
        kept_items = interactions.item_map[kept_items]
    return Interactions(
        user_ids=new_users,
        item_ids=new_items,
        ratings=None if interactions.ratings is None else interactions.ratings[keep],
        timestamps=None if interactions.timestamps is None else interactions.timestamps[keep],
        num_users=len(kept_users),
        num_items=len(kept_items),
        user_map=kept_users,
        item_map=kept_items,
    )
