"""Hash throughput: every family through ``hash_ids`` (numpy) and ``hash_ids_torch`` (torch, CPU and CUDA),
the per-element Python loop the anchors used, the effect of glibc's allocator settings, and the build of a
Bloom index table.

Targets (issue 5): vectorised murmur3 >= 100 M ids/s on one core; every C-library family (xxhash,
cityhash/farmhash, metrohash) >= 5 M ids/s. Vectorised families (one numpy/torch kernel over the whole
array) run at 1e5, 1e6 and 1e7 ids; per-element families (a C or hashlib function mapped over per-id
keys, 1-15 M ids/s) at 1e5 and 1e6 (hashlib digests at 1e5 only), since larger arrays would take
seconds per call.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import mmh3
import numpy as np
import torch
import xxhash

from bloombench.hashing import available_hashes, derive_seeds, get_hash, hash_ids, hash_ids_torch
from bloombench.layers import HashIndex

from .common import DEVICES, MALLOC_ENV, REPO_ROOT, best_seconds, by_profile, require_device

SIZES = by_profile([100_000, 1_000_000, 10_000_000])
#: The allocator settings matter above glibc's mmap threshold only: 1e6 ids is the small end.
MALLOC_SIZES = by_profile([1_000_000, 10_000_000])
#: Families hashed by one array kernel; every other family maps a per-key function over the ids.
VECTORISED = {"murmur3", "murmur3_int32", "murmur3_128", "multiplicative", "universal", "random"}
#: Largest id count per family kind: C-library families run at ~10 M ids/s, hashlib digests at ~1 M ids/s.
_PER_ELEMENT_LIMIT = 1_000_000
_DIGEST_LIMIT = 100_000
_DIGESTS = {"md5", "sha1", "sha256"}
_SEED = 1


def bench_ids(n: int, name: str = "murmur3") -> np.ndarray:
    """``n`` distinct int64 ids valid for family ``name``, spread over its key range.

    Spreading the ids (golden-ratio stride) keeps any family from profiting from small consecutive keys;
    ``random`` is defined on ``[0, n)`` only and ``murmur3_int32`` on int32 keys.
    """
    ids = np.arange(n, dtype=np.int64)
    if get_hash(name).needs_vocab:
        return ids
    if name == "murmur3_int32":
        return (ids * 7919) % (2**31)
    return (ids * 0x9E3779B1) ^ 0x5DEECE66D


def _check_size(name: str, n: int) -> None:
    limit = _DIGEST_LIMIT if name in _DIGESTS else _PER_ELEMENT_LIMIT
    if name not in VECTORISED and n > limit:
        raise NotImplementedError(f"per-element family {name!r}: measured up to {limit:,} ids")


class HashIds:
    """M ids/s of ``hash_ids`` (the numpy path every layer's CPU hashing goes through), every family."""

    params = (available_hashes(), SIZES)
    param_names = ["hash", "n_ids"]
    timeout = 180

    def setup(self, name: str, n: int) -> None:
        _check_size(name, n)
        self.ids = bench_ids(n, name)
        self.vocab = n if get_hash(name).needs_vocab else None

    def track_mids_per_second(self, name: str, n: int) -> float:
        repeat = 7 if name in VECTORISED else 3
        seconds = best_seconds(lambda: hash_ids(self.ids, seed=_SEED, name=name, vocab_size=self.vocab),
                               repeat=repeat)
        return n / seconds / 1e6

    track_mids_per_second.unit = "M ids/s"


class HashIdsTorch:
    """M ids/s of ``hash_ids_torch`` for the families with a torch kernel, on the ids' device.

    On the CPU murmur3 goes through the cache-blocked numpy kernel (zero-copy in); on CUDA every family
    runs its torch kernel where the ids live.
    """

    params = ([name for name in available_hashes() if get_hash(name).torch_fn is not None], SIZES, DEVICES)
    param_names = ["hash", "n_ids", "device"]
    timeout = 180

    def setup(self, name: str, n: int, device: str) -> None:
        self.device = require_device(device)
        self.ids = torch.from_numpy(bench_ids(n, name)).to(self.device)
        hash_ids_torch(self.ids, seed=_SEED, name=name)  # CUDA context, kernel compilation, allocator

    def track_mids_per_second(self, name: str, n: int, device: str) -> float:
        seconds = best_seconds(lambda: hash_ids_torch(self.ids, seed=_SEED, name=name), device=self.device,
                               repeat=7)
        return n / seconds / 1e6

    track_mids_per_second.unit = "M ids/s"


# The per-element loop of the anchors (and of a straightforward implementation): one Python call and
# one ``int.to_bytes`` per id, with the reference library of the family.
_REFERENCE_LOOPS = {
    "murmur3": lambda key, seed: mmh3.hash(key, seed, signed=False),
    "xxh64": xxhash.xxh64_intdigest,
    "md5": lambda key, seed: int.from_bytes(hashlib.md5(seed.to_bytes(8, "little") + key).digest()[:8], "little"),
}


class PerElementLoop:
    """M ids/s of a Python loop hashing one id at a time with the family's reference library: the
    baseline the vectorised kernels and the one-pass key building of ``hash_ids`` are measured against."""

    params = (list(_REFERENCE_LOOPS), [100_000])
    param_names = ["hash", "n_ids"]

    def setup(self, name: str, n: int) -> None:
        self.ids = bench_ids(n, name).tolist()
        self.fn = _REFERENCE_LOOPS[name]

    def _loop(self) -> list[int]:
        fn = self.fn
        return [fn(i.to_bytes(8, "little", signed=True), _SEED) for i in self.ids]

    def track_mids_per_second(self, name: str, n: int) -> float:
        return n / best_seconds(self._loop, repeat=3) / 1e6

    track_mids_per_second.unit = "M ids/s"


def murmur3_mids_per_second(n: int) -> float:
    """Best-of-7 M ids/s of vectorised murmur3 over ``n`` ids in this process."""
    ids = bench_ids(n)
    return n / best_seconds(lambda: hash_ids(ids, seed=_SEED), repeat=7) / 1e6


# Appended, not prepended, to the path: bloombench itself must come from the environment asv installed.
_PROBE = ("import sys; sys.path.append(sys.argv[2]); "
          "from benchmarks.hashing import murmur3_mids_per_second as f; print(f(int(sys.argv[1])))")


class MallocEffect:
    """Vectorised murmur3 throughput under glibc's default allocator settings and under the suite's.

    Each measurement runs in a fresh interpreter whose environment has the malloc variables of
    ``asv.conf.json`` set ("suite") or removed ("glibc-default"): glibc reads them at start-up only.
    The difference is the cost of returning large temporaries to the OS and page-faulting them again.
    """

    params = (["suite", "glibc-default"], MALLOC_SIZES)
    param_names = ["malloc", "n_ids"]
    timeout = 120

    def track_mids_per_second(self, malloc: str, n: int) -> float:
        env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV}
        if malloc == "suite":
            env.update(MALLOC_ENV)
        done = subprocess.run([sys.executable, "-c", _PROBE, str(n), str(REPO_ROOT)], env=env,
                              capture_output=True, text=True, check=True, timeout=self.timeout)
        return float(done.stdout.split()[-1])

    track_mids_per_second.unit = "M ids/s"


class BloomIndexBuild:
    """Building a Bloom layer's (rows, k) int32 index table: murmur3 under k seeds, buckets of m = rows/5."""

    params = (SIZES, [1, 4])
    param_names = ["rows", "num_hashes"]
    timeout = 180

    def time_build_index_table(self, rows: int, k: int) -> None:
        HashIndex(rows, rows // 5, derive_seeds(0, k), "murmur3", index="table")
