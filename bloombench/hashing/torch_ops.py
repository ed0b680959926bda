"""Everything in :mod:`bloombench.hashing` that needs torch: the device kernels and the torch entry points.

Imported on first use (a torch name read from :mod:`bloombench.hashing`, or a family's torch kernel
called), so ``import bloombench.hashing`` stays torch-free: the command line lists hash names without
loading torch. CPU tensors go through the numpy kernels (zero-copy in); other devices run the torch
kernels where the ids live.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bloombench.checks import check_int
from bloombench.hashing.murmur3 import C1, C2, F1, F2, N, murmur3_32_flat
from bloombench.hashing.registry import HashFamily, get_hash
from bloombench.hashing.validation import check_family_ids, check_key_range, check_seed, check_signed

__all__ = [
    "bucket_ids_torch",
    "bucket_matrix_torch",
    "bucket_matrix_unchecked",
    "hash_ids_torch",
    "hash_unchecked",
    "multiplicative_kernel",
    "murmur3_32_multi_torch",
    "murmur3_32_torch",
    "murmur3_multi_unchecked",
]

_MASK32 = 0xFFFFFFFF
_TENSOR_ID_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def _check_tensor_ids(ids: torch.Tensor, argument: str = "ids") -> None:
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{argument} must be a torch.Tensor, got {type(ids).__name__}")
    if ids.dtype not in _TENSOR_ID_DTYPES:
        raise TypeError(f"{argument} must have an integer dtype (int64 preferred), got {ids.dtype}")


def _cpu_int64(ids: torch.Tensor) -> np.ndarray:
    """The ids as a C-contiguous int64 array on the CPU (zero-copy for a contiguous int64 CPU tensor)."""
    return np.asarray(ids.detach().cpu().numpy(), dtype="<i8", order="C")


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


def _murmur3_32_torch_kernel(ids: torch.Tensor, seeds: Sequence[int], *, key_bytes: int = 8) -> torch.Tensor:
    """The device kernel: 32-bit words kept in int64 masked to 32 bits (torch lacks uint32 ops).

    Returns ``(*ids.shape, len(seeds))``; the seed-independent block mixing is done once per id.
    Unchecked: the caller guarantees the seeds and, for ``key_bytes=4``, ids that fit int32.
    """
    x = ids.to(torch.int64)
    blocks = [x & _MASK32]
    if key_bytes == 8:
        blocks.append((x >> 32) & _MASK32)  # arithmetic shift, then mask: the high word's bits
    h = torch.tensor(list(seeds), dtype=torch.int64, device=x.device).expand(*x.shape, len(seeds))
    for block in blocks:
        kb = _mul32(_rotl32_t(_mul32(block, C1), 15), C2)
        h = _rotl32_t(h ^ kb.unsqueeze(-1), 13)
        h = (_mul32(h, 5) + N) & _MASK32
    h = h ^ key_bytes
    h = _mul32(h ^ (h >> 16), F1)
    h = _mul32(h ^ (h >> 13), F2)
    return h ^ (h >> 16)


def murmur3_multi_unchecked(ids: torch.Tensor, seeds: Sequence[int], key_bytes: int = 8) -> torch.Tensor:
    """Murmur3 family kernel: int64 ``(*ids.shape, k)`` hashes in ``[0, 2**32)`` on the ids' device.

    CPU tensors go through the cache-blocked numpy kernel (~20x faster than torch's elementwise ops on
    CPU); other devices run :func:`_murmur3_32_torch_kernel` where the ids live.
    """
    if ids.device.type == "cpu":
        hashed = murmur3_32_flat(_cpu_int64(ids).reshape(-1), seeds, key_bytes)
        return torch.from_numpy(hashed.astype(np.int64)).reshape(*ids.shape, len(seeds))
    return _murmur3_32_torch_kernel(ids, seeds, key_bytes=key_bytes)


def murmur3_32_multi_torch(ids: torch.Tensor, seeds: Sequence[int], *, key_bytes: int = 8) -> torch.Tensor:
    """MurmurHash3_x86_32 of each id under each seed on the ids' device: int64 ``(*ids.shape, k)``.

    Values are the unsigned 32-bit hashes (in ``[0, 2**32)``); see :func:`murmur3_multi_unchecked`.
    """
    seeds = [check_seed(s) for s in seeds]
    _check_tensor_ids(ids)
    check_key_range(key_bytes, ids)
    return murmur3_multi_unchecked(ids, seeds, key_bytes)


def murmur3_32_torch(ids: torch.Tensor, seed: int, *, key_bytes: int = 8) -> torch.Tensor:
    """MurmurHash3_x86_32 of each id on the ids' device (int64, same shape); equals :func:`murmur3_32`."""
    return murmur3_32_multi_torch(ids, [seed], key_bytes=key_bytes)[..., 0]


