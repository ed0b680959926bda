"""Fused CPU kernel of the bilinear score ``u . v + b_u + b_i`` for tables that are scaled row sums.

Why: a factorization step on ML-100K does ~0.1 ms of arithmetic but, as ten autograd nodes (two table
lookups, two bias lookups, product, sum, adds), ~0.55 ms of per-op dispatch, zero-fills and torch's CPU
``index_add_`` (~36 ns per 128-byte row, 0.11 ms for a batch's 3,072 item rows). Here one autograd node
does it: a compiled loop gathers each id's k rows, pools them, takes the dot product and adds the biases;
its backward recomputes the pooled vectors and scatters the gradients into dense zeroed tables (the
gradients ``Adam`` expects), touching only looked-up rows.

The compiler is numba, with the settings of :mod:`bloombench.layers.compiled` (why numba: there). A C++
extension would need the torch headers and ~1 min of compilation on a fresh machine; ``torch.compile`` of
the training step was measured slower to build (29 s) and no faster per step here.

The kernel applies only where it computes exactly what the modules would: CPU float32/float64 tables
with dense gradients, each table a scaled row sum (:meth:`~bloombench.layers.base.CompressedEmbedding.
gather_rows`), users ``(B,)`` against items ``(B,)`` or ``(n, B)``. Anything else, or
``BLOOMBENCH_KERNELS=0`` in the environment, takes the modules' own (reference) path; the tests compare
both. Summation order differs from torch's, so results agree to float rounding, not bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch

from bloombench.layers.compiled import ENV_VAR, SCALARS, available, compile_kernel, pool

__all__ = ["ENV_VAR", "available", "bilinear_scores", "gather_plan"]


# The item side is never pooled into a temporary: scale * sum_j (u . I[r_j]) is the same dot product and
# half the memory traffic (21 vs 34 us for ML-100K's 3,072 items, k = 1).
@compile_kernel
def _forward(U, I, bu, bi, urows, irows, uids, iids, uscale, iscale, out):
    n, batch = iids.shape
    dim = U.shape[1]
    u = np.empty(dim, U.dtype)
    for b in range(batch):
        pool(U, urows, b, uscale, u)
        for s in range(n):
            item = s * batch + b
            dot = np.float32(0)  # a literal start (not u[0] * v[0]) keeps the loop vectorised
            for j in range(irows.shape[1]):
                r = irows[item, j]
                for c in range(dim):
                    dot += u[c] * I[r, c]
            out[s, b] = dot * iscale + bu[uids[b]] + bi[iids[s, b]]


@compile_kernel
def _backward(g, U, I, urows, irows, uids, iids, uscale, iscale, gU, gI, gbu, gbi):
    n, batch = iids.shape
    dim = U.shape[1]
    u = np.empty(dim, U.dtype)
    gu = np.empty(dim, U.dtype)
    for b in range(batch):
        pool(U, urows, b, uscale, u)
        for c in range(dim):
            gu[c] = 0
        total = np.float32(0)
        for s in range(n):
            item = s * batch + b
            grad = g[s, b]
            total += grad
            gbi[iids[s, b]] += grad
            step = grad * iscale
            for j in range(irows.shape[1]):
                r = irows[item, j]
                for c in range(dim):  # two loops, not one: each vectorises (38 vs 61 us at ML-100K, k = 1)
                    gu[c] += step * I[r, c]
                for c in range(dim):
                    gI[r, c] += step * u[c]
        gbu[uids[b]] += total
        for j in range(urows.shape[1]):
            r = urows[b, j]
            for c in range(dim):
                gU[r, c] += uscale * gu[c]


def _arrays(*tensors: torch.Tensor) -> list[np.ndarray]:
    """numpy views (no copy) of CPU tensors; ``force=True`` detaches the tables (they require grad)."""
    return [t.numpy(force=True) for t in tensors]


class _BilinearScores(torch.autograd.Function):
    """Scores ``(n, B)``; inputs are the four tables, then index tensors and the two scales."""

    @staticmethod
    def forward(ctx, U, I, bu, bi, urows, irows, uids, iids, uscale, iscale):  # type: ignore[override]
        out = torch.empty(iids.shape, dtype=U.dtype)
        _forward(*_arrays(U, I, bu.view(-1), bi.view(-1), urows, irows, uids, iids), uscale, iscale,
                out.numpy())
        ctx.save_for_backward(U, I, bu, bi, urows, irows, uids, iids)
        ctx.scales = (uscale, iscale)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        U, I, bu, bi, urows, irows, uids, iids = ctx.saved_tensors
        grads = [torch.zeros_like(t) for t in (U, I, bu, bi)]
        _backward(*_arrays(grad.contiguous(), U, I, urows, irows, uids, iids), *ctx.scales,
                 *_arrays(grads[0], grads[1], grads[2].view(-1), grads[3].view(-1)))
        return (*(g if need else None for g, need in zip(grads, ctx.needs_input_grad)),
                None, None, None, None, None, None)


def _usable(dtype: torch.dtype, *tables: torch.Tensor) -> bool:
    # Cheap attribute checks only: this runs at every training step.
    return dtype in SCALARS and all(t.is_cpu and t.dtype is dtype and not t.is_sparse and t.is_contiguous()
                                     for t in tables)


def _rows_of(layer: torch.nn.Module, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float] | None:
    """``layer.gather_rows(ids)``; a plain ``nn.Embedding`` (the models' default table) is one row per id."""
    gather = getattr(layer, "gather_rows", None)
    if gather is not None:
        return gather(ids)
    if type(layer) is not torch.nn.Embedding or layer.padding_idx is not None or layer.sparse \
            or layer.max_norm is not None or ids.dtype not in (torch.int64, torch.int32):
        return None
    if ids.numel() and not 0 <= int(ids.min()) <= int(ids.max()) < layer.num_embeddings:
        return None  # the module's own call raises torch's error for these ids
    return layer.weight, ids.unsqueeze(-1), 1.0


def gather_plan(user_layer: torch.nn.Module, item_layer: torch.nn.Module, user_biases: torch.Tensor,
                item_biases: torch.Tensor, user_ids: torch.Tensor, item_ids: torch.Tensor) -> tuple | None:
    """The kernel's inputs for scoring ``item_ids`` against ``user_ids``, or None where it does not apply:
    ``(U, I, user_biases, item_biases, urows, irows, uids, iids, uscale, iscale)``, ``irows`` one row per
    item id (``(n * B, k)``), ``iids`` ``(n, B)``, the scales in the tables' precision."""
    if not available() or user_ids.dim() != 1 or item_ids.dim() not in (1, 2) \
            or item_ids.shape[-1] != user_ids.shape[0]:
        return None
    if getattr(user_layer, "num_embeddings", None) != user_biases.shape[0] \
            or getattr(item_layer, "num_embeddings", None) != item_biases.shape[0]:
        return None  # the layers' id checks must cover the bias rows the kernel reads unchecked
    users, items = _rows_of(user_layer, user_ids), _rows_of(item_layer, item_ids)
    if users is None or items is None or not _usable(users[0].dtype, users[0], items[0], user_biases, item_biases):
        return None
    (U, urows, uscale), (I, irows, iscale) = users, items
    dtype = SCALARS[U.dtype]
    item_2d = item_ids.reshape(-1, user_ids.shape[0])
    return (U, I, user_biases, item_biases, urows.contiguous(), irows.reshape(item_2d.numel(), -1).contiguous(),
            user_ids.to(torch.int64), item_2d.to(torch.int64).contiguous(), dtype(uscale), dtype(iscale))


def bilinear_scores(user_layer: torch.nn.Module, item_layer: torch.nn.Module, user_biases: torch.Tensor,
                    item_biases: torch.Tensor, user_ids: torch.Tensor,
                    item_ids: torch.Tensor) -> torch.Tensor | None:
    """``(user . item) + user_bias + item_bias`` by the fused kernel, or None where it does not apply.

    Parameters
    ----------
    user_layer, item_layer : torch.nn.Module
        Embedding layers; the kernel needs both to answer ``gather_rows``.
    user_biases, item_biases : torch.Tensor
        ``(num_users, 1)`` and ``(num_items, 1)`` bias tables.
    user_ids : torch.Tensor
        ``(B,)`` user ids.
    item_ids : torch.Tensor
        ``(B,)`` or ``(n, B)`` item ids (e.g. a positive and its negatives for each user).

    Returns
    -------
    torch.Tensor or None
        Scores of ``item_ids``'s shape, differentiable in all four tables; None when the kernel does not
        apply (see the module notes), so the caller computes them itself.
    """
    plan = gather_plan(user_layer, item_layer, user_biases, item_biases, user_ids, item_ids)
    return None if plan is None else _BilinearScores.apply(*plan).view(item_ids.shape)
