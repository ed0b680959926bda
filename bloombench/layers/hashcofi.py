"""HashCoFi (Karatzoglou, Smola & Weimer, AISTATS 2010): every element of every id's vector is read
from one shared parameter vector at a hashed position, times an independently hashed sign.

It is ROBE-Z with blocks of one element (:class:`~bloombench.layers.robe.RobeEmbedding`, ``block_size=1``):
the same hashes, the same parameter vector, the same bytes; this class fixes Z and skips the block
arithmetic, so the two methods share one implementation and cannot drift apart.
"""

from __future__ import annotations

import torch

from bloombench.layers.robe import RobeEmbedding

__all__ = ["HashCoFiEmbedding"]


class HashCoFiEmbedding(RobeEmbedding):
    """``out(id)[d] = sigma(id, d) * w[h(id, d)]`` with ``w`` a vector of P parameters.

    The key of element ``(id, d)`` is the int64 ``id * embedding_dim + d``, hashed once with
    ``derive_seeds(seed, 2)[0]`` (position, modulo P) and once with ``derive_seeds(seed, 2)[1]`` (sign:
    the parity of that second, independent hash; never the sign bit of the position hash, whose
    ``abs(-2**31)`` pitfall HashCoFi users hit). Collisions then cancel in expectation.

    Parameters
    ----------
    num_embeddings : int or None
        Vocabulary size; None for an open vocabulary (``index='on_the_fly'``, ``num_parameters`` given):
        any id with ``id * embedding_dim + d`` inside int64 works, new ids need no allocation.
    embedding_dim : int
        Output width.
    compression_ratio : float, optional
        ``P = int(compression_ratio * num_embeddings * embedding_dim)``; in (0, 1], default 0.2.
    num_parameters : int, optional
        P directly (instead of ``compression_ratio``).
    hash : str
        Hash family (:func:`bloombench.hashing.available_hashes`).
    seed : int
        Layer hash seed.
    index : {'on_the_fly', 'table'}
        ``on_the_fly`` (default) hashes at every call. ``table`` stores an ``(n, dim)`` int32 position
        table plus an ``(n, dim)`` int8 sign table: 5 bytes per element, *more* than the 4-byte float
        of a full table, and counted as such by :meth:`memory_bytes`; it only trades memory for speed.
    padding_idx : int, optional
        Id whose output is zero (its signs are masked to 0, so it sends no gradient).
    sparse : bool
        Sparse gradients for ``w`` (stored as a ``(P, 1)`` matrix so that ``F.embedding`` can gather).
    init_seed : int, optional
        Seed of the initialisation. ``w ~ N(0, std=1/dim)``, so every output element has the full
        table's std.
    """

    examples = {"hashcofi": {"compression_ratio": 0.2}}

    def __init__(self, num_embeddings: int | None, embedding_dim: int, *,
                 compression_ratio: float | None = None, num_parameters: int | None = None,
                 hash: str = "murmur3", seed: int = 0, index: str = "on_the_fly",
                 padding_idx: int | None = None, sparse: bool = False, init_seed: int | None = None) -> None:
        super().__init__(num_embeddings, embedding_dim, compression_ratio=compression_ratio,
                         num_parameters=num_parameters, block_size=1, hash=hash, seed=seed, index=index,
                         padding_idx=padding_idx, sparse=sparse, init_seed=init_seed)

    def _positions(self, ids: torch.Tensor) -> torch.Tensor:
        return self.offset_map(ids).to(torch.int64)  # blocks of one: each offset is the element's position

    def _method_repr(self) -> list[str]:
        return [f"num_parameters={self.num_parameters}", f"hash={self.hash!r}", f"seed={self.seed}",
                f"index={self.index!r}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int | None, embedding_dim: int, **params: object) -> int:
        cls.bound_arguments(num_embeddings, embedding_dim, params)  # refuse block_size and other strangers
        return RobeEmbedding.estimate_memory_bytes(num_embeddings, embedding_dim, block_size=1, **params)

    @classmethod
    def budget_knob(cls, num_embeddings: int | None, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        cls.bound_arguments(num_embeddings, embedding_dim, params)
        return RobeEmbedding.budget_knob(num_embeddings, embedding_dim, block_size=1, **params)
