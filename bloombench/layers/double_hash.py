"""Frequency-based double hashing (Zhang et al., RecSys 2020): the K most frequent ids get rows of their own,
every other id the sum of two hashed rows of a shared table.

Choices where the paper leaves them open: the two hashes index **one** shared table of m rows and are
**summed** (Bloom ``sum`` with k = 2, bloombench's hash families and ``derive_seeds(seed, 2)``); the
frequent ids are kept as a sorted int32 array (``K x 4`` bytes, looked up by binary search) rather than a
hash map; without ``num_frequent`` the row budget is split evenly, ``K = R // 2``; frequencies are
training-split counts (:mod:`bloombench.layers.frequency`; without them ids 0..K-1 are the frequent ones).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from bloombench import hashing
from bloombench.checks import check_choice, check_exclusive, check_fraction, check_int
from bloombench.hashing import MAX_SEED
from bloombench.layers.base import CompressedEmbedding, ratio_count
from bloombench.layers.frequency import check_frequencies, popularity_order
from bloombench.layers.hash_index import INDEX_MODES, HashIndex, index_dtype
from bloombench.layers.lookup import bag_lookup

__all__ = ["DoubleHashEmbedding"]

_NUM_HASHES = 2


def _sizes(n: int, a: dict) -> tuple[int, int]:
    """``(K, m)``: dedicated rows and shared hashed rows from the constructor's size arguments."""
    check_exclusive(compression_ratio=a["compression_ratio"], num_rows=a["num_rows"])
    check_choice("index", a["index"], INDEX_MODES)
    hashing.get_hash(a["hash"])
    check_int("seed", a["seed"], 0, MAX_SEED)
    if a["num_rows"] is not None:
        rows = check_int("num_rows", a["num_rows"])
    else:
        given = a["compression_ratio"]
        ratio = check_fraction("compression_ratio", 0.2 if given is None else given, high_open=False)
        rows = ratio_count(ratio, n, "num_rows")
    most = min(rows - 1, n - (a["padding_idx"] is not None))
    if a["num_frequent"] is None:
        frequent = min(rows // 2, most)
    else:
        frequent = check_int("num_frequent", a["num_frequent"], 0)
        if frequent > most:
            raise ValueError(f"num_frequent must be in [0, {most}] (at least one shared row of num_rows={rows}, "
                             f"at most the {n} ids less padding), got {frequent}")
    return frequent, rows - frequent


class DoubleHashEmbedding(CompressedEmbedding):
    """``out(id) = F[id]`` for the K most frequent ids, ``W[h1(id)] + W[h2(id)]`` for the others.

    Parameters
    ----------
    num_embeddings : int
        Vocabulary size (finite: the frequent ids are chosen from it).
    embedding_dim : int
        Output width.
    compression_ratio : float, optional
        Row budget ``R = int(compression_ratio * n)`` (dedicated plus shared rows). Default 0.2 when
        ``num_rows`` is not given either.
    num_rows : int, optional
        ``R`` directly (the size knob of :func:`~bloombench.layers.registry.size_for_budget`).
    num_frequent : int, optional
        K, the ids with a dedicated row (``0 <= K < R``); default ``R // 2``. The shared table has
        ``m = R - K`` rows.
    frequencies : sequence of int or tensor, optional
        One training-split count per id; the K largest (ties: the smaller id) get dedicated rows. None: ids
        ``0..K-1`` (id order taken as popularity rank). The padding id never gets one.
    hash : str
        Hash family (:func:`bloombench.hashing.available_hashes`).
    seed : int
        Layer hash seed; the two hashes use ``derive_seeds(seed, 2)``.
    index : {'table', 'on_the_fly'}
        Store the ``(n, 2)`` int32 hashed-row table (a persistent buffer, counted) or hash at every call.
    padding_idx : int, optional
        Reads an extra zero row only (output zero, no gradient).
    sparse : bool
        Sparse gradients.
    init_seed : int, optional
        Seed of the initialisation: dedicated rows ``N(0, 1/dim)``, shared rows ``N(0, 1/(dim sqrt 2))``
        (a sum of two), so every output starts with std ``1/dim``.

    Notes
    -----
    Bytes: ``4 (R + 1) dim`` (weights and the zero row) ``+ 4 K`` (the sorted frequent ids) ``+ 8 n`` with
    ``index='table'``. The time spent ranking the counts is ``prepare_seconds``.
    """

    size_params = ("compression_ratio", "num_rows")
    hashed = True
    uses_frequencies = True
    examples = {"double_hash": {"compression_ratio": 0.2},
                "double_hash_on_the_fly": {"compression_ratio": 0.2, "index": "on_the_fly"}}

    def __init__(self, num_embeddings: int, embedding_dim: int, *, compression_ratio: float | None = None,
                 num_rows: int | None = None, num_frequent: int | None = None,
                 frequencies: Sequence[int] | np.ndarray | torch.Tensor | None = None, hash: str = "murmur3",
                 seed: int = 0, index: str = "table", padding_idx: int | None = None, sparse: bool = False,
                 init_seed: int | None = None) -> None:
        num_embeddings = check_int("num_embeddings", num_embeddings)
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        self.num_frequent, self.num_buckets = _sizes(num_embeddings, dict(
            compression_ratio=compression_ratio, num_rows=num_rows, num_frequent=num_frequent, hash=hash,
            seed=seed, index=index, padding_idx=self.padding_idx))
        self.compression_ratio, self.hash, self.seed, self.index = compression_ratio, hash, seed, index
        self.custom_frequencies = frequencies is not None
        start = time.perf_counter()
        counts = check_frequencies(frequencies, num_embeddings, self.padding_idx)
        frequent = np.sort(popularity_order(counts)[:self.num_frequent])
        self.prepare_seconds = time.perf_counter() - start
        self.register_buffer("frequent_ids", torch.from_numpy(frequent).to(index_dtype(num_embeddings)))
        self._empty_row = self.num_frequent + self.num_buckets  # zero row: a frequent id's 2nd, padding's both
        self.index_map = HashIndex(num_embeddings, self.num_buckets, hashing.derive_seeds(seed, _NUM_HASHES),
                                   hash, index=index, padding_idx=self.padding_idx,
                                   padding_value=self.num_buckets)
        self.weight = nn.Parameter(torch.empty(self._empty_row + 1, self.embedding_dim))
        self.reset_parameters()

    @property
    def num_rows(self) -> int:
        return self.weight.shape[0]

    def reset_parameters(self) -> None:
        generator, dim, k = self._generator(), self.embedding_dim, self.num_frequent
        self._normal_(self.weight, 1.0 / (dim * math.sqrt(_NUM_HASHES)), generator)
        with torch.no_grad():
            self.weight[:k].mul_(math.sqrt(_NUM_HASHES))  # dedicated rows: N(0, 1/dim)
            self.weight[self._empty_row].zero_()

    def row_indices(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows of ``weight`` each id reads, int64 ``(*ids.shape, 2)``: ``(dedicated row, zero row)`` for a
        frequent id, ``K + (h1, h2)`` for the others, the zero row twice for padding."""
        ids = self._check_ids(ids)
        flat = ids.reshape(-1)
        rows = self.index_map(flat).to(torch.int64) + self.num_frequent
        if self.num_frequent:
            keys = flat.to(self.frequent_ids.dtype)
            position = torch.searchsorted(self.frequent_ids, keys).clamp_(max=self.num_frequent - 1)
            hit = (self.frequent_ids[position] == keys).unsqueeze(-1)
            own = torch.stack([position, torch.full_like(position, self._empty_row)], -1)
            rows = torch.where(hit, own, rows)
        return rows.view(*ids.shape, _NUM_HASHES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.row_indices(ids)
        out = bag_lookup(self.weight, rows.reshape(-1, _NUM_HASHES), mode="sum", padding_idx=self._empty_row,
                         sparse=self.sparse)
        return out.view(*rows.shape[:-1], self.embedding_dim)

    def _method_repr(self) -> list[str]:
        source = "training counts" if self.custom_frequencies else "id order"
        return [f"num_frequent={self.num_frequent} ({source})", f"num_buckets={self.num_buckets}",
                f"hash={self.hash!r}", f"seed={self.seed}", f"index={self.index!r}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int, embedding_dim: int, **params: object) -> int:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        n, dim = check_int("num_embeddings", num_embeddings), check_int("embedding_dim", embedding_dim)
        frequent, shared = _sizes(n, a)
        total = (frequent + shared + 1) * dim * 4 + frequent * index_dtype(n).itemsize
        if a["index"] == "table":
            total += n * _NUM_HASHES * index_dtype(shared).itemsize
        return total

    @classmethod
    def budget_knob(cls, num_embeddings: int, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        low = 1 if a["num_frequent"] is None else check_int("num_frequent", a["num_frequent"], 0) + 1
        return "num_rows", low, max(low, check_int("num_embeddings", num_embeddings))
