"""Unfused reference implementations shared by the layer tests (a helper module, not collected).

pytest puts this directory on ``sys.path`` (rootdir-less test modules, prepend import mode), so the test
modules import it by its plain name whether the package is run from the tree or from an installed wheel.
"""

from __future__ import annotations

import torch

from bloombench.layers import (
    BloomEmbedding,
    CCEmbedding,
    DeepHashEmbedding,
    DoubleHashEmbedding,
    FullEmbedding,
    HashCoFiEmbedding,
    HashEmbedding,
    Int8Embedding,
    LowDimEmbedding,
    MixedDimEmbedding,
    QREmbedding,
    RobeEmbedding,
    TTEmbedding,
)


def slow_forward(layer, ids: torch.Tensor) -> torch.Tensor:
    """Unfused reference of every method: gather rows with plain indexing, then reduce."""
    if isinstance(layer, FullEmbedding):
        return layer.weight[ids]
    if isinstance(layer, BloomEmbedding):
        rows = layer.weight[layer.hashed_indices(ids)]
        return rows.mean(-2) if layer.mode == "mean" else rows.sum(-2)
    if isinstance(layer, (HashCoFiEmbedding, RobeEmbedding)):
        return layer.weight[layer.hashed_indices(ids), 0] * layer.signs(ids)
    if isinstance(layer, HashEmbedding):
        rows = layer.weight[layer.hashed_indices(ids)]
        return (layer.importance_weights(ids).unsqueeze(-1) * rows).sum(-2)
    if isinstance(layer, QREmbedding):
        q, r = layer.quotient[ids // layer.num_buckets], layer.remainder[ids % layer.num_buckets]
        if layer.combine == "mult":
            return q * r
        return q + r if layer.combine == "add" else torch.cat([q, r], -1)
    mask = (ids != layer.padding_idx).unsqueeze(-1).float() if layer.padding_idx is not None else 1.0
    if isinstance(layer, Int8Embedding):  # the exported int8 form, dequantised
        codes, scale = layer.quantized()
        rows = (codes.float() * scale.unsqueeze(-1))[ids]
        return mask * (rows if layer.projection is None else rows @ layer.projection)
    if isinstance(layer, LowDimEmbedding):
        return mask * (layer.weight[ids] @ layer.projection)
    if isinstance(layer, MixedDimEmbedding):
        tables, (block, row) = layer.block_tables(), layer.locate(ids)
        flat = [tables[b][0][r] @ tables[b][1] for b, r in zip(block.flatten().tolist(), row.flatten().tolist())]
        return mask * torch.stack(flat).view(*ids.shape, -1)
    if isinstance(layer, DoubleHashEmbedding):
        rows = layer.row_indices(ids)  # the last row is the empty slot: never read, whatever it holds
        return (layer.weight[rows] * (rows < layer.num_rows - 1).unsqueeze(-1)).sum(-2)
    if isinstance(layer, DeepHashEmbedding):
        x = layer.encode(ids)
        for i, linear in enumerate(layer.layers):
            x = x @ linear.weight.T + linear.bias
            x = x if i == len(layer.layers) - 1 else x * torch.tanh(torch.nn.functional.softplus(x))  # Mish
        return x
    if isinstance(layer, TTEmbedding):
        return tt_dense_table(layer)[ids]
    if isinstance(layer, CCEmbedding):
        pointers, chunks = layer.pointed_rows(ids), torch.arange(layer.num_chunks)
        tables = [t.view(layer.num_buckets, layer.num_chunks, -1) for t in (layer.table0, layer.table1)]
        out = tables[0][pointers[0], chunks] + tables[1][pointers[1], chunks]
        return out.reshape(*ids.shape, layer.embedding_dim)
    return None  # no unfused reference written for this method (yet): its test says so and skips


def tt_dense_table(layer) -> torch.Tensor:
    """The ``(n, dim)`` table a TT layer stands for: the whole cores contracted (no gather, no bmm)."""
    cores = [core.view(shape) for core, shape in zip(layer.cores, layer.shapes)]
    full = cores[0][:, 0]  # (n_1, d_1, r_1)
    for core in cores[1:]:  # (rows, D, r) x (n_k, r, d_k, r') -> (rows * n_k, D * d_k, r')
        full = torch.einsum("aDr,nrds->anDds", full, core)
        full = full.reshape(full.shape[0] * full.shape[1], full.shape[2] * full.shape[3], full.shape[4])
    return full[: layer.num_embeddings, :, 0]


def touched_rows(grad: torch.Tensor) -> set[int]:
    grad = grad.to_dense() if grad.is_sparse else grad
    return set(torch.nonzero(grad.reshape(grad.shape[0], -1).abs().sum(1)).flatten().tolist())
