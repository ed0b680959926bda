"""ROBE-Z (Desai, Chou & Shrivastava, MLSys 2022): every id's vector is read from one circular parameter
array in ``dim / Z`` blocks of Z consecutive elements, each block at a hashed offset, each element
times an independently hashed ±1 sign. ``Z = 1`` is element-wise hashing:
:class:`~bloombench.layers.hashcofi.HashCoFiEmbedding` is this class with ``block_size=1``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bloombench import hashing
from bloombench.checks import check_choice, check_exclusive, check_fraction, check_int
from bloombench.hashing import MAX_SEED
from bloombench.layers.base import CompressedEmbedding, ratio_count
from bloombench.layers.hash_index import HashIndex, INDEX_MODES, index_dtype

__all__ = ["RobeEmbedding"]

DEFAULT_COMPRESSION_RATIO = 0.2
#: Default Z: 8 floats (32 bytes) per hash where the dim allows it, else the dim's largest divisor below.
DEFAULT_BLOCK = 8


def _block_size(embedding_dim: int, block_size: int | None) -> int:
    return math.gcd(embedding_dim, DEFAULT_BLOCK) if block_size is None else check_int("block_size", block_size)


def _num_parameters(num_embeddings: int | None, embedding_dim: int, block_size: int | None,
                    compression_ratio: float | None, num_parameters: int | None) -> int:
    check_exclusive(compression_ratio=compression_ratio, num_parameters=num_parameters)
    z = _block_size(embedding_dim, block_size)
    if embedding_dim % z:
        raise ValueError(f"block_size must divide embedding_dim={embedding_dim}, got {z}")
    if num_parameters is not None:
        p = check_int("num_parameters", num_parameters)
    elif num_embeddings is None:
        raise ValueError("an open vocabulary (num_embeddings=None) needs num_parameters")
    else:
        ratio = check_fraction("compression_ratio",
                               DEFAULT_COMPRESSION_RATIO if compression_ratio is None else compression_ratio,
                               high_open=False)
        p = ratio_count(ratio, num_embeddings * embedding_dim, "num_parameters")
    if z > p:
        raise ValueError(f"block_size must be in [1, num_parameters={p}], got {z}")
    return p


class RobeEmbedding(CompressedEmbedding):
    """``out(id)[j*Z + z] = sigma(id, j*Z + z) * w[(h(id, j) + z) mod P]`` for blocks ``j < dim/Z``.

    Block offsets hash the int64 key ``id * (dim/Z) + j`` with ``derive_seeds(seed, 2)[0]`` (modulo P);
    the sign of element ``d`` is the parity of the key ``id * dim + d`` hashed with
    ``derive_seeds(seed, 2)[1]``, independent of the offsets, so collisions cancel in expectation (the
    read-out is unbiased). The paper leaves the sign open: one per element is chosen here, which makes
    ``block_size=1`` exactly :class:`~bloombench.layers.hashcofi.HashCoFiEmbedding` with the same
    ``seed`` and ``num_parameters``.

    Parameters
    ----------
    num_embeddings : int or None
        Vocabulary size; None for an open vocabulary (``index='on_the_fly'``, ``num_parameters`` given).
    embedding_dim : int
        Output width, a multiple of ``block_size``.
    compression_ratio : float, optional
        ``P = int(compression_ratio * num_embeddings * embedding_dim)``; in (0, 1], default 0.2.
    num_parameters : int, optional
        P, the length of the circular array (instead of ``compression_ratio``).
    block_size : int, optional
        Z, elements read contiguously per hash, a divisor of ``embedding_dim`` (the paper reports Z = 32
        or the whole dim as best). Default: ``gcd(dim, 8)``, at most 32 bytes per hash.
    hash, seed : str, int
        Hash family and layer hash seed.
    index : {'on_the_fly', 'table'}
        ``table`` stores an ``(n, dim/Z)`` int32 offset table and an ``(n, dim)`` int8 sign table, counted
        by :meth:`memory_bytes` (``4*dim/Z + dim`` bytes per id); ``on_the_fly`` (default) stores nothing.
    padding_idx : int, optional
        Id whose output is zero (its signs are masked to 0: no gradient).
    sparse : bool
        Sparse gradients for ``w`` (stored as a ``(P, 1)`` matrix).
    init_seed : int, optional
        ``w ~ N(0, std=1/dim)``, so every output element has the full table's std.
    """

    size_params = ("compression_ratio", "num_parameters")
    hashed = True
    examples = {"robe": {"compression_ratio": 0.2, "block_size": 4}}

    def __init__(self, num_embeddings: int | None, embedding_dim: int, *,
                 compression_ratio: float | None = None, num_parameters: int | None = None,
                 block_size: int | None = None, hash: str = "murmur3", seed: int = 0, index: str = "on_the_fly",
                 padding_idx: int | None = None, sparse: bool = False, init_seed: int | None = None) -> None:
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        dim = self.embedding_dim
        self.num_parameters = _num_parameters(self.num_embeddings, dim, block_size, compression_ratio,
                                              num_parameters)
        self.compression_ratio = compression_ratio
        self.block_size = _block_size(dim, block_size)
        self.hash = hashing.get_hash(hash).name
        self.seed = check_int("seed", seed, 0, MAX_SEED)
        self.index = check_choice("index", index, INDEX_MODES)
        offset_seed, sign_seed = hashing.derive_seeds(self.seed, 2)
        blocks = dim // self.block_size
        self.offset_map = HashIndex(self.num_embeddings, self.num_parameters, [offset_seed] * blocks, hash,
                                    index=index, key_stride=blocks, key_offsets=range(blocks))
        self.sign_map = HashIndex(self.num_embeddings, 2, [sign_seed] * dim, hash, index=index,
                                  key_stride=dim, key_offsets=range(dim), table_dtype=torch.int8)
        self.max_open_id = min(self.offset_map.max_id, self.sign_map.max_id)
        self.register_buffer("_within", torch.arange(self.block_size), persistent=False)
        self.weight = nn.Parameter(torch.empty(self.num_parameters, 1))
        self.reset_parameters()

    @property
    def num_buckets(self) -> int:
        """P, for :func:`~bloombench.layers.diagnostics.collision_diagnostics`."""
        return self.num_parameters

    def reset_parameters(self) -> None:
        self._normal_(self.weight, 1.0 / self.embedding_dim, self._generator())

    def hashed_indices(self, ids: torch.Tensor) -> torch.Tensor:
        """Positions in ``w`` of each id's elements: int64 ``(*ids.shape, dim)``."""
        return self._positions(self._check_ids(ids))

    def signs(self, ids: torch.Tensor) -> torch.Tensor:
        """The ±1 sign of each id's elements (0 for the padding id), ``(*ids.shape, dim)``."""
        return self._signs(self._check_ids(ids))

    def _positions(self, ids: torch.Tensor) -> torch.Tensor:
        starts = self.offset_map(ids).to(torch.int64).unsqueeze(-1)
        return ((starts + self._within) % self.num_parameters).flatten(-2)

    def _signs(self, ids: torch.Tensor) -> torch.Tensor:
        sign = 1 - 2 * self.sign_map(ids).to(self.weight.dtype)
        if self.padding_idx is not None:
            sign = sign * (ids != self.padding_idx).unsqueeze(-1).to(sign.dtype)
        return sign

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self._check_ids(ids)
        positions = self._positions(ids)
        if self.sparse:
            values = F.embedding(positions, self.weight, sparse=True).squeeze(-1)
        else:  # index_select's backward is a plain index_add_ (see HashCoFiEmbedding.forward)
            values = self.weight.view(-1).index_select(0, positions.reshape(-1)).view(positions.shape)
        return values * self._signs(ids)

    def _method_repr(self) -> list[str]:
        return [f"num_parameters={self.num_parameters}", f"block_size={self.block_size}",
                f"hash={self.hash!r}", f"seed={self.seed}", f"index={self.index!r}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int | None, embedding_dim: int, **params: object) -> int:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        dim = check_int("embedding_dim", embedding_dim)
        p = _num_parameters(num_embeddings, dim, a["block_size"], a["compression_ratio"], a["num_parameters"])
        total = p * 4
        if check_choice("index", a["index"], INDEX_MODES) == "table":
            offset_bytes = torch.empty((), dtype=index_dtype(p - 1)).element_size()
            total += num_embeddings * (dim // _block_size(dim, a["block_size"]) * offset_bytes + dim)
        return total

    @classmethod
    def budget_knob(cls, num_embeddings: int | None, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        low = _block_size(check_int("embedding_dim", embedding_dim), a["block_size"])
        return "num_parameters", low, None if num_embeddings is None else num_embeddings * embedding_dim
