"""Vectorised MurmurHash3_x86_32 (numpy), bit-identical to ``mmh3.hash(key, seed, signed=False)``.

:func:`murmur3_32_flat` is the unchecked kernel the hash families call; :func:`murmur3_32_multi` and
:func:`murmur3_32` check their arguments first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bloombench.hashing.validation import as_int64, check_key_range, check_seed

__all__ = ["murmur3_32", "murmur3_32_flat", "murmur3_32_multi"]

# MurmurHash3_x86_32 constants (Appleby's reference implementation).
C1 = 0xCC9E2D51
C2 = 0x1B873593
N = 0xE6546B64
F1 = 0x85EBCA6B
F2 = 0xC2B2AE35

# Elements per chunk of the numpy murmur3 kernel: 64 Ki uint32 (256 KiB) keeps every temporary in L2.
_CHUNK = 1 << 16


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
        np.multiply(block, np.uint32(C1), out=kb)
        _rotl32_inplace(kb, 15, tmp_k)
        np.multiply(kb, np.uint32(C2), out=kb)
        np.bitwise_xor(h, per_seed, out=h)
        _rotl32_inplace(h, 13, tmp)
        np.multiply(h, np.uint32(5), out=h)
        np.add(h, np.uint32(N), out=h)
    np.bitwise_xor(h, np.uint32(length), out=h)
    # fmix32: final avalanche.
    for shift, mult in ((16, F1), (13, F2)):
        np.right_shift(h, shift, out=tmp)
        np.bitwise_xor(h, tmp, out=h)
        np.multiply(h, np.uint32(mult), out=h)
    np.right_shift(h, 16, out=tmp)
    np.bitwise_xor(h, tmp, out=h)


def murmur3_32_flat(flat: np.ndarray, seeds: Sequence[int], key_bytes: int = 8,
                    dtype: type[np.unsignedinteger] = np.uint32) -> np.ndarray:
    """The unchecked kernel: ``(n, k)`` hashes of C-contiguous int64 ``(n,)`` ids under k seeds.

    One cache-blocked pass: the seed-independent mixing of the key is shared by the k seeds.
    ``dtype=np.uint64`` zero-extends each chunk while it is still in cache (cheaper than widening the
    whole result afterwards). The caller guarantees seeds in ``[0, MAX_SEED]``, ``key_bytes`` in
    ``{4, 8}`` and, for 4, ids that fit int32.
    """
    seed_row = np.array(seeds, dtype=np.uint32)
    n, k = flat.shape[0], seed_row.shape[0]
    words = flat.view("<u4").reshape(-1, 2)  # little-endian: column 0 = low word, column 1 = high word
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
    return out


def murmur3_32_multi(ids: np.ndarray, seeds: Sequence[int], *, key_bytes: int = 8,
                     dtype: type[np.unsignedinteger] = np.uint32) -> np.ndarray:
    """MurmurHash3_x86_32 of each id under each of ``seeds``: array ``(*ids.shape, k)`` of ``dtype``.

    Column j equals ``murmur3_32(ids, seeds[j])``; see :func:`murmur3_32_flat` for the kernel.
    """
    seed_list = [check_seed(s) for s in seeds]
    arr = as_int64(ids)
    check_key_range(key_bytes, arr)
    if dtype not in (np.uint32, np.uint64):
        raise ValueError(f"dtype must be numpy.uint32 or numpy.uint64, got {dtype!r}")
    return murmur3_32_flat(arr.reshape(-1), seed_list, key_bytes, dtype).reshape(*arr.shape, len(seed_list))


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
