"""Hash families that map integer ids to 32- or 64-bit hash values.

Every family is a pure function of ``(id, seed)``: deterministic across processes, platforms and
``PYTHONHASHSEED`` (Python's ``hash()`` is never used). Unless a family says otherwise, an id is hashed
as the **8-byte little-endian two's-complement encoding of its int64 value** ("int64-le").

The registry maps a name to a :class:`HashFamily` holding a vectorised numpy function and, where one
exists, a torch function that runs on the ids' device (CPU or CUDA). Library families (mmh3, xxhash,
cityhash, metrohash, hashlib) have no per-element array API; for those the whole id array is converted to
keys once (``ndarray.view("V8").tolist()``) and the library is mapped over the keys, so no per-id
``int.to_bytes`` is paid.

FarmHash and CityHash come from the ``cityhash`` package (its ``farmhash`` module). ``pyfarmhash``
installs a module of the same name whose 32-bit hashes differ; bloombench depends on ``cityhash`` only,
so ``farmhash32``/``farmhash64`` always mean ``cityhash``'s ``FarmHash32WithSeed``/``FarmHash64WithSeed``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import methodcaller

import numpy as np
import torch

__all__ = [
    "HashFamily",
    "MAX_SEED",
    "available_hashes",
    "bucket_ids",
    "bucket_ids_torch",
    "bucket_matrix",
    "bucket_matrix_torch",
    "check_seed",
    "derive_seeds",
    "get_hash",
    "hash_ids",
    "hash_ids_torch",
    "murmur3_128_low",
    "murmur3_32",
    "murmur3_32_multi",
    "murmur3_32_multi_torch",
    "murmur3_32_torch",
]

MAX_SEED = 2**32 - 1
_MASK32 = 0xFFFFFFFF
_MASK64 = (1 << 64) - 1

# MurmurHash3_x86_32 constants (Appleby's reference implementation).
_C1 = 0xCC9E2D51
_C2 = 0x1B873593
_N = 0xE6546B64
_F1 = 0x85EBCA6B
_F2 = 0xC2B2AE35

# Carter–Wegman universal hashing works modulo the Mersenne prime 2^61 - 1.
_P61 = (1 << 61) - 1

# Elements per chunk of the numpy murmur3 kernel: 64 Ki uint32 (256 KiB) keeps every temporary in L2.
_CHUNK = 1 << 16


# ----------------------------------------------------------------------------------------------------
# Input validation shared by every entry point
# ----------------------------------------------------------------------------------------------------
def check_seed(seed: int, argument: str = "seed") -> int:
    """Return ``seed`` as an int in ``[0, MAX_SEED]``; refuse other types and values, naming ``argument``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{argument} must be an int in [0, {MAX_SEED}], got {seed!r} ({type(seed).__name__})")
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{argument} must be in [0, {MAX_SEED}] (an unsigned 32-bit value), got {seed}")
    return seed


def _as_int64(ids: np.ndarray | list | int, argument: str = "ids") -> np.ndarray:
    """Return ``ids`` as a C-contiguous int64 array, refusing floats, bools and out-of-range uint64."""
    arr = np.asarray(ids)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{argument} must have an integer dtype, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(
            f"{argument} must fit in int64; got a uint64 value {int(arr.max())} > {np.iinfo(np.int64).max}"
        )
    return np.asarray(arr, dtype="<i8", order="C")  # (ascontiguousarray would turn 0-d into 1-d)


def _check_tensor_ids(ids: torch.Tensor, argument: str = "ids") -> None:
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{argument} must be a torch.Tensor, got {type(ids).__name__}")
    if ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"{argument} must have an integer dtype (int64 preferred), got {ids.dtype}")


# ----------------------------------------------------------------------------------------------------
# Vectorised MurmurHash3_x86_32 (numpy)
# ----------------------------------------------------------------------------------------------------
def _rotl32_inplace(x: np.ndarray, r: int, tmp: np.ndarray) -> None:
    np.right_shift(x, 32 - r, out=tmp)
    np.left_shift(x, r, out=x)
    np.bitwise_or(x, tmp, out=x)


