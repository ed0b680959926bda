"""A vectorised open-addressing hash map from int64 ids to row numbers, held in torch buffers.

What the full-table baselines of an open id space need (:mod:`bloombench.layers.lru`): a Python ``dict``
of 10^7 ids costs ~1 GB of objects that no ``memory_bytes()`` can count honestly and a Python call per
id; this map is two flat arrays (keys int64, values int32 or int64) whose bytes are exact, and every
operation is a few numpy passes over a batch. Linear probing from a murmur3 bucket
(:mod:`bloombench.hashing`); deletion leaves a tombstone. When live keys and tombstones would fill more
than half of it, the map is rebuilt without tombstones, at twice the size if the live keys alone need it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bloombench.hashing import hash_ids
from bloombench.layers.hash_index import index_dtype

__all__ = ["IdMap", "map_slots"]

EMPTY = -1
TOMBSTONE = -2
# The map's own hash seed: it only places keys in the map, it never changes which row an id gets.
_SEED = 0x1D3A7


def map_slots(keys: int) -> int:
    """Slots of a map that holds ``keys`` live keys at a load of at most 1/2."""
    return max(8, 2 * keys)


class IdMap(nn.Module):
    """``id -> value`` for non-negative int64 ids; buffers ``keys`` and ``values`` (persistent).

    Parameters
    ----------
    max_keys : int
        Live keys it must hold without growing (the map has :func:`map_slots` slots).
    max_value : int
        Largest value stored (sizes the values' dtype: int32 when it fits).
    """

    def __init__(self, max_keys: int, max_value: int) -> None:
        super().__init__()
        slots = map_slots(max_keys)
        self.register_buffer("keys", torch.full((slots,), EMPTY, dtype=torch.int64))
        self.register_buffer("values", torch.zeros(slots, dtype=index_dtype(max_value)))
        self.register_buffer("counts", torch.zeros(2, dtype=torch.int64))  # live keys, tombstones

    @property
    def num_keys(self) -> int:
        return int(self.counts[0])

    def _start(self, ids: np.ndarray) -> np.ndarray:
        return (hash_ids(ids, seed=_SEED) % np.uint64(self.keys.shape[0])).astype(np.int64)

    def _probe(self, ids: np.ndarray) -> np.ndarray:
        """Slot of each id, -1 where absent (``ids`` unique)."""
        keys = self.keys.numpy()
        slots = keys.shape[0]
        pos = self._start(ids)
        found = np.full(ids.shape, -1, dtype=np.int64)
        active = np.arange(ids.size)
        while active.size:
            at = keys[pos[active]]
            hit = at == ids[active]
            found[active[hit]] = pos[active[hit]]
            active = active[~(hit | (at == EMPTY))]  # an empty slot ends the chain: absent
            pos[active] = (pos[active] + 1) % slots
        return found

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The value of each id (int64), -1 where absent; ``ids`` unique int64."""
        slots = self._probe(ids)
        out = np.full(ids.shape, -1, dtype=np.int64)
        present = slots >= 0
        out[present] = self.values.numpy()[slots[present]]
        return out

    def put(self, ids: np.ndarray, values: np.ndarray) -> None:
        """Insert ids known to be absent (unique int64) with their values; grows the map when needed."""
        live, dead = (int(c) for c in self.counts)
        if 2 * (live + dead + ids.size) > self.keys.shape[0]:
            self._rebuild(live + ids.size)
        keys, stored = self.keys.numpy(), self.values.numpy()
        slots = keys.shape[0]
        pos = self._start(ids)
        active = np.arange(ids.size)
        reused = 0
        while active.size:
            free = keys[pos[active]] < 0  # empty or tombstone
            claim = active[free]
            reused += int(np.count_nonzero(keys[pos[claim]] == TOMBSTONE))
            keys[pos[claim]] = ids[claim]  # ids racing for one slot: the last write wins it
            won = claim[keys[pos[claim]] == ids[claim]]
            stored[pos[won]] = values[won]
            keep = np.ones(active.size, dtype=bool)
            keep[np.searchsorted(active, won)] = False
            active = active[keep]
            pos[active] = (pos[active] + 1) % slots
        # a loser of a race reads the winner's key and probes on; a won tombstone is no longer dead
        self.counts += torch.tensor([ids.size, -reused])

    def remove(self, ids: np.ndarray) -> None:
        """Delete ids known to be present (unique int64)."""
        slots = self._probe(ids)
        self.keys.numpy()[slots[slots >= 0]] = TOMBSTONE
        gone = int(np.count_nonzero(slots >= 0))
        self.counts += torch.tensor([-gone, gone])

    def _rebuild(self, need: int) -> None:
        """Re-insert the live keys into a table sized for ``need`` keys (tombstones dropped)."""
        keys, values = self.keys.numpy(), self.values.numpy()
        live = keys >= 0
        old_keys, old_values = keys[live].copy(), values[live].astype(np.int64)
        slots = keys.shape[0]
        if map_slots(need) > slots:  # live keys outgrow the map: double it (room for many more puts)
            slots = max(map_slots(need), 2 * slots)
        self.keys = torch.full((slots,), EMPTY, dtype=torch.int64)
        self.values = torch.zeros(slots, dtype=self.values.dtype)
        self.counts.zero_()
        if old_keys.size:
            self.put(old_keys, old_values)

    def extra_repr(self) -> str:
        return f"slots={self.keys.shape[0]}, keys={self.num_keys}"
