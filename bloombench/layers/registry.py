"""Build any embedding layer by name, and size it to a byte budget so methods compare at equal memory.

A new method is one file in ``bloombench/layers/`` plus one line in ``_METHODS``: its class implements
``estimate_memory_bytes`` and ``budget_knob`` (see :class:`~bloombench.layers.base.CompressedEmbedding`).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable

from bloombench.checks import ArgumentError, check_exclusive, check_fraction
from bloombench.layers.base import CompressedEmbedding
from bloombench.layers.bloom import BloomEmbedding
from bloombench.layers.cce import CCEmbedding
from bloombench.layers.dhe import DeepHashEmbedding
from bloombench.layers.double_hash import DoubleHashEmbedding
from bloombench.layers.full import FullEmbedding
from bloombench.layers.hash_embedding import HashEmbedding
from bloombench.layers.hashcofi import HashCoFiEmbedding
from bloombench.layers.hashing_trick import HashingTrickEmbedding
from bloombench.layers.int8 import Int8Embedding
from bloombench.layers.lowdim import LowDimEmbedding
from bloombench.layers.mixed_dim import MixedDimEmbedding
from bloombench.layers.lru import GrowingEmbedding, LRUEmbedding
from bloombench.layers.qr import QREmbedding
from bloombench.layers.robe import RobeEmbedding
from bloombench.layers.tt import TTEmbedding

__all__ = [
    "BYTES_RATIO",
    "available_methods",
    "embedding_factory",
    "get_method",
    "make_embedding",
    "make_embedding_for_budget",
    "size_for_budget",
]

_METHODS: dict[str, type[CompressedEmbedding]] = {
    "full": FullEmbedding,
    "bloom": BloomEmbedding,
    "hashing_trick": HashingTrickEmbedding,
    "hashcofi": HashCoFiEmbedding,
    "hash_embedding": HashEmbedding,
    "qr": QREmbedding,
    "lowdim": LowDimEmbedding,
    "mixed_dim": MixedDimEmbedding,
    "double_hash": DoubleHashEmbedding,
    "int8": Int8Embedding,
    "robe": RobeEmbedding,
    "dhe": DeepHashEmbedding,
    "tt": TTEmbedding,
    "cce": CCEmbedding,
    "growing": GrowingEmbedding,
    "lru": LRUEmbedding,
}


def available_methods() -> list[str]:
    """Names accepted by :func:`make_embedding`, in registry order."""
    return list(_METHODS)


def get_method(method: str) -> type[CompressedEmbedding]:
    """The layer class registered as ``method``; unknown names list the available ones."""
    try:
        return _METHODS[method]
    except (KeyError, TypeError):
        raise ValueError(f"method must be one of {available_methods()}, got {method!r}") from None


#: The registry-level size argument: a fraction of the full table's bytes, every persistent byte counted.
BYTES_RATIO = "bytes_ratio"


def make_embedding(method: str, num_embeddings: int | None, embedding_dim: int,
                   **params: object) -> CompressedEmbedding:
    """``get_method(method)(num_embeddings, embedding_dim, **params)``, unknown arguments refused.

    Besides the method's own arguments, ``bytes_ratio`` (in ``(0, 1]``) sizes any method with a size knob
    to that fraction of the full table's bytes (``num_embeddings * embedding_dim * 4``), every persistent
    byte counted (index tables, pointers, scales, projections): :func:`make_embedding_for_budget` with
    that budget. It is how experiments compare methods at equal memory; a method's own
    ``compression_ratio`` is its nominal size knob (e.g. Bloom's rows, without its index table).

    Examples
    --------
    >>> make_embedding("bloom", 1000, 32, compression_ratio=0.2, num_hashes=4).num_buckets
    200
    >>> make_embedding("bloom", 1000, 32, bytes_ratio=0.2, num_hashes=4, index="on_the_fly").num_buckets
    200
    """
    cls = get_method(method)
    if params.get(BYTES_RATIO) is not None:
        params = dict(params)
        ratio = check_fraction(BYTES_RATIO, params.pop(BYTES_RATIO), high_open=False)
        check_exclusive(**{BYTES_RATIO: ratio}, **{name: params.get(name) for name in cls.size_params})
        if num_embeddings is None:
            raise ArgumentError(f"{BYTES_RATIO} is a fraction of a full table's bytes: it needs a finite "
                                f"num_embeddings, got None ({method!r} over an open vocabulary)")
        full = FullEmbedding.estimate_memory_bytes(num_embeddings, embedding_dim)
        return make_embedding_for_budget(method, num_embeddings, embedding_dim, max(1, int(ratio * full)),
                                         **params)
    params.pop(BYTES_RATIO, None)
    cls.bound_arguments(num_embeddings, embedding_dim, params)  # TypeError naming unknown arguments
    return cls(num_embeddings, embedding_dim, **params)


def embedding_factory(method: str, **params: object) -> Callable[..., CompressedEmbedding]:
    """A ``factory(num_embeddings, embedding_dim, padding_idx=None, sparse=False)`` for the models'
    ``embedding_factory`` argument, building ``method`` with ``params`` for every table.

    A method that declares ``uses_frequencies`` gives its factory that attribute too, and the factory then
    takes ``frequencies=`` (the table's training counts; see
    :func:`~bloombench.models.representations.build_embedding`)."""
    cls = get_method(method)
    cls.bound_arguments(1, 1, {k: v for k, v in params.items() if k != BYTES_RATIO})  # fail now, not later
    uses_frequencies = getattr(cls, "uses_frequencies", False)

    def factory(num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                sparse: bool = False, **counts: object) -> CompressedEmbedding:
        if counts and (not uses_frequencies or set(counts) != {"frequencies"}):
            raise TypeError(f"the {method!r} factory takes no {sorted(counts)} (uses_frequencies="
                            f"{uses_frequencies})")
        return make_embedding(method, num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                              **params, **counts)

    factory.__name__ = f"{method}_factory"
    factory.uses_frequencies = uses_frequencies  # type: ignore[attr-defined]
    return factory


def size_for_budget(method: str, num_embeddings: int | None, embedding_dim: int, budget_bytes: int,
                    **params: object) -> dict[str, int]:
    """The size argument making ``method`` as large as possible with ``memory_bytes() <= budget_bytes``.

    Every byte counts: parameters and index tables (``memory_bytes``). ``params`` fix the other
    arguments (hash, k, index mode...) and must not set the size (``compression_ratio`` or the knob).

    Returns
    -------
    dict
        ``{knob: value}`` to pass on to :func:`make_embedding` (empty for a method without a size knob,
        e.g. ``full``, when it fits).

    Raises
    ------
    ValueError
        When even the smallest layer of the method exceeds the budget.
    """
    cls = get_method(method)
    if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, numbers.Integral) or budget_bytes < 1:
        raise ValueError(f"budget_bytes must be a positive int, got {budget_bytes!r}")
    cls.bound_arguments(num_embeddings, embedding_dim, params)
    knob = cls.budget_knob(num_embeddings, embedding_dim, **params)
    fixed = [name for name in (*cls.size_params, *(knob[:1] if knob else ())) if params.get(name) is not None]
    if fixed:
        raise ValueError(f"size_for_budget chooses the size of {method!r}; do not pass {sorted(set(fixed))}")
    if knob is None:
        need = cls.estimate_memory_bytes(num_embeddings, embedding_dim, **params)
        if need > budget_bytes:
            raise ValueError(f"{method!r} needs {need:,} bytes, over budget_bytes={budget_bytes:,}")
        return {}
    name, low, high = knob
    memory = functools.partial(_memory_at, cls, num_embeddings, embedding_dim, params, name)
    if memory(low) > budget_bytes:
        raise ValueError(f"the smallest {method!r} layer ({name}={low}) needs {memory(low):,} bytes, "
                         f"over budget_bytes={budget_bytes:,}")
    # Every knob unit costs at least 4 bytes, so the budget bounds an open-ended knob.
    high = budget_bytes // 4 + 1 if high is None else max(low, high)
    while low < high:  # memory is non-decreasing in the knob: largest value within budget
        mid = (low + high + 1) // 2
        low, high = (mid, high) if memory(mid) <= budget_bytes else (low, mid - 1)
    return {name: low}


def _memory_at(cls: type[CompressedEmbedding], num_embeddings: int | None, embedding_dim: int,
               params: dict[str, object], name: str, value: int) -> int:
    return cls.estimate_memory_bytes(num_embeddings, embedding_dim, **params, **{name: value})


def make_embedding_for_budget(method: str, num_embeddings: int | None, embedding_dim: int, budget_bytes: int,
                              **params: object) -> CompressedEmbedding:
    """:func:`make_embedding` with the size from :func:`size_for_budget` (same arguments)."""
    size = size_for_budget(method, num_embeddings, embedding_dim, budget_bytes, **params)
    return make_embedding(method, num_embeddings, embedding_dim, **params, **size)
