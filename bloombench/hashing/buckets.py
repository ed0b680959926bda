"""The checked numpy entry points: hash values (:func:`hash_ids`) and buckets (:func:`bucket_matrix`,
:func:`bucket_ids`). Each validates its arguments once, then calls the family's unchecked method."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bloombench.checks import check_int
from bloombench.hashing.registry import get_hash
from bloombench.hashing.validation import as_int64, check_family_ids, check_seed, check_signed

__all__ = ["bucket_ids", "bucket_matrix", "hash_ids"]


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
    family = get_hash(name)
    seed = check_seed(seed)
    arr = as_int64(ids)
    vocab_size = check_family_ids(family, arr, vocab_size)
    values = family.hash_native(arr.reshape(-1), seed, vocab_size)
    return values.astype(np.uint64, copy=False).reshape(arr.shape)


def bucket_matrix(ids: np.ndarray | list | int, *, seeds: Sequence[int], num_buckets: int,
                  name: str = "murmur3", signed: bool = False, vocab_size: int | None = None) -> np.ndarray:
    """Bucket of each id under each seed: int64 ``(*ids.shape, len(seeds))`` in ``[0, num_buckets)``.

    Column j is the hash with ``seeds[j]`` modulo ``num_buckets``. ``signed=True`` (32-bit families
    only) reads the hash as int32 before the floor modulo, as Spotlight does with scikit-learn's
    signed ``murmurhash3_32``; the result is still non-negative.
    """
    num_buckets = check_int("num_buckets", num_buckets)
    family = get_hash(name)
    check_signed(family, signed)
    seeds = [check_seed(s) for s in seeds]
    arr = as_int64(ids)
    vocab_size = check_family_ids(family, arr, vocab_size)
    return family.bucket_matrix(arr, seeds, num_buckets, signed, vocab_size)


def bucket_ids(ids: np.ndarray | list | int, *, seed: int, num_buckets: int, name: str = "murmur3",
               signed: bool = False, vocab_size: int | None = None) -> np.ndarray:
    """Bucket of each id: its hash modulo ``num_buckets`` (int64, same shape); see :func:`bucket_matrix`."""
    return bucket_matrix(ids, seeds=[seed], num_buckets=num_buckets, name=name, signed=signed,
                         vocab_size=vocab_size)[..., 0]
