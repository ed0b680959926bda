"""Bloom embeddings: each id is the mean (or sum) of k rows of a small table picked by k hash functions.

Serrà & Karatzoglou (RecSys 2017) as an embedding layer, the way Spotlight implements it, plus what
Spotlight lacks: the index table is a persistent buffer (moves with ``.to``, saved in ``state_dict``),
an on-the-fly mode with an open vocabulary, a padding row no real id can reach, any hash family from
:mod:`bloombench.hashing`, and one fused ``embedding_bag`` kernel per call. Spotlight's exact behaviour
(flaws included) is the :meth:`BloomEmbedding.spotlight` preset of the same class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from bloombench import hashing
from bloombench.checks import check_choice, check_exclusive, check_fraction, check_int
from bloombench.hashing import MAX_SEED
from bloombench.layers.base import CompressedEmbedding, ratio_count
from bloombench.layers.hash_index import HashIndex, INDEX_MODES
from bloombench.layers.lookup import bag_lookup, row_lookup

__all__ = ["BLOOM_MODES", "BloomEmbedding", "SPOTLIGHT_SEEDS"]

BLOOM_MODES = ("mean", "sum")
DEFAULT_COMPRESSION_RATIO = 0.2

#: Seeds of Spotlight's hash functions, in its order (``spotlight/layers.py``, ``SEEDS``).
SPOTLIGHT_SEEDS = (
    179424941, 179425457, 179425907, 179426369, 179424977, 179425517, 179425943, 179426407,
    179424989, 179425529, 179425993, 179426447, 179425003, 179425537, 179426003, 179426453,
    179425019, 179425559, 179426029, 179426491, 179425027, 179425579, 179426081, 179426549,
)


@dataclass(frozen=True)
class _BloomPlan:
    """Every size and choice derived from the constructor arguments (shared with the byte estimate)."""

    num_buckets: int
    identity: bool
    num_hashes: int
    seeds: tuple[int, ...]
    weight_rows: int
    pad_row: int | None  # row excluded from the bags (zero, no gradient), or None without padding
    compression_ratio: float | None


def _plan(num_embeddings: int | None, embedding_dim: int, a: dict) -> _BloomPlan:
    check_exclusive(compression_ratio=a["compression_ratio"], num_buckets=a["num_buckets"])
    check_choice("mode", a["mode"], BLOOM_MODES)
    check_choice("index", a["index"], INDEX_MODES)
    hashing.get_hash(a["hash"])  # unknown names list the available ones
    num_hashes = check_int("num_hashes", a["num_hashes"])
    ratio = None
    if a["num_buckets"] is not None:
        m = check_int("num_buckets", a["num_buckets"])
    elif num_embeddings is None:
        raise ValueError("an open vocabulary (num_embeddings=None) needs num_buckets")
    else:
        given = a["compression_ratio"]
        ratio = check_fraction("compression_ratio", DEFAULT_COMPRESSION_RATIO if given is None else given,
                               high_open=False)
        m = num_embeddings if ratio == 1.0 else ratio_count(ratio, num_embeddings, "num_buckets")
    if ratio == 1.0:
        # No compression: one row per id, no hashing (a FullEmbedding); num_hashes is not used.
        return _BloomPlan(m, True, 1, (), m, a["padding_idx"], ratio)
    if num_hashes > m:
        raise ValueError(f"num_hashes must be in [1, num_buckets={m}], got {num_hashes}")
    if a["seeds"] is None:
        seeds = tuple(hashing.derive_seeds(check_int("seed", a["seed"], 0, MAX_SEED), num_hashes))
    else:
        seeds = tuple(check_int("seeds", s, 0, MAX_SEED) for s in a["seeds"])
        if len(seeds) != num_hashes or len(set(seeds)) != num_hashes:
            raise ValueError(f"seeds must be {num_hashes} distinct seeds (one per hash), got {list(seeds)}")
    padding_row = a["padding_row"]
    if padding_row is not None:
        if a["padding_idx"] is None:
            raise ValueError("padding_row needs a padding_idx")
        if isinstance(padding_row, bool) or not isinstance(padding_row, int) or not 0 <= padding_row < m:
            raise ValueError(f"padding_row must be an int in [0, num_buckets={m}), got {padding_row!r}")
        if a["mode"] != "sum":
            # embedding_bag drops padding entries from a mean's count, which would change real ids'
            # outputs; Spotlight sums, so the shared padding row is only offered with mode='sum'.
            raise ValueError(f"padding_row (a padding row shared with hashed ids) needs mode='sum', "
                             f"got mode={a['mode']!r}")
        return _BloomPlan(m, False, num_hashes, seeds, m, padding_row, ratio)
    if a["padding_idx"] is None:
        return _BloomPlan(m, False, num_hashes, seeds, m, None, ratio)
    return _BloomPlan(m, False, num_hashes, seeds, m + 1, m, ratio)


class BloomEmbedding(CompressedEmbedding):
    """Bloom embedding: ``out(id) = reduce_j W[h_j(id)]`` over k hash functions into m rows.

    Parameters
    ----------
    num_embeddings : int or None
        Vocabulary size; None (open vocabulary) needs ``index='on_the_fly'`` and ``num_buckets``.
    embedding_dim : int
        Output width.
    compression_ratio : float, optional
        ``num_buckets = int(compression_ratio * num_embeddings)`` (floored, as Spotlight); in (0, 1].
        Default 0.2 when neither this nor ``num_buckets`` is given. **1.0 means no compression**: one row
        per id, identity index, no hashing (the layer computes exactly a full-table lookup; ``num_hashes``
        and the hash options are unused). To hash into as many rows as ids, pass ``num_buckets``.
    num_buckets : int, optional
        Number of hashed rows m (instead of ``compression_ratio``).
    num_hashes : int
        k, in [1, m].
    hash : str
        Hash family name (:func:`bloombench.hashing.available_hashes`).
    seed : int
        Layer hash seed; hash function j uses ``derive_seeds(seed, k)[j]``, so adding a function never
        changes the others.
    mode : {'mean', 'sum'}
        How the k rows combine.
    index : {'table', 'on_the_fly'}
        ``table`` precomputes an ``(num_embeddings, k)`` int32 index table (a persistent buffer counted in
        :meth:`memory_bytes`); ``on_the_fly`` hashes on the ids' device at every call and stores nothing.
    padding_idx : int, optional
        This id maps, under every hash, to an extra zero row at index m (outside the hashed range, so no
        real id shares it); the row stays zero and gets no gradient, and the output is zero.
    sparse : bool
        Sparse gradients (for ``torch.optim.SparseAdam``).
    init_seed : int, optional
        Seed of the weight initialisation (None: torch's global RNG).
    seeds : sequence of int, optional
        Explicit per-function seeds used as-is (instead of deriving them from ``seed``).
    signed_modulo : bool
        Read 32-bit hashes as int32 before the floor modulo (Spotlight / scikit-learn).
    padding_row : int, optional
        Make row ``padding_row`` of the m hashed rows the padding row instead of adding one: the padding
        id maps there under every hash and real ids that hash there lose that component (Spotlight's
        behaviour). Needs ``mode='sum'``.
    init_std : float, optional
        Std of the rows at init. Default: the package convention, the combined output has std
        ``1/dim``: ``mean`` rows ``sqrt(k)/dim``, ``sum`` rows ``1/(dim*sqrt(k))``.

    Notes
    -----
    The forward is one ``F.embedding_bag`` over bags of k indices (gather and reduce fused); it equals
    ``weight[idx].mean(-2)`` / ``.sum(-2)``. Gradients reach only the hashed rows of the batch; the dense
    CPU backward is one scatter (:func:`bloombench.layers.lookup.bag_lookup`).
    """

    size_params = ("compression_ratio", "num_buckets")
    hashed = True
    examples = {"bloom": {"compression_ratio": 0.2, "num_hashes": 4},
                "bloom_on_the_fly": {"compression_ratio": 0.2, "num_hashes": 4, "index": "on_the_fly"}}

    def __init__(self, num_embeddings: int | None, embedding_dim: int, *,
                 compression_ratio: float | None = None, num_buckets: int | None = None, num_hashes: int = 4,
                 hash: str = "murmur3", seed: int = 0, mode: str = "mean", index: str = "table",
                 padding_idx: int | None = None, sparse: bool = False, init_seed: int | None = None,
                 seeds: Sequence[int] | None = None, signed_modulo: bool = False,
                 padding_row: int | None = None, init_std: float | None = None) -> None:
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        plan = _plan(self.num_embeddings, self.embedding_dim, dict(
            compression_ratio=compression_ratio, num_buckets=num_buckets, num_hashes=num_hashes, hash=hash,
            seed=seed, mode=mode, index=index, padding_idx=self.padding_idx, seeds=seeds,
            padding_row=padding_row))
        self.compression_ratio = plan.compression_ratio
        self.num_buckets = plan.num_buckets
        self.identity = plan.identity
        self.num_hashes = plan.num_hashes
        self.hash = hash
        self.seed = seed if seeds is None else None
        self.seeds = list(plan.seeds)
        self.mode = mode
        self.index = index
        self.signed_modulo = bool(signed_modulo)
        self.padding_row = padding_row
        self._pad_row = plan.pad_row
        if init_std is not None and not (isinstance(init_std, (int, float)) and init_std > 0):
            raise ValueError(f"init_std must be a positive number, got {init_std!r}")
        k = self.num_hashes
        # mean of k rows divides the std by sqrt(k), a sum multiplies it: undo either
        default_std = (math.sqrt(k) if mode == "mean" else 1 / math.sqrt(k)) / self.embedding_dim
        self.init_std = float(init_std) if init_std is not None else default_std
        self.weight = nn.Parameter(torch.empty(plan.weight_rows, self.embedding_dim))
        if self.identity:
            self.index_map = None
        else:
            self.index_map = HashIndex(self.num_embeddings, self.num_buckets, self.seeds, hash, index=index,
                                       signed=self.signed_modulo, padding_idx=self.padding_idx,
                                       padding_value=self._pad_row)
            self.max_open_id = self.index_map.max_id
        self.reset_parameters()

    # ---- presets ----------------------------------------------------------------------------------
    @classmethod
    def spotlight(cls, num_embeddings: int, embedding_dim: int, compression_ratio: float = 0.2,
                  num_hash_functions: int = 4, *, index: str = "table", sparse: bool = False,
                  init_seed: int | None = None) -> "BloomEmbedding":
        """Spotlight's ``BloomEmbedding`` (``spotlight/layers.py``, murmur3 version), flaws included.

        * ``m = int(compression_ratio * num_embeddings)`` rows; ratio 1.0 still hashes (m = n).
        * Hash j: MurmurHash3_x86_32 of the id's 4-byte little-endian int32 key, seed ``SPOTLIGHT_SEEDS[j]``
          (used as-is), read as signed int32, floor modulo m.
        * Id 0 is the padding id: its k indices are forced to row 0, and row 0 is the zero, never-updated
          padding row, shared with every real id that hashes to row 0 (which silently loses that component).
        * The k rows are **summed**; rows start ``N(0, std=1/dim)`` (so outputs start ``sqrt(k)`` larger
          than a full table's).

        Differences kept on purpose: the output is ``(*ids.shape, dim)`` (Spotlight returns
        ``(batch, 1, dim)`` for 1-d ids), the index table is a persistent buffer, and ids are validated.
        """
        n = check_int("num_embeddings", num_embeddings)
        dim = check_int("embedding_dim", embedding_dim)
        ratio = check_fraction("compression_ratio", compression_ratio, high_open=False)
        k = check_int("num_hash_functions", num_hash_functions)
        if k > len(SPOTLIGHT_SEEDS):
            raise ValueError(f"num_hash_functions must be in [1, {len(SPOTLIGHT_SEEDS)}] "
                             f"(Spotlight has {len(SPOTLIGHT_SEEDS)} seeds), got {k}")
        layer = cls(n, dim, num_buckets=ratio_count(ratio, n, "num_buckets"), num_hashes=k,
                    hash="murmur3_int32", seeds=SPOTLIGHT_SEEDS[:k], mode="sum", index=index, padding_idx=0,
                    padding_row=0, signed_modulo=True, init_std=1.0 / dim, sparse=sparse, init_seed=init_seed)
        layer.compression_ratio = ratio
        return layer

    # ---- behaviour --------------------------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return self.weight.shape[0]

    def reset_parameters(self) -> None:
        self._normal_(self.weight, self.init_std, self._generator())
        zero_row = self.padding_idx if self.identity else self._pad_row
        if zero_row is not None:
            with torch.no_grad():
                self.weight[zero_row].zero_()

    def hashed_indices(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows of ``weight`` that each id reads: int64 ``(*ids.shape, k)``."""
        ids = self._check_ids(ids)
        if self.index_map is None:
            return ids.to(torch.int64).unsqueeze(-1)
        return self.index_map(ids).to(torch.int64)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self._check_ids(ids)
        if self.index_map is None:
            return row_lookup(self.weight, ids, padding_idx=self.padding_idx, sparse=self.sparse)
        bags = self.index_map(ids).reshape(-1, self.num_hashes)
        out = bag_lookup(self.weight, bags, mode=self.mode, padding_idx=self._pad_row, sparse=self.sparse)
        return out.view(*ids.shape, self.embedding_dim)

    def gather_rows(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float] | None:
        if self.padding_idx is not None or self._pad_row is not None or self.sparse:
            return None
        ids = self._check_ids(ids)
        # The index table's own dtype (int32 at ML sizes): the kernel reads either, a conversion costs a copy.
        rows = ids.unsqueeze(-1) if self.index_map is None else self.index_map(ids)
        return self.weight, rows, 1.0 / rows.shape[-1] if self.mode == "mean" else 1.0

    def _method_repr(self) -> list[str]:
        if self.identity:
            return ["compression_ratio=1.0 (identity, no hashing)"]
        parts = [f"num_buckets={self.num_buckets}", f"num_hashes={self.num_hashes}", f"hash={self.hash!r}"]
        parts.append(f"seed={self.seed}" if self.seed is not None else f"seeds={self.seeds}")
        parts += [f"mode={self.mode!r}", f"index={self.index!r}"]
        if self.signed_modulo:
            parts.append("signed_modulo=True")
        if self.padding_row is not None:
            parts.append(f"padding_row={self.padding_row}")
        return parts

    # ---- sizing -----------------------------------------------------------------------------------
    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int | None, embedding_dim: int, **params: object) -> int:
        args = cls.bound_arguments(num_embeddings, embedding_dim, params)
        dim = check_int("embedding_dim", embedding_dim)
        plan = _plan(num_embeddings, dim, args)
        total = plan.weight_rows * dim * 4
        if not plan.identity and args["index"] == "table":
            top = max(plan.num_buckets - 1, plan.pad_row if plan.pad_row is not None else 0)
            total += num_embeddings * plan.num_hashes * (4 if top < 2**31 else 8)
        return total

    @classmethod
    def budget_knob(cls, num_embeddings: int | None, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        args = cls.bound_arguments(num_embeddings, embedding_dim, params)
        return "num_buckets", check_int("num_hashes", args["num_hashes"]), num_embeddings
