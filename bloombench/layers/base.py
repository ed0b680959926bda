"""Shared base of every embedding layer: id validation, byte accounting, repr, init (the hashed index
the hashing methods share is :class:`~bloombench.layers.hash_index.HashIndex`).

Conventions shared by every method
----------------------------------
*Drop-in for* :class:`torch.nn.Embedding`: ``layer(ids)`` takes an integer tensor of any shape
(0-d included) and returns ``(*ids.shape, embedding_dim)``.

*Init scale.* A full table (:class:`~bloombench.layers.full.FullEmbedding`) is initialised like
Spotlight's ``ScaledEmbedding``: every element ``N(0, std=1/embedding_dim)``. Every compressed method
scales its parameters so that the **combined output vector** of an id has that same per-element std at
init (assuming its components come from distinct rows), so methods can be swapped without retuning
learning rates or the initial score scale. Each method states how it gets there (e.g. Bloom ``mean``
of k rows: rows ``std = sqrt(k)/dim``; ``sum``: ``std = 1/(dim*sqrt(k))``). The Spotlight preset
keeps Spotlight's own init instead (see :meth:`BloomEmbedding.spotlight`).

*Randomness.* Weights are drawn from a ``torch.Generator`` seeded with ``init_seed``; with
``init_seed=None`` they come from torch's global RNG (as ``nn.Embedding``), so ``torch.manual_seed``
controls them. Hash seeds are separate (a layer's ``seed``), so two tables with the same hashing do
not start from the same weights unless asked to.

*Memory.* :meth:`CompressedEmbedding.memory_bytes` counts every parameter **and** every persistent
buffer (index tables included): the honest footprint of the layer. Each method also provides the
classmethod ``estimate_memory_bytes(num_embeddings, embedding_dim, **params)`` computing the same figure
without building the layer, which :func:`~bloombench.layers.registry.size_for_budget` searches over.

*Ids.* With a finite vocabulary (``num_embeddings`` an int) ids must lie in ``[0, num_embeddings)``,
whatever the index mode. ``num_embeddings=None`` (open vocabulary, on-the-fly hashing only) accepts any
non-negative id the hash key can encode.
"""

from __future__ import annotations

import inspect
import numbers

import torch
from torch import nn

from bloombench.checks import check_bool, check_int
from bloombench.hashing import MAX_SEED

__all__ = ["CompressedEmbedding", "ratio_count"]

_INT64_MAX = 2**63 - 1
_FLOAT32_BYTES = 4


def ratio_count(ratio: float, total: int, what: str) -> int:
    """``int(ratio * total)`` (floored, as Spotlight sizes its table), refusing a count of 0."""
    count = int(ratio * total)
    if count < 1:
        raise ValueError(f"compression_ratio={ratio} of {total} gives {what}={count}; "
                         f"need compression_ratio >= {1 / total:.3g}")
    return count


