"""The hashing trick (Weinberger et al. 2009): a Bloom embedding with a single hash function."""

from __future__ import annotations

from bloombench.layers.bloom import BloomEmbedding

__all__ = ["HashingTrickEmbedding"]


class HashingTrickEmbedding(BloomEmbedding):
    """``out(id) = W[h(id) mod m]``: :class:`BloomEmbedding` with ``num_hashes=1``.

    Its hash uses ``derive_seeds(seed, 1)[0]``, so it equals a ``BloomEmbedding(num_hashes=1)`` with the
    same seed. Rows start ``N(0, std=1/dim)`` like a full table. See :class:`BloomEmbedding` for the
    arguments (``compression_ratio=1.0`` is again the identity, no hashing).
    """

    examples = {"hashing_trick": {"compression_ratio": 0.2}}

    def __init__(self, num_embeddings: int | None, embedding_dim: int, *,
                 compression_ratio: float | None = None, num_buckets: int | None = None,
                 hash: str = "murmur3", seed: int = 0, index: str = "table", padding_idx: int | None = None,
                 sparse: bool = False, init_seed: int | None = None) -> None:
        super().__init__(num_embeddings, embedding_dim, compression_ratio=compression_ratio,
                         num_buckets=num_buckets, num_hashes=1, hash=hash, seed=seed, mode="sum", index=index,
                         padding_idx=padding_idx, sparse=sparse, init_seed=init_seed)

    def _method_repr(self) -> list[str]:
        # mode and k are fixed here: leave them out of the repr
        return [p for p in super()._method_repr() if not p.startswith(("num_hashes=", "mode="))]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int | None, embedding_dim: int, **params: object) -> int:
        cls.bound_arguments(num_embeddings, embedding_dim, params)  # refuse Bloom-only arguments
        return BloomEmbedding.estimate_memory_bytes(num_embeddings, embedding_dim, num_hashes=1, mode="sum",
                                                    **params)

    @classmethod
    def budget_knob(cls, num_embeddings: int | None, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        cls.bound_arguments(num_embeddings, embedding_dim, params)
        return "num_buckets", 1, num_embeddings
