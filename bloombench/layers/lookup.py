"""Row lookups shared by the layers: ``weight[ids]`` and bags of k rows, with a faster dense CPU backward.

The dense CPU backward of torch's ``F.embedding`` / ``F.embedding_bag`` is slow: ``_embedding_bag_dense_backward``
sorts the indices and costs ~190 ns per (id, row) entry on one core, ``embedding_dense_backward`` 3-12x a
plain scatter at ML sizes (a 1,682 x 32 table, 2,048 ids: 150 vs 53 us; a bias column: 107 vs 9 us). Here
the weight gradient is instead one ``index_add_`` of the (scaled) output gradient into a zeroed table: the
same sums. Without a padding row that is ``index_select`` (and a sum or mean over each bag's rows), whose
backward torch runs in C++: fwd+bwd 1.5-2x faster than ``F.embedding``, 1.5-2x than ``F.embedding_bag``
(bags of 4) and 2-4x for a bias column, at 1,024-2,048 ids on tables of 943-3,706 rows, one thread. From
``SCATTER_MIN_ENTRIES`` looked-up rows a Python ``autograd.Function`` pays off: without a padding row it
runs the compiled gather and scatter of :mod:`bloombench.layers.compiled` (a Bloom step of 65,536 ids on a
2e6-row table: 34 vs 47 ms, one thread), with one it scatters by the same kernel, skipping the padding
entries (by ``index_add_`` with the kernels off). CUDA, sparse gradients and calls without autograd use
torch's fused functions unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from bloombench.layers import compiled

__all__ = ["BAG_MODES", "SCATTER_MIN_ENTRIES", "bag_lookup", "row_lookup"]

#: How a bag's rows combine.
BAG_MODES = ("sum", "mean")
#: Fewest looked-up rows (ids x rows per id) for the scatter backward: below, the Python
#: ``autograd.Function``'s ~0.1 ms overhead outweighs its gain (full table, 256 ids: 0.17 vs 0.26 ms).
SCATTER_MIN_ENTRIES = 8192


def _dense_cpu_backward(weight: torch.Tensor, sparse: bool) -> bool:
    return not sparse and weight.device.type == "cpu" and weight.requires_grad and torch.is_grad_enabled()


def _use_scatter_backward(weight: torch.Tensor, rows: torch.Tensor, sparse: bool) -> bool:
    return _dense_cpu_backward(weight, sparse) and rows.numel() >= SCATTER_MIN_ENTRIES


def _gather(weight: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``weight[rows]`` by ``index_select``, whose backward is torch's own zero-fill and ``index_add_`` in C++:
    the scatter of :class:`_ScatterLookup` without a Python autograd node (int64 rows: ``index_add_``
    runs ~2x slower with int32)."""
    return weight.index_select(0, rows.reshape(-1).to(torch.int64)).view(*rows.shape, weight.shape[1])


def _use_compiled(weight: torch.Tensor, rows: torch.Tensor, sparse: bool) -> bool:
    """Large dense CPU lookups go through the compiled gather and scatter (4,096 bags of 4 on 2e5 rows:
    2.9 vs 4.6 ms fwd+bwd, one thread, against ``index_select`` and its C++ backward). Below
    ``SCATTER_MIN_ENTRIES`` rows ``index_select`` stays: alone the Function looked faster from 256 ids (98
    vs 113 us), but inside training steps it was slower (QR factorization epochs 224 vs 180 ms; the bias
    columns of a sparse-gradient model 400 vs 313 ms)."""
    return (_use_scatter_backward(weight, rows, sparse) and compiled.available()
            and weight.dtype in compiled.SCALARS and weight.is_contiguous())


def _scalar(weight: torch.Tensor, value: float) -> np.floating:
    return compiled.SCALARS[weight.dtype](value)


