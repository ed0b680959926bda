"""The paper's feed-forward recommender: encoded history -> hidden layers -> m outputs -> item scores.

Serrà & Karatzoglou (RecSys 2017) compress both ends of a network that maps a user's (sparse, binary)
item history to the items to recommend: the history is encoded into m inputs, the network ends in m
outputs (an m-way softmax for Bloom codes), and an item ranking is recovered from the outputs. The
encodings live in :mod:`bloombench.encodings`; the uncompressed baseline is the same network with the
``identity`` encoding (one-hot input and output, m = d).

Network (:class:`FeedForwardNet`)
    The input layer is an ``EmbeddingBag`` (sum, per-entry weights) over the encoded input's bags, so
    a linear layer on the m-dim encoded vector costs only its set bits and nothing of size d is built
    (dense codes -- ECOC, PMI, CCA -- take one matmul instead). Each input vector is L2-normalised
    first (``input_norm="l2"``, as Liang et al. 2018 do for multinomial models): training inputs are
    part of a history, prediction inputs the whole of it, and the normalisation keeps their scale
    alike. Then ``activation -> dropout -> Linear`` per hidden width, and a last linear layer to m.

Training protocol (our choice; the paper's exact one is not known here)
    One example per user with training items, once per epoch, in the shared seeded shuffle of
    :func:`~bloombench.models.training.train`. Each time a user is drawn, their training items are
    split at random (seeded by the training generator) into an input part and a target part, every
    item going to the target with probability ``target_fraction``. The loss is the encoding's
    (:data:`~bloombench.models.losses.OUTPUT_LOSSES`): for k-hot codes the softmax cross-entropy
    against the normalised OR of the target items' k bits (the paper's m-way softmax; normalising
    makes the target a distribution, so every user weighs the same whatever their target size),
    binary cross-entropy for ECOC, cosine for PMI/CCA. Users whose target part came out empty that
    time are left out of the batch mean.

Prediction
    The input is the user's whole training history; :meth:`FeedForwardModel.predict_scores` returns
    the decoded scores of every item (train items are not removed: the evaluation excludes them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bloombench.checks import check_choice, check_fraction, check_int
from bloombench.data.interactions import Interactions
from bloombench.encodings import Bags, Encoding, history_matrix, make_encoding
from bloombench.models.base import Model
from bloombench.models.inputs import as_id_tensor, check_training_data
from bloombench.models.losses import get_output_loss
from bloombench.models.training import EpochCallback, FitHistory, FitOptions, seeded_init, train

__all__ = ["ACTIVATIONS", "INPUT_NORMS", "FeedForwardModel", "FeedForwardNet"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}
INPUT_NORMS = ("l2", "none")

# Users scored per forward pass in predict_scores: bounds the (users, m) and (users, d) temporaries.
_PREDICT_CHUNK = 1024


def _check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    if isinstance(hidden, (int, str)) or not isinstance(hidden, Sequence):
        raise ValueError(f"hidden must be a sequence of positive ints (layer widths), got {hidden!r}")
    return tuple(check_int(f"hidden[{i}]", width) for i, width in enumerate(hidden))


class FeedForwardNet(nn.Module):
    """Item bags -> encoding inputs -> ``EmbeddingBag`` -> hidden layers -> m raw outputs.

    Parameters
    ----------
    encoding : Encoding
        Encodes the input sets and decodes the outputs (a submodule: it moves with the net).
    hidden : sequence of int
        Hidden widths; ``()`` makes the net linear (input layer straight to m outputs).
    activation : str
        One of :data:`ACTIVATIONS`, after every hidden layer.
    dropout : float
        Dropout on every hidden layer's activations, in [0, 1).
    input_norm : {'l2', 'none'}
        L2-normalise each encoded input vector before the input layer.
    sparse : bool
        Sparse gradients for the input layer (``optimizer="adam-sparse"``).

    Notes
    -----
    The input layer's weights start ``N(0, 1)`` (``nn.EmbeddingBag``'s init): with unit-norm inputs the
    first pre-activations then have unit scale whatever m is. The other layers use ``nn.Linear``'s init.
    """

    def __init__(self, encoding: Encoding, hidden: Sequence[int] = (256,), activation: str = "tanh",
                 dropout: float = 0.0, input_norm: str = "l2", sparse: bool = False) -> None:
        super().__init__()
        if not isinstance(encoding, Encoding):
            raise TypeError(f"encoding must be an Encoding, got {type(encoding).__name__}")
        self.encoding = encoding
        self.hidden = _check_hidden(hidden)
        self.activation = check_choice("activation", activation, tuple(ACTIVATIONS))
        self.dropout = check_fraction("dropout", dropout, low_open=False)
        self.input_norm = check_choice("input_norm", input_norm, INPUT_NORMS)
        widths = [*self.hidden, encoding.num_bits]
        self.input_layer = nn.EmbeddingBag(encoding.num_bits, widths[0], mode="sum", sparse=sparse)
        self.input_bias = nn.Parameter(torch.zeros(widths[0]))
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-1], widths[1:]):
            layers += [ACTIVATIONS[activation](), nn.Dropout(self.dropout), nn.Linear(width_in, width_out)]
        self.body = nn.Sequential(*layers)

    def forward(self, items: Bags) -> torch.Tensor:
        """``(n, m)`` raw outputs for ``n`` bags of item ids."""
        bags = self.encoding.encode_input(items)
        weight = self.input_layer.weight
        if bags.matrix is not None:  # dense codes: one matmul beats a bag reduction over n * m entries
            matrix = F.normalize(bags.matrix, dim=1) if self.input_norm == "l2" else bags.matrix
            first = matrix @ weight
        else:
            weights = bags.weights_or_ones()
            if self.input_norm == "l2":
                rows = bags.rows()
                norms = torch.zeros(bags.num_bags, device=weights.device).index_add_(0, rows, weights * weights)
                weights = weights * norms.sqrt().clamp_min(1e-12).reciprocal()[rows]
            first = self.input_layer(bags.indices, bags.offsets, per_sample_weights=weights)
        return self.body(first + self.input_bias)

    def score(self, items: Bags) -> torch.Tensor:
        """``(n, num_items)`` decoded item scores for ``n`` bags of item ids."""
        return self.encoding.decode(self(items))

    def byte_breakdown(self) -> dict[str, int]:
        """Bytes of the encoding's codes, the input layer, the hidden layers and the output layer.

        (Not named ``memory_bytes``: the trial runner sums ``memory_bytes`` over submodules, and the
        encoding already reports its own.)
        """
        def size(tensors: Sequence[torch.Tensor]) -> int:
            return int(sum(t.numel() * t.element_size() for t in tensors))

        output = list(self.body[-1].parameters()) if len(self.body) else []
        hidden = [p for layer in list(self.body)[:-1] for p in layer.parameters()]
        return {"encoding": self.encoding.memory_bytes(),
                "input_layer": size([self.input_layer.weight, self.input_bias]),
                "hidden_layers": size(hidden), "output_layer": size(output)}


class FeedForwardModel(Model):
    """The paper's feed-forward recommender (see the module notes for the protocol).

    Parameters
    ----------
    encoding : Encoding or str
        An encoding instance (fitted here if it is data-dependent; it must be built for the
        interactions' ``num_items``), or a name from :func:`bloombench.encodings.available_encodings`,
        built at :meth:`fit` time by ``make_encoding(name, num_items, **encoding_params)``.
    encoding_params : mapping, optional
        Arguments of :func:`~bloombench.encodings.make_encoding` for a named encoding (``m`` or
        ``compression_ratio``, ``num_hashes``, ``hash``, ``seed``, ...).
    hidden, activation, dropout, input_norm
        See :class:`FeedForwardNet`.
    target_fraction : float
        Probability that a training item goes to the target part of its user's example, in (0, 1).

    Attributes
    ----------
    num_users, num_items : int
        Id spaces of the fitted interactions.
    encoding : Encoding or None
        The encoding in use (set by :meth:`fit` for a named one).
    device : torch.device
    """

    config_section = "encoding"
    components = ("encoding", "encoding_params")
    # Tuned by hand on the baseline's validation MRR (ML-100K); the paper's settings are not known.
    fit_defaults = {"epochs": 30, "batch_size": 64, "lr": 1e-3, "l2": 0.0}

    def __init__(self, encoding: Encoding | str = "identity", *, encoding_params: Mapping[str, object] | None = None,
                 hidden: Sequence[int] = (256,), activation: str = "tanh", dropout: float = 0.0,
                 input_norm: str = "l2", target_fraction: float = 0.5) -> None:
        if not isinstance(encoding, (Encoding, str)):
            raise TypeError(f"encoding must be an Encoding or an encoding name, got {type(encoding).__name__}")
        if encoding_params is not None and not isinstance(encoding_params, Mapping):
            raise TypeError(f"encoding_params must be a mapping, got {type(encoding_params).__name__}")
        if isinstance(encoding, Encoding) and encoding_params:
            raise ValueError("encoding_params apply to an encoding given by name, not to an Encoding instance")
        self._encoding_spec = encoding
        self.encoding_params = dict(encoding_params or {})
        self.encoding: Encoding | None = encoding if isinstance(encoding, Encoding) else None
        self.hidden = _check_hidden(hidden)
        self.activation = check_choice("activation", activation, tuple(ACTIVATIONS))
        self.dropout = check_fraction("dropout", dropout, low_open=False)
        self.input_norm = check_choice("input_norm", input_norm, INPUT_NORMS)
        self.target_fraction = check_fraction("target_fraction", target_fraction)
        self.num_users: int | None = None
        self.num_items: int | None = None
        self.device: torch.device = torch.device("cpu")
        self.network: FeedForwardNet | None = None
        self._indptr: torch.Tensor | None = None
        self._items: torch.Tensor | None = None

    # ---- fitting --------------------------------------------------------------------------------
    def _build_encoding(self, num_items: int) -> Encoding:
        spec = self._encoding_spec
        if isinstance(spec, str):
            return make_encoding(spec, num_items, **self.encoding_params)
        if spec.num_items != num_items:
            raise ValueError(f"encoding was built for num_items={spec.num_items}, but the interactions have "
                             f"num_items={num_items}")
        return spec

    def _fit(self, interactions: Interactions, options: FitOptions,
             callback: EpochCallback | None) -> FitHistory:
        """(Re)fit the encoding on ``interactions``, build the net from the options' seed, train; an epoch
        is one example per user and repeated pairs count once (see :meth:`Model.fit`)."""
        check_training_data(interactions, Interactions, "interactions")
        self.num_users, self.num_items = int(interactions.num_users), int(interactions.num_items)
        self.device = options.device
        encoding = self._build_encoding(self.num_items)
        if options.sparse and not encoding.sparse_input:
            raise ValueError(f"optimizer='adam-sparse' needs an encoding with sparse (k-hot) inputs; "
                             f"{encoding.name!r} feeds dense m-dim codes, use optimizer='adam'")
        self.encoding = encoding.fit(interactions)
        net = seeded_init(options.seed, lambda: FeedForwardNet(
            encoding, self.hidden, self.activation, self.dropout, self.input_norm, options.sparse))
        self.network = net.to(self.device)
        matrix = history_matrix(interactions, self.num_items)
        self._indptr = torch.as_tensor(matrix.indptr.astype(np.int64), device=self.device)
        self._items = torch.as_tensor(matrix.indices.astype(np.int64), device=self.device)
        users = torch.as_tensor(np.flatnonzero(np.diff(matrix.indptr)), device=self.device)
        loss_fn, fraction = get_output_loss(encoding.loss), self.target_fraction
        indptr, items = self._indptr, self._items

        def batch_loss(batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
            history = Bags.gather(indptr, items, batch[0])
            rows = history.rows()
            to_target = torch.rand(rows.shape[0], generator=generator, device=rows.device) < fraction
            n = history.num_bags
            inputs = Bags.from_rows(history.indices[~to_target], rows[~to_target], n)
            targets = Bags.from_rows(history.indices[to_target], rows[to_target], n)
            return loss_fn(net(inputs), encoding.target(targets), targets.lengths() > 0)

        return train(net, (users,), batch_loss, options, callback=callback, desc=type(self).__name__)

    # ---- prediction -----------------------------------------------------------------------------
    @torch.no_grad()
    def predict_scores(self, user_ids: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Decoded scores of every item for each user, from their whole training history.

        Parameters
        ----------
        user_ids : torch.LongTensor or array-like
            Users to score (moved to the model's device if needed).

        Returns
        -------
        torch.Tensor
            float ``(len(user_ids), num_items)`` on the model's device; nothing is excluded.
        """
        net = self._require_fitted()
        net.eval()
        users = as_id_tensor(user_ids, self.num_users, self.device, "user_ids").reshape(-1)
        chunks = [net.score(Bags.gather(self._indptr, self._items, users[lo: lo + _PREDICT_CHUNK]))
                  for lo in range(0, len(users), _PREDICT_CHUNK)]
        if not chunks:
            return torch.zeros(0, self.num_items, device=self.device)
        return torch.cat(chunks) if len(chunks) > 1 else chunks[0]

    def byte_breakdown(self) -> dict[str, int]:
        """See :meth:`FeedForwardNet.byte_breakdown`."""
        return self._require_fitted().byte_breakdown()

    def byte_counts(self) -> dict[str, object]:
        """As :meth:`Model.byte_counts`, but what m sizes is counted as the embedding: the codes plus the
        m-wide input and output layers (``byte_breakdown`` has every part)."""
        counts = super().byte_counts()
        parts = self.byte_breakdown()
        counts["byte_breakdown"] = parts
        counts["embedding_bytes"] = int(parts["encoding"] + parts["input_layer"] + parts["output_layer"])
        return counts
