"""TT-Rec (Yin et al., MLSys 2021): the ``n x dim`` table as a tensor train. The vocabulary and the
dimension are factorised, ``n <= n_1 ... n_c`` and ``dim = d_1 ... d_c``; id ``i`` has mixed-radix digits
``(i_1, ..., i_c)`` and its row is the product of the core slices ``G_1[i_1] G_2[i_2] ... G_c[i_c]``, with
``G_k[i_k]`` an ``r_{k-1} x d_k x r_k`` block (``r_0 = r_c = 1``), contracted by batched matmuls."""

from __future__ import annotations

import math

import torch
from torch import nn

from bloombench.checks import check_exclusive, check_fraction, check_int
from bloombench.layers.base import CompressedEmbedding
from bloombench.layers.lookup import row_lookup

__all__ = ["TTEmbedding", "tt_shapes"]

DEFAULT_COMPRESSION_RATIO = 0.2
#: Most ids whose outputs calibrate the output scale at init (evenly spaced over the vocabulary).
_PROBE_IDS = 4096
#: With dense gradients, a lookup of at least ``1 / (_WHOLE_TABLE_SHARE * max(8, rank))`` of the (padded) rows
#: contracts the whole table instead (a few large matmuls over the cores, about ``dim * rank`` multiply-adds
#: a row, against ``dim * rank**2`` in small batched matmuls per looked-up id) and gathers from it. Measured
#: on one CPU thread at rank 32: the whole table is 2.7x faster at 1e5 rows and 4,096 ids, 2.7x slower at
#: 1e6 rows and 8,192 ids, so the break-even is near 60 rows per id.
_WHOLE_TABLE_SHARE = 1