class _CompiledBag(torch.autograd.Function):
    """``out[i] = scale * sum_j weight[bags[i, j]]`` without a padding row, by the compiled kernels: the
    forward gathers and pools in one pass, the backward scatters into a zeroed dense gradient (one pass
    over the touched rows, where ``index_add_`` costs ~36-54 ns per 128-byte row)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, bags: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        bags = bags.contiguous()
        out = torch.empty(bags.shape[0], weight.shape[1], dtype=weight.dtype)
        compiled.bag_forward(weight.detach().numpy(), bags.numpy(), _scalar(weight, scale), out.numpy())
        ctx.save_for_backward(bags)
        ctx.scale, ctx.weight_shape, ctx.dtype = scale, weight.shape, weight.dtype
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        (bags,) = ctx.saved_tensors
        grad_weight = torch.zeros(ctx.weight_shape, dtype=ctx.dtype)
        compiled.bag_scatter(grad_out.contiguous().numpy(), bags.numpy(), _scalar(grad_weight, ctx.scale), -1,
                             grad_weight.numpy())
        return grad_weight, None, None


class _ScatterLookup(torch.autograd.Function):
    """``out[i] = combine_j weight[rows[i, j]]``; backward: the scaled output gradient scattered into the rows
    (the compiled scatter, or ``index_add_`` with per-sample weights or the kernels off).

    Only for lookups with a padding row (those without one take :func:`_gather`). ``mode`` ``None`` is a
    single-row lookup (``rows`` of shape ``(n, 1)``, ``F.embedding`` semantics: the padding row is returned as
    stored). For bags, entries equal to ``padding_idx`` are skipped and a mean divides by the bag's
    non-padding entries (``F.embedding_bag`` semantics). Either way the padding row gets no gradient.
    """

    @staticmethod
    def forward(ctx, weight: torch.Tensor, rows: torch.Tensor, mode: str | None,  # type: ignore[override]
                padding_idx: int, per_sample_weights: torch.Tensor | None = None) -> torch.Tensor:
        if mode is None:
            out = F.embedding(rows[:, 0], weight, padding_idx=padding_idx)
        else:
            out = F.embedding_bag(rows, weight, mode=mode, padding_idx=padding_idx,
                                  per_sample_weights=per_sample_weights)
        scale = None
        if mode == "mean":
            scale = (rows != padding_idx).sum(1, dtype=weight.dtype).clamp_(min=1).reciprocal_().unsqueeze(1)
        ctx.save_for_backward(rows, scale, per_sample_weights, weight if per_sample_weights is not None else None)
        ctx.num_rows = weight.shape[0]
        ctx.padding_idx = padding_idx
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        rows, scale, per_sample_weights, weight = ctx.saved_tensors
        if scale is not None:
            grad_out = grad_out * scale
        n, k = rows.shape
        dim = grad_out.shape[1]
        grad_weights = None
        if per_sample_weights is not None and ctx.needs_input_grad[4]:
            # d out_i / d p_ij = W[rows_ij]: one more gather of the bag rows.
            gathered = F.embedding(rows, weight)
            grad_weights = (gathered * grad_out.unsqueeze(1)).sum(-1).reshape(per_sample_weights.shape)
            grad_weights = grad_weights.masked_fill(rows.reshape(grad_weights.shape) == ctx.padding_idx, 0)
        grad_weight = grad_out.new_zeros(ctx.num_rows, dim)
        if per_sample_weights is None and grad_out.device.type == "cpu" and compiled.available() \
                and grad_out.dtype in compiled.SCALARS:
            # The compiled scatter, skipping the padding entries (the row is zeroed below anyway).
            compiled.bag_scatter(grad_out.contiguous().numpy(), rows.contiguous().numpy(),
                                 _scalar(grad_out, 1.0), ctx.padding_idx, grad_weight.numpy())
        else:
            source = grad_out if k == 1 else grad_out.unsqueeze(1).expand(n, k, dim)
            if per_sample_weights is not None:
                source = source * per_sample_weights.reshape(n, k, 1)
            # int64: index_add_ takes int32 indices (the on-the-fly index) too, but runs ~2x slower with them.
            grad_weight.index_add_(0, rows.reshape(-1).to(torch.int64), source.reshape(n * k, dim))
        # Only padding entries index the padding row: dropping its sum drops exactly their gradient.
        grad_weight[ctx.padding_idx] = 0
        return grad_weight, None, None, None, grad_weights


def row_lookup(weight: torch.Tensor, ids: torch.Tensor, *, padding_idx: int | None = None,
               sparse: bool = False) -> torch.Tensor:
    """``F.embedding(ids, weight, padding_idx, sparse)``: ``(*ids.shape, dim)``, dense CPU backward by scatter.

    Parameters
    ----------
    weight : torch.Tensor
        ``(num_rows, dim)`` table.
    ids : torch.Tensor
        Integer row numbers of any shape, already checked by the caller.
    padding_idx : int, optional
        Row that receives no gradient.
    sparse : bool
        Sparse weight gradient (torch's ``F.embedding`` then does the work).

    Returns
    -------
    torch.Tensor
        ``(*ids.shape, dim)``.
    """
    if padding_idx is None and _use_compiled(weight, ids, sparse):
        return _CompiledBag.apply(weight, ids.reshape(-1, 1), 1.0).view(*ids.shape, weight.shape[1])
    if padding_idx is None and _dense_cpu_backward(weight, sparse):
        return _gather(weight, ids)
    if not _use_scatter_backward(weight, ids, sparse):
        return F.embedding(ids, weight, padding_idx=padding_idx, sparse=sparse)
    out = _ScatterLookup.apply(weight, ids.reshape(-1, 1), None, padding_idx)
    return out.view(*ids.shape, weight.shape[1])


def bag_lookup(weight: torch.Tensor, bags: torch.Tensor, *, mode: str, padding_idx: int | None = None,
               sparse: bool = False, per_sample_weights: torch.Tensor | None = None) -> torch.Tensor:
    """``F.embedding_bag(bags, weight, mode=mode, ...)`` for ``(n, k)`` bags, same keyword arguments.

    Parameters
    ----------
    weight : torch.Tensor
        ``(num_rows, dim)`` table.
    bags : torch.Tensor
        ``(n, k)`` integer row numbers, k per output row, already checked by the caller.
    mode : {'sum', 'mean'}
        How each bag's rows combine; a mean skips padding entries in its count.
    padding_idx : int, optional
        Row that bags skip and that receives no gradient.
    sparse : bool
        Sparse weight gradient (torch's ``F.embedding_bag`` then does the work).
    per_sample_weights : torch.Tensor, optional
        ``(n, k)`` weights of the entries, with ``mode='sum'``; they get gradients too.

    Returns
    -------
    torch.Tensor
        ``(n, dim)``.
    """
    if mode not in BAG_MODES:
        raise ValueError(f"mode must be one of {BAG_MODES}, got {mode!r}")
    if bags.dim() != 2:
        raise ValueError(f"bags must be 2-D (n, k), got shape {tuple(bags.shape)}")
    if per_sample_weights is not None and mode != "sum":
        raise ValueError(f"per_sample_weights need mode='sum', got mode={mode!r}")
    if padding_idx is None and per_sample_weights is None and _use_compiled(weight, bags, sparse):
        return _CompiledBag.apply(weight, bags, 1.0 if mode == "sum" else 1.0 / bags.shape[1])
    if padding_idx is None and _dense_cpu_backward(weight, sparse):
        rows = _gather(weight, bags)
        if per_sample_weights is not None:
            rows = rows * per_sample_weights.unsqueeze(-1)
        return rows.sum(1) if mode == "sum" else rows.mean(1)
    if not _use_scatter_backward(weight, bags, sparse):
        return F.embedding_bag(bags, weight, mode=mode, padding_idx=padding_idx, sparse=sparse,
                               per_sample_weights=per_sample_weights)
    return _ScatterLookup.apply(weight, bags, mode, padding_idx, per_sample_weights)
