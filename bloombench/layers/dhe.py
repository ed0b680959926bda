"""Deep Hash Embedding (Kang et al., KDD 2021): k hashes of an id, turned into a dense real encoding
(uniform or Gaussian, computed on the fly, nothing stored per id), decoded by an MLP. The bytes are the
MLP's alone, so the vocabulary can be open and new ids cost nothing."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bloombench import hashing
from bloombench.checks import check_choice, check_exclusive, check_fraction, check_int
from bloombench.hashing import MAX_SEED
from bloombench.layers.base import CompressedEmbedding
from bloombench.layers.hash_index import HashIndex

__all__ = ["DHE_ENCODINGS", "DeepHashEmbedding"]

DHE_ENCODINGS = ("uniform", "gaussian")
DEFAULT_COMPRESSION_RATIO = 0.2
#: Hash range before the real-valued transform (the paper's m = 1e6).
HASH_BUCKETS = 1_000_000
#: Ids whose encodings calibrate the output scale at init (fixed: the same for every seed).
_PROBE_IDS = 2048


def _mlp_parameters(num_hashes: int, hidden_dim: int, num_layers: int, dim: int) -> int:
    """Weights and biases of k -> w -> ... (num_layers hidden layers) -> dim."""
    return num_hashes * hidden_dim + hidden_dim + (num_layers - 1) * (hidden_dim + 1) * hidden_dim \
        + hidden_dim * dim + dim


def _hidden_dim(num_embeddings: int | None, dim: int, num_hashes: int, num_layers: int,
                compression_ratio: float | None, hidden_dim: int | None, max_hidden_dim: int | None) -> int:
    check_exclusive(compression_ratio=compression_ratio, hidden_dim=hidden_dim)
    cap = None if max_hidden_dim is None else check_int("max_hidden_dim", max_hidden_dim)
    if hidden_dim is not None:
        return check_int("hidden_dim", hidden_dim, 1, cap)
    if num_embeddings is None:
        raise ValueError("an open vocabulary (num_embeddings=None) needs hidden_dim")
    ratio = check_fraction("compression_ratio",
                           DEFAULT_COMPRESSION_RATIO if compression_ratio is None else compression_ratio,
                           high_open=False)
    budget = int(ratio * num_embeddings * dim)  # parameters, as a fraction of the full table's
    if _mlp_parameters(num_hashes, 1, num_layers, dim) > budget:
        raise ValueError(f"compression_ratio={ratio} allows {budget} parameters, fewer than the smallest DHE "
                         f"MLP ({_mlp_parameters(num_hashes, 1, num_layers, dim)}: hidden_dim=1, "
                         f"num_hashes={num_hashes}); raise compression_ratio or lower num_hashes")
    low, high = 1, budget
    while low < high:  # largest width within the budget
        mid = (low + high + 1) // 2
        fits = _mlp_parameters(num_hashes, mid, num_layers, dim) <= budget
        low, high = (mid, high) if fits else (low, mid - 1)
    return low if cap is None else min(low, cap)


class _SparseGrad(torch.autograd.Function):
    """Identity whose gradient comes back in sparse layout (every entry): lets ``sparse=True`` models
    hand the MLP to ``SparseAdam`` like every other layer; it saves no work."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad.to_sparse()


