"""Hash embeddings (Svenstrup, Hansson & Winther, NeurIPS 2017): k component vectors from a shared pool,
mixed by per-id importance weights that are themselves read from a small hashed table."""

from __future__ import annotations

import math

import torch
from torch import nn

from bloombench import hashing
from bloombench.checks import check_choice, check_exclusive, check_fraction, check_int
from bloombench.hashing import MAX_SEED
from bloombench.layers.base import CompressedEmbedding
from bloombench.layers.hash_index import HashIndex, INDEX_MODES
from bloombench.layers.lookup import bag_lookup, row_lookup

__all__ = ["HashEmbedding"]

DEFAULT_COMPRESSION_RATIO = 0.2


def _sizes(num_embeddings: int | None, embedding_dim: int, num_hashes: int, compression_ratio: float | None,
           num_buckets: int | None, num_weight_rows: int | None) -> tuple[int, int]:
    """(B pool rows, K importance rows) from the constructor's size arguments."""
    check_exclusive(compression_ratio=compression_ratio, num_buckets=num_buckets)
    k = check_int("num_hashes", num_hashes)
    if num_weight_rows is not None:
        num_weight_rows = check_int("num_weight_rows", num_weight_rows)
    if num_buckets is not None:
        pool = check_int("num_buckets", num_buckets)
        rows = pool if num_weight_rows is None else num_weight_rows
    elif num_embeddings is None:
        raise ValueError("an open vocabulary (num_embeddings=None) needs num_buckets")
    else:
        ratio = check_fraction("compression_ratio",
                               DEFAULT_COMPRESSION_RATIO if compression_ratio is None else compression_ratio,
                               high_open=False)
        budget = ratio * num_embeddings * embedding_dim  # parameters, as a full table's fraction
        if num_weight_rows is None:
            pool = rows = int(budget / (embedding_dim + k))
        else:
            rows = num_weight_rows
            pool = int((budget - rows * k) / embedding_dim)
        if pool < 1:
            raise ValueError(f"compression_ratio={ratio} leaves num_buckets={pool} for {num_embeddings} ids "
                             f"at dim {embedding_dim} and k={k}; raise compression_ratio")
    if k > pool:
        raise ValueError(f"num_hashes must be in [1, num_buckets={pool}], got {k}")
    return pool, rows


