"""Low-dimensional embeddings: a full table of width ``d' < dim`` and a learned ``d' x dim`` projection.

The simplest compressed baseline (a rank-``d'`` factorisation of the full table, as in the "uniform
dimension" baseline of Ginart et al. 2021). The projection is a parameter like the table and is counted in
:meth:`~bloombench.layers.base.CompressedEmbedding.memory_bytes`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bloombench.checks import check_exclusive, check_fraction, check_int
from bloombench.layers.base import CompressedEmbedding
from bloombench.layers.lookup import row_lookup

__all__ = ["LowDimEmbedding", "masked_padding", "project", "reset_projection"]

_FLOAT32_BYTES = 4


def project(rows: torch.Tensor, projection: torch.Tensor, rows_index: torch.Tensor,
            sparse: bool) -> torch.Tensor:
    """``rows @ projection``; with ``sparse`` the projection is read through a sparse lookup of all its
    rows (``rows_index = arange(d')``), so its gradient is sparse too and ``SparseAdam`` can train it."""
    if sparse:
        projection = F.embedding(rows_index, projection, sparse=True)
    return rows @ projection


def reset_projection(projection: torch.Tensor, generator: torch.Generator | None) -> None:
    """Gaussian ``(d', dim)`` projection rescaled to an RMS of exactly ``1/sqrt(d')``: rows of std
    ``1/dim`` then project to outputs of std ``1/dim`` (the package's init convention) for any ``d'``."""
    CompressedEmbedding._normal_(projection, 1.0, generator)
    with torch.no_grad():
        projection.mul_(projection.shape[0] ** -0.5 / projection.pow(2).mean().sqrt())


def masked_padding(out: torch.Tensor, ids: torch.Tensor, padding_idx: int | None) -> torch.Tensor:
    """Zero the padding id's outputs (which then send no gradient to anything they read)."""
    if padding_idx is None:
        return out
    return out * (ids != padding_idx).unsqueeze(-1).to(out.dtype)


def ratio_inner_dim(num_embeddings: int, embedding_dim: int, compression_ratio: float) -> int:
    """Widest ``d'`` whose table and projection, ``4 (n + dim) d'`` bytes, fit ``compression_ratio`` of the
    full table's ``4 n dim``; at least 1 (see :class:`LowDimEmbedding`)."""
    ratio = check_fraction("compression_ratio", compression_ratio, high_open=False)
    return max(1, int(ratio * num_embeddings * embedding_dim / (num_embeddings + embedding_dim)))


class LowDimEmbedding(CompressedEmbedding):
    """``out(id) = W[id] @ P``: an ``n x d'`` table and a ``d' x dim`` projection, both learned.

    Parameters
    ----------
    num_embeddings : int
        Vocabulary size (finite).
    embedding_dim : int
        Output width ``dim``.
    compression_ratio : float, optional
        The widest ``d'`` with ``4 (n + dim) d' <= compression_ratio * 4 n dim`` (table plus projection
        within that share of the full table's bytes). Default 0.2 when ``inner_dim`` is not given either.
        A share below one column's (about ``1/dim``) gives ``d' = 1``, the smallest layer there is, rather
        than an error (``compression()`` reports what it costs; ``size_for_budget`` stays strict): a spec's
        ratio grid is checked on a small probe table before its trials run.
    inner_dim : int, optional
        ``d'`` directly (``1 <= d' <= dim``; ``d' = dim`` still projects, i.e. costs more than a full table).
    padding_idx : int, optional
        Id whose output is masked to zero (it sends no gradient).
    sparse : bool
        Sparse gradients for the table and the projection (the projection's covers all its rows).
    init_seed : int, optional
        Seed of the initialisation: rows ``N(0, 1/dim)``, projection Gaussian with RMS exactly
        ``1/sqrt(d')``, so outputs have std ``1/dim``.
    """

    size_params = ("compression_ratio", "inner_dim")
    examples = {"lowdim": {"compression_ratio": 0.2}}

    def __init__(self, num_embeddings: int, embedding_dim: int, *, compression_ratio: float | None = None,
                 inner_dim: int | None = None, padding_idx: int | None = None, sparse: bool = False,
                 init_seed: int | None = None) -> None:
        num_embeddings = check_int("num_embeddings", num_embeddings)
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        self.compression_ratio = compression_ratio
        self.inner_dim = self._inner_dim(num_embeddings, self.embedding_dim, compression_ratio, inner_dim)
        self.weight = nn.Parameter(torch.empty(num_embeddings, self.inner_dim))
        projected = self._projected(self.inner_dim, self.embedding_dim)
        self.projection = nn.Parameter(torch.empty(self.inner_dim, self.embedding_dim)) if projected else None
        self.register_buffer("_projection_rows", torch.arange(self.inner_dim), persistent=False)
        self.reset_parameters()

    # ---- sizes (the int8 subclass stores rows differently) ------------------------------------------
    @staticmethod
    def _projected(inner_dim: int, embedding_dim: int) -> bool:
        return True

    @classmethod
    def _inner_dim(cls, n: int, dim: int, compression_ratio: float | None, inner_dim: int | None) -> int:
        check_exclusive(compression_ratio=compression_ratio, inner_dim=inner_dim)
        if inner_dim is not None:
            return check_int("inner_dim", inner_dim, 1, dim)
        return ratio_inner_dim(n, dim, 0.2 if compression_ratio is None else compression_ratio)

    @classmethod
    def _bytes(cls, n: int, dim: int, inner_dim: int) -> int:
        return _FLOAT32_BYTES * (n + dim) * inner_dim

    # ---- behaviour --------------------------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return self.num_embeddings

    def reset_parameters(self) -> None:
        generator = self._generator()
        self._normal_(self.weight, 1.0 / self.embedding_dim, generator)
        if self.projection is not None:
            reset_projection(self.projection, generator)

    def _rows(self, ids: torch.Tensor) -> torch.Tensor:
        """The ``d'``-wide rows of ``ids`` as the forward uses them."""
        return row_lookup(self.weight, ids, sparse=self.sparse)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self._check_ids(ids)
        out = self._rows(ids)
        if self.projection is not None:
            out = project(out, self.projection, self._projection_rows, self.sparse)
        return masked_padding(out, ids, self.padding_idx)

    def _method_repr(self) -> list[str]:
        return [f"inner_dim={self.inner_dim}"]

    # ---- sizing -----------------------------------------------------------------------------------
    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int, embedding_dim: int, **params: object) -> int:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        n = check_int("num_embeddings", num_embeddings)
        dim = check_int("embedding_dim", embedding_dim)
        return cls._bytes(n, dim, cls._inner_dim(n, dim, a["compression_ratio"], a["inner_dim"]))

    @classmethod
    def budget_knob(cls, num_embeddings: int, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        cls.bound_arguments(num_embeddings, embedding_dim, params)
        return "inner_dim", 1, check_int("embedding_dim", embedding_dim)
