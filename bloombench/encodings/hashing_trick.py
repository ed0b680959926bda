"""The hashing trick on inputs and outputs: a Bloom encoding with a single hash function (k = 1)."""

from __future__ import annotations

from bloombench.encodings.bloom import BloomEncoding

__all__ = ["HashingTrickEncoding"]


class HashingTrickEncoding(BloomEncoding):
    """Item ``i`` is bit ``h(i) mod m``: :class:`BloomEncoding` with ``num_hashes=1`` (same seed, same bit).

    Colliding items share their only bit, so recovery cannot tell them apart (they tie).
    """

    name = "hashing_trick"

    def __init__(self, num_items: int, num_bits: int, *, hash: str = "murmur3", seed: int = 0,
                 index: str = "table") -> None:
        super().__init__(num_items, num_bits, num_hashes=1, hash=hash, seed=seed, index=index)