def multiplicative_kernel(ids: torch.Tensor, seed: int) -> torch.Tensor:
    """The ``multiplicative`` control on the ids' device.

    Only the value modulo a bucket count matters; int64 wrap keeps the low 64 bits, which is what the
    numpy version computes. Bucketing of 64-bit values on torch goes through :func:`_mod_u64_torch`.
    """
    return ids.to(torch.int64) * (seed | 1)


# ----------------------------------------------------------------------------------------------------
# Unchecked entry points (HashFamily.hash_torch / bucket_matrix_torch) and the checked public ones
# ----------------------------------------------------------------------------------------------------
def hash_unchecked(family: HashFamily, ids: torch.Tensor, seed: int, vocab_size: int | None) -> torch.Tensor:
    """Hashes of ``ids`` as int64 on ``ids.device``: the family's torch kernel, or numpy on the CPU."""
    if family.torch_fn is not None:
        return family.torch_fn(ids, seed)
    arr = _cpu_int64(ids)
    values = family.hash_native(arr.reshape(-1), seed, vocab_size).astype(np.uint64, copy=False)
    return torch.from_numpy(values.view(np.int64).reshape(arr.shape)).to(ids.device)


def _mod_u64_torch(x: torch.Tensor, m: int) -> torch.Tensor:
    """``x mod m`` where int64 ``x`` holds an unsigned 64-bit pattern (2**64 = r (mod m))."""
    r = (1 << 64) % m
    neg = x < 0
    # For negative patterns the unsigned value is x + 2**64, and x + 2**64 = x + r (mod m).
    return torch.where(neg, torch.remainder(torch.remainder(x, m) + r, m), torch.remainder(x, m))


def bucket_matrix_unchecked(family: HashFamily, ids: torch.Tensor, seeds: Sequence[int], num_buckets: int,
                            signed: bool, vocab_size: int | None) -> torch.Tensor:
    """int64 ``(*ids.shape, k)`` buckets on ``ids.device``; CPU tensors take the numpy path (zero-copy in,
    native-width modulo), other devices hash with the family's torch kernel where the ids live."""
    if ids.device.type == "cpu":
        return torch.from_numpy(family.bucket_matrix(_cpu_int64(ids), seeds, num_buckets, signed, vocab_size))
    if family.torch_multi_fn is not None:
        h = family.torch_multi_fn(ids, seeds)
    else:
        h = torch.stack([hash_unchecked(family, ids, s, vocab_size) for s in seeds], dim=-1)
    if signed:
        return torch.remainder(torch.where(h >= 2**31, h - 2**32, h), num_buckets)
    if family.bits == 32:
        return torch.remainder(h, num_buckets)
    return _mod_u64_torch(h, num_buckets)


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
    vocab_size = check_family_ids(family, ids, vocab_size)
    return hash_unchecked(family, ids, seed, vocab_size)


def bucket_matrix_torch(ids: torch.Tensor, *, seeds: Sequence[int], num_buckets: int, name: str = "murmur3",
                        signed: bool = False, vocab_size: int | None = None) -> torch.Tensor:
    """Torch counterpart of :func:`~bloombench.hashing.bucket_matrix`: int64 ``(*ids.shape, k)`` on
    ``ids.device``; see :func:`bucket_matrix_unchecked` for where it hashes."""
    num_buckets = check_int("num_buckets", num_buckets)
    family = get_hash(name)
    check_signed(family, signed)
    _check_tensor_ids(ids)
    seeds = [check_seed(s) for s in seeds]
    vocab_size = check_family_ids(family, ids, vocab_size)
    return bucket_matrix_unchecked(family, ids, seeds, num_buckets, signed, vocab_size)


def bucket_ids_torch(ids: torch.Tensor, *, seed: int, num_buckets: int, name: str = "murmur3",
                     signed: bool = False, vocab_size: int | None = None) -> torch.Tensor:
    """Torch counterpart of :func:`~bloombench.hashing.bucket_ids`; int64 on ``ids.device``."""
    return bucket_matrix_torch(ids, seeds=[seed], num_buckets=num_buckets, name=name, signed=signed,
                               vocab_size=vocab_size)[..., 0]