def _vocab_factors(n: int, cores: int) -> list[int]:
    """Near-equal factors whose product is the smallest such product >= n (the last digit varies fastest)."""
    factors, remaining = [], n
    for left in range(cores, 0, -1):
        f = max(1, math.ceil(round(remaining ** (1.0 / left), 9)))
        while f ** left < remaining:  # float roots can fall short by one
            f += 1
        factors.append(f)
        remaining = -(-remaining // f)
    return factors


def _dim_factors(dim: int, cores: int) -> list[int]:
    """``dim`` split into ``cores`` factors as equal as possible (largest prime factors placed first)."""
    primes, rest, p = [], dim, 2
    while rest > 1:
        while rest % p == 0:
            primes.append(p)
            rest //= p
        p += 1
    factors = [1] * cores
    for prime in sorted(primes, reverse=True):
        factors[factors.index(min(factors))] *= prime
    return sorted(factors, reverse=True)


def tt_shapes(num_embeddings: int, embedding_dim: int, num_cores: int,
              rank: int) -> list[tuple[int, int, int, int]]:
    """``(n_k, r_{k-1}, d_k, r_k)`` of every core."""
    ns, ds = _vocab_factors(num_embeddings, num_cores), _dim_factors(embedding_dim, num_cores)
    ranks = [1] + [rank] * (num_cores - 1) + [1]
    return [(ns[k], ranks[k], ds[k], ranks[k + 1]) for k in range(num_cores)]


def _parameters(n: int, dim: int, cores: int, rank: int) -> int:
    return sum(math.prod(shape) for shape in tt_shapes(n, dim, cores, rank))


def _rank(n: int, dim: int, cores: int, compression_ratio: float | None, rank: int | None,
          max_rank: int | None) -> int:
    check_exclusive(compression_ratio=compression_ratio, rank=rank)
    if check_int("num_cores", cores) < 2:
        raise ValueError(f"num_cores must be an int >= 2 (1 is the full table), got {cores}")
    cap = None if max_rank is None else check_int("max_rank", max_rank)
    if rank is not None:
        return check_int("rank", rank, 1, cap)
    ratio = check_fraction("compression_ratio",
                           DEFAULT_COMPRESSION_RATIO if compression_ratio is None else compression_ratio,
                           high_open=False)
    budget = int(ratio * n * dim)
    if _parameters(n, dim, cores, 1) > budget:
        raise ValueError(f"compression_ratio={ratio} allows {budget} parameters, fewer than rank-1 TT cores "
                         f"({_parameters(n, dim, cores, 1)}); raise compression_ratio")
    low, high = 1, budget
    while low < high:  # largest rank within the budget (parameters grow with the rank)
        mid = (low + high + 1) // 2
        low, high = (mid, high) if _parameters(n, dim, cores, mid) <= budget else (low, mid - 1)
    return low if cap is None else min(low, cap)


class TTEmbedding(CompressedEmbedding):
    """Tensor-train embedding table (TT-Rec).

    Parameters
    ----------
    num_embeddings : int
        Vocabulary size (finite: the digits need it). Factorised into ``num_cores`` near-equal factors
        ``n_k`` with ``prod(n_k) >= n`` (rows past ``n`` are never read).
    embedding_dim : int
        Output width, factorised into ``num_cores`` near-equal integer factors (a prime dim gives
        ``(dim, 1, ..., 1)``).
    compression_ratio : float, optional
        The largest rank whose cores hold at most ``compression_ratio * n * dim`` parameters; default 0.2.
    rank : int, optional
        The TT rank directly (one rank for every inner bond, TT-Rec's choice).
    max_rank : int, optional
        Cap on the rank ``compression_ratio`` and :func:`~bloombench.layers.registry.size_for_budget`
        choose. Work per id grows as ``dim * rank**2`` while bytes grow as ``n * rank**2``: at 0.2 of a
        1e7-row table the uncapped rank is ~270 (a 1 MB core slice per id); TT-Rec's ranks are 8 to 128.
    num_cores : int
        c >= 2 (TT-Rec: 3).
    padding_idx : int, optional
        Id whose output is zero (masked: it sends no gradient).
    sparse : bool
        Sparse gradients for the cores (each core is an ``n_k``-row table of flattened slices).
    init_seed : int, optional
        Cores ``N(0, sigma)`` with ``sigma`` making the product's std ``1/dim`` in expectation; the last
        core is then rescaled so that the rows of up to 4096 evenly spaced ids have exactly that std
        (package convention; a product of Gaussians is heavy-tailed, the expectation alone is loose).

    Notes
    -----
    ``memory_bytes() = 4 * sum_k n_k * r_{k-1} * d_k * r_k``. TT-Rec's optional row cache is not
    implemented: the bytes are the cores only.
    """

    size_params = ("compression_ratio", "rank")
    examples = {"tt": {"compression_ratio": 0.2, "max_rank": 32}}

    def __init__(self, num_embeddings: int, embedding_dim: int, *, compression_ratio: float | None = None,
                 rank: int | None = None, max_rank: int | None = None, num_cores: int = 3,
                 padding_idx: int | None = None,
                 sparse: bool = False, init_seed: int | None = None) -> None:
        num_embeddings = check_int("num_embeddings", num_embeddings)
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        self.rank = _rank(num_embeddings, self.embedding_dim, num_cores, compression_ratio, rank, max_rank)
        self.compression_ratio = compression_ratio
        self.num_cores = int(num_cores)
        self.shapes = tt_shapes(num_embeddings, self.embedding_dim, self.num_cores, self.rank)
        # Core k is a table: row i_k holds the flattened r_{k-1} x d_k x r_k slice.
        self.cores = nn.ParameterList(nn.Parameter(torch.empty(n, r0 * d * r1)) for n, r0, d, r1 in self.shapes)
        radices = [shape[0] for shape in self.shapes]
        # Place value of each digit: id = sum_k digit_k * prod(n_{k+1..c}).
        places = [math.prod(radices[k + 1:]) for k in range(self.num_cores)]
        self.register_buffer("_place", torch.tensor(places), persistent=False)
        self.register_buffer("_radix", torch.tensor(radices), persistent=False)
        self.reset_parameters()

    def digits(self, ids: torch.Tensor) -> torch.Tensor:
        """Mixed-radix digits ``(*ids.shape, num_cores)`` (int64) of checked ids; core k reads row
        ``[..., k]``."""
        return torch.div(ids.to(torch.int64).unsqueeze(-1), self._place, rounding_mode="floor") % self._radix

    def reset_parameters(self) -> None:
        generator = self._generator()
        std = (self.embedding_dim ** -2 / self.rank ** (self.num_cores - 1)) ** (1 / (2 * self.num_cores))
        for core in self.cores:
            self._normal_(core, std, generator)
        with torch.no_grad():
            n = self.num_embeddings
            probe = torch.arange(0, n, max(1, n // _PROBE_IDS), device=self.cores[0].device)
            self.cores[-1].mul_(1.0 / (self.embedding_dim * float(self._rows(probe).std())))

    def _rows(self, flat: torch.Tensor) -> torch.Tensor:
        """``(len(flat), dim)`` rows of int64 ids by a chain of batched matmuls."""
        digits = self.digits(flat)
        batch = flat.shape[0]
        out, width = None, 1
        for k, (core, (_, r0, d, r1)) in enumerate(zip(self.cores, self.shapes)):
            slices = row_lookup(core, digits[:, k], sparse=self.sparse).view(batch, r0, d * r1)
            # (batch, D_{<k}, r0) @ (batch, r0, d*r1) -> (batch, D_{<k} * d, r1)
            width *= d
            out = slices.view(batch, d, r1) if out is None else torch.bmm(out, slices).view(batch, width, r1)
        return out.view(batch, self.embedding_dim)

    def table(self) -> torch.Tensor:
        """The whole ``(num_embeddings, dim)`` table, contracted core by core (differentiable).

        Core ``k`` viewed as ``(n_k, r_{k-1}, d_k r_k)`` multiplies the ``(N, D, r_{k-1})`` partial product
        of the earlier cores (``N`` id prefixes, ``D`` output prefixes); the result is reordered to
        ``(N n_k, D d_k, r_k)``, so the earlier digit stays the more significant, as in :meth:`digits`.
        """
        out = None
        for core, (n, r0, d, r1) in zip(self.cores, self.shapes):
            if out is None:
                out = core.view(n, d, r1)
                continue
            prefixes, width = out.shape[0], out.shape[1]
            right = core.view(n, r0, d * r1).permute(1, 0, 2).reshape(r0, n * d * r1)
            product = (out.reshape(prefixes * width, r0) @ right).view(prefixes, width, n, d, r1)
            out = product.permute(0, 2, 1, 3, 4).reshape(prefixes * n, width * d, r1)
        return out.reshape(-1, self.embedding_dim)[: self.num_embeddings]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self._check_ids(ids).to(torch.int64)
        rows = math.prod(n for n, *_ in self.shapes)
        if not self.sparse and _WHOLE_TABLE_SHARE * max(8, self.rank) * ids.numel() >= rows:
            out = row_lookup(self.table(), ids)
        else:
            out = self._rows(ids.reshape(-1)).view(*ids.shape, self.embedding_dim)
        if self.padding_idx is not None:
            out = out * (ids != self.padding_idx).unsqueeze(-1).to(out.dtype)
        return out

    def _method_repr(self) -> list[str]:
        cores = " x ".join(f"{n}" for n, *_ in self.shapes)
        dims = " x ".join(f"{d}" for _, _, d, _ in self.shapes)
        return [f"rank={self.rank}", f"rows={cores}", f"dims={dims}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int, embedding_dim: int, **params: object) -> int:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        n, dim = check_int("num_embeddings", num_embeddings), check_int("embedding_dim", embedding_dim)
        rank = _rank(n, dim, a["num_cores"], a["compression_ratio"], a["rank"], a["max_rank"])
        return 4 * _parameters(n, dim, int(a["num_cores"]), rank)

    @classmethod
    def budget_knob(cls, num_embeddings: int, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        check_int("num_embeddings", num_embeddings)
        return "rank", 1, None if a["max_rank"] is None else check_int("max_rank", a["max_rank"])
