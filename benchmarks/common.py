"""Helpers shared by the benchmark files: devices, seeded ids, timing, memoised set-up, data location.

Timing conventions of the whole suite
-------------------------------------
* CUDA work is synchronised before the clock is read, and every measured callable is called once in
  ``setup`` (or by :func:`best_seconds`) before it is timed, so CUDA context creation, kernel
  compilation, lazy optimizer state and the allocator's first growth are never measured.
* CUDA parameters raise ``NotImplementedError`` in ``setup`` on a machine without CUDA: asv records them
  as skipped.
* asv (0.6, asv_runner 0.3) re-runs ``setup`` before every timed sample. Objects that are expensive to
  build and are not changed by the measured call (embedding tables of 10^7 rows take seconds to
  initialise) are memoised per process with :func:`memoised`, so only the first sample pays for them.
  ``setup_cache`` is used where the object pickles cheaply (data sets, fitted small models, metrics).
* asv runs benchmarks with ``OMP_NUM_THREADS=1`` and glibc's ``MALLOC_MMAP_THRESHOLD_`` and
  ``MALLOC_TRIM_THRESHOLD_`` raised to 4 GiB (``matrix.env_nobuild`` in ``asv.conf.json``): otherwise
  every temporary above glibc's mmap threshold (at most 32 MiB) is returned to the OS when freed and
  page-faulted again on the next call, which dominates vectorised kernels over ~10^6 elements and the
  dense gradients of large tables. ``hashing.MallocEffect`` measures what the setting changes.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

__all__ = [
    "BLOOM",
    "DEVICES",
    "DIM",
    "MALLOC_ENV",
    "REPO_ROOT",
    "best_seconds",
    "memoised",
    "movielens_dirs",
    "random_ids",
    "require_device",
    "synchronize",
]

DEVICES = ["cpu", "cuda"]
#: Embedding width of every benchmark (the quick reproduction profile's).
DIM = 32
#: The Bloom configuration benchmarked everywhere: compression 0.2 with k = 4 hash functions.
BLOOM: dict[str, object] = {"compression_ratio": 0.2, "num_hashes": 4}
#: What asv.conf.json sets for benchmark processes (``hashing.MallocEffect`` compares with glibc's defaults).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(4 * 2**30), "MALLOC_TRIM_THRESHOLD_": str(4 * 2**30)}
#: The checkout the benchmark files live in (asv imports them from there, whatever its working directory).
REPO_ROOT = Path(__file__).resolve().parents[1]

T = TypeVar("T")


def require_device(device: str) -> torch.device:
    """``torch.device(device)``; skip (asv: ``NotImplementedError`` in setup) CUDA without a CUDA device."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise NotImplementedError("CUDA not available")
    return torch.device(device)


def synchronize(device: torch.device | str) -> None:
    """Wait for queued work on ``device`` (a no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def best_seconds(fn: Callable[[], object], *, device: torch.device | str = "cpu", repeat: int = 5,
                 warmup: int = 1) -> float:
    """Best wall time of ``repeat`` calls of ``fn`` after ``warmup`` untimed calls.

    The minimum is the estimate least disturbed by other processes on a shared machine; queued GPU
    work is synchronised before every clock read.
    """
    if repeat < 1 or warmup < 0:
        raise ValueError(f"need repeat >= 1 and warmup >= 0, got repeat={repeat}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def random_ids(n: int, high: int, device: torch.device | str = "cpu", seed: int = 0) -> torch.Tensor:
    """``n`` uniform int64 ids in ``[0, high)`` drawn from a seeded CPU generator, then moved to ``device``.

    Drawing on the CPU makes the ids identical on every device.
    """
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, (n,), generator=generator).to(device)


def memoised(fn: Callable[..., T]) -> Callable[..., T]:
    """Cache the last result of ``fn`` (per process): asv re-runs ``setup`` before every sample, and one
    benchmark process only ever asks for one parameter combination."""
    return functools.lru_cache(maxsize=1)(fn)


def movielens_dirs() -> list[Path]:
    """Directories that may hold MovieLens, in order: ``$BLOOMBENCH_DATA``, the project's shared data
    (``../shared/data`` next to the checkout) and bloombench's default data directory.

    Benchmarks never download: callers load with ``download=False`` and skip when nothing is found.
    """
    from bloombench.data import default_data_dir

    candidates = [os.environ.get("BLOOMBENCH_DATA"), REPO_ROOT.parent / "shared" / "data", default_data_dir()]
    return [Path(c) for c in candidates if c]
