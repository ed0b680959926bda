"""MurmurHash3_x86_32 to buckets in one compiled pass (numba), for hashing on the fly on the CPU.

Why: the numpy kernel (:func:`~bloombench.hashing.murmur3.murmur3_32_flat`) costs ~35 ufunc calls per
chunk plus the modulo, a fixed ~40 us that dominates a training batch of a few hundred ids and made Bloom
on the fly 1.4-1.8x its stored-table path at 1e4 rows x 256 ids. Here one loop hashes each id under every
seed and reduces to a bucket while the values are in registers. Bit-identical to the numpy kernel (and
so to ``mmh3``); the tests compare them. numba is imported at the first call, so ``import
bloombench.hashing`` stays light; without numba, or with ``BLOOMBENCH_KERNELS=0``, :func:`murmur3_buckets`
returns None and the caller takes the numpy path.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from bloombench.hashing.murmur3 import C1, C2, F1, F2, N

__all__ = ["ENV_VAR", "enabled", "murmur3_buckets"]

#: Set to "0" to turn every compiled kernel of the package off (their pure-numpy/torch reference paths run
#: instead). Owned here, the lowest floor with a compiled kernel; :mod:`bloombench.layers.compiled` reads it.
ENV_VAR = "BLOOMBENCH_KERNELS"


def enabled() -> bool:
    """Whether ``BLOOMBENCH_KERNELS`` allows compiled kernels (numba's presence is each caller's check)."""
    return os.environ.get(ENV_VAR, "1") != "0"

# uint64 constants: numba would turn a uint64 combined with a Python int (int64) into a float64.
_U = np.uint64
_M32, _C1, _C2, _N, _F1, _F2 = _U(0xFFFFFFFF), _U(C1), _U(C2), _U(N), _U(F1), _U(F2)
_S13, _S15, _S16, _S17, _S19, _S32, _FIVE = _U(13), _U(15), _U(16), _U(17), _U(19), _U(32), _U(5)
_HALF = _U(1 << 31)


def _kernel_source(ids: np.ndarray, seeds: np.ndarray, key_bytes: np.uint64, num_buckets: int, signed: bool,
                   out: np.ndarray) -> None:  # pragma: no cover - runs compiled
    # uint64 arithmetic masked to 32 bits: exact 32-bit products, whatever width numba picks.
    for i in range(ids.shape[0]):
        key = _U(ids[i])
        words = (key & _M32, (key >> _S32) & _M32)
        for j in range(seeds.shape[0]):
            h = _U(seeds[j])
            for block in range(2 if key_bytes == 8 else 1):
                k = (words[block] * _C1) & _M32
                k = ((k << _S15) | (k >> _S17)) & _M32
                k = (k * _C2) & _M32
                h ^= k
                h = ((h << _S13) | (h >> _S19)) & _M32
                h = (h * _FIVE + _N) & _M32
            h ^= key_bytes
            h ^= h >> _S16
            h = (h * _F1) & _M32
            h ^= h >> _S13
            h = (h * _F2) & _M32
            h ^= h >> _S16
            if signed:  # the value read as int32, reduced with a non-negative remainder (np.mod)
                value = np.int64(h) - (np.int64(1) << 32) if h >= _HALF else np.int64(h)
                out[i, j] = value % num_buckets
            else:
                out[i, j] = np.int64(h % _U(num_buckets))


@functools.cache
def _kernel() -> Any:
    try:
        from numba import njit
    except ImportError:  # pragma: no cover - numba is a dependency; keeps a broken install working
        return None
    return njit(cache=True, nogil=True, boundscheck=False)(_kernel_source)


def murmur3_buckets(flat: np.ndarray, seeds: Sequence[int], num_buckets: int, signed: bool,
                    key_bytes: int = 8) -> np.ndarray | None:
    """int64 ``(n, k)`` buckets of C-contiguous int64 ``flat`` ids under ``seeds``, or None without numba.

    Equals ``_reduce(murmur3_32_flat(flat, seeds, key_bytes), num_buckets, signed)`` of
    :mod:`bloombench.hashing.registry`. Unchecked, as that kernel: seeds in ``[0, 2**32)``, ``key_bytes``
    in ``{4, 8}`` (4: ids that fit int32), ``num_buckets`` in ``[1, 2**63)``.
    """
    if not enabled() or num_buckets >= 2**63:
        return None
    kernel = _kernel()
    if kernel is None:
        return None
    out = np.empty((flat.shape[0], len(seeds)), dtype=np.int64)
    kernel(flat, np.asarray(seeds, dtype=np.uint32), np.uint64(key_bytes), num_buckets, signed, out)
    return out