def _murmur3_chunk(blocks: list[np.ndarray], seeds: np.ndarray, length: int, h: np.ndarray, kb: np.ndarray,
                   tmp_k: np.ndarray, tmp: np.ndarray) -> None:
    """Hash one chunk in place into ``h`` (rows = ids, columns = seeds).

    ``blocks`` are the key's little-endian uint32 words. Mixing a block does not depend on the seed,
    so it is done once per id and xored into every seed's column.
    """
    h[...] = seeds
    per_seed = kb[:, None] if h.ndim == 2 else kb  # one seed: plain 1-d ops (no broadcasting cost)
    for block in blocks:
        np.multiply(block, np.uint32(_C1), out=kb)
        _rotl32_inplace(kb, 15, tmp_k)
        np.multiply(kb, np.uint32(_C2), out=kb)
        np.bitwise_xor(h, per_seed, out=h)
        _rotl32_inplace(h, 13, tmp)
        np.multiply(h, np.uint32(5), out=h)
        np.add(h, np.uint32(_N), out=h)
    np.bitwise_xor(h, np.uint32(length), out=h)
    # fmix32: final avalanche.
    for shift, mult in ((16, _F1), (13, _F2)):
        np.right_shift(h, shift, out=tmp)
        np.bitwise_xor(h, tmp, out=h)
        np.multiply(h, np.uint32(mult), out=h)
    np.right_shift(h, 16, out=tmp)
    np.bitwise_xor(h, tmp, out=h)


def _check_key_bytes(key_bytes: int, lo: int, hi: int) -> None:
    if key_bytes not in (4, 8):
        raise ValueError(f"key_bytes must be 4 or 8, got {key_bytes!r}")
    if key_bytes == 4 and (lo < -(2**31) or hi >= 2**31):
        raise ValueError(f"ids must fit in int32 for key_bytes=4; got values in [{lo}, {hi}]")


