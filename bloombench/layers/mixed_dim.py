"""Mixed-dimension embeddings (Ginart et al., ISIT 2021, arXiv 2019): ids grouped into frequency blocks,
popular blocks wider, every block projected to the model's dimension.

Block i (``n_i`` ids, a share ``f_i`` of the training counts) gets ``d_i = d_0 (p_i / p_0) ** alpha``
columns (rounded, at least 1), where ``p_i = f_i / n_i`` is its ids' mean access probability and ``d_0``
(``base_dim``) the most popular block's width: the paper's alpha power rule. Its rows are projected to
``dim`` by a learned ``d_i x dim`` matrix.

Choices where the paper leaves them open: **blocks of equal count mass** (ids ranked by training count,
cut where the cumulative count crosses ``b / num_blocks`` of the total; fewer blocks when the head is so
heavy that one would be empty), ``num_blocks = 4``, ``alpha = 0.3``, every block projected (also one of
width ``dim``), and the id -> popularity-rank permutation kept as an int32 buffer (``4 n`` bytes, counted).
Counts come from the training split (:mod:`bloombench.layers.frequency`); without them ids are taken in
popularity order with Zipf counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bloombench.checks import check_exclusive, check_fraction, check_int, check_number
from bloombench.layers.base import CompressedEmbedding
from bloombench.layers.frequency import check_frequencies, popularity_order
from bloombench.layers.lookup import row_lookup
from bloombench.layers.lowdim import masked_padding, reset_projection

__all__ = ["MixedDimEmbedding", "alpha_power_dims", "frequency_blocks"]

#: With dense gradients, a lookup of at least ``1 / _WHOLE_TABLE_SHARE`` of the rows projects the whole
#: table (``n d_i dim`` multiply-adds in a few large matmuls) instead of each looked-up id's block apart.
_WHOLE_TABLE_SHARE = 8


def frequency_blocks(counts: np.ndarray, num_blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut ids ranked by count into blocks of equal count mass.

    Returns
    -------
    order : np.ndarray
        Ids from the most to the least frequent.
    sizes : np.ndarray
        ``n_i`` of each block (all positive; at most ``num_blocks`` blocks).
    probabilities : np.ndarray
        ``p_i``: each block's share of the counts per id.
    """
    order = popularity_order(counts)
    ranked = np.clip(counts[order], 0, None)
    n, total = len(ranked), float(ranked.sum())
    if total <= 0:  # nothing counted: equal sizes, equal probabilities
        ranked, total = np.ones(n), float(n)
    cumulative = np.cumsum(ranked)
    targets = total * np.arange(1, num_blocks) / num_blocks
    cuts = np.searchsorted(cumulative, targets * (1 - 1e-12), side="left") + 1
    bounds = np.unique(np.clip(np.concatenate([[0], cuts, [n]]), 0, n))
    sizes = np.diff(bounds)
    mass = np.add.reduceat(ranked, bounds[:-1])
    return order, sizes, mass / total / sizes


def alpha_power_dims(probabilities: np.ndarray, base_dim: int, alpha: float) -> list[int]:
    """``d_i = round(base_dim * (p_i / p_0) ** alpha)``, clipped to ``[1, base_dim]``."""
    relative = probabilities / probabilities[0] if probabilities[0] > 0 else np.ones_like(probabilities)
    return [int(min(base_dim, max(1, math.floor(base_dim * r ** alpha + 0.5)))) for r in relative]


@dataclass(frozen=True)
class _Plan:
    order: np.ndarray
    sizes: tuple[int, ...]
    dims: tuple[int, ...]
    base_dim: int

    def weight_elements(self, dim: int) -> tuple[int, int]:
        return (sum(n * d for n, d in zip(self.sizes, self.dims)), sum(d * dim for d in self.dims))


