"""The hash families besides MurmurHash3_x86_32: library hashes, keyed digests, MurmurHash3_x64_128 and
the arithmetic controls.

Every function here is a family's unchecked ``numpy_fn(flat int64 ids, seed) -> flat values`` (or, for
``random``, its table); the public entry points in :mod:`bloombench.hashing.buckets` check first.

Library families (mmh3, xxhash, cityhash, metrohash, hashlib) have no per-element array API; for those
the whole id array is converted to keys once (``ndarray.view("V8").tolist()``) and the library is mapped
over the keys, so no per-id ``int.to_bytes`` is paid.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from itertools import repeat
from operator import methodcaller

import numpy as np

from bloombench.hashing.validation import as_int64, check_seed

__all__ = [
    "keyed_digest",
    "library_function",
    "multiplicative",
    "murmur3_128_low",
    "murmur3_128_low_flat",
    "per_key",
    "random_table",
    "universal",
]

_MASK32 = 0xFFFFFFFF

# Carter–Wegman universal hashing works modulo the Mersenne prime 2^61 - 1.
_P61 = (1 << 61) - 1


# ----------------------------------------------------------------------------------------------------
# Library families: keys built once, library mapped over them
# ----------------------------------------------------------------------------------------------------
def library_function(module: str, attr: str) -> Callable[..., int]:
    """``module.attr`` of a hashing library, looked up when the registry is built."""
    return getattr(__import__(module), attr)


def _keys(arr: np.ndarray) -> list[bytes]:
    """The 8-byte little-endian key of every id, built in one C-level pass (no per-id ``to_bytes``).

    ``tolist()`` of a void view yields one ``bytes`` object per element, trailing zero bytes kept
    (unlike an ``S8`` view, which strips them).
    """
    return np.ascontiguousarray(arr, dtype="<i8").view("V8").tolist()


def per_key(fn: Callable[..., int], bits: int) -> Callable[[np.ndarray, int], np.ndarray]:
    """Wrap ``fn(key, seed) -> int`` into a function hashing a whole int64 array (native width)."""
    dtype = np.uint32 if bits == 32 else np.uint64

    def hash_array(arr: np.ndarray, seed: int) -> np.ndarray:
        return np.fromiter(map(fn, _keys(arr), repeat(seed)), dtype=dtype, count=arr.size)

    return hash_array


def keyed_digest(constructor: Callable[[bytes], object]) -> Callable[[np.ndarray, int], np.ndarray]:
    """hashlib digest of ``seed (8 bytes LE) || id (8 bytes LE)``; first 8 digest bytes, little-endian.

    Prefixing the seed (rather than hashing ``id + seed``) makes the k seeded functions independent
    instead of shifted copies of one another. The 16-byte messages are laid out in one numpy buffer so
    the whole pipeline (unpack, hash, digest, join) runs in C-level ``map`` calls.
    """
    digest_size = constructor(b"").digest_size

    def hash_array(arr: np.ndarray, seed: int) -> np.ndarray:
        messages = np.empty((arr.size, 2), dtype="<u8")
        messages[:, 0] = seed
        messages[:, 1] = arr.view("<u8")
        keys = messages.view("V16").reshape(-1).tolist()
        digests = b"".join(map(methodcaller("digest"), map(constructor, keys)))
        first8 = np.frombuffer(digests, dtype=np.uint8).reshape(-1, digest_size)[:, :8]
        return np.ascontiguousarray(first8).view("<u8").reshape(-1).astype(np.uint64)

    return hash_array


# ----------------------------------------------------------------------------------------------------
# Vectorised MurmurHash3_x64_128 (numpy), low 64 bits, for 8-byte keys
# ----------------------------------------------------------------------------------------------------
_K1 = 0x87C37B91114253D5
_K2 = 0x4CF5AD432745937F
_FM1 = 0xFF51AFD7ED558CCD
_FM2 = 0xC4CEB9FE1A85EC53


def _fmix64(h: np.ndarray) -> None:
    u = np.uint64
    h ^= h >> u(33)
    h *= u(_FM1)
    h ^= h >> u(33)
    h *= u(_FM2)
    h ^= h >> u(33)


def murmur3_128_low_flat(flat: np.ndarray, seed: int) -> np.ndarray:
    """The unchecked kernel of :func:`murmur3_128_low` over flat int64 ids."""
    u = np.uint64
    with np.errstate(over="ignore"):
        k1 = flat.view(np.uint64) * u(_K1)
        k1 = (k1 << u(31)) | (k1 >> u(33))
        k1 *= u(_K2)
        h1 = k1 ^ u(seed ^ 8)  # h1 = seed; h1 ^= k1; h1 ^= len
        h2 = np.full_like(h1, seed ^ 8)  # h2 = seed; h2 ^= len
        h1 += h2
        h2 += h1
        _fmix64(h1)
        _fmix64(h2)
        h1 += h2
    return h1


def murmur3_128_low(ids: np.ndarray, seed: int) -> np.ndarray:
    """Low 64 bits of MurmurHash3_x64_128 of each id's 8-byte key, equal to
    ``mmh3.hash64(key, seed, signed=False)[0]``.

    An 8-byte key is shorter than one 16-byte block, so only the tail step and the finalisation run.
    """
    seed = check_seed(seed)
    arr = as_int64(ids)
    return murmur3_128_low_flat(arr.reshape(-1), seed).reshape(arr.shape)


# ----------------------------------------------------------------------------------------------------
# Arithmetic families (controls)
# ----------------------------------------------------------------------------------------------------
def multiplicative(arr: np.ndarray, seed: int) -> np.ndarray:
    """``id * (seed | 1) mod 2**64``: the naive scheme Spotlight first used. A known-bad control:
    modulo m, ids i and i + m land in the same bucket under every seed."""
    with np.errstate(over="ignore"):
        return arr.view(np.uint64) * np.uint64(seed | 1)


@functools.lru_cache(maxsize=256)
def _universal_coefficients(seed: int) -> tuple[int, int]:
    rng = np.random.default_rng([seed, 0x5EED_C0DE])
    a = int(rng.integers(1, _P61))
    b = int(rng.integers(0, _P61))
    return a, b


def _mod_p61(x: np.ndarray) -> np.ndarray:
    """Reduce uint64 values modulo 2**61 - 1 (Mersenne folding)."""
    x = (x & np.uint64(_P61)) + (x >> np.uint64(61))
    x = (x & np.uint64(_P61)) + (x >> np.uint64(61))
    return np.where(x >= np.uint64(_P61), x - np.uint64(_P61), x)


def universal(arr: np.ndarray, seed: int) -> np.ndarray:
    """Carter–Wegman ``(a*x + b) mod p`` with p = 2**61 - 1 and seeded a in [1, p), b in [0, p).

    x is the id's 64-bit pattern reduced mod p. The 122-bit product is formed from 32-bit halves:
    with 2**61 = 1 (mod p), 2**64 = 8 and every partial product fits uint64.
    """
    a, b = _universal_coefficients(seed)
    u64 = np.uint64
    x = _mod_p61(arr.view(np.uint64))
    x_lo, x_hi = x & u64(_MASK32), x >> u64(32)  # x_hi < 2**29
    a_lo, a_hi = u64(a & _MASK32), u64(a >> 32)
    with np.errstate(over="ignore"):
        top = (x_hi * a_hi) * u64(8)  # (x_hi*a_hi) * 2**64 = * 8 (mod p); < 2**61
        mid = x_hi * a_lo + x_lo * a_hi  # < 2**62; mid * 2**32 = mid_hi + mid_lo * 2**32 (mod p)
        mid = (mid >> u64(29)) + ((mid & u64((1 << 29) - 1)) << u64(32))
        low = _mod_p61(x_lo * a_lo)
    return _mod_p61(_mod_p61(top + mid) + low + u64(b))


@functools.lru_cache(maxsize=16)
def random_table(seed: int, vocab_size: int) -> np.ndarray:
    """The ``random`` control: one seeded uniform uint64 per id of ``[0, vocab_size)`` (cached, read-only)."""
    table = np.random.default_rng([seed, 0x7AB1E]).integers(0, 2**64, size=vocab_size, dtype=np.uint64,
                                                             endpoint=False)
    table.setflags(write=False)
    return table