class CompressedEmbedding(nn.Module):
    """Base of every embedding layer in :mod:`bloombench.layers` (see the module notes).

    Parameters
    ----------
    num_embeddings : int or None
        Vocabulary size; None for an open vocabulary (methods that hash on the fly only).
    embedding_dim : int
        Output width.
    padding_idx : int, optional
        Id whose output is all zeros and which sends no gradient. Negative values count from the end
        (as in ``nn.Embedding``) when the vocabulary is finite.
    sparse : bool
        Produce sparse gradients (for ``torch.optim.SparseAdam``).
    init_seed : int, optional
        Seed of the weight initialisation; None uses torch's global RNG.

    Subclasses implement ``forward``, ``reset_parameters``, ``_method_repr`` and the classmethods
    ``estimate_memory_bytes`` and ``budget_knob``.
    """

    #: names of the constructor arguments that set the layer's size (excluded by size_for_budget)
    size_params: tuple[str, ...] = ()
    #: whether the layer draws hash functions from its ``seed`` argument (experiments vary it per repeat)
    hashed: bool = False
    #: named example arguments, sized by ``compression_ratio`` so they fit any table of ~100+ ids; the
    #: contract tests and the asv suite build every registered method from these (each method declares its own)
    examples: dict[str, dict[str, object]] = {}

    def __init__(self, num_embeddings: int | None, embedding_dim: int, *, padding_idx: int | None = None,
                 sparse: bool = False, init_seed: int | None = None) -> None:
        super().__init__()
        if num_embeddings is not None:
            num_embeddings = check_int("num_embeddings", num_embeddings)
        self.num_embeddings = num_embeddings
        self.embedding_dim = check_int("embedding_dim", embedding_dim)
        self.padding_idx = self._normalise_padding(padding_idx)
        self.sparse = check_bool("sparse", sparse)
        if init_seed is not None:
            init_seed = check_int("init_seed", init_seed, 0, MAX_SEED)
        self.init_seed = init_seed
        # Largest id accepted with an open vocabulary; subclasses lower it to what their key encodes.
        self.max_open_id = _INT64_MAX

    def _normalise_padding(self, padding_idx: int | None) -> int | None:
        if padding_idx is None:
            return None
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
            raise TypeError(f"padding_idx must be an int or None, got {padding_idx!r}")
        n = self.num_embeddings
        if n is None:
            if padding_idx < 0:
                raise ValueError(f"padding_idx must be >= 0 with an open vocabulary, got {padding_idx}")
            return int(padding_idx)
        if not -n <= padding_idx < n:
            raise ValueError(f"padding_idx must be in [-{n}, {n}) for num_embeddings={n}, got {padding_idx}")
        return int(padding_idx) % n

    # ---- ids --------------------------------------------------------------------------------------
    @property
    def open_vocabulary(self) -> bool:
        """True when any non-negative id is accepted (``num_embeddings is None``)."""
        return self.num_embeddings is None

    def _check_ids(self, ids: object) -> torch.Tensor:
        """Validate ``ids`` and return them as int64 (int32 kept as is: every kernel takes it).

        Raises ``TypeError`` for a non-tensor or a non-integer dtype and ``ValueError`` for ids on another
        device than the layer's, or outside ``[0, num_embeddings)`` (finite vocabulary) or negative / too
        large (open vocabulary).
        """
        if not isinstance(ids, torch.Tensor):
            raise TypeError(f"ids must be a torch.Tensor of integers, got {type(ids).__name__}")
        if ids.dtype == torch.bool or ids.dtype.is_floating_point or ids.dtype.is_complex:
            raise TypeError(f"ids must have an integer dtype (int64 or int32), got dtype {ids.dtype}")
        if ids.dtype not in (torch.int64, torch.int32):
            ids = ids.to(torch.int64)
        # The layer's own first parameter when it has one (the common case; a dict lookup, where
        # parameters() walks the module tree at every call), else any submodule's.
        weight = next(iter(self._parameters.values()), None)
        if weight is None:
            weight = next(iter(self.parameters()), None)
        if weight is not None and ids.device != weight.device:
            raise ValueError(f"ids are on {ids.device} but the layer is on {weight.device}; move one of them "
                             f"(ids.to('{weight.device}') or layer.to('{ids.device}'))")
        if ids.numel():
            low, high = (int(v) for v in torch.stack(torch.aminmax(ids)).tolist())
            upper = self.num_embeddings if self.num_embeddings is not None else self.max_open_id + 1
            if low < 0 or high >= upper:
                allowed = (f"[0, {upper}) (num_embeddings={upper})" if self.num_embeddings is not None
                           else f"[0, {upper - 1}] (open vocabulary)")
                raise ValueError(f"ids must be in {allowed}; got min {low}, max {high}")
        return ids

    def gather_rows(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float] | None:
        """``(weight, rows, scale)`` with ``self(ids) == scale * weight[rows].sum(-2)``, or None.

        A layer whose output is a scaled sum of k rows of one table says so here, so that a fused
        kernel (e.g. :mod:`bloombench.models.bilinear_kernel`) can gather and scatter those rows itself;
        ``rows`` is an int64 or int32 tensor ``(*ids.shape, k)``. The default, and any layer for which that is not exactly
        its forward (a padding row, sparse gradients), returns None: callers then call the layer.
        """
        return None

    # ---- sizes and bytes -------------------------------------------------------------------------
    def memory_bytes(self) -> int:
        """Bytes of every parameter and persistent buffer (``numel * element_size``, shared ones once)."""
        seen: set[int] = set()
        total = 0
        for tensor in self._state_tensors():
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
        return total

    def _state_tensors(self) -> list[torch.Tensor]:
        tensors = list(self.parameters())
        for module in self.modules():
            for name, buf in module._buffers.items():
                if buf is not None and name not in module._non_persistent_buffers_set:
                    tensors.append(buf)
        return tensors

    def full_table_bytes(self) -> int | None:
        """Bytes of a float32 ``num_embeddings x embedding_dim`` table (None for an open vocabulary)."""
        if self.num_embeddings is None:
            return None
        return self.num_embeddings * self.embedding_dim * _FLOAT32_BYTES

    def compression(self) -> float | None:
        """``memory_bytes() / full_table_bytes()`` (None for an open vocabulary)."""
        full = self.full_table_bytes()
        return None if full is None else self.memory_bytes() / full

    def parameter_count(self) -> int:
        """Number of trainable scalars."""
        return sum(p.numel() for p in self.parameters())

    @property
    def num_rows(self) -> int | None:
        """Rows of width ``embedding_dim`` stored (None where storage is not row-based)."""
        return None

    # ---- init -------------------------------------------------------------------------------------
    def _generator(self) -> torch.Generator | None:
        if self.init_seed is None:
            return None
        return torch.Generator().manual_seed(self.init_seed)

    @staticmethod
    def _normal_(tensor: torch.Tensor, std: float, generator: torch.Generator | None) -> None:
        with torch.no_grad():
            if generator is None or tensor.device.type == "cpu":
                tensor.normal_(0.0, std, generator=generator)
            else:  # a CPU generator cannot drive another device: draw on CPU, then copy
                drawn = torch.empty(tensor.shape, dtype=tensor.dtype).normal_(0.0, std, generator=generator)
                tensor.copy_(drawn)

    def reset_parameters(self) -> None:
        raise NotImplementedError

    # ---- repr -------------------------------------------------------------------------------------
    def _method_repr(self) -> list[str]:
        return []

    def extra_repr(self) -> str:
        parts = [str(self.num_embeddings), str(self.embedding_dim), *self._method_repr()]
        if self.padding_idx is not None:
            parts.append(f"padding_idx={self.padding_idx}")
        if self.sparse:
            parts.append("sparse=True")
        full = self.full_table_bytes()
        if full is None:
            parts.append(f"compression=n/a (open vocabulary; bytes {self.memory_bytes():,})")
        else:
            parts.append(f"compression={self.memory_bytes() / full:.2f} "
                         f"(bytes {self.memory_bytes():,} vs full {full:,})")
        return ", ".join(parts)

    # ---- sizing without building -----------------------------------------------------------------
    @classmethod
    def bound_arguments(cls, num_embeddings: int | None, embedding_dim: int,
                        params: dict[str, object]) -> dict[str, object]:
        """The constructor's arguments for ``cls(num_embeddings, embedding_dim, **params)``, defaults
        filled in; unknown names raise ``TypeError`` listing the accepted ones."""
        signature = inspect.signature(cls.__init__)
        accepted = [name for name in signature.parameters if name not in ("self", "num_embeddings",
                                                                         "embedding_dim")]
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise TypeError(f"{cls.__name__} got unknown argument(s) {unknown}; accepted: {accepted}")
        bound = signature.bind(None, num_embeddings, embedding_dim, **params)
        bound.apply_defaults()
        args = dict(bound.arguments)
        del args["self"]
        return args

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int | None, embedding_dim: int, **params: object) -> int:
        """``memory_bytes()`` of ``cls(num_embeddings, embedding_dim, **params)`` (float32), computed
        without building it."""
        raise NotImplementedError

    @classmethod
    def budget_knob(cls, num_embeddings: int | None, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None] | None:
        """``(argument, lowest, highest)`` of the integer size argument that memory grows with
        (``highest=None``: unbounded), or None when the size is fixed."""
        return None