def _plan(n: int, dim: int, a: dict) -> _Plan:
    check_exclusive(compression_ratio=a["compression_ratio"], base_dim=a["base_dim"])
    num_blocks = check_int("num_blocks", a["num_blocks"])
    alpha = check_number("alpha", a["alpha"], low=0.0)
    counts = check_frequencies(a["frequencies"], n, a["padding_idx"])
    order, sizes, probabilities = frequency_blocks(counts, num_blocks)

    def plan(base: int) -> _Plan:
        return _Plan(order, tuple(int(s) for s in sizes), tuple(alpha_power_dims(probabilities, base, alpha)), base)

    if a["base_dim"] is not None:
        return plan(check_int("base_dim", a["base_dim"], 1, dim))
    given = a["compression_ratio"]
    ratio = check_fraction("compression_ratio", 0.2 if given is None else given, high_open=False)
    budget = ratio * n * dim
    low, high = 1, dim  # below base_dim=1's share: base_dim=1 all the same (see LowDimEmbedding)
    while low < high:  # widths grow with base_dim: the widest head within the budget
        mid = (low + high + 1) // 2
        low, high = (mid, high) if sum(plan(mid).weight_elements(dim)) <= budget else (low, mid - 1)
    return plan(low)


class MixedDimEmbedding(CompressedEmbedding):
    """Frequency blocks of widths from the alpha power rule, each projected to ``dim`` (see the module notes).

    Parameters
    ----------
    num_embeddings : int
        Vocabulary size (finite).
    embedding_dim : int
        Output width ``dim``.
    compression_ratio : float, optional
        The widest ``base_dim`` whose blocks and projections, ``4 (sum n_i d_i + dim sum d_i)`` bytes, fit this
        share of the full table's bytes (the rank buffer, ``4 n``, is counted in ``memory_bytes`` on top, as
        Bloom's index table is). Default 0.2 when ``base_dim`` is not given either; a share below
        ``base_dim=1``'s gives ``base_dim=1`` (as :class:`~bloombench.layers.lowdim.LowDimEmbedding`).
    base_dim : int, optional
        ``d_0``, the most popular block's width, in ``[1, dim]`` (the size knob).
    num_blocks : int
        Most blocks (default 4).
    alpha : float
        Exponent of the power rule (0: every block ``base_dim`` wide, i.e. a low-dimensional table).
    frequencies : sequence of int or tensor, optional
        One training-split count per id; None: id order as popularity rank with Zipf counts.
    padding_idx : int, optional
        Ranked last; its output is masked to zero (it sends no gradient).
    sparse : bool
        Sparse gradients (rows and projections live in two flat parameters).
    init_seed : int, optional
        Rows ``N(0, 1/dim)``, each projection with RMS ``1/sqrt(d_i)``: outputs of std ``1/dim``.
    """

    size_params = ("compression_ratio", "base_dim")
    uses_frequencies = True
    examples = {"mixed_dim": {"compression_ratio": 0.2}}

    def __init__(self, num_embeddings: int, embedding_dim: int, *, compression_ratio: float | None = None,
                 base_dim: int | None = None, num_blocks: int = 4, alpha: float = 0.3,
                 frequencies: Sequence[int] | np.ndarray | torch.Tensor | None = None,
                 padding_idx: int | None = None, sparse: bool = False, init_seed: int | None = None) -> None:
        num_embeddings = check_int("num_embeddings", num_embeddings)
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        start = time.perf_counter()
        plan = _plan(num_embeddings, self.embedding_dim, dict(
            compression_ratio=compression_ratio, base_dim=base_dim, num_blocks=num_blocks, alpha=alpha,
            frequencies=frequencies, padding_idx=self.padding_idx))
        rank = np.empty(num_embeddings, dtype=np.int32)
        rank[plan.order] = np.arange(num_embeddings, dtype=np.int32)
        self.prepare_seconds = time.perf_counter() - start
        self.compression_ratio, self.alpha, self.num_blocks = compression_ratio, float(alpha), num_blocks
        self.custom_frequencies = frequencies is not None
        self.base_dim, self.block_sizes, self.block_dims = plan.base_dim, list(plan.sizes), list(plan.dims)
        self.register_buffer("rank", torch.from_numpy(rank))
        starts = np.concatenate([[0], np.cumsum(plan.sizes)]).astype(np.int64)
        self.register_buffer("_block_starts", torch.from_numpy(starts[1:-1]), persistent=False)
        # Flat offsets of each block's rows and projection in the two parameters.
        rows, projections = zip(*[(n * d, d * self.embedding_dim) for n, d in zip(plan.sizes, plan.dims)])
        self._layout = [(int(s), d, int(r), int(p)) for s, d, r, p in zip(
            starts[:-1], plan.dims, np.cumsum((0, *rows[:-1])), np.cumsum((0, *projections[:-1])))]
        self.weight = nn.Parameter(torch.empty(sum(rows), 1))
        self.projection = nn.Parameter(torch.empty(sum(projections), 1))
        self.reset_parameters()

    @property
    def num_rows(self) -> None:
        return None  # rows of different widths

    def block_tables(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each block's ``(rows (n_i, d_i), projection (d_i, dim))``, as views of the flat parameters."""
        dim = self.embedding_dim
        return [(self.weight[r:r + n * d].view(n, d), self.projection[p:p + d * dim].view(d, dim))
                for (_, d, r, p), n in zip(self._layout, self.block_sizes)]

    def locate(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(block, row within the block)`` of each id, int64, shape of ``ids``."""
        rank = self.rank[self._check_ids(ids).to(torch.int64)].to(torch.int64)
        block = torch.bucketize(rank, self._block_starts, right=True)
        starts = torch.tensor([s for s, *_ in self._layout], device=rank.device)
        return block, rank - starts[block]

    def reset_parameters(self) -> None:
        generator = self._generator()
        self._normal_(self.weight, 1.0 / self.embedding_dim, generator)
        for _, projection in self.block_tables():
            reset_projection(projection, generator)

    def table(self) -> torch.Tensor:
        """Every id's projected row, ``(num_embeddings, dim)``, in popularity-rank order (differentiable)."""
        return torch.cat([table @ projection for table, projection in self.block_tables()])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self._check_ids(ids)
        if not self.sparse and _WHOLE_TABLE_SHARE * ids.numel() >= self.num_embeddings:
            # A lookup of many of the rows: project every block once (one matmul each) and gather.
            out = row_lookup(self.table(), self.rank[ids.to(torch.int64)].to(torch.int64))
            return masked_padding(out, ids, self.padding_idx)
        block, row = (t.reshape(-1) for t in self.locate(ids))
        dim, device = self.embedding_dim, ids.device
        out = self.weight.new_zeros(block.numel(), dim)
        for b, ((table, projection), (_, d, rows_at, projection_at)) in enumerate(zip(self.block_tables(),
                                                                                      self._layout)):
            chosen = torch.nonzero(block == b).squeeze(1)
            if not self.sparse:  # the block's own view, looked up row-wise
                vectors = row_lookup(table, row[chosen])
            else:  # one lookup per element, so that the flat parameters' gradients are row-sparse
                elements = rows_at + row[chosen].unsqueeze(1) * d + torch.arange(d, device=device)
                vectors = row_lookup(self.weight, elements, sparse=True).squeeze(-1)
                projection = row_lookup(self.projection, projection_at + torch.arange(d * dim, device=device),
                                        sparse=True).view(d, dim)
            out = out.index_copy(0, chosen, vectors @ projection)
        return masked_padding(out.view(*ids.shape, dim), ids, self.padding_idx)

    def _method_repr(self) -> list[str]:
        source = "training counts" if self.custom_frequencies else "id order"
        return [f"block_sizes={self.block_sizes}", f"block_dims={self.block_dims}", f"alpha={self.alpha}",
                f"frequencies={source}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int, embedding_dim: int, **params: object) -> int:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        n, dim = check_int("num_embeddings", num_embeddings), check_int("embedding_dim", embedding_dim)
        return 4 * (sum(_plan(n, dim, a).weight_elements(dim)) + n)

    @classmethod
    def budget_knob(cls, num_embeddings: int, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        cls.bound_arguments(num_embeddings, embedding_dim, params)
        return "base_dim", 1, check_int("embedding_dim", embedding_dim)
