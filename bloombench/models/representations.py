"""Networks that score items: a bilinear factorization net and sequence encoders.

Every embedding table of users or items is built by an injected
``embedding_factory(num_embeddings, embedding_dim, padding_idx)`` (called with
``sparse=True`` in addition when the optimizer wants sparse gradients), so the
same networks run on full tables, hashed or Bloom embeddings alike. The nets
only ever call the built module on id tensors (or, for the bilinear net's fused
CPU kernel, ask it for ``gather_rows``) and never look at its type.
Biases stay plain zero-initialised ``nn.Embedding`` tables with dense
gradients, as in Spotlight: they are tiny and are not what is benchmarked.

The sequence nets follow Spotlight's ``spotlight/sequence/representations.py``:
the representation used to predict position ``t`` summarises items ``< t``
(an all-zero "nothing seen yet" step is prepended), targets are scored against
the *same* item embedding table used for the inputs, plus an item bias.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bloombench.checks import check_int
from bloombench.layers.lookup import row_lookup
from bloombench.models.bilinear_kernel import bilinear_scores

__all__ = [
    "PADDING_IDX",
    "BilinearNet",
    "CNNNet",
    "EmbeddingFactory",
    "LSTMNet",
    "PoolNet",
    "SequenceNet",
    "build_embedding",
    "default_embedding_factory",
    "make_sequence_net",
]

PADDING_IDX = 0

EmbeddingFactory = Callable[..., nn.Module]
"""``factory(num_embeddings, embedding_dim, padding_idx=None, sparse=False) -> nn.Module``
whose ``forward(ids)`` returns a tensor of shape ``(*ids.shape, embedding_dim)``; a factory with
``uses_frequencies = True`` also takes ``frequencies=`` (one training count per id)."""

Counts = np.ndarray | Callable[[], np.ndarray]
"""A table's training-split id counts, or a zero-argument callable computing them (called only for a
factory that uses them)."""


def default_embedding_factory(
    num_embeddings: int,
    embedding_dim: int,
    padding_idx: int | None = None,
    sparse: bool = False,
) -> nn.Embedding:
    """Build a full embedding table initialised like Spotlight's ``ScaledEmbedding``.

    Weights are drawn from ``N(0, std=1/embedding_dim)`` (small scores at the
    start, whatever the dimension) and the padding row, if any, is zero.

    Parameters
    ----------
    num_embeddings, embedding_dim : int
        Table shape.
    padding_idx : int, optional
        Row that stays zero and receives no gradient.
    sparse : bool
        Produce sparse gradients (for ``torch.optim.SparseAdam``).

    Returns
    -------
    torch.nn.Embedding
    """
    table = nn.Embedding(num_embeddings, embedding_dim, padding_idx=padding_idx, sparse=sparse)
    with torch.no_grad():
        table.weight.normal_(0.0, 1.0 / embedding_dim)
        if padding_idx is not None:
            table.weight[padding_idx].zero_()
    return table


def build_embedding(
    factory: EmbeddingFactory | None,
    num_embeddings: int,
    embedding_dim: int,
    padding_idx: int | None,
    sparse: bool,
    frequencies: Counts | None = None,
) -> nn.Module:
    """Call ``factory`` (default :func:`default_embedding_factory`) for one table.

    ``sparse`` is passed only when true, so that a three-argument factory
    (the documented minimum) works with every dense optimizer.

    ``frequencies`` (the table's id counts in the training split, or a
    zero-argument callable computing them) is passed as ``frequencies=``
    only to a factory declaring ``uses_frequencies = True``; the callable is
    then called, and the seconds it takes are added to the table's
    ``prepare_seconds`` (which the layer starts with its own preparation).
    """
    factory = default_embedding_factory if factory is None else factory
    extra: dict[str, object] = {"sparse": True} if sparse else {}
    counting = 0.0
    if frequencies is not None and getattr(factory, "uses_frequencies", False):
        start = time.perf_counter()
        extra["frequencies"] = frequencies() if callable(frequencies) else frequencies
        counting = time.perf_counter() - start
    table = factory(num_embeddings, embedding_dim, padding_idx, **extra)
    if "frequencies" in extra:
        table.prepare_seconds = getattr(table, "prepare_seconds", 0.0) + counting
    return table


def _zero_bias(num_embeddings: int, padding_idx: int | None = None) -> nn.Embedding:
    """Per-id scalar bias, zero-initialised (Spotlight's ``ZeroEmbedding``), dense gradients."""
    bias = nn.Embedding(num_embeddings, 1, padding_idx=padding_idx)
    nn.init.zeros_(bias.weight)
    return bias


class BilinearNet(nn.Module):
    """Score ``user . item + user_bias + item_bias`` (Spotlight's bilinear net).

    Parameters
    ----------
    num_users, num_items : int
        Sizes of the id spaces.
    embedding_dim : int
        Latent dimension.
    embedding_factory : EmbeddingFactory, optional
        Builds the item table, and the user table unless ``user_embedding_factory`` is given;
        default :func:`default_embedding_factory`.
    sparse : bool
        Ask the factory for tables with sparse gradients.
    user_embedding_factory : EmbeddingFactory, optional
        Builds the user table when it should differ from the item table (e.g. compress items only).
    frequencies : mapping, optional
        ``{"users": counts, "items": counts}`` from the training split, for factories that use them
        (see :func:`build_embedding`).
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 32,
        embedding_factory: EmbeddingFactory | None = None,
        sparse: bool = False,
        user_embedding_factory: EmbeddingFactory | None = None,
        frequencies: Mapping[str, Counts] | None = None,
    ) -> None:
        super().__init__()
        counts = dict(frequencies or {})
        self.num_users = num_users = check_int("num_users", num_users)
        self.num_items = num_items = check_int("num_items", num_items)
        self.embedding_dim = embedding_dim = check_int("embedding_dim", embedding_dim)
        user_factory = embedding_factory if user_embedding_factory is None else user_embedding_factory
        self.user_embeddings = build_embedding(user_factory, num_users, embedding_dim, None, sparse,
                                               counts.get("users"))
        self.item_embeddings = build_embedding(embedding_factory, num_items, embedding_dim, None, sparse,
                                               counts.get("items"))
        self.user_biases = _zero_bias(num_users)
        self.item_biases = _zero_bias(num_items)
        self.register_buffer("_all_items", torch.arange(num_items), persistent=False)

    def forward(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        """Scores of (user, item) pairs; ``user_ids`` must broadcast against ``item_ids``.

        E.g. users ``(B,)`` with items ``(n, B)`` scores ``n`` negatives per user
        while embedding each user once. On the CPU, tables that are scaled row sums are scored by one
        fused kernel (:mod:`bloombench.models.bilinear_kernel`), any others by their modules.
        """
        fused = bilinear_scores(self.user_embeddings, self.item_embeddings, self.user_biases.weight,
                                self.item_biases.weight, user_ids, item_ids)
        if fused is not None:
            return fused
        users = self.user_embeddings(user_ids)
        items = self.item_embeddings(item_ids)
        dot = (users * items).sum(-1)
        # row_lookup, not the bias modules' forward: F.embedding's dense backward is 10x a scatter for a column
        return (dot + row_lookup(self.user_biases.weight, user_ids).squeeze(-1)
                + row_lookup(self.item_biases.weight, item_ids).squeeze(-1))

    def score_all(self, user_ids: torch.Tensor) -> torch.Tensor:
        """Scores of every item for each user: shape ``(len(user_ids), num_items)``."""
        users = self.user_embeddings(user_ids)
        items = self.item_embeddings(self._all_items)
        scores = users @ items.T + self.item_biases.weight.squeeze(-1)
        return scores + self.user_biases(user_ids)


class SequenceNet(nn.Module):
    """Base of the sequence encoders: item table, item biases and scoring.

    Subclasses implement :meth:`encode`, mapping the step inputs
    ``(B, L + 1, d)`` (a zero "nothing seen" step followed by the masked item
    embeddings) to representations of the same shape, where output ``j`` may
    depend only on inputs ``<= j``.

    Parameters
    ----------
    num_items : int
        Size of the item id space, padding id 0 included.
    embedding_dim : int
        Item embedding dimension (and representation size).
    embedding_factory : EmbeddingFactory, optional
        Builds the item table (with ``padding_idx=0``).
    sparse : bool
        Ask the factory for a table with sparse gradients.
    item_frequencies : Counts, optional
        Training-split item counts, for a factory that uses them (see :func:`build_embedding`).
    """

    def __init__(
        self,
        num_items: int,
        embedding_dim: int = 32,
        embedding_factory: EmbeddingFactory | None = None,
        sparse: bool = False,
        *,
        item_frequencies: Counts | None = None,
    ) -> None:
        super().__init__()
        # Padding plus at least one real item.
        self.num_items = num_items = check_int("num_items", num_items, 2)
        self.embedding_dim = embedding_dim = check_int("embedding_dim", embedding_dim)
        self.item_embeddings = build_embedding(
            embedding_factory, num_items, embedding_dim, PADDING_IDX, sparse, item_frequencies
        )
        self.item_biases = _zero_bias(num_items, padding_idx=PADDING_IDX)
        self.register_buffer("_all_items", torch.arange(num_items), persistent=False)

    def encode(self, steps: torch.Tensor, step_mask: torch.Tensor) -> torch.Tensor:
        """Causal encoder: ``(B, L + 1, d)`` step inputs to representations of the same shape.

        ``step_mask`` ``(B, L + 1)`` is 1.0 at real items and 0.0 at the prepended
        step and at padding (whose inputs are already zero).
        """
        raise NotImplementedError

    def user_representation(self, sequences: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode left-padded sequences ``(B, L)``.

        Returns
        -------
        all_steps : torch.Tensor
            ``(B, L, d)``; entry ``t`` summarises items before position ``t`` and
            is used to score the item at ``t`` during training.
        final : torch.Tensor
            ``(B, d)``; summarises the whole sequence, used to predict the next item.
        """
        embedded = self.item_embeddings(sequences)
        mask = (sequences != PADDING_IDX).to(embedded.dtype)
        # Zero padding explicitly instead of trusting the factory to honour padding_idx
        # (a hashed table may map id 0 to non-zero rows).
        steps = F.pad(embedded * mask.unsqueeze(-1), (0, 0, 1, 0))
        states = self.encode(steps, F.pad(mask, (1, 0)))
        return states[:, :-1], states[:, -1]

    def forward(self, representation: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Scores of ``targets`` given representations ``(..., d)`` broadcastable to them."""
        items = self.item_embeddings(targets)
        biases = row_lookup(self.item_biases.weight, targets, padding_idx=PADDING_IDX)  # the scatter backward
        return (representation * items).sum(-1) + biases.squeeze(-1)

    def score_all(self, final: torch.Tensor) -> torch.Tensor:
        """Scores ``(B, num_items)`` of every item id (column 0 is padding) given ``(B, d)``."""
        items = self.item_embeddings(self._all_items)
        return final @ items.T + self.item_biases.weight.squeeze(-1)


class PoolNet(SequenceNet):
    """Represent a prefix by the mean of its item embeddings (Covington et al., 2016).

    Unlike Spotlight, which divides the running sum by ``count + 1``, this is
    the exact mean over the non-padding items seen so far (zero before any).
    """

    def encode(self, steps: torch.Tensor, step_mask: torch.Tensor) -> torch.Tensor:
        sums = torch.cumsum(steps, dim=1)
        counts = torch.cumsum(step_mask, dim=1).clamp_min(1.0).unsqueeze(-1)
        return sums / counts


class LSTMNet(SequenceNet):
    """Represent a prefix by the hidden state of a one-layer LSTM (Hidasi et al., 2015)."""

    def __init__(
        self,
        num_items: int,
        embedding_dim: int = 32,
        embedding_factory: EmbeddingFactory | None = None,
        sparse: bool = False,
        *,
        item_frequencies: Counts | None = None,
    ) -> None:
        super().__init__(num_items, embedding_dim, embedding_factory, sparse, item_frequencies=item_frequencies)
        self.lstm = nn.LSTM(input_size=embedding_dim, hidden_size=embedding_dim, batch_first=True)

    def encode(self, steps: torch.Tensor, step_mask: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(steps)
        return states


class CNNNet(SequenceNet):
    """Represent a prefix by stacked causal 1-d convolutions with ReLU (WaveNet-style).

    Parameters
    ----------
    kernel_width : int
        Receptive field of each layer, in steps (Spotlight's default 5).
    num_layers : int
        Number of stacked convolutions, each ``embedding_dim -> embedding_dim``.
    Other parameters as :class:`SequenceNet`.
    """

    def __init__(
        self,
        num_items: int,
        embedding_dim: int = 32,
        embedding_factory: EmbeddingFactory | None = None,
        sparse: bool = False,
        kernel_width: int = 5,
        num_layers: int = 1,
        *,
        item_frequencies: Counts | None = None,
    ) -> None:
        super().__init__(num_items, embedding_dim, embedding_factory, sparse, item_frequencies=item_frequencies)
        self.kernel_width = kernel_width = check_int("kernel_width", kernel_width)
        num_layers = check_int("num_layers", num_layers)
        self.convs = nn.ModuleList(
            nn.Conv1d(embedding_dim, embedding_dim, kernel_width) for _ in range(num_layers)
        )

    def encode(self, steps: torch.Tensor, step_mask: torch.Tensor) -> torch.Tensor:
        x = steps.transpose(1, 2)  # (B, d, L + 1): channels first for Conv1d
        for conv in self.convs:
            # Left padding of width - 1 keeps the length and makes output j see inputs <= j only.
            x = F.relu(conv(F.pad(x, (self.kernel_width - 1, 0))))
        return x.transpose(1, 2)


_SEQUENCE_NETS: dict[str, type[SequenceNet]] = {"pooling": PoolNet, "lstm": LSTMNet, "cnn": CNNNet}


def make_sequence_net(
    representation: str,
    num_items: int,
    embedding_dim: int,
    embedding_factory: EmbeddingFactory | None = None,
    sparse: bool = False,
    item_frequencies: Counts | None = None,
) -> SequenceNet:
    """Build the sequence net named ``representation`` ("pooling", "lstm" or "cnn"); ``item_frequencies``
    as :class:`SequenceNet`'s."""
    try:
        cls = _SEQUENCE_NETS[representation]
    except (KeyError, TypeError):
        raise ValueError(
            f"representation must be one of {sorted(_SEQUENCE_NETS)}, got {representation!r}"
        ) from None
    return cls(num_items, embedding_dim, embedding_factory, sparse, item_frequencies=item_frequencies)
