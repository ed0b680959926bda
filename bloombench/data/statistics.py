"""Summary statistics of interaction data."""

from __future__ import annotations

import numpy as np

from bloombench.data.interactions import Interactions

__all__ = ["dataset_statistics"]


def _active_counts(ids: np.ndarray) -> np.ndarray:
    """Interactions per id that occurs at least once (sort-based: no dense table)."""
    return np.unique(ids, return_counts=True)[1]


def dataset_statistics(interactions: Interactions) -> dict[str, object]:
    """Size, density and per-user activity of a dataset.

    Returns
    -------
    dict
        ``users``, ``items`` (id space sizes), ``interactions``,
        ``active_users``, ``active_items`` (ids with >= 1 interaction),
        ``density`` (interactions / (users * items)), ``has_ratings``,
        ``has_timestamps``, and ``min_per_user``, ``median_per_user``,
        ``max_per_user`` over active users (0 when there are none).
    """
    per_user = _active_counts(interactions.user_ids)
    cells = interactions.num_users * interactions.num_items
    return {
        "users": int(interactions.num_users),
        "items": int(interactions.num_items),
        "interactions": len(interactions),
        "active_users": len(per_user),
        "active_items": len(np.unique(interactions.item_ids)),
        "density": len(interactions) / cells if cells else 0.0,
        "has_ratings": interactions.ratings is not None,
        "has_timestamps": interactions.timestamps is not None,
        "min_per_user": int(per_user.min()) if len(per_user) else 0,
        "median_per_user": float(np.median(per_user)) if len(per_user) else 0.0,
        "max_per_user": int(per_user.max()) if len(per_user) else 0,
    }
