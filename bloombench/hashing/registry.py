"""The registry of hash families: :class:`HashFamily`, :func:`get_hash`, :func:`available_hashes`, and
:func:`derive_seeds` (the k seeds of a layer).

A :class:`HashFamily` also carries the *unchecked* entry points (:meth:`HashFamily.bucket_matrix`,
:meth:`HashFamily.bucket_matrix_torch`, ...): a caller resolves a family once with :func:`get_hash`,
checks its seeds and sizes once, and then hashes without re-validating at every call (what
:class:`~bloombench.layers.hash_index.HashIndex` does on its hot path). The public functions of
:mod:`bloombench.hashing.buckets` check their arguments and then call these methods.

Torch kernels are referenced lazily (:func:`_torch_kernel`): building the registry never imports torch.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bloombench.checks import check_int
from bloombench.hashing import compiled
from bloombench.hashing import families as fam
from bloombench.hashing.murmur3 import murmur3_32_flat
from bloombench.hashing.validation import check_seed

if TYPE_CHECKING:
    import torch

__all__ = ["HashFamily", "available_hashes", "derive_seeds", "get_hash"]

_MASK32 = 0xFFFFFFFF
_MASK64 = (1 << 64) - 1


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
    numpy_fn : callable or None
        Unchecked ``numpy_fn(flat C-contiguous int64 array, seed) -> flat array``, uint32 or uint64
        (bucketing stays in the native width, which is faster); None for ``random``, a table lookup.
    torch_fn : callable or None
        Unchecked ``torch_fn(int64 tensor, seed) -> int64 tensor`` on the ids' device, or None when the
        family runs on the CPU through numpy only. Imports torch at its first call.
    needs_vocab : bool
        True for families defined only over a finite vocabulary ``[0, vocab_size)``.
    description : str
        One line for listings.
    numpy_multi_fn, torch_multi_fn : callable or None
        Unchecked kernels hashing under k seeds in one pass, ``(flat ids, seeds) -> (n, k)``, where the
        family has one (murmur3); otherwise the seeds are hashed one after the other.
    bucket_fn : callable, optional
        ``(flat ids, seeds, num_buckets, signed) -> (n, k) int64 buckets or None``: a compiled kernel that
        hashes and reduces in one pass (murmur3, :mod:`bloombench.hashing.compiled`); None from it (no
        numba) falls back to hashing then reducing.
    key_bytes : int
        Bytes of the id's little-endian two's-complement encoding that reach the hash: 4 for
        ``murmur3_int32`` (ids must fit int32), 8 for every other family. The md5/sha families hash a
        16-byte message, but it is ``seed || id`` with an 8-byte id; ``multiplicative`` and
        ``universal`` take the id's 64-bit value; ``random`` reads a table row, so its ids are bounded by
        ``vocab_size`` rather than by the key. :attr:`max_key` follows from it.
    """

    name: str
    bits: int
    key: str
    numpy_fn: Callable[[np.ndarray, int], np.ndarray] | None
    torch_fn: Callable[[torch.Tensor, int], torch.Tensor] | None
    needs_vocab: bool
    description: str
    numpy_multi_fn: Callable[[np.ndarray, list[int]], np.ndarray] | None = None
    torch_multi_fn: Callable[[torch.Tensor, list[int]], torch.Tensor] | None = None
    key_bytes: int = 8
    bucket_fn: Callable[[np.ndarray, Sequence[int], int, bool], np.ndarray | None] | None = None

    def __reduce__(self) -> tuple[Callable[[str], HashFamily], tuple[str]]:
        # Pickled (and deep-copied) by name: the kernels are closures, and a layer holding its resolved
        # family must still pickle (torch.save of a whole model).
        return get_hash, (self.name,)

    @property
    def max_key(self) -> int:
        """Largest key (id, or ``id * stride + offset``) the family encodes: ``2**(8 * key_bytes - 1) - 1``."""
        return 2 ** (8 * self.key_bytes - 1) - 1

    # ---- unchecked entry points: the caller has validated seeds, sizes, ids and vocab_size ---------
    def hash_native(self, flat: np.ndarray, seed: int, vocab_size: int | None = None) -> np.ndarray:
        """Hashes of flat C-contiguous int64 ``flat`` under ``seed``, in the family's native width."""
        if self.needs_vocab:
            return fam.random_table(seed, vocab_size)[flat]
        return self.numpy_fn(flat, seed)

    def bucket_matrix(self, ids: np.ndarray, seeds: Sequence[int], num_buckets: int, signed: bool = False,
                      vocab_size: int | None = None) -> np.ndarray:
        """Unchecked :func:`~bloombench.hashing.bucket_matrix`: int64 ``(*ids.shape, k)`` buckets of int ids."""
        arr = np.asarray(ids, dtype="<i8", order="C")
        flat = arr.reshape(-1)
        buckets = None if self.bucket_fn is None else self.bucket_fn(flat, seeds, num_buckets, signed)
        if buckets is not None:
            return buckets.reshape(*arr.shape, len(seeds))
        if self.numpy_multi_fn is not None:
            values = self.numpy_multi_fn(flat, seeds)
        else:
            values = np.stack([self.hash_native(flat, s, vocab_size) for s in seeds], axis=-1)
        return _reduce(values, num_buckets, signed).reshape(*arr.shape, len(seeds))

    def hash_torch(self, ids: torch.Tensor, seed: int, vocab_size: int | None = None) -> torch.Tensor:
        """Unchecked :func:`~bloombench.hashing.hash_ids_torch`."""
        from bloombench.hashing import torch_ops  # torch loads at the first torch call, not on import

        return torch_ops.hash_unchecked(self, ids, seed, vocab_size)

    def bucket_matrix_torch(self, ids: torch.Tensor, seeds: Sequence[int], num_buckets: int,
                            signed: bool = False, vocab_size: int | None = None) -> torch.Tensor:
        """Unchecked :func:`~bloombench.hashing.bucket_matrix_torch`: int64 ``(*ids.shape, k)`` on ``ids.device``."""
        from bloombench.hashing import torch_ops

        return torch_ops.bucket_matrix_unchecked(self, ids, seeds, num_buckets, signed, vocab_size)


