"""Hash families that map integer ids to 32- or 64-bit hash values.

Every family is a pure function of ``(id, seed)``: deterministic across processes, platforms and
``PYTHONHASHSEED`` (Python's ``hash()`` is never used). Unless a family says otherwise, an id is hashed
as the **8-byte little-endian two's-complement encoding of its int64 value** ("int64-le"); the width a
family keys is its :attr:`HashFamily.key_bytes`.

The registry maps a name to a :class:`HashFamily` holding a vectorised numpy function and, where one
exists, a torch function that runs on the ids' device (CPU or CUDA).

FarmHash and CityHash come from the ``cityhash`` package (its ``farmhash`` module). ``pyfarmhash``
installs a module of the same name whose 32-bit hashes differ; bloombench depends on ``cityhash`` only,
so ``farmhash32``/``farmhash64`` always mean ``cityhash``'s ``FarmHash32WithSeed``/``FarmHash64WithSeed``.

Modules
-------
:mod:`~bloombench.hashing.registry`
    :class:`HashFamily` (with unchecked entry points), the registry, :func:`derive_seeds`.
:mod:`~bloombench.hashing.buckets`
    The checked numpy entry points :func:`hash_ids`, :func:`bucket_ids`, :func:`bucket_matrix`.
:mod:`~bloombench.hashing.murmur3`, :mod:`~bloombench.hashing.families`
    The numpy kernels.
:mod:`~bloombench.hashing.torch_ops`
    The torch kernels and entry points (``*_torch``), imported at first use so that importing this
    package does not import torch.
:mod:`~bloombench.hashing.validation`
    The argument checks the public functions run once.
"""

from __future__ import annotations

from typing import Any

from bloombench.hashing.buckets import bucket_ids, bucket_matrix, hash_ids
from bloombench.hashing.families import murmur3_128_low
from bloombench.hashing.murmur3 import murmur3_32, murmur3_32_multi
from bloombench.hashing.registry import HashFamily, available_hashes, derive_seeds, get_hash
from bloombench.hashing.validation import MAX_SEED, check_seed

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

# Public names defined in torch_ops: resolved on first access (PEP 562) so torch loads only when needed.
_TORCH_NAMES = frozenset({"bucket_ids_torch", "bucket_matrix_torch", "hash_ids_torch", "murmur3_32_multi_torch",
                          "murmur3_32_torch"})


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        from bloombench.hashing import torch_ops

        value = getattr(torch_ops, name)
        globals()[name] = value  # later reads skip this hook
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _TORCH_NAMES)