class DeepHashEmbedding(CompressedEmbedding):
    """``out(id) = MLP(encode(h_1(id), ..., h_k(id)))``.

    Hash ``j`` is ``derive_seeds(seed, k)[j]`` into ``[0, 1e6)`` (on the fly, with bloombench's hash
    families); ``uniform`` maps bucket ``b`` to ``2(b + 0.5)/1e6 - 1``, ``gaussian`` turns pairs of
    uniforms into normals (Box-Muller, the paper's). The MLP is ``num_layers`` hidden layers of width
    ``hidden_dim`` with Mish activations (the paper's) and a linear output layer. Left open or changed
    here: no batch normalisation (it would make an id's vector depend on its batch), the width is the
    size knob, k defaults to 32 rather than 1024 (at the budgets compared here a 1024-wide input layer
    alone exceeds the bytes of the other methods).

    Parameters
    ----------
    num_embeddings : int or None
        Vocabulary size; None for an open vocabulary (``hidden_dim`` given): any id the hash key encodes.
    embedding_dim : int
        Output width.
    compression_ratio : float, optional
        The widest MLP with at most ``compression_ratio * n * dim`` parameters; default 0.2.
    hidden_dim : int, optional
        The width directly (instead of ``compression_ratio``).
    max_hidden_dim : int, optional
        Cap on the width ``compression_ratio`` and :func:`~bloombench.layers.registry.size_for_budget`
        choose: work per id grows as ``width**2`` (at 0.2 of a 1e7 x 32 table the uncapped width is ~8,000,
        4,000x a full-table lookup's arithmetic); the paper's widths are ~1,000-2,000.
    num_hashes : int
        k, the encoding's length (even for ``gaussian``).
    num_layers : int
        Hidden layers.
    encoding : {'uniform', 'gaussian'}
        The dense encoding's distribution.
    hash, seed : str, int
        Hash family and layer hash seed.
    padding_idx : int, optional
        Id whose output is zero (masked: it sends no gradient).
    sparse : bool
        Gradients in sparse layout (dense in content) so ``SparseAdam`` can take them.
    init_seed : int, optional
        He-normal hidden layers, zero biases; the output layer is scaled so that the outputs of 2048 fixed
        probe ids have std ``1/dim`` (package convention).

    Notes
    -----
    ``memory_bytes() = 4 * (k*w + w + (L-1)*(w*w + w) + w*dim + dim)``: independent of the vocabulary.
    """

    size_params = ("compression_ratio", "hidden_dim")
    hashed = True
    examples = {"dhe": {"compression_ratio": 0.2, "max_hidden_dim": 256}}

    def __init__(self, num_embeddings: int | None, embedding_dim: int, *,
                 compression_ratio: float | None = None, hidden_dim: int | None = None,
                 max_hidden_dim: int | None = None, num_hashes: int = 32,
                 num_layers: int = 2, encoding: str = "uniform", hash: str = "murmur3", seed: int = 0,
                 padding_idx: int | None = None, sparse: bool = False, init_seed: int | None = None) -> None:
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse,
                         init_seed=init_seed)
        self.num_hashes = check_int("num_hashes", num_hashes)
        self.num_layers = check_int("num_layers", num_layers)
        self.encoding = check_choice("encoding", encoding, DHE_ENCODINGS)
        if encoding == "gaussian" and num_hashes % 2:
            raise ValueError(f"encoding='gaussian' needs an even num_hashes (Box-Muller pairs), "
                             f"got {num_hashes}")
        self.hidden_dim = _hidden_dim(self.num_embeddings, self.embedding_dim, self.num_hashes, self.num_layers,
                                      compression_ratio, hidden_dim, max_hidden_dim)
        self.compression_ratio = compression_ratio
        self.hash = hashing.get_hash(hash).name
        self.seed = check_int("seed", seed, 0, MAX_SEED)
        seeds = hashing.derive_seeds(self.seed, num_hashes)
        self.hash_map = HashIndex(self.num_embeddings, HASH_BUCKETS, seeds, hash, index="on_the_fly")
        self.max_open_id = self.hash_map.max_id
        widths = [self.num_hashes] + [self.hidden_dim] * self.num_layers + [self.embedding_dim]
        # skip_init: torch's default init would draw from the global RNG, which init_seed must not touch.
        self.layers = nn.ModuleList(nn.utils.skip_init(nn.Linear, a, b)
                                    for a, b in zip(widths[:-1], widths[1:]))
        self.reset_parameters()

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """The dense encoding ``(*ids.shape, k)`` of checked ids (float32, on the ids' device)."""
        uniform = (self.hash_map(ids).to(torch.float32) + 0.5) / HASH_BUCKETS  # in (0, 1)
        if self.encoding == "uniform":
            return 2 * uniform - 1
        u1, u2 = uniform[..., 0::2], uniform[..., 1::2]
        radius = torch.sqrt(-2 * torch.log(u1))
        return torch.cat([radius * torch.cos(2 * math.pi * u2), radius * torch.sin(2 * math.pi * u2)], -1)

    def reset_parameters(self) -> None:
        generator = self._generator()
        for layer in self.layers:
            self._normal_(layer.weight, math.sqrt(2.0 / layer.in_features), generator)
            with torch.no_grad():
                layer.bias.zero_()
        with torch.no_grad():
            probe = self._decode(self.encode(torch.arange(_PROBE_IDS, device=self.layers[0].weight.device)))
            self.layers[-1].weight.mul_(1.0 / (self.embedding_dim * float(probe.std())))

    def _decode(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.layers[0].weight.dtype)
        for i, layer in enumerate(self.layers):
            weight, bias = layer.weight, layer.bias
            if self.sparse:
                weight, bias = _SparseGrad.apply(weight), _SparseGrad.apply(bias)
            x = F.linear(x, weight, bias)
            if i < len(self.layers) - 1:
                x = F.mish(x)
        return x

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self._check_ids(ids)
        out = self._decode(self.encode(ids))
        if self.padding_idx is not None:
            out = out * (ids != self.padding_idx).unsqueeze(-1).to(out.dtype)
        return out

    def _method_repr(self) -> list[str]:
        return [f"hidden_dim={self.hidden_dim}", f"num_layers={self.num_layers}",
                f"num_hashes={self.num_hashes}",
                f"encoding={self.encoding!r}", f"hash={self.hash!r}", f"seed={self.seed}"]

    @classmethod
    def estimate_memory_bytes(cls, num_embeddings: int | None, embedding_dim: int, **params: object) -> int:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        dim = check_int("embedding_dim", embedding_dim)
        k, layers = check_int("num_hashes", a["num_hashes"]), check_int("num_layers", a["num_layers"])
        width = _hidden_dim(num_embeddings, dim, k, layers, a["compression_ratio"], a["hidden_dim"],
                            a["max_hidden_dim"])
        return 4 * _mlp_parameters(k, width, layers, dim)

    @classmethod
    def budget_knob(cls, num_embeddings: int | None, embedding_dim: int,
                    **params: object) -> tuple[str, int, int | None]:
        a = cls.bound_arguments(num_embeddings, embedding_dim, params)
        cap = a["max_hidden_dim"]
        return "hidden_dim", 1, None if cap is None else check_int("max_hidden_dim", cap)
