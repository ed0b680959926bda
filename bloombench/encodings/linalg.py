"""Deterministic dense eigen/singular decompositions for the data-dependent encodings (PMI, CCA).

LAPACK returns eigen- and singular vectors up to sign; fixing each column's sign (its largest-magnitude
entry positive) makes the learnt codes identical across runs and platforms.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg

__all__ = ["fix_signs", "pivot_signs", "symmetric_eig", "top_symmetric"]

# Up to this many items a dense eigendecomposition is both faster and exact.
DENSE_LIMIT = 4096


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
    """Eigenvalues (descending) and sign-fixed eigenvectors (columns) of a dense symmetric matrix."""
    values, vectors = scipy.linalg.eigh(matrix, check_finite=False)
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