def _reduce(values: np.ndarray, num_buckets: int, signed: bool) -> np.ndarray:
    """Native-width hash values -> int64 buckets in ``[0, num_buckets)``."""
    if signed:
        return np.mod(values.view(np.int32).astype(np.int64), num_buckets)
    if values.dtype == np.uint32 and num_buckets < 2**32:
        return np.remainder(values, np.uint32(num_buckets)).astype(np.int64)
    return (values.astype(np.uint64, copy=False) % np.uint64(num_buckets)).astype(np.int64)


def _torch_kernel(attr: str, **fixed: Any) -> Callable[..., Any]:
    """``bloombench.hashing.torch_ops.<attr>`` with ``fixed`` keywords, imported at its first call."""

    def kernel(ids: torch.Tensor, seeds: Any) -> torch.Tensor:
        from bloombench.hashing import torch_ops

        return getattr(torch_ops, attr)(ids, seeds, **fixed)

    kernel.__name__ = kernel.__qualname__ = attr
    return kernel


def _murmur3(key_bytes: int) -> dict[str, Any]:
    """The kernels of MurmurHash3_x86_32 over ``key_bytes``-byte keys, as HashFamily keywords."""
    on_torch = _torch_kernel("murmur3_multi_unchecked", key_bytes=key_bytes)
    # The int64-key family widens in the kernel (cheaper than after): hash_ids returns uint64 anyway.
    one_seed_dtype = np.uint64 if key_bytes == 8 else np.uint32
    return dict(
        numpy_fn=lambda a, s: murmur3_32_flat(a, [s], key_bytes, one_seed_dtype)[:, 0],
        torch_fn=lambda t, s: on_torch(t, [s])[..., 0],
        numpy_multi_fn=functools.partial(murmur3_32_flat, key_bytes=key_bytes),
        torch_multi_fn=on_torch,
        key_bytes=key_bytes,
        bucket_fn=functools.partial(compiled.murmur3_buckets, key_bytes=key_bytes),
    )


