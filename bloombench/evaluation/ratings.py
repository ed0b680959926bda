"""Rating prediction: RMSE of an explicit model."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bloombench.evaluation._checks import check_batch_size, read_pairs, require_method

__all__ = ["rmse_score"]


def rmse_score(model: Any, test: Any, *, batch_size: int = 2**20) -> float:
    """Root mean squared error of an explicit model's predicted ratings.

    Parameters
    ----------
    model : object
        Has ``predict(user_ids, item_ids) -> (n,)`` predicted ratings
        (numpy array or tensor).
    test : Interactions
        Pairs with ``ratings``.
    batch_size : int
        Pairs per ``predict`` call.

    Returns
    -------
    float
        ``sqrt(mean((rating - prediction) ** 2))``, accumulated in float64.

    Raises
    ------
    TypeError
        If ``model`` has no ``predict``.
    ValueError
        If ``test`` is empty or has no ratings, or predictions have the wrong shape.
    """
    require_method(model, "predict")
    users, items = read_pairs(test, "test")
    if getattr(test, "ratings", None) is None:
        raise ValueError("rmse_score needs test interactions with ratings, got test.ratings=None")
    ratings = np.asarray(test.ratings, dtype=np.float64).reshape(-1)
    if ratings.shape != users.shape:
        raise ValueError(f"test.ratings has {len(ratings)} entries for {len(users)} pairs")
    if users.size == 0:
        raise ValueError("test has no interactions to score")
    batch_size = check_batch_size(batch_size, 1)
    squared = 0.0
    with torch.no_grad():
        for lo in range(0, len(users), batch_size):
            hi = min(lo + batch_size, len(users))
            predicted = model.predict(users[lo:hi], items[lo:hi])
            if isinstance(predicted, torch.Tensor):
                predicted = predicted.detach().cpu().numpy()
            predicted = np.asarray(predicted, dtype=np.float64)
            if predicted.shape != (hi - lo,):
                raise ValueError(f"model.predict returned shape {predicted.shape}, expected ({hi - lo},)")
            squared += float(np.sum((ratings[lo:hi] - predicted) ** 2))
    return float(np.sqrt(squared / len(users)))
