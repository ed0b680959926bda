"""Clustered compositional embeddings (CCE; Tsang & Ahle, NeurIPS 2023): every id's vector is cut into
chunks; chunk c is the sum of one row of table 0 and one row of table 1, picked by two stored pointers.
Pointers start hashed; between epochs (:meth:`CCEmbedding.on_epoch_end`) each chunk's current vectors are
clustered with k-means: table 0 becomes the centroids and its pointers the assignments, table 1 restarts
at zero under fresh hashed pointers, so similar ids come to share rows."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.cluster.vq import kmeans2
from torch import nn

from bloombench import hashing
from bloombench.checks import check_exclusive, check_fraction, check_int
from bloombench.hashing import MAX_SEED
from bloombench.layers.base import CompressedEmbedding
from bloombench.layers.hash_index import HashIndex
from bloombench.layers.lookup import row_lookup

__all__ = ["CCEmbedding"]

DEFAULT_COMPRESSION_RATIO = 0.2
#: (bytes, largest row count) of the pointer dtypes: the smallest that holds every row is stored.
_POINTER_DTYPES = ((1, 256, torch.uint8), (2, 2**15, torch.int16), (4, 2**31, torch.int32),
                   (8, 2**63, torch.int64))
#: k-means is fitted on at most this many ids per cluster (seeded sample); every id is then assigned.
FIT_IDS_PER_CLUSTER = 64
#: Ids whose distances to the centroids are computed at once on the device.
_ASSIGN_BATCH = 65536


def _pointer_dtype(rows: int) -> tuple[int, torch.dtype]:
    return next((size, dtype) for size, cap, dtype in _POINTER_DTYPES if rows <= cap)


def _memory(n: int, dim: int, chunks: int, rows: int) -> int:
    return 2 * rows * dim * 4 + 2 * n * chunks * _pointer_dtype(rows)[0]


def _chunks(dim: int, compression_ratio: float | None, num_buckets: int | None, chunks: int | None) -> int:
    """``num_chunks``, by default the most of 4, 2, 1 that divides ``dim`` and lets uint8 pointers take at
    most half the budget (``chunks <= compression_ratio * dim``), 1 when none does."""
    if chunks is not None:
        return check_int("num_chunks", chunks)
    limit = float(dim)
    if num_buckets is None:
        limit *= check_fraction("compression_ratio", DEFAULT_COMPRESSION_RATIO if compression_ratio is None
                                else compression_ratio, high_open=False)
    return next((c for c in (4, 2) if dim % c == 0 and c <= limit), 1)


def _rows(n: int, dim: int, chunks: int, compression_ratio: float | None, num_buckets: int | None) -> int:
    """Rows of each table from the constructor's size arguments (``chunks`` resolved by :func:`_chunks`)."""
    check_exclusive(compression_ratio=compression_ratio, num_buckets=num_buckets)
    if dim % chunks:
        raise ValueError(f"num_chunks must divide embedding_dim={dim}, got {chunks}")
    if num_buckets is not None:
        return check_int("num_buckets", num_buckets)
    ratio = check_fraction("compression_ratio",
                           DEFAULT_COMPRESSION_RATIO if compression_ratio is None else compression_ratio,
                           high_open=False)
    budget = int(ratio * n * dim * 4)
    # Each pointer width caps the rows it can address: the most rows over the widths that fit.
    rows = max(min((budget - 2 * n * chunks * size) // (8 * dim), cap) for size, cap, _ in _POINTER_DTYPES)
    if rows < 1:
        raise ValueError(f"compression_ratio={ratio} ({budget:,} bytes) cannot hold the pointers of {n} ids x "
                         f"{chunks} chunks x 2 tables and a row; raise compression_ratio or lower num_chunks")
    return rows


class CCEmbedding(CompressedEmbedding):
    """``out(id)[chunk c] = T0[p0(id, c), c] + T1[p1(id, c), c]``; k-means re-clustering between epochs.

    Parameters
    ----------
    num_embeddings : int
        Vocabulary size (finite: every id has stored pointers).
    embedding_dim : int
        Output width, a multiple of ``num_chunks``.
    compression_ratio : float, optional
        The most rows per table with ``memory_bytes() <= compression_ratio * n * dim * 4``, pointers
        included; default 0.2.
    num_buckets : int, optional
        Rows per table directly.
    num_chunks : int, optional
        Chunks per vector, each with its own pointers (``2 * num_chunks`` bytes or more per id). Default:
        the most of 4, 2, 1 that divides ``dim`` with ``num_chunks <= compression_ratio * dim`` (uint8
        pointers then take at most half the bytes; any divisor with ``num_buckets``), else 1.
    hash, seed : str, int
        Hash family and layer hash seed. Initial pointers of table t hash the key ``id * num_chunks + c``
        with ``derive_seeds(seed, 2)[t]``; after the j-th re-clustering table 1's use
        ``derive_seeds(seed, 2 + j)[1 + j]``, and k-means draws from ``derive_seeds(seed, 2 + j)[1 + j]``
        as well: the whole run is deterministic given ``seed`` and ``init_seed``.
    kmeans_iterations : int
        Lloyd iterations of each clustering (started from seeded random points).
    padding_idx : int, optional
        Id whose output is zero (masked: it sends no gradient).
    sparse : bool
        Sparse gradients for both tables.
    init_seed : int, optional
        Both tables ``N(0, std=1/(dim*sqrt(2)))``, so the output has std ``1/dim`` (package convention).

    Notes
    -----
    ``memory_bytes() = 2*rows*dim*4 + 2*n*num_chunks*s``: two float tables of ``rows x dim`` and the two
    pointer buffers, ``s`` the bytes of the smallest integer dtype that addresses ``rows`` (uint8,
    int16, int32). The k-means fit is scipy's ``kmeans2`` (the package's existing dependency; the
    paper's code uses scikit-learn or faiss) on the CPU; reading the vectors and assigning every id to
    its nearest centroid run on the layer's device.
    """

    size_params = ("compression_ratio", "num_buckets")
    hashed = True
    examples = {"cce": {"compression_ratio": 0.2}}

    def __init__(self, num_embeddings: int, embedding_dim: int, *, compression_ratio: float | None = None,
                 num_buckets: int | None = None, num_chunks: int | None = None, hash: str = "murmur3",
                 seed: int = 0, kmeans_iterations: int = 10, padding_idx: int | None = None,
                 sparse: bool = False, init_seed: int | None = None) -> None:
        num_embeddings = check_int("num_embeddings", num_embeddings)
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        self.num_chunks = _chunks(self.embedding_dim, compression_ratio, num_buckets, num_chunks)
        self.num_buckets = _rows(num_embeddings, self.embedding_dim, self.num_chunks, compression_ratio,
                                 num_buckets)
        self.compression_ratio = compression_ratio
        self.chunk_dim = self.embedding_dim // self.num_chunks
        self.hash = hashing.get_hash(hash).name
        self.seed = check_int("seed", seed, 0, MAX_SEED)
        self.kmeans_iterations = check_int("kmeans_iterations", kmeans_iterations)
        #: re-clusterings done so far (picks the next seeds; not part of state_dict)
        self.num_reclusterings = 0
        self._dtype = _pointer_dtype(self.num_buckets)[1]
        pointers = torch.stack([self._hashed_pointers(s) for s in hashing.derive_seeds(self.seed, 2)])
        self.register_buffer("pointers", pointers.to(self._dtype))  # (2, n, chunks)
        # Row (r, c) of a table is flat row r * chunks + c: one gather per table for every chunk.
        self.table0 = nn.Parameter(torch.empty(self.num_buckets * self.num_chunks, self.chunk_dim))
        self.table1 = nn.Parameter(torch.empty(self.num_buckets * self.num_chunks, self.chunk_dim))
        self.register_buffer("_chunk", torch.arange(self.num_chunks), persistent=False)
        self.reset_parameters()

    def _hashed_pointers(self, seed: int) -> torch.Tensor:
        index = HashIndex(self.num_embeddings, self.num_buckets, [seed] * self.num_chunks, self.hash,
                          index="on_the_fly", key_stride=self.num_chunks, key_offsets=range(self.num_chunks))
        return index.compute(torch.arange(self.num_embeddings))

    @property
    def num_rows(self) -> int:
        return 2 * self.num_buckets

    def reset_parameters(self) -> None:
        generator = self._generator()
        std = 1.0 / (self.embedding_dim * 2 ** 0.5)
        self._normal_(self.table0, std, generator)
        self._normal_(self.table1, std, generator)

    def pointed_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows ``(2, *ids.shape, num_chunks)`` (int64) of each id's chunks in table 0 and table 1 (not
        named ``hashed_indices``: after a re-clustering table 0's rows are k-means assignments, not hashes,
        so collision diagnostics do not apply)."""
        ids = self._check_ids(ids).to(torch.int64)
        return self.pointers[:, ids].to(torch.int64)

    def _lookup(self, table: int, ids: torch.Tensor) -> torch.Tensor:
        weight = self.table0 if table == 0 else self.table1
        flat_rows = self.pointers[table].index_select(0, ids).to(torch.int64) * self.num_chunks + self._chunk
        return row_lookup(weight, flat_rows, sparse=self.sparse).flatten(-2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self._check_ids(ids).to(torch.int64)
        flat = ids.reshape(-1)
        out = (self._lookup(0, flat) + self._lookup(1, flat)).view(*ids.shape, self.embedding_dim)
        if self.padding_idx is not None:
            out = out * (ids != self.padding_idx).unsqueeze(-1).to(out.dtype)
        return out

    def on_epoch_end(self) -> None:
        """Between epochs (the training loop's hook): re-cluster, see :meth:`recluster`."""
        self.recluster()

    @torch.no_grad()
    def recluster(self) -> None:
        """Cluster each chunk's current vectors into ``num_buckets`` centroids (Lloyd's k-means from
        ``num_buckets`` seeded random points, as faiss starts; scipy's k-means++ start costs O(k^2) distance
        passes and stalled at 1e5 ids).

        Table 0 becomes the centroids and its pointers the assignments; table 1 becomes zero under newly
        hashed pointers, so right after this call every id reads its cluster's centroid. Sizes, dtypes and
        bytes are unchanged.
        """
        self.num_reclusterings += 1
        j = self.num_reclusterings
        seed = hashing.derive_seeds(self.seed, 2 + j)[1 + j]
        n, rows, chunks = self.num_embeddings, self.num_buckets, self.num_chunks
        device = self.table0.device
        all_ids = torch.arange(n, device=device)
        vectors = torch.cat([(self._lookup(0, b) + self._lookup(1, b))
                             for b in all_ids.split(_ASSIGN_BATCH)]).view(n, chunks, self.chunk_dim)
        rng = np.random.default_rng(seed)
        sample = rng.permutation(n)[:FIT_IDS_PER_CLUSTER * rows] if n > FIT_IDS_PER_CLUSTER * rows else None
        clusters = min(rows, n)
        centroids = torch.zeros(rows, chunks, self.chunk_dim, dtype=self.table0.dtype, device=device)
        assignment = torch.empty(n, chunks, dtype=torch.int64, device=device)
        for c in range(chunks):
            data = vectors[:, c].double().cpu().numpy()
            with warnings.catch_warnings():  # an empty cluster keeps its seed point: harmless here
                warnings.simplefilter("ignore", UserWarning)
                fitted, _ = kmeans2(data if sample is None else data[sample], clusters,
                                    iter=self.kmeans_iterations, minit="points", rng=rng)
            centre = torch.from_numpy(fitted).to(device=device, dtype=self.table0.dtype)
            centroids[:clusters, c] = centre
            assignment[:, c] = torch.cat([torch.cdist(v, centre).argmin(1)
                                          for v in vectors[:, c].split(_ASSIGN_BATCH)])
        self.table0.copy_(centroids.view_as(self.table0))
        self.table1.zero_()
        self.pointers[0].copy_(assignment.to(self._dtype))
        self.pointers[1].copy_(self._hashed_pointers(seed).to(device=device, dtype=self._dtype))

    def _method_repr(self) -> list[str]:
        return [f"num_buckets={self.num_buckets}", f"num_chunks={self.num_chunks}",
                f"pointers={str(self._dtype).removeprefix('torch.')}", f"hash={self.hash!r}",
                f"seed={self.seed}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int, embedding_dim: int, **params: object) -> int:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        n, dim = check_int("num_embeddings", num_embeddings), check_int("embedding_dim", embedding_dim)
        chunks = _chunks(dim, a["compression_ratio"], a["num_buckets"], a["num_chunks"])
        return _memory(n, dim, chunks, _rows(n, dim, chunks, a["compression_ratio"], a["num_buckets"]))

    @classmethod
    def budget_knob(cls, num_embeddings: int, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        cls.bound_arguments(num_embeddings, embedding_dim, params)
        return "num_buckets", 1, check_int("num_embeddings", num_embeddings)
