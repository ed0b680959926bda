"""Training histories as binary user x item matrices, their item co-occurrence, and seeded splits.

Shared by the data-dependent encodings (PMI, CCA, CBE). A history is the *set* of items a user
interacted with: repeated (user, item) pairs count once.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bloombench.data.interactions import Interactions

__all__ = ["Histories", "cooccurrence", "history_matrix", "split_histories"]

Histories = Interactions | sp.spmatrix | sp.sparray


def history_matrix(histories: Histories, num_items: int) -> sp.csr_matrix:
    """Binary ``(num_users, num_items)`` float64 CSR matrix of the histories, sorted indices.

    Raises
    ------
    TypeError
        For anything but :class:`~bloombench.data.Interactions` or a scipy sparse matrix.
    ValueError
        When the histories' item space is not ``num_items`` wide.
    """
    if isinstance(histories, Interactions):
        width = histories.num_items
        matrix = sp.csr_matrix((np.ones(len(histories)), (histories.user_ids, histories.item_ids)),
                               shape=(histories.num_users, width))
    elif sp.issparse(histories):
        width = histories.shape[1]
        matrix = sp.csr_matrix(histories, dtype=np.float64)
    else:
        raise TypeError(f"histories must be Interactions or a scipy sparse (users x items) matrix, "
                        f"got {type(histories).__name__}")
    if width != num_items:
        raise ValueError(f"histories have {width} items, but the encoding was built for num_items={num_items}")
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.data[:] = 1.0
    matrix.sort_indices()
    return matrix


def cooccurrence(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Item x item co-occurrence counts ``X^T X`` of binary histories, diagonal removed (float64 CSR)."""
    counts = (matrix.T @ matrix).tocsr()
    counts.setdiag(0.0)
    counts.eliminate_zeros()
    counts.sort_indices()
    return counts


def split_histories(matrix: sp.csr_matrix, target_fraction: float,
                    seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Split every history at random into an input part and a target part (seeded).

    Each (user, item) entry goes to the target part with probability ``target_fraction``, as the
    feed-forward model's training protocol does each epoch.

    Returns
    -------
    (inputs, targets) : tuple of scipy.sparse.csr_matrix
        Two binary matrices of ``matrix``'s shape whose sum is ``matrix``.
    """
    to_target = np.random.default_rng([seed, 0x5B117]).random(matrix.nnz) < target_fraction
    coo = matrix.tocoo()
    parts = []
    for keep in (~to_target, to_target):
        parts.append(sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape))
    return parts[0], parts[1]
