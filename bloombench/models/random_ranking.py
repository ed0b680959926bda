"""The random floor: every query scores every item uniformly at random, from a seeded generator.

The generator is seeded with ``FitOptions.seed`` (``training.seed``, which an experiment spec sets per
repeat) when the model is fitted and then drawn from in order, so the same calls give the same scores and
another seed gives others. Its expected MRR is what any ranking must beat to carry information.
"""

from __future__ import annotations

import numpy as np
import torch

from bloombench.models.floors import FloorModel
from bloombench.models.sequence import NextItemModel

__all__ = ["RandomModel", "SequenceRandomModel"]


class RandomModel(FloorModel):
    """Uniform random scores in [0, 1) for every (query, item), seeded by the fit options; takes no settings."""

    def __init__(self) -> None:
        super().__init__()
        self._generator: torch.Generator | None = None

    def _prepare(self, items: np.ndarray, seed: int) -> None:
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)

    def _scores(self, rows: int) -> torch.Tensor:
        return torch.rand(rows, self.num_items, generator=self._generator, device=self.device)


class SequenceRandomModel(NextItemModel, RandomModel):
    """:class:`RandomModel` for next-item prediction over sequences."""
