"""Collision diagnostics of hashed layers, next to what ideal (uniform, independent) hashing would give.

Works for any layer exposing ``hashed_indices(ids) -> (..., k)`` and ``num_buckets`` (Bloom, hashing
trick, hash embeddings' components; HashCoFi's element positions, with k = dim and m = P).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import stats

from bloombench.theory import (
    expected_repeat_share,
    expected_signature_collision_share,
    signature_collision_probability,
)

__all__ = ["CollisionDiagnostics", "collision_diagnostics", "expected_repeat_share",
           "expected_signature_collision_share", "signature_collision_probability"]


@dataclass(frozen=True)
class CollisionDiagnostics:
    """What :func:`collision_diagnostics` measured (``expected_*``: under ideal hashing).

    Attributes
    ----------
    num_ids, num_buckets, num_hashes : int
        n ids examined, m buckets, k indices per id.
    load_min, load_mean, load_max : float
        Bucket loads (how many of the n*k indices fall in each bucket).
    chi2_statistic, chi2_pvalue : float
        Pearson chi-square test of the loads against uniform (m - 1 degrees of freedom).
    repeat_ids, repeat_share : int, float
        Ids whose k indices contain a repeated bucket (they get fewer than k distinct rows).
    expected_repeat_share : float
        ``1 - prod_{i<k} (1 - i/m)``.
    signature_collision_ids, signature_collision_share : int, float
        Ids whose signature (sorted multiset of k buckets) equals another examined id's: the layer cannot
        tell them apart.
    distinct_signatures : int
        Number of different signatures among the n ids.
    signature_space : int
        Number of possible signatures, ``C(m + k - 1, k)``.
    expected_signature_collision_ids, expected_signature_collision_share : float
        ``n * (1 - (1 - q)**(n - 1))`` (birthday formula), q the exact probability that two ids' k
        independent uniform buckets form the same multiset (:func:`signature_collision_probability`).
    """

    num_ids: int
    num_buckets: int
    num_hashes: int
    load_min: float
    load_mean: float
    load_max: float
    chi2_statistic: float
    chi2_pvalue: float
    repeat_ids: int
    repeat_share: float
    expected_repeat_share: float
    signature_collision_ids: int
    signature_collision_share: float
    distinct_signatures: int
    signature_space: int
    expected_signature_collision_ids: float
    expected_signature_collision_share: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def collision_diagnostics(layer: torch.nn.Module, ids: torch.Tensor | np.ndarray | range | None = None,
                          ) -> CollisionDiagnostics:
    """Measure how a hashed layer spreads ``ids`` over its buckets.

    Parameters
    ----------
    layer : module
        Exposes ``hashed_indices(ids) -> LongTensor (..., k)`` and ``num_buckets``.
    ids : 1-d ids, optional
        Default: every id in ``range(num_embeddings)`` except ``padding_idx`` (which the layer maps to a
        fixed row, not a hashed one).

    Returns
    -------
    CollisionDiagnostics
    """
    if not hasattr(layer, "hashed_indices") or not hasattr(layer, "num_buckets"):
        raise TypeError(f"collision_diagnostics needs a hashed layer (hashed_indices, num_buckets); "
                        f"got {type(layer).__name__}")
    if ids is None:
        n = getattr(layer, "num_embeddings", None)
        if n is None:
            raise ValueError("ids are required for an open-vocabulary layer (num_embeddings=None)")
        ids = torch.arange(n)
        pad = getattr(layer, "padding_idx", None)
        if pad is not None:
            ids = ids[ids != pad]
    ids = torch.as_tensor(np.asarray(ids) if isinstance(ids, range) else ids)
    if ids.dim() != 1 or ids.numel() == 0:
        raise ValueError(f"ids must be a non-empty 1-d sequence, got shape {tuple(ids.shape)}")
    with torch.no_grad():
        idx = layer.hashed_indices(ids).detach().cpu().numpy().astype(np.int64)
    n, k = idx.shape
    m = int(layer.num_buckets)
    loads = np.bincount(idx.ravel(), minlength=m)[:m]  # a padding row at index m is not a bucket
    chi2 = stats.chisquare(loads) if m > 1 else None
    signatures = np.sort(idx, axis=1)
    repeats = int((signatures[:, 1:] == signatures[:, :-1]).any(axis=1).sum()) if k > 1 else 0
    _, inverse, counts = np.unique(signatures, axis=0, return_inverse=True, return_counts=True)
    colliding = int((counts[inverse.ravel()] > 1).sum())
    expected_share = expected_signature_collision_share(n, m, k)
    return CollisionDiagnostics(
        num_ids=n, num_buckets=m, num_hashes=k,
        load_min=float(loads.min()), load_mean=float(loads.mean()), load_max=float(loads.max()),
        chi2_statistic=float(chi2.statistic) if chi2 else 0.0,
        chi2_pvalue=float(chi2.pvalue) if chi2 else 1.0,
        repeat_ids=repeats, repeat_share=repeats / n, expected_repeat_share=expected_repeat_share(m, k),
        signature_collision_ids=colliding, signature_collision_share=colliding / n,
        distinct_signatures=int(counts.size), signature_space=math.comb(m + k - 1, k),
        expected_signature_collision_ids=n * expected_share,
        expected_signature_collision_share=expected_share,
    )
