"""Deterministic dense eigendecompositions for the data-dependent encodings (PMI, CCA).

LAPACK returns eigenvectors up to sign; fixing each column's sign (its largest-magnitude entry
positive) makes the learnt codes identical from run to run. Decompositions run in float32 through
``torch.linalg.eigh`` (MKL in torch's CPU build): the codes are stored in float32 anyway, and on
ML-1M's 3706 x 3706 PPMI matrix (one thread) it took 17 s where scipy's float32 ``eigh`` (OpenBLAS)
took 52 s and float64 69 s.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg
import torch

__all__ = ["fix_signs", "memoised", "pivot_signs", "symmetric_eig", "top_symmetric"]

# Up to this many items a dense eigendecomposition is both faster and exact.
DENSE_LIMIT = 4096
# Decompositions kept by memoised(): a sweep over m reuses one (the codes for m are its first m columns).
_CACHE_SIZE = 2
_cache: OrderedDict[str, Any] = OrderedDict()


def memoised(what: str, matrix: sp.csr_matrix, params: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``, reused while the same histories and ``params`` come back (the last two kept).

    The key is a sha256 of the sparse matrix's structure and values, so equal histories hit whatever
    object holds them. Results must be treated as read-only.
    """
    digest = hashlib.sha256(repr((what, matrix.shape, params)).encode())
    for array in (matrix.indptr, matrix.indices, matrix.data):
        digest.update(np.ascontiguousarray(array).tobytes())
    key = digest.hexdigest()
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    result = _cache[key] = compute()
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return result


def pivot_signs(vectors: np.ndarray) -> np.ndarray:
    """``(columns,)`` of ±1: the sign of each column's largest-magnitude entry (+1 for a zero column)."""
    if not vectors.size:
        return np.ones(vectors.shape[1])
    pivots = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])]
    return np.where(pivots < 0, -1.0, 1.0)


def fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Flip columns so that the largest-magnitude entry of each is positive (in place; returned)."""
    vectors *= pivot_signs(vectors)
    return vectors


def symmetric_eig(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and sign-fixed eigenvectors (columns) of a dense symmetric matrix.

    Computed in float32, returned as float64 arrays.
    """
    values, vectors = torch.linalg.eigh(torch.from_numpy(np.asarray(matrix, dtype=np.float32)))
    values, vectors = values.numpy().astype(np.float64), vectors.numpy().astype(np.float64)
    return values[::-1].copy(), fix_signs(vectors[:, ::-1].copy())


def top_symmetric(matrix: sp.spmatrix, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` eigenpairs of largest magnitude of a sparse symmetric ``(d, d)`` matrix.

    Dense ``eigh`` up to :data:`DENSE_LIMIT` items or when ``count`` is over half of d; ARPACK
    (``eigsh``, deterministic start vector) otherwise. Returns ``(values, vectors)`` ordered by
    decreasing ``|value|``, vectors sign-fixed.
    """
    d = matrix.shape[0]
    if d <= DENSE_LIMIT or 2 * count > d:
        values, vectors = symmetric_eig(matrix.toarray())
    else:
        values, vectors = scipy.sparse.linalg.eigsh(matrix.astype(np.float64), k=count, which="LM",
                                                    v0=np.full(d, d ** -0.5))
        fix_signs(vectors)
    order = np.argsort(-np.abs(values), kind="stable")[:count]
    return values[order], vectors[:, order]
