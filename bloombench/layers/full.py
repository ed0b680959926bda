"""The uncompressed baseline: one row per id, as ``torch.nn.Embedding`` / Spotlight's ``ScaledEmbedding``."""

from __future__ import annotations

import torch
from torch import nn

from bloombench.checks import check_int
from bloombench.layers.base import CompressedEmbedding
from bloombench.layers.lookup import row_lookup

__all__ = ["FullEmbedding"]


class FullEmbedding(CompressedEmbedding):
    """A full ``num_embeddings x embedding_dim`` table, initialised ``N(0, std=1/embedding_dim)``.

    Parameters
    ----------
    num_embeddings, embedding_dim : int
        Table shape.
    padding_idx : int, optional
        Row that is zero and receives no gradient.
    sparse : bool
        Sparse gradients (for ``torch.optim.SparseAdam``).
    seed : int, optional
        Seed of the weight initialisation (a full table hashes nothing, so this is its only seed);
        None draws from torch's global RNG.
    init_seed : int, optional
        Same as ``seed``, accepted so that code passing ``init_seed`` to every method works here too.
    """

    examples = {"full": {}}

    def __init__(self, num_embeddings: int, embedding_dim: int, *, padding_idx: int | None = None,
                 sparse: bool = False, seed: int | None = None, init_seed: int | None = None) -> None:
        num_embeddings = check_int("num_embeddings", num_embeddings)
        if seed is not None and init_seed is not None and seed != init_seed:
            raise ValueError(f"seed and init_seed both set the initialisation of a full table; "
                             f"got seed={seed!r}, init_seed={init_seed!r}")
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=seed if seed is not None else init_seed)
        self.weight = nn.Parameter(torch.empty(num_embeddings, self.embedding_dim))
        self.reset_parameters()

    @property
    def seed(self) -> int | None:
        return self.init_seed

    @property
    def num_rows(self) -> int:
        return self.num_embeddings

    def reset_parameters(self) -> None:
        self._normal_(self.weight, 1.0 / self.embedding_dim, self._generator())
        if self.padding_idx is not None:
            with torch.no_grad():
                self.weight[self.padding_idx].zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self._check_ids(ids)
        return row_lookup(self.weight, ids, padding_idx=self.padding_idx, sparse=self.sparse)

    def gather_rows(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float] | None:
        if self.padding_idx is not None or self.sparse:
            return None
        return self.weight, self._check_ids(ids).unsqueeze(-1), 1.0

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int, embedding_dim: int, **params: object) -> int:
        return check_int("num_embeddings", num_embeddings) * check_int(
            "embedding_dim", embedding_dim) * 4
