"""Hashed index: id -> k bucket indices, precomputed (table) or computed at every call (on the fly).

Shared by the hashed layers (:mod:`bloombench.layers`) and the Bloom encoding
(:mod:`bloombench.encodings.bloom`), so a layer and an encoding with the same hashing read the same rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import torch
from torch import nn

from bloombench import hashing
from bloombench.checks import check_choice, check_int
from bloombench.hashing.validation import check_signed

__all__ = ["HashIndex", "INDEX_MODES", "index_dtype"]

INDEX_MODES = ("table", "on_the_fly")


def index_dtype(max_value: int) -> torch.dtype:
    """int32 when every stored index is below 2**31 (half the bytes), int64 otherwise."""
    return torch.int32 if max_value < 2**31 else torch.int64


def available_memory_bytes() -> int | None:
    """Physical memory not in use now (None where the platform does not say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _check_table_fits(num_ids: int, columns: int, dtype: torch.dtype) -> None:
    """Refuse an index table larger than the free memory up front, instead of dying in the allocator.

    Building it needs the ids (8 bytes each) and the int64 buckets (8 per column) on top of the table.
    """
    stored = num_ids * columns * torch.empty((), dtype=dtype).element_size()
    peak = stored + num_ids * 8 * (columns + 1)
    free = available_memory_bytes()
    if free is not None and peak > free:
        raise MemoryError(f"index='table' for {num_ids:,} ids x {columns} hashes needs {stored:,} bytes stored "
                          f"({peak:,} while it is built), more than the {free:,} bytes of free memory; "
                          "use index='on_the_fly' (no table: the ids are hashed at every call)")


class HashIndex(nn.Module):
    """Map ids to ``k`` bucket indices in ``[0, num_buckets)``.

    Column ``j`` is ``bucket(id * key_stride + key_offsets[j], seed=seeds[j])`` with the hash family
    ``hash``; columns that share a seed are hashed in one call. Bloom uses ``key_stride=1``, zero
    offsets and k seeds; HashCoFi uses ``key_stride=dim``, offsets ``0..dim-1`` and one seed (the key of
    element ``(id, d)`` is ``id*dim + d``).

    ``index="table"`` precomputes a ``(num_embeddings, k)`` table (int32 when every value fits), held as a
    persistent buffer: it is in ``state_dict``, moves with ``.to(device)`` and counts in
    ``memory_bytes``. ``index="on_the_fly"`` hashes on the ids' device at every call and stores nothing.

    ``padding_idx`` (optional) is mapped to ``padding_value`` in every column instead of being hashed.
    ``table_dtype`` overrides the table's dtype (e.g. int8 for HashCoFi's sign bits).

    The hash family, seeds and sizes are checked once here; :meth:`compute` and :meth:`forward` then call
    the family's unchecked kernels. Ids must lie in ``[0, max_id]`` (and below ``num_embeddings`` when it
    is finite): the owning layer checks them (:meth:`CompressedEmbedding._check_ids`).
    """

    def __init__(self, num_embeddings: int | None, num_buckets: int, seeds: Sequence[int], hash: str, *,
                 index: str = "table", key_stride: int = 1, key_offsets: Sequence[int] | None = None,
                 signed: bool = False, padding_idx: int | None = None, padding_value: int | None = None,
                 table_dtype: torch.dtype | None = None) -> None:
        super().__init__()
        family = hashing.get_hash(hash)
        self.index = check_choice("index", index, INDEX_MODES)
        if num_embeddings is None and index == "table":
            raise ValueError("index='table' needs a finite num_embeddings; use index='on_the_fly' "
                             "for an open vocabulary (num_embeddings=None)")
        if family.needs_vocab and num_embeddings is None:
            raise ValueError(f"hash {hash!r} is defined on a finite vocabulary only; "
                             "give num_embeddings or choose another hash")
        check_signed(family, signed)
        self.num_embeddings = num_embeddings
        self.num_buckets = check_int("num_buckets", num_buckets)
        self.seeds = [check_int("seed", s, 0, hashing.MAX_SEED) for s in seeds]
        self.hash = hash
        self._family = family
        self.key_stride = key_stride
        self.key_offsets = list(key_offsets) if key_offsets is not None else [0] * len(self.seeds)
        self.signed = signed
        self.padding_idx = padding_idx
        self.padding_value = padding_value
        # The family's key width caps id * stride + offset (int32 keys, Spotlight's, cap the ids at 2**31-1).
        self.max_id = (family.max_key - max(self.key_offsets)) // key_stride
        if num_embeddings is not None and num_embeddings - 1 > self.max_id:
            raise ValueError(f"num_embeddings={num_embeddings} exceeds what hash={hash!r} can key "
                             f"(largest id {self.max_id})")
        # Keys of the random family index its table: the vocabulary of keys, fixed here once.
        self._vocab = None if num_embeddings is None else num_embeddings * key_stride
        groups: dict[int, list[int]] = {}
        for column, seed in enumerate(self.seeds):
            groups.setdefault(seed, []).append(column)
        # Columns sharing a seed are contiguous in every layer here: keep them as slices (no per-call
        # index tensor to copy to the device); any other grouping falls back to a list of columns.
        self._groups = [(seed, slice(cols[0], cols[-1] + 1) if cols == list(range(cols[0], cols[-1] + 1))
                         else cols) for seed, cols in groups.items()]
        # Non-persistent: moves with .to(device), stays out of state_dict and memory_bytes.
        self.register_buffer("_offsets", torch.tensor(self.key_offsets, dtype=torch.int64), persistent=False)
        # build_seconds: what precomputing the table cost (trial records report it as the index build time).
        self._dtype = table_dtype or index_dtype(self.max_value)
        self.build_seconds = 0.0
        if index == "table":
            _check_table_fits(num_embeddings, self.num_columns, self._dtype)
            start = time.perf_counter()
            table = self.compute(torch.arange(num_embeddings, dtype=torch.int64))
            self.register_buffer("table", table.to(self._dtype))
            self.build_seconds = time.perf_counter() - start
        else:
            self.table = None

    @property
    def max_value(self) -> int:
        """Largest index this map can return (sizes the table's dtype)."""
        return max(self.num_buckets - 1, self.padding_value if self.padding_idx is not None else 0)

    @property
    def num_columns(self) -> int:
        return len(self.seeds)

    def compute(self, ids: torch.Tensor) -> torch.Tensor:
        """Hash int64 ``ids`` (any shape) to ``(*ids.shape, k)`` int64 buckets on ``ids.device``."""
        family, m, signed, vocab = self._family, self.num_buckets, self.signed, self._vocab
        if self.key_stride == 1 and not any(self.key_offsets):
            # Bloom: the keys are the ids themselves, hashed under all k seeds in one pass (murmur3
            # shares the seed-independent key mixing between the seeds).
            out = family.bucket_matrix_torch(ids, self.seeds, m, signed, vocab)
            return self._pad(ids.unsqueeze(-1), out)
        ids = ids.unsqueeze(-1)
        out = torch.empty((*ids.shape[:-1], self.num_columns), dtype=torch.int64, device=ids.device)
        for seed, cols in self._groups:
            keys = ids * self.key_stride + self._offsets[cols].to(ids.device)
            out[..., cols] = family.bucket_matrix_torch(keys, [seed], m, signed, vocab)[..., 0]
        return self._pad(ids, out)

    def _pad(self, ids: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Send every column of the padding id (``ids`` has a trailing unit axis) to ``padding_value``."""
        if self.padding_idx is not None:
            out = torch.where(ids == self.padding_idx, self.padding_value, out)
        return out

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``(*ids.shape, k)`` indices in the table's dtype (int32 where it fits), stored or hashed now."""
        if self.table is None:
            # The stored table's dtype: int32 indices make the embedding-bag backward faster than int64.
            return self.compute(ids.to(torch.int64)).to(self._dtype)
        return self.table.index_select(0, ids.reshape(-1)).view(*ids.shape, self.num_columns)

    def extra_repr(self) -> str:
        return (f"index={self.index!r}, k={self.num_columns}, num_buckets={self.num_buckets}, "
                f"hash={self.hash!r}")
