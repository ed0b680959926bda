"""The popularity floor: every query ranks items by their number of training interactions.

Evaluation removes what a user already saw (``exclude_train``), so for interactions this is the classic
"most popular unseen item" recommender; for sequences (``sequence-popularity``) the counts are those of the
items in the training windows.
"""

from __future__ import annotations

import numpy as np
import torch

from bloombench.models.floors import FloorModel
from bloombench.models.sequence import NextItemModel

__all__ = ["PopularityModel", "SequencePopularityModel"]


class PopularityModel(FloorModel):
    """Score every item by its count in the training data (ties share their rank); takes no settings."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: torch.Tensor | None = None

    def _prepare(self, items: np.ndarray, seed: int) -> None:
        counts = np.bincount(items, minlength=self.num_items).astype(np.float32)
        self.counts = torch.as_tensor(counts, device=self.device)

    def _scores(self, rows: int) -> torch.Tensor:
        return self.counts.expand(rows, -1).clone()

    def _stored_bytes(self) -> int:
        return self.counts.numel() * self.counts.element_size()


class SequencePopularityModel(NextItemModel, PopularityModel):
    """:class:`PopularityModel` for next-item prediction over sequences (counts from the training windows)."""
