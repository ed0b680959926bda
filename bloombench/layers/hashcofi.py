"""HashCoFi (Karatzoglou, Smola & Weimer, AISTATS 2010): every element of every id's vector is read
from one shared parameter vector at a hashed position, times an independently hashed sign."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bloombench import hashing
from bloombench.checks import check_choice, check_exclusive, check_fraction, check_int
from bloombench.hashing import MAX_SEED
from bloombench.layers.base import CompressedEmbedding, ratio_count
from bloombench.layers.hash_index import HashIndex, INDEX_MODES

__all__ = ["HashCoFiEmbedding"]

DEFAULT_COMPRESSION_RATIO = 0.2


def _num_parameters(num_embeddings: int | None, embedding_dim: int, compression_ratio: float | None,
                    num_parameters: int | None) -> int:
    check_exclusive(compression_ratio=compression_ratio, num_parameters=num_parameters)
    if num_parameters is not None:
        return check_int("num_parameters", num_parameters)
    if num_embeddings is None:
        raise ValueError("an open vocabulary (num_embeddings=None) needs num_parameters")
    ratio = check_fraction("compression_ratio",
                           DEFAULT_COMPRESSION_RATIO if compression_ratio is None else compression_ratio,
                           high_open=False)
    return ratio_count(ratio, num_embeddings * embedding_dim, "num_parameters")


class HashCoFiEmbedding(CompressedEmbedding):
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

    size_params = ("compression_ratio", "num_parameters")
    hashed = True
    examples = {"hashcofi": {"compression_ratio": 0.2}}

    def __init__(self, num_embeddings: int | None, embedding_dim: int, *,
                 compression_ratio: float | None = None, num_parameters: int | None = None,
                 hash: str = "murmur3", seed: int = 0, index: str = "on_the_fly",
                 padding_idx: int | None = None, sparse: bool = False, init_seed: int | None = None) -> None:
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        self.num_parameters = _num_parameters(self.num_embeddings, self.embedding_dim, compression_ratio,
                                              num_parameters)
        self.compression_ratio = compression_ratio
        self.hash = hashing.get_hash(hash).name
        self.seed = check_int("seed", seed, 0, MAX_SEED)
        self.index = check_choice("index", index, INDEX_MODES)
        position_seed, sign_seed = hashing.derive_seeds(self.seed, 2)
        dim = self.embedding_dim
        offsets = range(dim)
        self.index_map = HashIndex(self.num_embeddings, self.num_parameters, [position_seed] * dim, hash,
                                   index=index, key_stride=dim, key_offsets=offsets)
        self.sign_map = HashIndex(self.num_embeddings, 2, [sign_seed] * dim, hash, index=index,
                                  key_stride=dim, key_offsets=offsets, table_dtype=torch.int8)
        self.max_open_id = self.index_map.max_id
        self.weight = nn.Parameter(torch.empty(self.num_parameters, 1))
        self.reset_parameters()

    @property
    def num_buckets(self) -> int:
        """Size of the hashed space (P), for :func:`~bloombench.layers.diagnostics.collision_diagnostics`."""
        return self.num_parameters

    def reset_parameters(self) -> None:
        self._normal_(self.weight, 1.0 / self.embedding_dim, self._generator())

    def hashed_indices(self, ids: torch.Tensor) -> torch.Tensor:
        """Positions in ``w`` of each id's elements: int64 ``(*ids.shape, dim)``."""
        return self.index_map(self._check_ids(ids)).to(torch.int64)

    def signs(self, ids: torch.Tensor) -> torch.Tensor:
        """The ±1 sign of each id's elements (0 for the padding id), ``(*ids.shape, dim)``, weight dtype."""
        ids = self._check_ids(ids)
        return self._signs(ids)

    def _signs(self, ids: torch.Tensor) -> torch.Tensor:
        sign = 1 - 2 * self.sign_map(ids).to(self.weight.dtype)
        if self.padding_idx is not None:
            sign = sign * (ids != self.padding_idx).unsqueeze(-1).to(sign.dtype)
        return sign

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self._check_ids(ids)
        positions = self.index_map(ids)
        if self.sparse:  # SparseAdam needs the sparse gradient only F.embedding gives
            values = F.embedding(positions, self.weight, sparse=True).squeeze(-1)
        else:
            # index_select's backward (index_add_) is ~15x faster on CPU than F.embedding's dense
            # backward over rows of width 1 (4.4 vs 0.3 ms for 2048 ids x 32 elements).
            values = self.weight.view(-1).index_select(0, positions.reshape(-1)).view(positions.shape)
        return values * self._signs(ids)

    def _method_repr(self) -> list[str]:
        return [f"num_parameters={self.num_parameters}", f"hash={self.hash!r}", f"seed={self.seed}",
                f"index={self.index!r}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int | None, embedding_dim: int, **params: object) -> int:
        args = cls.bound_arguments(num_embeddings, embedding_dim, params)
        dim = check_int("embedding_dim", embedding_dim)
        p = _num_parameters(num_embeddings, dim, args["compression_ratio"], args["num_parameters"])
        total = p * 4
        if check_choice("index", args["index"], INDEX_MODES) == "table":
            total += num_embeddings * dim * ((4 if p - 1 < 2**31 else 8) + 1)
        return total

    @classmethod
    def budget_knob(cls, num_embeddings: int | None, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        cls.bound_arguments(num_embeddings, embedding_dim, params)
        return "num_parameters", 1, None if num_embeddings is None else num_embeddings * embedding_dim
