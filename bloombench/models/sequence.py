"""Next-item sequence model (Spotlight's ``ImplicitSequenceModel``).

Training scores, at every position ``t`` of each left-padded sequence, the
item at ``t`` against sampled negatives, using the representation of the items
before ``t``; padding positions are masked out of the loss and negatives are
drawn from ``[1, num_items)`` so the padding id is never a negative.
"""

from __future__ import annotations


import torch

from bloombench.checks import check_int
from bloombench.data.interactions import SequenceInteractions
from bloombench.layers.frequency import count_ids
from bloombench.models.base import Model
from bloombench.models.inputs import as_id_tensor, check_id_range, check_training_data
from bloombench.models.losses import get_implicit_loss
from bloombench.models.representations import (
    PADDING_IDX,
    EmbeddingFactory,
    SequenceNet,
    make_sequence_net,
)
from bloombench.models.sampling import sample_items
from bloombench.models.training import EpochCallback, FitHistory, FitOptions, seeded_init, train

__all__ = ["ImplicitSequenceModel", "NextItemModel"]

REPRESENTATIONS = ("pooling", "lstm", "cnn")


class NextItemModel(Model):
    """Base of the models that fit windows of sequences and rank the next item: the facts and the
    evaluation they share (the LSTM/CNN/pooling model below, and the sequence floors)."""

    inputs = "sequences"
    #: Spotlight's windows (the experiments' protocol): ``max_length`` an int or ``"pNN"`` (the NN-th
    #: percentile of per-user counts in the training part), at least ``min_length`` items, stride ``step``.
    split_defaults = {"max_length": 100, "min_length": 20, "step": None}
    evaluation_defaults = {"ks": [5, 10, 20], "legacy": None, "exclude_preceding": False}

    def evaluate(self, target: SequenceInteractions, *, train: object = None, exclude: object = None,
                 **settings: object) -> dict[str, float]:
        """Next-item ranking metrics of the last item of each ``target`` sequence (``exclude_preceding``
        drops the sequence's earlier items from the ranking; ``train``/``exclude`` do not apply)."""
        from bloombench.evaluation import evaluate_sequence_ranking

        return evaluate_sequence_ranking(self, target, **settings).as_dict()


class ImplicitSequenceModel(NextItemModel):
    """Predict the next item of a sequence from the items before it.

    Parameters
    ----------
    representation : str
        "pooling" (mean of item embeddings), "lstm" or "cnn" (causal convolution).
    loss : str
        "pointwise", "bpr", "hinge" or "adaptive_hinge".
    embedding_dim : int
        Item embedding and representation size.
    embedding_factory : EmbeddingFactory, optional
        Builds the item table (called with ``padding_idx=0``); default full table.
    n_negatives : int
        Negatives per position for "adaptive_hinge" (the others use one).

    Attributes
    ----------
    num_items : int
        Size of the item id space including padding id 0 (set by :meth:`fit`).
    num_users : int
        Number of distinct users in the training sequences' id space
        (``max(user_ids) + 1``); the net itself has no user parameters.
    """

    tables = {"items": "embedding_factory"}
    components = ("embedding_factory",)

    def __init__(
        self,
        representation: str = "lstm",
        loss: str = "bpr",
        embedding_dim: int = 32,
        embedding_factory: EmbeddingFactory | None = None,
        n_negatives: int = 5,
    ) -> None:
        if representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
        self._loss_fn = get_implicit_loss(loss)
        embedding_dim = check_int("embedding_dim", embedding_dim)
        n_negatives = check_int("n_negatives", n_negatives)
        if embedding_factory is not None and not callable(embedding_factory):
            raise TypeError(f"embedding_factory must be callable, got {type(embedding_factory).__name__}")
        self.representation = representation
        self.loss = loss
        self.embedding_dim = embedding_dim
        self.embedding_factory = embedding_factory
        self.n_negatives = n_negatives if loss == "adaptive_hinge" else 1
        self.num_users: int | None = None
        self.num_items: int | None = None
        self.device: torch.device = torch.device("cpu")
        self.network: SequenceNet | None = None

    def _fit(self, sequences: SequenceInteractions, options: FitOptions,
             callback: EpochCallback | None) -> FitHistory:
        """Fit on left-padded windows (``batch_size`` counts windows); see :meth:`Model.fit`."""
        check_training_data(sequences, SequenceInteractions, "sequences")
        num_items = int(sequences.num_items)
        check_id_range(sequences.sequences, num_items, "sequences.sequences")
        self.num_items = num_items
        self.num_users = int(sequences.user_ids.max()) + 1
        self.device = options.device
        net = seeded_init(
            options.seed,
            lambda: make_sequence_net(
                self.representation, num_items, self.embedding_dim, self.embedding_factory, options.sparse,
                # training windows only; an item in overlapping windows counts once per window
                lambda: count_ids(sequences.sequences, num_items, PADDING_IDX),
            ),
        )
        self.network = net = net.to(self.device)
        data = torch.as_tensor(sequences.sequences, device=self.device)
        loss_fn, n_neg = self._loss_fn, self.n_negatives
        adaptive = self.loss == "adaptive_hinge"

        def batch_loss(batch_data: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
            (batch,) = batch_data
            states, _ = net.user_representation(batch)
            negatives = sample_items(num_items, (n_neg, *batch.shape), generator=generator, padding_idx=PADDING_IDX)
            # One scoring call for the targets and the negatives (one item lookup, one backward through it).
            scores = net(states, torch.cat([batch.unsqueeze(0), negatives]))
            return loss_fn(scores[0], scores[1:] if adaptive else scores[1], batch != PADDING_IDX)

        return train(net, (data,), batch_loss, options, callback=callback, desc=type(self).__name__)

    @torch.no_grad()
    def predict_sequence_scores(self, sequences: torch.Tensor) -> torch.Tensor:
        """Scores of every item id as the next item after each sequence.

        Parameters
        ----------
        sequences : torch.LongTensor or array-like
            ``(n, L)`` left-padded, shifted ids as in
            :class:`~bloombench.data.SequenceInteractions`; ``L`` may differ
            from the training length.

        Returns
        -------
        torch.Tensor
            ``(n, num_items)`` on the model's device; column 0 is the padding id.
        """
        net = self._require_fitted()
        batch = as_id_tensor(sequences, self.num_items, self.device, "sequences")
        if batch.dim() != 2:
            raise ValueError(f"sequences must have shape (n, L), got {tuple(batch.shape)}")
        net.eval()
        _, final = net.user_representation(batch)
        return net.score_all(final)

    def embedding_tables(self) -> dict[str, torch.nn.Module]:
        return {"items": self._require_fitted().item_embeddings}
