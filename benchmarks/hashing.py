"""Hash throughput: every family through ``hash_ids`` (numpy) and murmur3 on torch tensors.

Targets (issue 5): vectorised murmur3 >= 100 M ids/s on one core; each C-library family >= 5 M ids/s;
hashlib families >= 1 M ids/s. asv sets OMP_NUM_THREADS=1 and raises glibc's mmap/trim thresholds
(asv.conf.json) so large temporaries are not returned to the OS and re-faulted between calls.
"""

from __future__ import annotations

import numpy as np
import torch

from bloombench.hashing import available_hashes, derive_seeds, get_hash, hash_ids, murmur3_32_torch
from bloombench.layers.base import HashIndex

from .common import DEVICES, best_seconds, require_device

# Families that map a C or Python function over per-id keys run at 1-10 M ids/s: 1e7 ids would take
# seconds per call, so they are measured at 1e5 ids only.
_PER_ELEMENT_LIMIT = 100_000


def _ids(n: int, name: str = "murmur3") -> np.ndarray:
    family = get_hash(name)
    if family.needs_vocab:
        return np.arange(n, dtype=np.int64)
    if family.name == "murmur3_int32":
        return (np.arange(n, dtype=np.int64) * 7919) % (2**31)
    # Spread ids over the int64 range so no family benefits from small consecutive keys.
    return (np.arange(n, dtype=np.int64) * 0x9E3779B1) ^ 0x5DEECE66D


def _per_element(name: str) -> bool:
    return name not in {"murmur3", "murmur3_int32", "murmur3_128", "multiplicative", "universal", "random"}


class HashIds:
    """Throughput of ``hash_ids`` over n ids for every family (numpy path)."""

    params = (available_hashes(), [100_000, 10_000_000])
    param_names = ["hash", "n_ids"]

    def setup(self, name: str, n: int) -> None:
        if _per_element(name) and n > _PER_ELEMENT_LIMIT:
            raise NotImplementedError("per-element family: measured at 1e5 ids only")
        self.ids = _ids(n, name)
        self.vocab = n if get_hash(name).needs_vocab else None
        hash_ids(self.ids[:1000], seed=1, name=name, vocab_size=self.vocab)

    def track_mids_per_second(self, name: str, n: int) -> float:
        seconds = best_seconds(lambda: hash_ids(self.ids, seed=1, name=name, vocab_size=self.vocab), repeat=7)
        return n / seconds / 1e6

    track_mids_per_second.unit = "M ids/s"


class Murmur3Torch:
    """Vectorised murmur3 on a torch tensor, on the device where the ids live."""

    params = (DEVICES, [100_000, 10_000_000])
    param_names = ["device", "n_ids"]

    def setup(self, device: str, n: int) -> None:
        self.device = require_device(device)
        self.ids = torch.from_numpy(_ids(n)).to(self.device)
        murmur3_32_torch(self.ids, 1)  # first call: CUDA context, kernel compilation, allocator

    def time_murmur3_torch(self, device: str, n: int) -> None:
        murmur3_32_torch(self.ids, 1)
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def track_mids_per_second(self, device: str, n: int) -> float:
        return n / best_seconds(lambda: murmur3_32_torch(self.ids, 1), device=device) / 1e6

    track_mids_per_second.unit = "M ids/s"


class BloomIndexBuild:
    """Building a Bloom layer's (rows, k) int32 index table (murmur3, k = 4, compression 0.2)."""

    params = ([100_000, 1_000_000, 10_000_000], [1, 4])
    param_names = ["rows", "num_hashes"]
    timeout = 120

    def time_build_index_table(self, rows: int, k: int) -> None:
        HashIndex(rows, rows // 5, derive_seeds(0, k), "murmur3", index="table")
