"""Training-split id counts for the frequency-aware methods (``mixed_dim``, ``double_hash``).

A method that uses counts declares the class fact ``uses_frequencies = True`` and takes an optional
``frequencies`` argument: one non-negative count per id, **from the training split only**. The layer sees
nothing but these counts (it never sees validation or test data), so leakage is impossible by construction
as long as the caller counts the training split, which the models do in their set-up
(:func:`count_ids`, passed on by :func:`bloombench.models.representations.build_embedding`).

Without counts the layer is still constructible from ``(num_embeddings, embedding_dim, size)`` alone: it
assumes ids are numbered by popularity (id 0 the most popular) with Zipf counts ``1 / (1 + id)``
(:func:`default_counts`), so the registry, ``size_for_budget``, the contract tests and the asv suite build
it like any other method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["check_frequencies", "count_ids", "default_counts", "popularity_order"]


def default_counts(num_embeddings: int) -> np.ndarray:
    """The prior used without counts: float64 Zipf weights ``1 / (1 + id)`` (id order = popularity rank)."""
    return 1.0 / np.arange(1, num_embeddings + 1, dtype=np.float64)


def check_frequencies(frequencies: Sequence[int] | np.ndarray | torch.Tensor | None,
                      num_embeddings: int, padding_idx: int | None) -> np.ndarray:
    """Counts as float64 ``(num_embeddings,)``: the given ones (checked) or :func:`default_counts`.

    The padding id's count is set to -1 so that it ranks last (it never takes a frequent row).

    Raises
    ------
    ValueError
        When the counts do not have one finite, non-negative value per id.
    """
    if frequencies is None:
        counts = default_counts(num_embeddings)
    else:
        if isinstance(frequencies, torch.Tensor):
            frequencies = frequencies.detach().cpu().numpy()
        counts = np.asarray(frequencies)
        if counts.dtype == bool or not np.issubdtype(counts.dtype, np.number):
            raise ValueError(f"frequencies must be numbers (one count per id), got dtype {counts.dtype}")
        counts = counts.astype(np.float64)
        if counts.shape != (num_embeddings,):
            raise ValueError(f"frequencies must have one count per id, shape ({num_embeddings},), "
                             f"got shape {counts.shape}")
        if not np.all(np.isfinite(counts)) or (counts.size and counts.min() < 0):
            raise ValueError("frequencies must be finite and non-negative (training-split counts)")
        counts = counts.copy()
    if padding_idx is not None:
        counts[padding_idx] = -1.0
    return counts


def popularity_order(counts: np.ndarray) -> np.ndarray:
    """Ids from the most to the least frequent; ties by id (deterministic, stable sort)."""
    return np.argsort(-counts, kind="stable")


def count_ids(ids: np.ndarray | torch.Tensor, num_embeddings: int, padding_idx: int | None = None) -> np.ndarray:
    """int64 counts of each id in ``ids`` (any shape), ``(num_embeddings,)``; padding not counted."""
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    counts = np.bincount(np.asarray(ids, dtype=np.int64).ravel(), minlength=num_embeddings)
    if padding_idx is not None:
        counts[padding_idx] = 0
    return counts
