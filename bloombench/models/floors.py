"""The base of the reference floors: models that score items without training anything.

A compressed model keeps its item biases uncompressed, so, well regularised, it can always fall back to
ranking items by popularity; a method scoring below the popularity floor is mistuned, not compressed too
hard. The floors (:mod:`~bloombench.models.popularity`, :mod:`~bloombench.models.random_ranking`) run
through the same trial code, splits, seeds and evaluation as every other model kind and differ only in
how they score: :class:`FloorModel` holds what they share.

What a floor declares, so that experiment code needs no special case: nothing to compress
(``config_section = None``), nothing to train or tune (``trains = False``; a spec runs no search for it),
and only the training options it reads (``fit_fields``: the seed and the device), so its trial config
holds no learning rate, epochs or optimizer. Its :meth:`~FloorModel.fit` runs no epoch: the history is
empty (``best_epoch`` None) and a trial records ``seconds_per_epoch = []``.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch

from bloombench.data.interactions import Interactions, SequenceInteractions
from bloombench.models.base import Model
from bloombench.models.inputs import as_id_tensor, check_id_range, check_training_data
from bloombench.models.representations import PADDING_IDX
from bloombench.models.training import EpochCallback, FitHistory, FitOptions

__all__ = ["FloorModel"]


class FloorModel(Model):
    """Item scores from the training data alone (no network, no epochs), for either kind of ``inputs``.

    Subclasses implement :meth:`_prepare` (what to keep from the training items) and :meth:`_scores`
    (one row of scores per query). With ``inputs = "sequences"`` (combine with
    :class:`~bloombench.models.sequence.NextItemModel` first) the training items are the non-padding ids
    of the training windows and :meth:`predict_sequence_scores` answers the next-item evaluation; with
    interactions, the items of the training pairs and :meth:`predict_scores`.

    Attributes
    ----------
    num_users, num_items : int
        Id spaces of the training data (for sequences ``num_items`` counts the padding id 0).
    """

    config_section = None
    trains = False
    fit_fields = ("seed", "device")

    def __init__(self) -> None:
        self.num_users: int | None = None
        self.num_items: int | None = None
        self.device: torch.device = torch.device("cpu")
        self._fitted = False

    def _fit(self, data: Any, options: FitOptions, callback: EpochCallback | None) -> FitHistory:
        """Read the training items (no epoch runs, so ``callback`` is never called)."""
        if self.inputs == "sequences":
            check_training_data(data, SequenceInteractions, "sequences")
            self.num_items = int(data.num_items)
            check_id_range(data.sequences, self.num_items, "sequences.sequences")
            items = data.sequences[data.sequences != PADDING_IDX]
            self.num_users = int(data.user_ids.max()) + 1
        else:
            check_training_data(data, Interactions, "interactions")
            self.num_items, self.num_users = int(data.num_items), int(data.num_users)
            check_id_range(data.item_ids, self.num_items, "interactions.item_ids")
            items = data.item_ids
        self.device = options.device
        self._prepare(np.asarray(items, dtype=np.int64), options.seed)
        self._fitted = True
        return FitHistory()

    @abc.abstractmethod
    def _prepare(self, items: np.ndarray, seed: int) -> None:
        """Keep what scoring needs from the training items (one id per training interaction)."""

    @abc.abstractmethod
    def _scores(self, rows: int) -> torch.Tensor:
        """A fresh ``(rows, num_items)`` float tensor on the device (evaluation writes into it)."""

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")

    @torch.no_grad()
    def predict_scores(self, user_ids: torch.Tensor | np.ndarray) -> torch.Tensor:
        """``(len(user_ids), num_items)`` scores (nothing excluded: evaluation removes training items)."""
        self._check_fitted()
        users = as_id_tensor(user_ids, self.num_users, self.device, "user_ids").reshape(-1)
        return self._scores(len(users))

    @torch.no_grad()
    def predict_sequence_scores(self, sequences: torch.Tensor | np.ndarray) -> torch.Tensor:
        """``(n, num_items)`` next-item scores of ``n`` left-padded sequences (column 0 is the padding id)."""
        self._check_fitted()
        batch = as_id_tensor(sequences, self.num_items, self.device, "sequences")
        if batch.dim() != 2:
            raise ValueError(f"sequences must have shape (n, L), got {tuple(batch.shape)}")
        return self._scores(batch.shape[0])

    def byte_counts(self) -> dict[str, Any]:
        """No embedding and no parameters; ``model_bytes`` is what the floor stores to score items."""
        self._check_fitted()
        return {"embedding_bytes": 0, "model_bytes": int(self._stored_bytes()), "parameters": 0}

    def _stored_bytes(self) -> int:
        return 0

    def index_build_seconds(self) -> float:
        return 0.0

    def prepare_seconds(self) -> float:
        return 0.0
