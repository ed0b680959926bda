"""Row-wise int8 embeddings trained with fake quantisation (straight-through estimator).

Each row is stored as int8 codes and one float32 scale: ``row ~= codes * scale`` with
``scale = max|row| / 127`` (symmetric, per row, the usual post-training scheme of embedding tables, e.g.
Guan et al. 2019, here applied during training as quantisation-aware training).

What is stored and what is counted
----------------------------------
Training needs a float32 *master* copy of the table: the forward quantises the looked-up rows (fake
quantisation) and the backward passes the gradient straight through to the master (STE), which the
optimiser updates. The layer's **persistent state is the int8 form**: ``state_dict()`` holds ``codes``
(int8, ``n x d'``), ``scale`` (float32, ``n``) and, when there is one, the float32 ``projection``, never the
master; loading a state dict dequantises it into the master. :meth:`Int8Embedding.memory_bytes` counts that
persistent (saved, served) state, like every other layer's ``memory_bytes``. The master is training
state, like an optimiser's moments (which no method's figure counts): :meth:`training_memory_bytes` adds
it, and a model's ``model_bytes`` (every parameter and buffer of the network) includes it.

Scales are rounded *up* to 17 significant bits, so ``127 * scale`` is exact in float32 and
dequantise-then-quantise returns the same codes and scale: a saved and reloaded layer computes exactly what
the saved one did.
"""

from __future__ import annotations

import torch

from bloombench.checks import check_exclusive, check_fraction, check_int
from bloombench.layers.lookup import row_lookup
from bloombench.layers.lowdim import LowDimEmbedding

__all__ = ["Int8Embedding", "dequantize_rows", "fake_quantize_rows", "quantize_rows"]

_QMAX = 127
_SCALE_BITS = 17  # significant bits of a scale: 17 + 7 (|code| <= 127) = 24, float32's mantissa


def _row_scales(rows: torch.Tensor) -> torch.Tensor:
    """``max|row| / 127`` per row, ``(..., 1)``, rounded up to 17 significant bits (0 for a zero row)."""
    scale = rows.detach().abs().amax(-1, keepdim=True) / _QMAX
    mantissa, exponent = torch.frexp(scale)
    return torch.ldexp(torch.ceil(mantissa * 2 ** _SCALE_BITS), exponent - _SCALE_BITS)


def quantize_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 ``codes`` (shape of ``rows``) and float32 ``scale`` (``rows.shape[:-1]``) of float rows."""
    scale = _row_scales(rows)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    codes = torch.round(rows.detach() / safe).clamp_(-_QMAX, _QMAX)
    return codes.to(torch.int8), scale.squeeze(-1).to(torch.float32)


def dequantize_rows(codes: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``codes * scale`` per row, in ``dtype``."""
    return codes.to(dtype) * scale.to(dtype).unsqueeze(-1)


def fake_quantize_rows(rows: torch.Tensor) -> torch.Tensor:
    """Rows rounded to their int8 grid in the forward, identity in the backward (straight-through)."""
    codes, scale = quantize_rows(rows)
    return rows + (dequantize_rows(codes, scale, rows.dtype) - rows).detach()


class Int8Embedding(LowDimEmbedding):
    """A full table stored row-wise as int8 codes + a float32 scale, trained by fake quantisation (STE).

    Parameters
    ----------
    num_embeddings : int
        Vocabulary size (finite).
    embedding_dim : int
        Output width ``dim``.
    compression_ratio : float, optional
        Bytes share of the full float32 table. The int8 table itself costs ``n (dim + 4)`` bytes (a share
        ``1/4 + 1/dim``); a smaller share stores the widest ``d' < dim`` columns that fit,
        ``n (d' + 4) + 4 d' dim`` bytes, followed by a learned float32 ``d' x dim`` projection (as
        :class:`~bloombench.layers.lowdim.LowDimEmbedding`). None with no ``inner_dim``: the int8 table at full
        width, no projection. A share below one column's gives ``d' = 1`` (as ``LowDimEmbedding``).
    inner_dim : int, optional
        Stored width ``d'`` directly; ``d' = dim`` means no projection.
    padding_idx : int, optional
        Id whose output is masked to zero (it sends no gradient).
    sparse : bool
        Sparse gradients for the master table (and the projection).
    init_seed : int, optional
        Seed of the initialisation (master rows ``N(0, 1/dim)``; a projection as ``LowDimEmbedding``'s).

    Notes
    -----
    See the module notes for what :meth:`memory_bytes` counts (the int8 state) and what it does not (the
    float32 master used for training, :meth:`training_memory_bytes`).
    """

    size_params = ("compression_ratio", "inner_dim")
    examples = {"int8": {}, "int8_projected": {"compression_ratio": 0.2}}

    @staticmethod
    def _projected(inner_dim: int, embedding_dim: int) -> bool:
        return inner_dim < embedding_dim

    @classmethod
    def _inner_dim(cls, n: int, dim: int, compression_ratio: float | None, inner_dim: int | None) -> int:
        check_exclusive(compression_ratio=compression_ratio, inner_dim=inner_dim)
        if inner_dim is not None:
            return check_int("inner_dim", inner_dim, 1, dim)
        if compression_ratio is None:
            return dim
        ratio = check_fraction("compression_ratio", compression_ratio, high_open=False)
        budget = ratio * n * dim * 4
        if cls._bytes(n, dim, dim) <= budget:
            return dim
        # at least one column, as LowDimEmbedding (row scales alone take 4 n bytes)
        return max(1, min(dim - 1, int((budget - 4 * n) // (n + 4 * dim))))

    @classmethod
    def _bytes(cls, n: int, dim: int, inner_dim: int) -> int:
        projection = 4 * inner_dim * dim if cls._projected(inner_dim, dim) else 0
        return n * inner_dim + 4 * n + projection

    def _rows(self, ids: torch.Tensor) -> torch.Tensor:
        return fake_quantize_rows(row_lookup(self.weight, ids, sparse=self.sparse))

    def quantized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored form of the current master: int8 codes ``(n, d')`` and float32 scales ``(n,)``."""
        return quantize_rows(self.weight)

    # ---- bytes and the int8 state dict --------------------------------------------------------------
    def memory_bytes(self) -> int:
        """Bytes of the persistent state: int8 codes, float32 scales and the projection (if any)."""
        return self._bytes(self.num_embeddings, self.embedding_dim, self.inner_dim)

    def training_memory_bytes(self) -> int:
        """:meth:`memory_bytes` plus the master table held while training (``weight``, its dtype)."""
        return self.memory_bytes() + self.weight.numel() * self.weight.element_size()

    def _save_to_state_dict(self, destination, prefix, keep_vars):  # noqa: ANN001 (torch's hook signature)
        super()._save_to_state_dict(destination, prefix, keep_vars)
        del destination[prefix + "weight"]
        destination[prefix + "codes"], destination[prefix + "scale"] = self.quantized()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,  # noqa: ANN001
                              unexpected_keys, error_msgs):
        codes, scale = state_dict.pop(prefix + "codes", None), state_dict.pop(prefix + "scale", None)
        if codes is not None and scale is not None:
            state_dict[prefix + "weight"] = dequantize_rows(codes, scale, self.weight.dtype)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def _method_repr(self) -> list[str]:
        projection = f"inner_dim={self.inner_dim} + projection" if self.projection is not None else "full width"
        return ["int8 rows + float32 row scales", projection]
