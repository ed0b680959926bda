"""Compiled CPU kernels (numba) of the row lookups: the shared compile settings and the bag gather/scatter.

numba is a maintained LLVM JIT with wheels wherever torch has them; it installs like any dependency and
caches its machine code on disk (the first call in a fresh environment compiles for ~1 s, later
processes load it in milliseconds). ``BLOOMBENCH_KERNELS=0`` in the environment, or a missing numba,
turns every compiled kernel off: callers then take their pure-torch path, which stays the reference
the tests compare against. Summation order differs from torch's, so results agree to float rounding.

Kernels here serve :func:`bloombench.layers.lookup.bag_lookup` / ``row_lookup`` on large CPU lookups
(forward: gather and pool in one pass; backward: a zero-filled dense gradient and one scatter, where
torch's ``index_add_`` costs ~36 ns per 128-byte row), and the bilinear net's fused kernels
(:mod:`bloombench.models.bilinear_kernel`, :mod:`bloombench.models.fused_adam`), which reuse
:func:`compile_kernel` and :func:`pool`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from bloombench.hashing.compiled import ENV_VAR, enabled

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; this keeps a broken install usable
    njit = None

__all__ = ["ENV_VAR", "SCALARS", "available", "bag_forward", "bag_scatter", "compile_kernel", "pool"]

#: numpy scalar type of each table dtype the kernels take: scalars go in the tables' precision.
SCALARS = {torch.float32: np.float32, torch.float64: np.float64}


def available() -> bool:
    """Whether compiled kernels may run: numba importable and ``BLOOMBENCH_KERNELS`` not "0"."""
    return njit is not None and enabled()


def compile_kernel(function: Any = None, **options: Any) -> Any:
    """numba's ``njit`` with this package's settings (usable bare or with extra ``options``).

    fastmath lets LLVM vectorise the dot products and row updates (reassociated sums), and numpy's error
    model drops the zero check Python semantics put before every division, which blocks vectorising
    (Adam's update: 132 vs 15 us for 54 k floats). Kernels use explicit loops: numba allocates a
    temporary for an array expression such as ``a[r] += s * u``, and every scalar in the tables'
    precision (a float64 one turns a float32 loop into float64, unvectorised).
    """
    if function is None:
        return functools.partial(compile_kernel, **options)
    if njit is None:
        return function
    return njit(cache=True, nogil=True, fastmath=True, boundscheck=False, error_model="numpy",
                **options)(function)


@compile_kernel(inline="always")  # a call per bag would cost more than the bag
def pool(table, rows, i, scale, out):
    """``out = scale * (sum of the rows rows[i, :] of table)``."""
    dim = out.shape[0]
    for c in range(dim):
        out[c] = 0
    for j in range(rows.shape[1]):  # indices, not a view rows[i]: a view per bag costs reference counting
        r = rows[i, j]
        for c in range(dim):
            out[c] += table[r, c]
    for c in range(dim):
        out[c] *= scale


@compile_kernel
def bag_forward(weight, bags, scale, out):
    """``out[i] = scale * sum_j weight[bags[i, j]]`` for ``(n, k)`` bags."""
    for i in range(bags.shape[0]):
        pool(weight, bags, i, scale, out[i])


@compile_kernel
def bag_scatter(grad_out, bags, scale, skip, grad_weight):
    """``grad_weight[bags[i, j]] += scale * grad_out[i]`` for every entry not equal to ``skip`` (a padding
    row; -1 skips nothing); ``grad_weight`` is zeroed by the caller."""
    dim = grad_out.shape[1]
    for i in range(bags.shape[0]):
        for j in range(bags.shape[1]):
            r = bags[i, j]
            if r == skip:
                continue
            for c in range(dim):
                grad_weight[r, c] += scale * grad_out[i, c]
