"""Checks of the public hashing entry points: seeds, ids, key widths, vocabularies, signed modulo.

The public functions run these once, then call the unchecked kernels; a caller that has validated its
inputs already (:class:`~bloombench.layers.hash_index.HashIndex`) calls the kernels through
:class:`~bloombench.hashing.registry.HashFamily`'s methods directly. Nothing here imports torch: the
tensor checks work on anything with ``shape``, ``min()`` and ``max()``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from bloombench.checks import check_int

if TYPE_CHECKING:
    from bloombench.hashing.registry import HashFamily

__all__ = [
    "MAX_SEED",
    "as_int64",
    "check_family_ids",
    "check_key_range",
    "check_seed",
    "check_signed",
    "check_vocab",
]

MAX_SEED = 2**32 - 1
_KEY_WIDTHS = (4, 8)


def check_seed(seed: int, argument: str = "seed") -> int:
    """Return ``seed`` as an int in ``[0, MAX_SEED]`` (an unsigned 32-bit value), naming ``argument``.

    The argument order ``(seed, argument)`` is this public function's historical one; it delegates to
    :func:`bloombench.checks.check_int`, which raises :class:`~bloombench.checks.ArgumentError` (a
    ``ValueError`` and a ``TypeError``).
    """
    return check_int(argument, seed, 0, MAX_SEED)


def as_int64(ids: np.ndarray | list | int, argument: str = "ids") -> np.ndarray:
    """Return ``ids`` as a C-contiguous int64 array, refusing floats, bools and out-of-range uint64."""
    arr = np.asarray(ids)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{argument} must have an integer dtype, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(
            f"{argument} must fit in int64; got a uint64 value {int(arr.max())} > {np.iinfo(np.int64).max}"
        )
    return np.asarray(arr, dtype="<i8", order="C")  # (ascontiguousarray would turn 0-d into 1-d)


def _bounds(ids: Any) -> tuple[int, int] | None:
    """``(min, max)`` of an array or tensor, None when it is empty."""
    if math.prod(ids.shape) == 0:
        return None
    return int(ids.min()), int(ids.max())


def check_key_range(key_bytes: int, ids: Any) -> None:
    """Refuse a key width other than 4 or 8 bytes, and ids that a 4-byte key cannot hold.

    ``ids`` is an integer array or tensor; ids are int64, so only 4-byte keys need their range read.
    """
    if key_bytes not in _KEY_WIDTHS:
        raise ValueError(f"key_bytes must be 4 or 8, got {key_bytes!r}")
    if key_bytes == 4:
        bounds = _bounds(ids)
        if bounds is not None and (bounds[0] < -(2**31) or bounds[1] >= 2**31):
            raise ValueError(f"ids must fit in int32 for key_bytes=4; got values in [{bounds[0]}, {bounds[1]}]")


def check_vocab(family: HashFamily, ids: Any, vocab_size: int | None) -> int:
    """``vocab_size`` of a family defined on a finite vocabulary, with every id in ``[0, vocab_size)``."""
    if vocab_size is None or isinstance(vocab_size, bool) or int(vocab_size) < 1:
        raise ValueError(f"hash {family.name!r} needs vocab_size >= 1 (a finite vocabulary), "
                         f"got vocab_size={vocab_size!r}")
    bounds = _bounds(ids)
    if bounds is not None and (bounds[0] < 0 or bounds[1] >= vocab_size):
        raise ValueError(f"ids must be in [0, {int(vocab_size)}) for hash {family.name!r}; "
                         f"got values in [{bounds[0]}, {bounds[1]}]")
    return int(vocab_size)


def check_family_ids(family: HashFamily, ids: Any, vocab_size: int | None) -> int | None:
    """Refuse ids (array or tensor) that ``family`` cannot key; return ``vocab_size``, checked where the
    family is defined on a finite vocabulary and passed through untouched otherwise."""
    check_key_range(family.key_bytes, ids)
    return check_vocab(family, ids, vocab_size) if family.needs_vocab else vocab_size


def check_signed(family: HashFamily, signed: bool) -> None:
    """Signed modulo (``signed=True``, a Bloom layer's ``signed_modulo``) reads the hash as int32: refuse
    it for 64-bit families."""
    if signed and family.bits != 32:
        raise ValueError(f"signed modulo needs a 32-bit hash family, got hash={family.name!r}")
