"""Early stopping: a callback of the training loop that scores each epoch on validation data, stops training
once ``patience`` epochs in a row did not improve on the best, and restores the best epoch's weights.

:meth:`bloombench.models.Model.fit` wires it in when ``FitOptions.patience`` is set, scoring with the
model's own ``evaluate`` (the metric its kind declares in ``stopping_metric``), so every model kind stops
the same way and experiment code never sees it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

from torch import nn

from bloombench.checks import check_choice, check_int
from bloombench.models.training import FitHistory

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """``callback(epoch, history)`` for :func:`~bloombench.models.training.train`: true means stop.

    Parameters
    ----------
    network : callable
        Returns the network being trained (called after each epoch: models build it inside ``fit``).
    score : callable
        Returns the validation metric of the network as it is now.
    patience : int
        Epochs in a row without improvement after which training stops (>= 1).
    mode : {"max", "min"}
        Whether a higher or a lower score is better.

    Notes
    -----
    Only a strictly better score counts as an improvement (a tie keeps the earlier, shorter-trained
    epoch); a non-finite score never does. Each score is appended to ``history.validation`` and the best
    epoch (1-based) is ``history.best_epoch``. The best weights are kept as a copy of the network's state
    dict, on the network's device.
    """

    def __init__(self, network: Callable[[], nn.Module], score: Callable[[], float], patience: int,
                 mode: str = "max") -> None:
        self._network = network
        self._score = score
        self.patience = check_int("patience", patience)
        self._sign = 1.0 if check_choice("mode", mode, ("max", "min")) == "max" else -1.0
        self._best = -math.inf
        self._state: dict[str, Any] | None = None

    def __call__(self, epoch: int, history: FitHistory) -> bool:
        value = float(self._score())
        history.validation.append(value)
        if math.isfinite(value) and self._sign * value > self._best:
            self._best = self._sign * value
            history.best_epoch = epoch + 1
            self._state = copy.deepcopy(self._network().state_dict())  # tensors and extra state (encodings)
        since = epoch + 1 - (history.best_epoch or 0)
        return since >= self.patience

    def restore(self) -> None:
        """Load the best epoch's weights back into the network (nothing to do before any best)."""
        if self._state is not None:
            self._network().load_state_dict(self._state)