class HashEmbedding(CompressedEmbedding):
    """``out(id) = sum_j p[g(id), j] * E[h_j(id)]``.

    ``E`` is a pool of B rows (``num_buckets``), indexed by k hashes with ``derive_seeds(seed, k+1)[:k]``;
    ``p`` is a ``(K, k)`` table of importance weights (``num_weight_rows``), indexed by one more hash with
    seed ``derive_seeds(seed, k+1)[k]``. The output keeps width ``embedding_dim`` (the paper's option of
    appending the importance weights is not offered). One fused ``embedding_bag`` with per-sample weights.

    Parameters
    ----------
    num_embeddings : int or None
        Vocabulary size; None for an open vocabulary (``index='on_the_fly'``, ``num_buckets`` given).
    embedding_dim : int
        Output width.
    compression_ratio : float, optional
        Parameter budget ``compression_ratio * n * dim`` split as ``B = K = int(budget / (dim + k))``, or,
        when ``num_weight_rows`` is given, ``B = int((budget - K*k) / dim)``. Default 0.2.
    num_buckets : int, optional
        B directly (then K defaults to B).
    num_weight_rows : int, optional
        K (``num_embeddings`` gives every id its own weights, the paper's usual setting, up to hashing).
    num_hashes : int
        k, default 2 (the paper's).
    hash, seed, index, padding_idx, sparse, init_seed
        As in :class:`~bloombench.layers.bloom.BloomEmbedding`. ``table`` stores an ``(n, k+1)`` index
        table. The padding id's importance weights are masked to zero: zero output, no gradient.

    Notes
    -----
    Init: pool rows ``N(0, std=1/dim)`` and every importance weight ``1/sqrt(k)``, so the output of an id
    whose k rows are distinct has std ``1/dim`` like a full table (package convention).
    """

    size_params = ("compression_ratio", "num_buckets")
    hashed = True
    examples = {"hash_embedding": {"compression_ratio": 0.2}}

    def __init__(self, num_embeddings: int | None, embedding_dim: int, *,
                 compression_ratio: float | None = None, num_buckets: int | None = None,
                 num_weight_rows: int | None = None, num_hashes: int = 2, hash: str = "murmur3",
                 seed: int = 0, index: str = "table", padding_idx: int | None = None, sparse: bool = False,
                 init_seed: int | None = None) -> None:
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        self.num_buckets, self.num_weight_rows = _sizes(self.num_embeddings, self.embedding_dim, num_hashes,
                                                        compression_ratio, num_buckets, num_weight_rows)
        self.compression_ratio = compression_ratio
        self.num_hashes = int(num_hashes)
        self.hash = hashing.get_hash(hash).name
        self.seed = check_int("seed", seed, 0, MAX_SEED)
        self.index = check_choice("index", index, INDEX_MODES)
        seeds = hashing.derive_seeds(self.seed, self.num_hashes + 1)
        self.seeds = seeds
        self.component_map = HashIndex(self.num_embeddings, self.num_buckets, seeds[:-1], hash, index=index)
        self.weight_map = HashIndex(self.num_embeddings, self.num_weight_rows, seeds[-1:], hash, index=index)
        self.max_open_id = self.component_map.max_id
        self.weight = nn.Parameter(torch.empty(self.num_buckets, self.embedding_dim))
        self.importance = nn.Parameter(torch.empty(self.num_weight_rows, self.num_hashes))
        self.reset_parameters()

    @property
    def num_rows(self) -> int:
        return self.num_buckets

    def reset_parameters(self) -> None:
        self._normal_(self.weight, 1.0 / self.embedding_dim, self._generator())
        with torch.no_grad():
            self.importance.fill_(1.0 / math.sqrt(self.num_hashes))

    def hashed_indices(self, ids: torch.Tensor) -> torch.Tensor:
        """Pool rows of each id's k components: int64 ``(*ids.shape, k)``."""
        return self.component_map(self._check_ids(ids)).to(torch.int64)

    def importance_weights(self, ids: torch.Tensor) -> torch.Tensor:
        """Each id's k importance weights, ``(*ids.shape, k)`` (zeros for the padding id)."""
        ids = self._check_ids(ids)
        return self._importance(ids.reshape(-1)).view(*ids.shape, self.num_hashes)

    def _importance(self, flat_ids: torch.Tensor) -> torch.Tensor:
        p = row_lookup(self.importance, self.weight_map(flat_ids).squeeze(-1), sparse=self.sparse)
        if self.padding_idx is not None:
            p = p * (flat_ids != self.padding_idx).unsqueeze(-1).to(p.dtype)
        return p

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self._check_ids(ids)
        flat = ids.reshape(-1)
        bags = self.component_map(flat)
        out = bag_lookup(self.weight, bags, mode="sum", sparse=self.sparse,
                         per_sample_weights=self._importance(flat))
        return out.view(*ids.shape, self.embedding_dim)

    def _method_repr(self) -> list[str]:
        return [f"num_buckets={self.num_buckets}", f"num_weight_rows={self.num_weight_rows}",
                f"num_hashes={self.num_hashes}", f"hash={self.hash!r}", f"seed={self.seed}",
                f"index={self.index!r}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int | None, embedding_dim: int, **params: object) -> int:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        dim = check_int("embedding_dim", embedding_dim)
        pool, rows = _sizes(num_embeddings, dim, a["num_hashes"], a["compression_ratio"], a["num_buckets"],
                            a["num_weight_rows"])
        k = int(a["num_hashes"])
        total = (pool * dim + rows * k) * 4
        if check_choice("index", a["index"], INDEX_MODES) == "table":
            total += num_embeddings * (k * (4 if pool - 1 < 2**31 else 8) + (4 if rows - 1 < 2**31 else 8))
        return total

    @classmethod
    def budget_knob(cls, num_embeddings: int | None, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        return "num_buckets", check_int("num_hashes", a["num_hashes"]), num_embeddings
