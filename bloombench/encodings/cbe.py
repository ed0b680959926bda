"""Co-occurrence-based Bloom embedding (CBE): Bloom bits steered so that co-occurring items share bits.

Serrà & Karatzoglou describe CBE as a variant that assigns co-occurring items to shared bits; their
exact procedure is not known here, so this is our design, documented:

1. Items are processed from the most to the least popular (number of training histories).
2. Item i looks at its ``neighbours`` most similar *already assigned* items (cosine similarity of
   the item indicator columns, ``C_ij / sqrt(n_i n_j)``), and each neighbour votes for its bits with
   its similarity. The ``num_shared`` most voted bits become bits of i.
3. The other ``k - num_shared`` bits are i's own Bloom hash bits (``derive_seeds(seed, k)``, then
   spare seeds where a bit repeats), so the k bits of an item are distinct.
4. If the k bits equal another item's, fewer bits are shared until the signature is new (ending at
   plain hash bits), so recovery can tell items apart wherever Bloom could.

With ``num_shared=0`` (the default for ``k = 1``) CBE is the Bloom encoding with distinct bits per item.
A collision between co-occurring items costs little: they tend to be relevant together. Fit cost is one
Python step per item over its co-occurrence row (well under a second for MovieLens).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from bloombench import hashing
from bloombench.checks import check_int
from bloombench.encodings.codes import KHotEncoding
from bloombench.encodings.histories import cooccurrence
from bloombench.layers.hash_index import index_dtype

__all__ = ["CBEEncoding"]


class CBEEncoding(KHotEncoding):
    """Bloom bits steered by co-occurrence (see the module notes); decoding as :class:`BloomEncoding`.

    Parameters
    ----------
    num_items : int
        d.
    num_bits : int
        m, in ``[1, d]``.
    num_hashes : int
        k, in ``[1, m]``.
    hash : str
        Hash family of the non-shared bits.
    seed : int
        Seed of the hash functions (hash j uses ``derive_seeds(seed, ...)[j]``, as Bloom).
    num_shared : int, optional
        Bits taken from co-occurring items, in ``[0, k - 1]``; default ``k // 2``.
    neighbours : int
        How many assigned co-occurring items vote.
    """

    name = "cbe"
    data_dependent = True

    def __init__(self, num_items: int, num_bits: int, *, num_hashes: int = 4, hash: str = "murmur3",
                 seed: int = 0, num_shared: int | None = None, neighbours: int = 10) -> None:
        super().__init__(num_items, num_bits, num_hashes)
        k = self.num_hashes
        hashing.get_hash(hash)
        shared = k // 2 if num_shared is None else num_shared
        if isinstance(shared, bool) or not isinstance(shared, (int, np.integer)) or not 0 <= shared < k:
            raise ValueError(f"num_shared must be an int in [0, num_hashes - 1 = {k - 1}], got {num_shared!r}")
        self.hash = hash
        self.seed = check_int("seed", seed, 0, hashing.MAX_SEED)
        self.num_shared = int(shared)
        self.neighbours = check_int("neighbours", neighbours)
        self.register_buffer("table", torch.zeros(self.num_items, k, dtype=index_dtype(self.num_bits - 1)))

    def bits(self, items: torch.Tensor) -> torch.Tensor:
        self._require_fitted()
        return self.table.index_select(0, items).long()

    def _fit(self, matrix: sp.csr_matrix) -> None:
        k = self.num_hashes
        # Column j < k is Bloom's hash j; the spare columns replace repeated bits.
        candidates = hashing.bucket_matrix(np.arange(self.num_items), num_buckets=self.num_bits, name=self.hash,
                                           seeds=hashing.derive_seeds(self.seed, 3 * k + 8))
        counts = cooccurrence(matrix)
        popularity = np.asarray(matrix.sum(axis=0)).ravel()
        table = np.zeros((self.num_items, k), dtype=np.int64)
        assigned = np.zeros(self.num_items, dtype=bool)
        signatures: set[frozenset[int]] = set()
        for item in np.argsort(-popularity, kind="stable"):
            voted = self._votes(item, counts, popularity, assigned, table)
            for shared in range(len(voted), -1, -1):
                bits = _fill(voted[:shared], candidates[item], k)
                if frozenset(bits) not in signatures:
                    break
            signatures.add(frozenset(bits))
            table[item] = bits
            assigned[item] = True
        self.table.copy_(torch.from_numpy(table))

    def _votes(self, item: int, counts: sp.csr_matrix, popularity: np.ndarray, assigned: np.ndarray,
               table: np.ndarray) -> list[int]:
        """The up to ``num_shared`` bits most voted for by the item's assigned neighbours."""
        if not self.num_shared:
            return []
        lo, hi = counts.indptr[item], counts.indptr[item + 1]
        others = counts.indices[lo:hi]
        keep = assigned[others]
        others = others[keep]
        if not others.size:
            return []
        similarity = counts.data[lo:hi][keep] / np.sqrt(popularity[item] * popularity[others])
        top = np.argsort(-similarity, kind="stable")[: self.neighbours]
        votes = np.bincount(table[others[top]].ravel(), weights=np.repeat(similarity[top], self.num_hashes),
                            minlength=self.num_bits)
        best = np.argsort(-votes, kind="stable")[: self.num_shared]
        return [int(b) for b in best if votes[b] > 0]

    def _method_repr(self) -> list[str]:
        return [f"k={self.num_hashes}", f"num_shared={self.num_shared}", f"neighbours={self.neighbours}",
                f"hash={self.hash!r}", f"seed={self.seed}"]


def _fill(chosen: list[int], candidates: np.ndarray, k: int) -> list[int]:
    """``chosen`` topped up to k distinct bits from ``candidates`` in order (repeats only if they run out)."""
    bits = list(chosen)
    for bit in candidates.tolist():
        if len(bits) == k:
            break
        if bit not in bits:
            bits.append(bit)
    return bits + candidates[: k - len(bits)].tolist()