def _build_registry() -> dict[str, HashFamily]:
    i64 = "int64-le (8 bytes)"
    keyed = "seed (8 bytes LE) || int64-le"
    lib, per_key = fam.library_function, fam.per_key
    fams = [
        HashFamily("murmur3", 32, i64, needs_vocab=False,
                   description="MurmurHash3_x86_32, vectorised (numpy/torch), bit-identical to mmh3",
                   **_murmur3(8)),
        HashFamily("murmur3_int32", 32, "int32-le (4 bytes; ids must fit int32)", needs_vocab=False,
                   description="MurmurHash3_x86_32 of the 4-byte key (Spotlight / scikit-learn compatible)",
                   **_murmur3(4)),
        HashFamily("murmur3_128", 64, i64, fam.murmur3_128_low_flat, None, False,
                   "MurmurHash3_x64_128 low 64 bits, vectorised (numpy), bit-identical to mmh3"),
        HashFamily("xxh32", 32, i64, per_key(lib("xxhash", "xxh32_intdigest"), 32), None, False,
                   "xxHash32 (xxhash)"),
        HashFamily("xxh64", 64, i64, per_key(lib("xxhash", "xxh64_intdigest"), 64), None, False,
                   "xxHash64 (xxhash)"),
        HashFamily("xxh3", 64, i64, per_key(lib("xxhash", "xxh3_64_intdigest"), 64), None, False,
                   "XXH3 64-bit (xxhash)"),
        HashFamily("farmhash32", 32, i64, per_key(lib("farmhash", "FarmHash32WithSeed"), 32), None, False,
                   "FarmHash32WithSeed (cityhash package's farmhash module)"),
        HashFamily("farmhash64", 64, i64, per_key(lib("farmhash", "FarmHash64WithSeed"), 64), None, False,
                   "FarmHash64WithSeed (cityhash package's farmhash module)"),
        HashFamily("cityhash64", 64, i64, per_key(lib("cityhash", "CityHash64WithSeed"), 64), None, False,
                   "CityHash64WithSeed (cityhash)"),
        HashFamily("metrohash64", 64, i64, per_key(lib("metrohash", "hash64_int"), 64), None, False,
                   "MetroHash64 (metrohash)"),
        HashFamily("md5", 64, keyed, fam.keyed_digest(hashlib.md5), None, False,
                   "MD5 of seed||id, first 8 digest bytes little-endian"),
        HashFamily("sha1", 64, keyed, fam.keyed_digest(hashlib.sha1), None, False,
                   "SHA-1 of seed||id, first 8 digest bytes little-endian"),
        HashFamily("sha256", 64, keyed, fam.keyed_digest(hashlib.sha256), None, False,
                   "SHA-256 of seed||id, first 8 digest bytes little-endian"),
        HashFamily("multiplicative", 64, "int64 value (two's complement)", fam.multiplicative,
                   _torch_kernel("multiplicative_kernel"), False,
                   "id * (seed|1) mod 2^64: Spotlight's first scheme, a known-bad control"),
        HashFamily("universal", 64, "int64 bits reduced mod 2^61-1", fam.universal, None, False,
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


def derive_seeds(seed: int, count: int) -> list[int]:
    """``count`` distinct 32-bit seeds derived from one layer seed (SplitMix64 of seed and index).

    Hash function j of a layer uses ``derive_seeds(seed, k)[j]``: deterministic, independent of k for
    the first functions (adding a function never changes the others), and never ``seed + j``.
    """
    seed = check_seed(seed)
    count = check_int("count", count, 0)
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
