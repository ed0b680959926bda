"""Full tables for an open id space, the two a practitioner deploys: one grown by an online id dictionary,
and one of fixed capacity that evicts the least recently used ids.

Both give every admitted id a row of its own (no collisions), found through an :class:`IdMap` whose bytes
:meth:`memory_bytes` counts, and assign rows on first sight, in ``forward`` (a served request admits its
user, as production "managed collision" tables do). They are the baselines of the hashed tables in the
open-vocabulary experiment: :class:`GrowingEmbedding`'s memory grows with the ids seen;
:class:`LRUEmbedding`'s is fixed and pays in evictions (an evicted id that comes back starts over).

Rows a call assigns are (re-)initialised like a full table's rows (``N(0, 1/dim)``, from a generator
seeded by ``init_seed`` and the call count, so a replay is identical) and handed out once by
:meth:`take_fresh_rows`, so an optimizer can reset their state. The id map lives on the CPU (numpy), the rows on the layer's device.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bloombench.checks import check_fraction, check_int, check_exclusive, check_number
from bloombench.hashing import bucket_ids
from bloombench.layers.base import CompressedEmbedding, ratio_count
from bloombench.layers.id_map import IdMap, map_slots
from bloombench.layers.hash_index import index_dtype
from bloombench.layers.lookup import row_lookup

__all__ = ["GrowingEmbedding", "LRUEmbedding"]

_FLOAT32 = 4
_INT64 = 8
# Rows of a growing table are stored as int32 in its id map (2**31 rows of dim 32 would be 275 GB).
_GROWING_MAX_ROW = 2**31 - 1


def _map_bytes(keys: int, max_value: int) -> int:
    slots = map_slots(keys)
    return slots * (_INT64 + torch.empty((), dtype=index_dtype(max_value)).element_size()) + 2 * _INT64


class _MappedEmbedding(CompressedEmbedding):
    """Rows assigned to ids by an :class:`IdMap`; subclasses decide where new ids' rows come from."""

    def __init__(self, num_embeddings: int | None, embedding_dim: int, rows: int, *, max_value: int,
                 padding_idx: int | None, sparse: bool, init_seed: int | None) -> None:
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        # Row 0 is the padding row when there is a padding id: slots start after it.
        self._offset = 0 if self.padding_idx is None else 1
        self.weight = nn.Parameter(torch.empty(rows + self._offset, self.embedding_dim))
        self.id_map = IdMap(rows, max_value)
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))
        self._fresh: list[np.ndarray] = []
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self._normal_(self.weight, 1.0 / self.embedding_dim, self._generator())
        if self._offset:
            with torch.no_grad():
                self.weight[0].zero_()

    def _init_rows(self, rows: np.ndarray) -> None:
        """Draw fresh rows for newly assigned ids (seeded by ``init_seed`` and the call count)."""
        if rows.size == 0:
            return
        generator = torch.Generator().manual_seed((self.init_seed or 0) * 1_000_003 + int(self.calls))
        drawn = torch.empty(rows.size, self.embedding_dim).normal_(0.0, 1.0 / self.embedding_dim,
                                                                   generator=generator)
        with torch.no_grad():
            index = torch.as_tensor(rows, device=self.weight.device)
            self.weight.index_copy_(0, index, drawn.to(self.weight.device, self.weight.dtype))

    def _admit(self, ids: np.ndarray) -> np.ndarray:
        """Rows for ``ids`` (unique, absent from the map), inserting those that get one of their own."""
        raise NotImplementedError

    def take_fresh_rows(self) -> torch.Tensor:
        """Rows (re-)initialised for new ids since the last call of this method (int64), and forget them."""
        rows = np.concatenate(self._fresh) if self._fresh else np.zeros(0, dtype=np.int64)
        self._fresh = []
        return torch.as_tensor(rows)

    def _touch(self, slots: np.ndarray) -> None:
        """Note that ``slots`` were used in this call (recency for eviction)."""

    def rows_of(self, ids: torch.Tensor) -> torch.Tensor:
        """Row of ``weight`` each id reads, assigning rows to new ids: int64, ``ids.shape``."""
        ids = self._check_ids(ids)
        flat = ids.reshape(-1).to("cpu", torch.int64).numpy()
        unique, inverse = np.unique(flat, return_inverse=True)
        rows = np.empty(unique.shape, dtype=np.int64)
        pad = unique == self.padding_idx if self.padding_idx is not None else np.zeros(unique.shape, bool)
        keys = unique[~pad]
        found = self.id_map.get(keys)
        missing = found < 0
        if missing.any():
            found[missing] = self._admit(keys[missing])
        self._touch(found - self._offset)
        rows[~pad] = found
        rows[pad] = 0
        self.calls += 1
        return torch.as_tensor(rows[inverse].reshape(tuple(ids.shape)), device=self.weight.device)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.rows_of(ids)
        pad = 0 if self._offset else None
        return row_lookup(self.weight, rows, padding_idx=pad, sparse=self.sparse)

    @property
    def num_rows(self) -> int:
        return self.weight.shape[0]

    @property
    def num_ids(self) -> int:
        """Ids that hold a row now."""
        return self.id_map.num_keys


