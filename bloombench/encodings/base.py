"""The common interface of every output/input encoding, and the sparse bag format it speaks.

An *encoding* maps sets of items (ids in ``[0, num_items)``, ``d = num_items``) to ``m = num_bits``
network inputs and outputs, and maps the network's ``m`` outputs back to a score for every item:

``encode_input(items) -> Bags``
    The input vector of each set as an ``EmbeddingBag``-style sparse bag over ``[0, m)`` (indices,
    per-index weights, offsets): a linear layer on the encoded input is ``F.embedding_bag`` with
    ``mode="sum"`` over these bags, and nothing of size ``d`` is ever built.
``target(items) -> (n, m)``
    The training target over the m outputs (what the encoding's loss compares the outputs with).
``decode(outputs) -> (n, d)``
    A score for every item from the network's raw outputs (logits), batched on their device.
``loss``
    Name of the loss in :data:`bloombench.models.losses.OUTPUT_LOSSES` that trains the outputs.

Data-dependent encodings (PMI, CCA, CBE) learn their codes in :meth:`Encoding.fit` from training
histories; using them before ``fit`` raises. Codes are registered buffers, so ``.to(device)`` and
``state_dict`` carry them, and :meth:`Encoding.memory_bytes` counts every persistent byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from bloombench.checks import check_int
from bloombench.encodings.histories import Histories, history_matrix

__all__ = ["Bags", "Encoding"]


def _segment_ids(offsets: torch.Tensor, total: int) -> torch.Tensor:
    """int64 ``(total,)``: the segment of each position, for segments starting at ``offsets``.

    A cumulative sum of segment starts: no host sync and, on CPU, far faster than
    ``repeat_interleave`` with ``output_size`` (milliseconds per call for a few hundred entries).
    """
    starts = torch.zeros(total + 1, dtype=torch.int64, device=offsets.device)
    starts.index_add_(0, offsets, torch.ones_like(offsets))
    return torch.cumsum(starts[:total], 0) - 1


# ----------------------------------------------------------------------------------------------------
# Bags: a batch of sets in EmbeddingBag layout
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bags:
    """A batch of ``n`` sets (bags) laid out as ``torch.nn.functional.embedding_bag`` takes them.

    Attributes
    ----------
    indices : torch.Tensor
        int64 ``(E,)``: the entries of every bag, bag after bag.
    offsets : torch.Tensor
        int64 ``(n,)``: where each bag starts in ``indices`` (non-decreasing, ``offsets[0] == 0``).
        An empty bag has the same offset as the next one.
    weights : torch.Tensor or None
        float ``(E,)`` per-entry weights (``per_sample_weights``); None means 1 for every entry.
    matrix : torch.Tensor or None
        The ``(n, width)`` matrix the bags were built from by :meth:`dense` (every column one entry),
        so that a consumer can use one matmul instead of a bag reduction over ``n * width`` entries.
    """

    indices: torch.Tensor
    offsets: torch.Tensor
    weights: torch.Tensor | None = None
    matrix: torch.Tensor | None = None

    @property
    def num_bags(self) -> int:
        return int(self.offsets.shape[0])

    @property
    def device(self) -> torch.device:
        return self.indices.device

    def lengths(self) -> torch.Tensor:
        """int64 ``(n,)``: the number of entries of each bag."""
        end = torch.tensor([self.indices.shape[0]], dtype=torch.int64, device=self.offsets.device)
        return torch.diff(self.offsets, append=end)

    def rows(self) -> torch.Tensor:
        """int64 ``(E,)``: the bag of each entry."""
        return _segment_ids(self.offsets, self.indices.shape[0])

    def weights_or_ones(self) -> torch.Tensor:
        if self.weights is not None:
            return self.weights
        return torch.ones(self.indices.shape[0], device=self.indices.device)

    def to_dense(self, width: int) -> torch.Tensor:
        """``(n, width)`` float matrix of the bags (repeated entries add up); for tests and checks."""
        out = torch.zeros(self.num_bags, width, device=self.indices.device)
        return out.index_put_((self.rows(), self.indices), self.weights_or_ones(), accumulate=True)

    # ---- constructors -------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, indices: torch.Tensor, rows: torch.Tensor, num_bags: int,
                  weights: torch.Tensor | None = None) -> Bags:
        """Bags from entries and their (non-decreasing) bag numbers in ``[0, num_bags)``."""
        counts = torch.bincount(rows, minlength=num_bags)
        offsets = torch.cumsum(counts, 0) - counts
        return cls(indices, offsets, weights)

    @classmethod
    def from_lists(cls, lists: Sequence[Sequence[int]], device: torch.device | str = "cpu") -> Bags:
        """Bags from a list of id lists, e.g. ``Bags.from_lists([[3, 1], [], [2]])``."""
        lengths = [len(items) for items in lists]
        flat = [int(i) for items in lists for i in items]
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])) if lists else np.zeros(0)
        return cls(torch.tensor(flat, dtype=torch.int64, device=device),
                   torch.as_tensor(offsets, dtype=torch.int64, device=device))

    @classmethod
    def dense(cls, matrix: torch.Tensor) -> Bags:
        """Every column of a ``(n, m)`` matrix as one weighted entry: the bag of a dense input."""
        n, m = matrix.shape
        columns = torch.arange(m, device=matrix.device)
        return cls(columns.repeat(n), torch.arange(0, n * m, m, device=matrix.device), matrix.reshape(-1), matrix)

    @classmethod
    def gather(cls, indptr: torch.Tensor, indices: torch.Tensor, rows: torch.Tensor) -> Bags:
        """The bags of CSR rows ``rows`` (``indptr``/``indices`` of a CSR matrix, on one device)."""
        starts = indptr[rows]
        lengths = indptr[rows + 1] - starts
        total = int(lengths.sum())
        offsets = torch.cumsum(lengths, 0) - lengths
        bag = _segment_ids(offsets, total)
        positions = torch.arange(total, device=rows.device) - offsets[bag] + starts[bag]
        return cls(indices[positions], offsets)


# ----------------------------------------------------------------------------------------------------
# The base encoding
# ----------------------------------------------------------------------------------------------------
class Encoding(nn.Module):
    """Base of every encoding (see the module notes for the interface).

    Parameters
    ----------
    num_items : int
        d, the number of items (ids ``0..d-1``).
    num_bits : int
        m, the width of the encoded inputs and outputs (``1 <= m``; ``m <= d`` where the encoding says).

    Subclasses set ``name``, ``loss`` and ``data_dependent``, and implement :meth:`encode_input`,
    :meth:`target`, :meth:`decode` and (data-dependent ones) :meth:`_fit`.
    """

    name: ClassVar[str] = ""
    #: key of ``bloombench.models.losses.OUTPUT_LOSSES`` training the m outputs
    loss: ClassVar[str] = ""
    #: whether :meth:`fit` learns the codes from training histories
    data_dependent: ClassVar[bool] = False
    #: whether m may exceed d
    allows_wide: ClassVar[bool] = False
    #: whether encoded inputs are sparse bags (k-hot codes) rather than dense m-vectors
    sparse_input: ClassVar[bool] = True

    def __init__(self, num_items: int, num_bits: int) -> None:
        super().__init__()
        self.num_items = check_int("num_items", num_items)
        self.num_bits = check_int("num_bits", num_bits)
        if not self.allows_wide and self.num_bits > self.num_items:
            raise ValueError(f"num_bits must be in [1, num_items={self.num_items}] for {self.name!r}, "
                             f"got {self.num_bits}")
        self._fitted = not self.data_dependent

    # ---- fitting --------------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        """True once the codes exist (always, for data-independent encodings)."""
        return self._fitted

    def fit(self, histories: Histories) -> Encoding:
        """Learn the codes from training histories (a no-op for data-independent encodings).

        Parameters
        ----------
        histories : Interactions or scipy.sparse matrix
            The training (user, item) pairs, or a ``(num_users, num_items)`` matrix whose non-zeros are
            the histories; repeated pairs count once.

        Returns
        -------
        Encoding
            ``self``, with its code buffers (re)built on the device of the encoding.
        """
        matrix = history_matrix(histories, self.num_items)
        if self.data_dependent:
            if matrix.nnz == 0:
                raise ValueError(f"{self.name!r} learns its codes from histories, but they are empty")
            self._fit(matrix)
            self._fitted = True
        return self

    def _fit(self, matrix: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError(f"the {self.name!r} encoding learns its codes from data; call fit(histories) "
                               "with the training interactions first")

    def get_extra_state(self) -> dict[str, bool]:
        # Saved in state_dict, so loading a fitted encoding's codes marks the new one fitted.
        return {"fitted": self._fitted}

    def set_extra_state(self, state: dict[str, bool]) -> None:
        self._fitted = bool(state["fitted"])

    # ---- interface ------------------------------------------------------------------------------
    def encode_input(self, items: Bags | torch.Tensor) -> Bags:
        """The encoded input of each set, as bags over ``[0, num_bits)`` (see the module notes)."""
        raise NotImplementedError

    def target(self, items: Bags | torch.Tensor) -> torch.Tensor:
        """``(n, num_bits)`` training target of each set of items."""
        raise NotImplementedError

    def decode(self, outputs: torch.Tensor) -> torch.Tensor:
        """``(n, num_items)`` item scores from ``(n, num_bits)`` raw network outputs."""
        raise NotImplementedError

    # ---- accounting -----------------------------------------------------------------------------
    def memory_bytes(self) -> int:
        """Bytes of every persistent buffer and parameter (the stored codes; shared tensors once)."""
        seen: dict[int, int] = {}
        for tensor in self.state_dict().values():
            if isinstance(tensor, torch.Tensor):  # skips the extra state (the fitted flag)
                seen[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
        return int(sum(seen.values()))

    def extra_repr(self) -> str:
        parts = [f"num_items={self.num_items}", f"num_bits={self.num_bits}",
                 f"m/d={self.num_bits / self.num_items:.3g}", *self._method_repr(),
                 f"loss={self.loss!r}", f"bytes={self.memory_bytes():,}"]
        if not self._fitted:
            parts.append("not fitted")
        return ", ".join(parts)

    def _method_repr(self) -> list[str]:
        return []

    # ---- shared checks --------------------------------------------------------------------------
    def _bags(self, items: Bags | torch.Tensor, argument: str = "items") -> Bags:
        """``items`` as bags of item ids (a 1-d tensor is one item per bag), range checked."""
        if isinstance(items, torch.Tensor):
            if items.dim() != 1:
                raise ValueError(f"{argument} must be Bags or a 1-d tensor of item ids (one per set), "
                                 f"got shape {tuple(items.shape)}")
            items = Bags(items, torch.arange(items.shape[0], device=items.device))
        if not isinstance(items, Bags):
            raise TypeError(f"{argument} must be Bags or a 1-d tensor of item ids, got {type(items).__name__}")
        ids = items.indices
        if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
            raise TypeError(f"{argument} must hold integer item ids, got dtype {ids.dtype}")
        if ids.numel():
            low, high = (int(v) for v in torch.stack(torch.aminmax(ids)).tolist())
            if low < 0 or high >= self.num_items:
                raise ValueError(f"{argument} must lie in [0, num_items={self.num_items}); "
                                 f"got min {low}, max {high}")
        return items if ids.dtype == torch.int64 else Bags(ids.long(), items.offsets, items.weights)

    def _check_outputs(self, outputs: torch.Tensor) -> torch.Tensor:
        if not isinstance(outputs, torch.Tensor) or outputs.dim() != 2 or outputs.shape[1] != self.num_bits:
            shape = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
            raise ValueError(f"outputs must be a (n, num_bits={self.num_bits}) tensor, got {shape}")
        return outputs

