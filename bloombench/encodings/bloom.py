"""Bloom encoding (Serrà & Karatzoglou, RecSys 2017): k hashed bits of m per item, on both sides.

The bits are exactly the rows a :class:`~bloombench.layers.BloomEmbedding` with the same ``num_buckets``,
``num_hashes``, ``hash`` and ``seed`` reads: both go through :class:`~bloombench.layers.HashIndex` with
the seeds ``derive_seeds(seed, k)``.
"""

from __future__ import annotations

import torch

from bloombench import hashing
from bloombench.checks import check_int
from bloombench.encodings.codes import KHotEncoding
from bloombench.layers.hash_index import HashIndex

__all__ = ["BloomEncoding"]


class BloomEncoding(KHotEncoding):
    """Item ``i`` sets bits ``h_j(i) mod m``, ``j = 1..k``; recovery ``score(i) = sum_j log p[h_j(i)]``.

    Parameters
    ----------
    num_items : int
        d.
    num_bits : int
        m, in ``[1, d]``.
    num_hashes : int
        k, in ``[1, m]``.
    hash : str
        Hash family (:func:`bloombench.hashing.available_hashes`).
    seed : int
        Hash function j uses ``derive_seeds(seed, k)[j]``.
    index : {'table', 'on_the_fly'}
        ``table`` stores the ``(d, k)`` int32 bits (counted by :meth:`memory_bytes`); ``on_the_fly``
        hashes on the encoding's device whenever bits are needed and stores nothing (the paper's
        "zero space" operation).
    """

    name = "bloom"

    def __init__(self, num_items: int, num_bits: int, *, num_hashes: int = 4, hash: str = "murmur3",
                 seed: int = 0, index: str = "table") -> None:
        super().__init__(num_items, num_bits, num_hashes)
        self.hash = hash
        self.seed = check_int("seed", seed, 0, hashing.MAX_SEED)
        self.seeds = hashing.derive_seeds(self.seed, self.num_hashes)
        self.index_map = HashIndex(self.num_items, self.num_bits, self.seeds, hash, index=index)

    @property
    def index(self) -> str:
        return self.index_map.index

    def bits(self, items: torch.Tensor) -> torch.Tensor:
        return self.index_map(items).long()

    def _method_repr(self) -> list[str]:
        return [f"k={self.num_hashes}", f"hash={self.hash!r}", f"seed={self.seed}", f"index={self.index!r}"]