class GrowingEmbedding(_MappedEmbedding):
    """A full table grown by an online id dictionary: every new id gets a new row, nothing is evicted.

    Memory grows with the ids seen: rows are allocated ``growth`` times the current allocation at a time
    (as a vector grows), and the id map doubles at half load; :meth:`memory_bytes` counts both, as
    allocated. With a finite ``num_embeddings`` it never allocates more rows than ids.

    Parameters
    ----------
    num_embeddings : int or None
        Vocabulary size, or None: any non-negative id.
    embedding_dim : int
        Output width.
    initial_rows : int
        Rows allocated up front (its size knob: memory before any id is seen).
    growth : float
        Factor by which the allocation grows when full (> 1).
    padding_idx, sparse, init_seed
        As every layer (:class:`~bloombench.layers.base.CompressedEmbedding`).
    """

    size_params = ("initial_rows",)
    examples = {"growing": {"initial_rows": 64}}

    def __init__(self, num_embeddings: int | None, embedding_dim: int, *, initial_rows: int = 1024,
                 growth: float = 1.5, padding_idx: int | None = None, sparse: bool = False,
                 init_seed: int | None = None) -> None:
        rows = check_int("initial_rows", initial_rows)
        if num_embeddings is not None:
            rows = min(rows, check_int("num_embeddings", num_embeddings))
        self.growth = check_number("growth", growth, low=1, low_open=True)
        super().__init__(num_embeddings, embedding_dim, rows, max_value=_GROWING_MAX_ROW,
                         padding_idx=padding_idx, sparse=sparse, init_seed=init_seed)
        self.register_buffer("used", torch.zeros((), dtype=torch.int64))

    def _admit(self, ids: np.ndarray) -> np.ndarray:
        used = int(self.used)
        need = used + ids.size
        capacity = self.weight.shape[0] - self._offset
        if need > capacity:
            grown = max(need, int(capacity * self.growth) + 1)
            if self.num_embeddings is not None:
                grown = min(grown, self.num_embeddings)
            extra = torch.empty(grown - capacity, self.embedding_dim, dtype=self.weight.dtype,
                                device=self.weight.device)
            # a new Parameter (autograd caches a leaf's shape): optimizers must look the weight up by name
            # after a call (the stream model's does); torch's optimizers would keep the old tensor
            self.weight = nn.Parameter(torch.cat([self.weight.detach(), extra]),
                                       requires_grad=self.weight.requires_grad)
        slots = np.arange(used, need, dtype=np.int64) + self._offset
        self._init_rows(slots)
        self.id_map.put(ids, slots)
        self.used.fill_(need)
        self._fresh.append(slots)
        return slots

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        # a grown table's state has more rows (and a larger map) than a fresh layer: take its sizes
        weight = state_dict.get(prefix + "weight")
        if weight is not None and weight.shape != self.weight.shape:
            self.weight = nn.Parameter(torch.empty_like(weight), requires_grad=self.weight.requires_grad)
        for name in ("keys", "values"):
            stored = state_dict.get(f"{prefix}id_map.{name}")
            if stored is not None:
                setattr(self.id_map, name, torch.empty_like(stored))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _method_repr(self) -> list[str]:
        return [f"rows={self.num_rows}", f"ids={self.num_ids}", f"growth={self.growth}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int | None, embedding_dim: int, **params: object) -> int:
        args = cls.bound_arguments(num_embeddings, embedding_dim, params)
        rows = check_int("initial_rows", args["initial_rows"])
        if num_embeddings is not None:
            rows = min(rows, num_embeddings)
        offset = 0 if args["padding_idx"] is None else 1
        dim = check_int("embedding_dim", embedding_dim)
        return (rows + offset) * dim * _FLOAT32 + _map_bytes(rows, _GROWING_MAX_ROW) + 2 * _INT64

    @classmethod
    def budget_knob(cls, num_embeddings: int | None, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        cls.bound_arguments(num_embeddings, embedding_dim, params)
        return "initial_rows", 1, num_embeddings


class LRUEmbedding(_MappedEmbedding):
    """A fixed-capacity full table that evicts the least recently used ids (managed collisions).

    Each admitted id has a row of its own. When a new id finds no free row, the least recently used
    ``evict_fraction`` of the rows (at least as many as needed) are freed at once: their ids leave the map
    and an id that returns later starts from a fresh row (bulk eviction, as production managed-collision
    tables evict at intervals, keeps the cost of finding the oldest rows, one pass over the recency array,
    off the per-call path). Rows used in the current call are never evicted by it. Memory is fixed:
    :meth:`memory_bytes` counts the rows, the id map (sized for ``capacity`` keys), each row's id and its
    last use.

    Should one call hold more new ids than there are rows that it may take, the ids left over read a
    row chosen by hashing (``seed``; the hashing trick as fallback): with a finite vocabulary larger than
    the capacity every id still gets a row, as the layer contract requires. In the experiment the capacity
    is far above the ids of one call and this does not happen.

    Parameters
    ----------
    num_embeddings : int or None
        Vocabulary size, or None: any non-negative id.
    embedding_dim : int
        Output width.
    compression_ratio : float, optional
        ``capacity = int(compression_ratio * num_embeddings)`` (finite vocabularies; default 0.2).
    capacity : int, optional
        Rows (ids held at once), instead of ``compression_ratio``; required with an open vocabulary.
    evict_fraction : float
        Share of the rows freed by one eviction, in (0, 1].
    seed : int
        Hash seed of the overflow fallback.
    padding_idx, sparse, init_seed
        As every layer.
    """

    size_params = ("compression_ratio", "capacity")
    examples = {"lru": {"compression_ratio": 0.2}}

    def __init__(self, num_embeddings: int | None, embedding_dim: int, *,
                 compression_ratio: float | None = None, capacity: int | None = None,
                 evict_fraction: float = 1 / 64, seed: int = 0, padding_idx: int | None = None,
                 sparse: bool = False, init_seed: int | None = None) -> None:
        rows = _capacity(num_embeddings, compression_ratio, capacity)
        self.compression_ratio = compression_ratio
        self.evict_fraction = check_fraction("evict_fraction", evict_fraction, high_open=False)
        self.seed = check_int("seed", seed, 0)
        super().__init__(num_embeddings, embedding_dim, rows, max_value=rows + (padding_idx is not None),
                         padding_idx=padding_idx, sparse=sparse, init_seed=init_seed)
        self.capacity = rows
        self.register_buffer("slot_ids", torch.full((rows,), -1, dtype=torch.int64))
        self.register_buffer("last_used", torch.full((rows,), -1, dtype=torch.int64))
        self.register_buffer("evicted", torch.zeros((), dtype=torch.int64))

    def _touch(self, slots: np.ndarray) -> None:
        self.last_used.numpy()[slots[slots >= 0]] = int(self.calls)

    def _admit(self, ids: np.ndarray) -> np.ndarray:
        owners, last = self.slot_ids.numpy(), self.last_used.numpy()
        now = int(self.calls)
        free = np.flatnonzero(owners < 0)
        if free.size < ids.size:
            # rows used in this call hold last == now: never candidates
            candidates = np.flatnonzero((owners >= 0) & (last < now))
            count = min(candidates.size, max(ids.size - free.size, int(self.evict_fraction * self.capacity)))
            if count:
                oldest = candidates[np.argpartition(last[candidates], count - 1)[:count]]
                self.id_map.remove(owners[oldest])
                owners[oldest] = -1
                self.evicted += count
                free = np.flatnonzero(owners < 0)
        taken = free[:ids.size]
        admitted = ids[:taken.size]
        owners[taken] = admitted
        last[taken] = now
        rows = taken + self._offset
        self.id_map.put(admitted, rows)
        self._init_rows(rows)
        self._fresh.append(rows)
        overflow = ids[taken.size:]
        if overflow.size == 0:
            return rows
        hashed = bucket_ids(overflow, seed=self.seed, num_buckets=self.capacity) + self._offset
        return np.concatenate([rows, hashed])

    @property
    def num_evicted(self) -> int:
        """Ids evicted so far."""
        return int(self.evicted)

    def _method_repr(self) -> list[str]:
        return [f"capacity={self.capacity}", f"ids={self.num_ids}", f"evict_fraction={self.evict_fraction:g}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int | None, embedding_dim: int, **params: object) -> int:
        args = cls.bound_arguments(num_embeddings, embedding_dim, params)
        rows = _capacity(num_embeddings, args["compression_ratio"], args["capacity"])
        offset = 0 if args["padding_idx"] is None else 1
        dim = check_int("embedding_dim", embedding_dim)
        # rows, id map, each row's id and last use, the call and eviction counters
        return ((rows + offset) * dim * _FLOAT32 + _map_bytes(rows, rows + offset) + 2 * rows * _INT64
                + 2 * _INT64)

    @classmethod
    def budget_knob(cls, num_embeddings: int | None, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        cls.bound_arguments(num_embeddings, embedding_dim, params)
        return "capacity", 1, num_embeddings


def _capacity(num_embeddings: int | None, compression_ratio: float | None, capacity: int | None) -> int:
    check_exclusive(compression_ratio=compression_ratio, capacity=capacity)
    if capacity is not None:
        return check_int("capacity", capacity)
    if num_embeddings is None:
        raise ValueError("an open vocabulary (num_embeddings=None) needs capacity")
    ratio = check_fraction("compression_ratio", 0.2 if compression_ratio is None else compression_ratio,
                           high_open=False)
    return ratio_count(ratio, num_embeddings, "capacity")