def murmur3_32_multi(ids: np.ndarray, seeds: Sequence[int], *, key_bytes: int = 8,
                     dtype: type[np.unsignedinteger] = np.uint32) -> np.ndarray:
    """MurmurHash3_x86_32 of each id under each of ``seeds``: array ``(*ids.shape, k)`` of ``dtype``.

    One cache-blocked pass: the seed-independent mixing of the key is shared by the k seeds.
    Column j equals ``murmur3_32(ids, seeds[j])``. ``dtype=np.uint64`` zero-extends each chunk while
    it is still in cache (cheaper than widening the whole result afterwards).
    """
    seed_row = np.array([check_seed(s) for s in seeds], dtype=np.uint32)
    arr = _as_int64(ids)
    if arr.size:
        _check_key_bytes(key_bytes, int(arr.min()), int(arr.max()))
    else:
        _check_key_bytes(key_bytes, 0, 0)
    flat = arr.reshape(-1)
    n, k = flat.shape[0], seed_row.shape[0]
    words = flat.view("<u4").reshape(-1, 2)  # little-endian: column 0 = low word, column 1 = high word
    if dtype not in (np.uint32, np.uint64):
        raise ValueError(f"dtype must be numpy.uint32 or numpy.uint64, got {dtype!r}")
    out = np.empty((n, k), dtype=dtype)
    rows = max(1, _CHUNK // max(k, 1))
    chunk = min(rows, max(n, 1))
    kb, tmp_k = np.empty(chunk, np.uint32), np.empty(chunk, np.uint32)
    tmp = np.empty((chunk, k), np.uint32)
    h = np.empty((chunk, k), np.uint32) if dtype is np.uint64 else None
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        size = stop - start
        lo = words[start:stop, 0]
        blocks = [lo] if key_bytes == 4 else [lo, words[start:stop, 1]]
        target = out[start:stop] if h is None else h[:size]
        if k == 1:
            _murmur3_chunk(blocks, seed_row[0], key_bytes, target.reshape(-1), kb[:size], tmp_k[:size],
                           tmp[:size].reshape(-1))
        else:
            _murmur3_chunk(blocks, seed_row, key_bytes, target, kb[:size], tmp_k[:size], tmp[:size])
        if h is not None:
            out[start:stop] = target
    return out.reshape(*arr.shape, k)


def murmur3_32(ids: np.ndarray, seed: int, *, key_bytes: int = 8) -> np.ndarray:
    """Vectorised MurmurHash3_x86_32 of each id, bit-identical to ``mmh3.hash(key, seed, signed=False)``.

    Parameters
    ----------
    ids : array_like of int
        Ids of any shape.
    seed : int
        Seed in ``[0, 2**32 - 1]``.
    key_bytes : {8, 4}
        8 hashes the int64 little-endian encoding; 4 hashes the int32 encoding (Spotlight and
        scikit-learn's ``murmurhash3_32`` on int32 arrays), and every id must then fit in int32.

    Returns
    -------
    numpy.ndarray
        uint32 hashes, same shape as ``ids``.
    """
    return murmur3_32_multi(ids, [seed], key_bytes=key_bytes)[..., 0]


# ----------------------------------------------------------------------------------------------------
# Vectorised MurmurHash3_x86_32 (torch)
# ----------------------------------------------------------------------------------------------------
def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``x * c mod 2**32`` for int64 ``x`` in [0, 2**32) without overflowing int64.

    Splitting ``c`` into 16-bit halves keeps every product below 2**48, so the result does not rely
    on signed-overflow wrap-around (undefined in C++, and so not guaranteed by every torch backend).
    """
    lo = x * (c & 0xFFFF)
    hi = ((x * (c >> 16)) & 0xFFFF) << 16
    return (lo + hi) & _MASK32


def _rotl32_t(x: torch.Tensor, r: int) -> torch.Tensor:
    return ((x << r) & _MASK32) | (x >> (32 - r))


def murmur3_32_multi_torch(ids: torch.Tensor, seeds: Sequence[int], *, key_bytes: int = 8) -> torch.Tensor:
    """MurmurHash3_x86_32 of each id under each seed on the ids' device: int64 ``(*ids.shape, k)``.

    Values are the unsigned 32-bit hashes (in ``[0, 2**32)``). CPU tensors go through the cache-blocked
    numpy kernel (zero-copy in; ~20x faster than torch's elementwise ops on CPU); other devices run
    the torch kernel where the ids live.
    """
    seeds = [check_seed(s) for s in seeds]
    _check_tensor_ids(ids)
    if ids.device.type == "cpu":
        hashed = murmur3_32_multi(ids.detach().numpy(), seeds, key_bytes=key_bytes)
        return torch.from_numpy(hashed.astype(np.int64))
    return _murmur3_32_torch_kernel(ids, seeds, key_bytes=key_bytes)


def murmur3_32_torch(ids: torch.Tensor, seed: int, *, key_bytes: int = 8) -> torch.Tensor:
    """MurmurHash3_x86_32 of each id on the ids' device (int64, same shape); equals :func:`murmur3_32`."""
    return murmur3_32_multi_torch(ids, [seed], key_bytes=key_bytes)[..., 0]


def _murmur3_32_torch_kernel(ids: torch.Tensor, seeds: Sequence[int], *, key_bytes: int = 8) -> torch.Tensor:
    """The device kernel: 32-bit words kept in int64 masked to 32 bits (torch lacks uint32 ops).

    Returns ``(*ids.shape, len(seeds))``; the seed-independent block mixing is done once per id.
    """
    x = ids.to(torch.int64)
    if x.numel():
        _check_key_bytes(key_bytes, int(x.min()), int(x.max()))
    else:
        _check_key_bytes(key_bytes, 0, 0)
    blocks = [x & _MASK32]
    if key_bytes == 8:
        blocks.append((x >> 32) & _MASK32)  # arithmetic shift, then mask: the high word's bits
    h = torch.tensor(list(seeds), dtype=torch.int64, device=x.device).expand(*x.shape, len(seeds))
    for block in blocks:
        kb = _mul32(_rotl32_t(_mul32(block, _C1), 15), _C2)
        h = _rotl32_t(h ^ kb.unsqueeze(-1), 13)
        h = (_mul32(h, 5) + _N) & _MASK32
    h = h ^ key_bytes
    h = _mul32(h ^ (h >> 16), _F1)
    h = _mul32(h ^ (h >> 13), _F2)
    return h ^ (h >> 16)


# ----------------------------------------------------------------------------------------------------
# Library families: keys built once, library mapped over them
# ----------------------------------------------------------------------------------------------------
def _keys(arr: np.ndarray) -> list[bytes]:
    """The 8-byte little-endian key of every id, built in one C-level pass (no per-id ``to_bytes``).

    ``tolist()`` of a void view yields one ``bytes`` object per element, trailing zero bytes kept
    (unlike an ``S8`` view, which strips them).
    """
    return np.ascontiguousarray(arr, dtype="<i8").view("V8").tolist()


def _per_key(fn: Callable[..., int], bits: int) -> Callable[[np.ndarray, int], np.ndarray]:
    """Wrap ``fn(key, seed) -> int`` into a function hashing a whole int64 array (native width)."""
    dtype = np.uint32 if bits == 32 else np.uint64

    def hash_array(arr: np.ndarray, seed: int) -> np.ndarray:
        return np.fromiter(map(fn, _keys(arr), repeat(seed)), dtype=dtype, count=arr.size)

    return hash_array


def _keyed_digest(constructor: Callable[[bytes], object]) -> Callable[[np.ndarray, int], np.ndarray]:
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


def murmur3_128_low(ids: np.ndarray, seed: int) -> np.ndarray:
    """Low 64 bits of MurmurHash3_x64_128 of each id's 8-byte key, equal to
    ``mmh3.hash64(key, seed, signed=False)[0]``.

    An 8-byte key is shorter than one 16-byte block, so only the tail step and the finalisation run.
    """
    seed = check_seed(seed)
    arr = _as_int64(ids)
    u = np.uint64
    with np.errstate(over="ignore"):
        k1 = arr.reshape(-1).view(np.uint64) * u(_K1)
        k1 = (k1 << u(31)) | (k1 >> u(33))
        k1 *= u(_K2)
        h1 = k1 ^ u(seed ^ 8)  # h1 = seed; h1 ^= k1; h1 ^= len
        h2 = np.full_like(h1, seed ^ 8)  # h2 = seed; h2 ^= len
        h1 += h2
        h2 += h1
        _fmix64(h1)
        _fmix64(h2)
        h1 += h2
    return h1.reshape(arr.shape)


# ----------------------------------------------------------------------------------------------------
# Arithmetic families (controls)
# ----------------------------------------------------------------------------------------------------
def _multiplicative(arr: np.ndarray, seed: int) -> np.ndarray:
    """``id * (seed | 1) mod 2**64``: the naive scheme Spotlight first used. A known-bad control:
    modulo m, ids i and i + m land in the same bucket under every seed."""
    with np.errstate(over="ignore"):
        return arr.view(np.uint64) * np.uint64(seed | 1)


def _multiplicative_torch(ids: torch.Tensor, seed: int) -> torch.Tensor:
    # Only the value modulo a bucket count matters; int64 wrap keeps the low 64 bits, which is what
    # the numpy version computes. Bucketing of 64-bit values on torch goes through _mod_u64_torch.
    return ids.to(torch.int64) * (seed | 1)


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


def _universal(arr: np.ndarray, seed: int) -> np.ndarray:
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
def _random_table(seed: int, vocab_size: int) -> np.ndarray:
    table = np.random.default_rng([seed, 0x7AB1E]).integers(0, 2**64, size=vocab_size, dtype=np.uint64,
                                                             endpoint=False)
    table.setflags(write=False)
    return table


# ----------------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HashFamily:
    """A seeded hash family.

    Attributes
    ----------
    name : str
        Registry name.
    bits : int
        32 or 64: width of the hash value (32-bit values are zero-extended to uint64).
    key : str
        How an id becomes the hashed input.
    numpy_fn : callable
        ``numpy_fn(int64 array, seed) -> array`` (flat in, flat out), uint32 for 32-bit families and
        uint64 for 64-bit ones (bucketing stays in the native width, which is faster).
    torch_fn : callable or None
        ``torch_fn(int64 tensor, seed) -> int64 tensor`` on the ids' device, or None when the family
        runs on the CPU through numpy only.
    needs_vocab : bool
        True for families defined only over a finite vocabulary ``[0, vocab_size)``.
    description : str
        One line for listings.
    numpy_multi_fn, torch_multi_fn : callable or None
        Kernels hashing under k seeds in one pass, ``(flat ids, seeds) -> (n, k)``, where the family
        has one (murmur3); otherwise the seeds are hashed one after the other.
    """

    name: str
    bits: int
    key: str
    numpy_fn: Callable[..., np.ndarray]
    torch_fn: Callable[[torch.Tensor, int], torch.Tensor] | None
    needs_vocab: bool
    description: str
    numpy_multi_fn: Callable[[np.ndarray, list[int]], np.ndarray] | None = None
    torch_multi_fn: Callable[[torch.Tensor, list[int]], torch.Tensor] | None = None


def _lib(module: str, attr: str) -> Callable[..., int]:
    return getattr(__import__(module), attr)


def _build_registry() -> dict[str, HashFamily]:
    i64 = "int64-le (8 bytes)"
    fams = [
        HashFamily("murmur3", 32, i64, lambda a, s: murmur3_32_multi(a, [s], dtype=np.uint64)[:, 0],
                   lambda t, s: murmur3_32_torch(t, s), False,
                   "MurmurHash3_x86_32, vectorised (numpy/torch), bit-identical to mmh3",
                   murmur3_32_multi, murmur3_32_multi_torch),
        HashFamily("murmur3_int32", 32, "int32-le (4 bytes; ids must fit int32)",
                   lambda a, s: murmur3_32(a, s, key_bytes=4),
                   lambda t, s: murmur3_32_torch(t, s, key_bytes=4), False,
                   "MurmurHash3_x86_32 of the 4-byte key (Spotlight / scikit-learn compatible)",
                   functools.partial(murmur3_32_multi, key_bytes=4),
                   functools.partial(murmur3_32_multi_torch, key_bytes=4)),
        HashFamily("murmur3_128", 64, i64, murmur3_128_low, None, False,
                   "MurmurHash3_x64_128 low 64 bits, vectorised (numpy), bit-identical to mmh3"),
        HashFamily("xxh32", 32, i64, _per_key(_lib("xxhash", "xxh32_intdigest"), 32), None, False,
                   "xxHash32 (xxhash)"),
        HashFamily("xxh64", 64, i64, _per_key(_lib("xxhash", "xxh64_intdigest"), 64), None, False,
                   "xxHash64 (xxhash)"),
        HashFamily("xxh3", 64, i64, _per_key(_lib("xxhash", "xxh3_64_intdigest"), 64), None, False,
                   "XXH3 64-bit (xxhash)"),
        HashFamily("farmhash32", 32, i64, _per_key(_lib("farmhash", "FarmHash32WithSeed"), 32), None, False,
                   "FarmHash32WithSeed (cityhash package's farmhash module)"),
        HashFamily("farmhash64", 64, i64, _per_key(_lib("farmhash", "FarmHash64WithSeed"), 64), None, False,
                   "FarmHash64WithSeed (cityhash package's farmhash module)"),
        HashFamily("cityhash64", 64, i64, _per_key(_lib("cityhash", "CityHash64WithSeed"), 64), None, False,
                   "CityHash64WithSeed (cityhash)"),
        HashFamily("metrohash64", 64, i64, _per_key(_lib("metrohash", "hash64_int"), 64), None, False,
                   "MetroHash64 (metrohash)"),
        HashFamily("md5", 64, "seed (8 bytes LE) || int64-le", _keyed_digest(hashlib.md5), None, False,
                   "MD5 of seed||id, first 8 digest bytes little-endian"),
        HashFamily("sha1", 64, "seed (8 bytes LE) || int64-le", _keyed_digest(hashlib.sha1), None, False,
                   "SHA-1 of seed||id, first 8 digest bytes little-endian"),
        HashFamily("sha256", 64, "seed (8 bytes LE) || int64-le", _keyed_digest(hashlib.sha256), None, False,
                   "SHA-256 of seed||id, first 8 digest bytes little-endian"),
        HashFamily("multiplicative", 64, "int64 value (two's complement)", _multiplicative,
                   _multiplicative_torch, False,
                   "id * (seed|1) mod 2^64: Spotlight's first scheme, a known-bad control"),
        HashFamily("universal", 64, "int64 bits reduced mod 2^61-1", _universal, None, False,
                   "Carter-Wegman (a*x + b) mod 2^61-1, a and b drawn from the seed"),
        HashFamily("random", 64, "index into a seeded random table", None, None, True,
                   "ideal control: seeded uniform random value per id (finite vocabularies only)"),
    ]
    return {f.name: f for f in fams}


_REGISTRY = _build_registry()


def available_hashes() -> list[str]:
    """Names of every registered hash family, in registry order."""
    return list(_REGISTRY)


def get_hash(name: str) -> HashFamily:
    """Return the :class:`HashFamily` called ``name``; unknown names list the available ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"hash must be one of {available_hashes()}, got {name!r}") from None


def _check_vocab(family: HashFamily, arr: np.ndarray, vocab_size: int | None) -> int:
    if vocab_size is None or isinstance(vocab_size, bool) or int(vocab_size) < 1:
        raise ValueError(f"hash {family.name!r} needs vocab_size >= 1 (a finite vocabulary), "
                         f"got vocab_size={vocab_size!r}")
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise ValueError(f"ids must be in [0, {int(vocab_size)}) for hash {family.name!r}; "
                         f"got values in [{int(arr.min())}, {int(arr.max())}]")
    return int(vocab_size)


def hash_ids(ids: np.ndarray | list | int, *, seed: int, name: str = "murmur3",
             vocab_size: int | None = None) -> np.ndarray:
    """Hash every id with the family ``name`` and ``seed``.

    Parameters
    ----------
    ids : array_like of int
        Ids of any shape (any integer dtype; converted to int64 once).
    seed : int
        Seed in ``[0, 2**32 - 1]``.
    name : str
        A name from :func:`available_hashes`.
    vocab_size : int, optional
        Required by the ``random`` family (ids must lie in ``[0, vocab_size)``).

    Returns
    -------
    numpy.ndarray
        uint64 hash values, same shape as ``ids``; 32-bit families are zero-extended.
    """
    _, values, shape = _hash_native(ids, seed, name, vocab_size)
    return values.astype(np.uint64, copy=False).reshape(shape)


def _hash_native(ids: np.ndarray | list | int, seed: int, name: str,
                 vocab_size: int | None) -> tuple[HashFamily, np.ndarray, tuple[int, ...]]:
    """Validate, hash the flattened ids in the family's native width; return the input shape too."""
    family = get_hash(name)
    seed = check_seed(seed)
    arr = _as_int64(ids)
    flat = arr.reshape(-1)
    if family.needs_vocab:
        values = _random_table(seed, _check_vocab(family, flat, vocab_size))[flat]
    else:
        values = family.numpy_fn(flat, seed)
    return family, values, arr.shape


def hash_ids_torch(ids: torch.Tensor, *, seed: int, name: str = "murmur3",
                   vocab_size: int | None = None) -> torch.Tensor:
    """Hash a tensor of ids, on its device when the family has a torch kernel.

    Returns an int64 tensor on ``ids.device``. 32-bit families give their value in ``[0, 2**32)``;
    64-bit families give the hash's 64-bit pattern reinterpreted as int64 (it may be negative). Use
    :func:`bucket_ids_torch` to reduce to buckets. Families without a torch kernel hash on the CPU
    through numpy and copy back.
    """
    family = get_hash(name)
    seed = check_seed(seed)
    _check_tensor_ids(ids)
    if family.torch_fn is not None:
        return family.torch_fn(ids, seed)
    values = hash_ids(ids.detach().cpu().numpy(), seed=seed, name=name, vocab_size=vocab_size)
    return torch.from_numpy(values.view(np.int64)).to(ids.device)


def _check_buckets(num_buckets: int) -> int:
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, (int, np.integer)) or num_buckets < 1:
        raise ValueError(f"num_buckets must be a positive int, got {num_buckets!r}")
    return int(num_buckets)


def _reduce_numpy(values: np.ndarray, num_buckets: int, signed: bool) -> np.ndarray:
    """Native-width hash values -> int64 buckets in ``[0, num_buckets)``."""
    if signed:
        return np.mod(values.view(np.int32).astype(np.int64), num_buckets)
    if values.dtype == np.uint32 and num_buckets < 2**32:
        return np.remainder(values, np.uint32(num_buckets)).astype(np.int64)
    return (values.astype(np.uint64, copy=False) % np.uint64(num_buckets)).astype(np.int64)


def _check_signed(family: HashFamily, signed: bool) -> None:
    if signed and family.bits != 32:
        raise ValueError(f"signed=True needs a 32-bit hash family, got {family.name!r}")


def bucket_matrix(ids: np.ndarray | list | int, *, seeds: Sequence[int], num_buckets: int,
                  name: str = "murmur3", signed: bool = False, vocab_size: int | None = None) -> np.ndarray:
    """Bucket of each id under each seed: int64 ``(*ids.shape, len(seeds))`` in ``[0, num_buckets)``.

    Column j is the hash with ``seeds[j]`` modulo ``num_buckets``. ``signed=True`` (32-bit families
    only) reads the hash as int32 before the floor modulo, as Spotlight does with scikit-learn's
    signed ``murmurhash3_32``; the result is still non-negative.
    """
    num_buckets = _check_buckets(num_buckets)
    family = get_hash(name)
    _check_signed(family, signed)
    seeds = [check_seed(s) for s in seeds]
    arr = _as_int64(ids)
    flat = arr.reshape(-1)
    if family.numpy_multi_fn is not None:
        values = family.numpy_multi_fn(flat, seeds)
    else:
        values = np.stack([_hash_native(flat, s, name, vocab_size)[1] for s in seeds], axis=-1)
    return _reduce_numpy(values, num_buckets, signed).reshape(*arr.shape, len(seeds))


def bucket_ids(ids: np.ndarray | list | int, *, seed: int, num_buckets: int, name: str = "murmur3",
               signed: bool = False, vocab_size: int | None = None) -> np.ndarray:
    """Bucket of each id: its hash modulo ``num_buckets`` (int64, same shape); see :func:`bucket_matrix`."""
    return bucket_matrix(ids, seeds=[seed], num_buckets=num_buckets, name=name, signed=signed,
                         vocab_size=vocab_size)[..., 0]


def _mod_u64_torch(x: torch.Tensor, m: int) -> torch.Tensor:
    """``x mod m`` where int64 ``x`` holds an unsigned 64-bit pattern (2**64 = r (mod m))."""
    r = (1 << 64) % m
    neg = x < 0
    # For negative patterns the unsigned value is x + 2**64, and x + 2**64 = x + r (mod m).
    return torch.where(neg, torch.remainder(torch.remainder(x, m) + r, m), torch.remainder(x, m))


def bucket_matrix_torch(ids: torch.Tensor, *, seeds: Sequence[int], num_buckets: int, name: str = "murmur3",
                        signed: bool = False, vocab_size: int | None = None) -> torch.Tensor:
    """Torch counterpart of :func:`bucket_matrix`: int64 ``(*ids.shape, k)`` on ``ids.device``.

    CPU tensors go through the numpy path (zero-copy in, native-width modulo); other devices hash
    with the family's torch kernel where the ids live.
    """
    num_buckets = _check_buckets(num_buckets)
    family = get_hash(name)
    _check_signed(family, signed)
    _check_tensor_ids(ids)
    if ids.device.type == "cpu":
        return torch.from_numpy(bucket_matrix(ids.detach().numpy(), seeds=seeds, num_buckets=num_buckets,
                                              name=name, signed=signed, vocab_size=vocab_size))
    seeds = [check_seed(s) for s in seeds]
    if family.torch_multi_fn is not None:
        h = family.torch_multi_fn(ids, seeds)
    else:
        h = torch.stack([hash_ids_torch(ids, seed=s, name=name, vocab_size=vocab_size) for s in seeds], dim=-1)
    if signed:
        return torch.remainder(torch.where(h >= 2**31, h - 2**32, h), num_buckets)
    if family.bits == 32:
        return torch.remainder(h, num_buckets)
    return _mod_u64_torch(h, num_buckets)


def bucket_ids_torch(ids: torch.Tensor, *, seed: int, num_buckets: int, name: str = "murmur3",
                     signed: bool = False, vocab_size: int | None = None) -> torch.Tensor:
    """Torch counterpart of :func:`bucket_ids`; int64 on ``ids.device``."""
    return bucket_matrix_torch(ids, seeds=[seed], num_buckets=num_buckets, name=name, signed=signed,
                               vocab_size=vocab_size)[..., 0]


def derive_seeds(seed: int, count: int) -> list[int]:
    """``count`` distinct 32-bit seeds derived from one layer seed (SplitMix64 of seed and index).

    Hash function j of a layer uses ``derive_seeds(seed, k)[j]``: deterministic, independent of k for
    the first functions (adding a function never changes the others), and never ``seed + j``.
    """
    seed = check_seed(seed)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    seeds: list[int] = []
    state = (seed * 0x9E3779B97F4A7C15) & _MASK64
    while len(seeds) < count:
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        z ^= z >> 31
        candidate = z & _MASK32
        if candidate not in seeds:
            seeds.append(candidate)
    return seeds
