"""Quotient-remainder embeddings (Shi et al., KDD 2020): two small tables indexed by ``id // m`` and
``id % m``; every id gets a unique (quotient, remainder) pair, so there are no full collisions."""

from __future__ import annotations

import math

import torch
from torch import nn

from bloombench.checks import check_choice, check_exclusive, check_fraction, check_int
from bloombench.layers.base import CompressedEmbedding
from bloombench.layers.lookup import row_lookup

__all__ = ["QREmbedding", "QR_COMBINES"]

QR_COMBINES = ("mult", "add", "concat")


def _rows(n: int, m: int) -> int:
    return -(-n // m) + m  # ceil(n/m) quotient rows + m remainder rows


def _num_buckets(n: int, dim: int, combine: str, compression_ratio: float | None,
                 num_buckets: int | None) -> int:
    """The remainder table's size m from the constructor's size arguments."""
    check_exclusive(compression_ratio=compression_ratio, num_buckets=num_buckets)
    check_choice("combine", combine, QR_COMBINES)
    if combine == "concat" and dim % 2:
        raise ValueError("combine='concat' needs an even embedding_dim (each table has dim/2 columns), "
                         f"got {dim}")
    if num_buckets is not None:
        return check_int("num_buckets", num_buckets)
    smallest = math.isqrt(n - 1) + 1 if n > 1 else 1  # ceil(sqrt(n)): near the fewest total rows
    if compression_ratio is None:
        return smallest
    ratio = check_fraction("compression_ratio", compression_ratio, high_open=False)
    # Row budget: a fraction of the full table's parameters; concat rows hold dim/2 columns.
    budget = int(ratio * n * (2 if combine == "concat" else 1))
    if _rows(n, smallest) > budget:
        floor_ratio = _rows(n, smallest) / (n * (2 if combine == "concat" else 1))
        raise ValueError(f"compression_ratio={ratio} allows {budget} rows, but quotient-remainder tables "
                         f"for {n} ids need at least {_rows(n, smallest)}; "
                         f"use compression_ratio >= {floor_ratio:.3g}")
    # Rows grow with m for m >= sqrt(n): take the largest m within the budget (bisection).
    low, high = smallest, max(smallest, budget)
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if _rows(n, mid) <= budget else (low, mid - 1)
    return low


class QREmbedding(CompressedEmbedding):
    """``out(id) = Q[id // m] (*|+|concat) R[id % m]``, with ``ceil(n/m)`` and ``m`` rows.

    Parameters
    ----------
    num_embeddings : int
        Vocabulary size (finite only: there is no hashing).
    embedding_dim : int
        Output width.
    compression_ratio : float, optional
        Largest ``m >= ceil(sqrt(n))`` whose total rows ``ceil(n/m) + m`` stay within
        ``compression_ratio * n`` (``2 * compression_ratio * n`` for ``concat``, whose rows are half as wide).
    num_buckets : int, optional
        m directly. Neither given: ``m = ceil(sqrt(n))``, about the fewest rows (``~2 sqrt(n)``).
    combine : {'mult', 'add', 'concat'}
        Element-wise product (the paper's default), sum, or concatenation of two ``dim/2`` halves
        (``embedding_dim`` must then be even).
    padding_idx : int, optional
        Id whose output is masked to zero (it sends no gradient).
    sparse : bool
        Sparse gradients for both tables.
    init_seed : int, optional
        Seed of the initialisation. Tables are scaled so the output has std ``1/dim`` (package convention):
        ``mult`` both ``dim**-0.5``; ``add`` both ``1/(dim*sqrt(2))``; ``concat`` both ``1/dim``.
    """

    size_params = ("compression_ratio", "num_buckets")
    examples = {"qr": {"compression_ratio": 0.2}}

    def __init__(self, num_embeddings: int, embedding_dim: int, *, compression_ratio: float | None = None,
                 num_buckets: int | None = None, combine: str = "mult", padding_idx: int | None = None,
                 sparse: bool = False, init_seed: int | None = None) -> None:
        num_embeddings = check_int("num_embeddings", num_embeddings)
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        self.num_buckets = _num_buckets(num_embeddings, self.embedding_dim, combine, compression_ratio,
                                        num_buckets)
        self.compression_ratio = compression_ratio
        self.combine = combine
        cols = self.embedding_dim // 2 if combine == "concat" else self.embedding_dim
        self.quotient = nn.Parameter(torch.empty(-(-num_embeddings // self.num_buckets), cols))
        self.remainder = nn.Parameter(torch.empty(self.num_buckets, cols))
        self.reset_parameters()

    @property
    def num_rows(self) -> int:
        return self.quotient.shape[0] + self.remainder.shape[0]

    def reset_parameters(self) -> None:
        dim = self.embedding_dim
        std = {"mult": dim ** -0.5, "add": 1 / (dim * math.sqrt(2)), "concat": 1 / dim}[self.combine]
        generator = self._generator()
        self._normal_(self.quotient, std, generator)
        self._normal_(self.remainder, std, generator)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self._check_ids(ids).to(torch.int64)
        quotient = torch.div(ids, self.num_buckets, rounding_mode="floor")
        q = row_lookup(self.quotient, quotient, sparse=self.sparse)
        r = row_lookup(self.remainder, ids % self.num_buckets, sparse=self.sparse)
        if self.combine == "mult":
            out = q * r
        elif self.combine == "add":
            out = q + r
        else:
            out = torch.cat([q, r], dim=-1)
        if self.padding_idx is not None:
            out = out * (ids != self.padding_idx).unsqueeze(-1).to(out.dtype)
        return out

    def _method_repr(self) -> list[str]:
        return [f"num_buckets={self.num_buckets}", f"quotient_rows={self.quotient.shape[0]}",
                f"combine={self.combine!r}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int, embedding_dim: int, **params: object) -> int:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        n = check_int("num_embeddings", num_embeddings)
        dim = check_int("embedding_dim", embedding_dim)
        m = _num_buckets(n, dim, a["combine"], a["compression_ratio"], a["num_buckets"])
        cols = dim // 2 if a["combine"] == "concat" else dim
        return _rows(n, m) * cols * 4

    @classmethod
    def budget_knob(cls, num_embeddings: int, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        cls.bound_arguments(num_embeddings, embedding_dim, params)
        n = check_int("num_embeddings", num_embeddings)
        return "num_buckets", (math.isqrt(n - 1) + 1 if n > 1 else 1), n
