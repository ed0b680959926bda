"""One optimizer step on an embedding table: every optimizer of the training loop, full vs Bloom tables.

This is the mechanism behind the training speedup claimed for Bloom embeddings: dense Adam reads and
writes the weight, its gradient and two moment tensors for *every* row at every step, so a table with 5x
fewer rows steps ~5x faster, while sparse gradients touch only the rows of the batch. The optimizers are
``bloombench.models.OPTIMIZERS``, built by the training loop's own builder (``adam-sparse`` builds the
table with sparse gradients and steps it with ``torch.optim.SparseAdam``, as the training loop does), so
an optimizer added to the library is benchmarked here without an edit.

Target (issue 5): an optimizer step on a Bloom table at compression 0.2 >= 4x faster than dense Adam on
the full table at 1e6 rows (``BloomStepSpeedup``).
"""

from __future__ import annotations

import torch

from bloombench.models import OPTIMIZERS, FitOptions
from bloombench.models.training import build_optimizers  # the training loop's own (sparse/dense split)

from .common import DEVICES, best_seconds, by_profile, random_ids, require_device, synchronize
from .layers import build, forward_backward

BATCH = 4096
LR = 1e-2
#: table -> layer variant of ``common.VARIANTS`` (Bloom: compression 0.2, k = 4, stored index table)
TABLES = {"full": "full", "bloom": "bloom_table"}
ROWS = by_profile([100_000, 1_000_000])
#: The speedup target is stated at 1e6 rows: no profile shrinks it.
SPEEDUP_ROWS = [1_000_000]


class Stepper:
    """A table, a fixed batch, the optimizers of ``optimizer`` and the gradient of one forward+backward,
    warmed up."""

    def __init__(self, table: str, optimizer: str, rows: int, device: torch.device) -> None:
        # No weight decay: the step measured is the optimizer's own (SparseAdam has none to apply).
        options = FitOptions(optimizer=optimizer, lr=LR, l2=0.0, device=device)
        self.device = device
        self.layer = build(TABLES[table], rows, str(device), sparse=options.sparse)
        self.ids = random_ids(BATCH, rows, device)
        forward_backward(self.layer, self.ids)  # the builder splits sparse from dense by their gradients
        self.optimizers = build_optimizers(self.layer, options)
        self.step()  # allocates the optimizer state: not part of a steady-state step
        synchronize(device)

    def step(self) -> None:
        """The optimizer step alone, on the gradient left by the last backward."""
        for optimizer in self.optimizers:
            optimizer.step()

    def train_step(self) -> None:
        """What one minibatch costs: fresh gradients, forward, backward, step."""
        forward_backward(self.layer, self.ids)
        self.step()


class OptimizerStep:
    """Time of one optimizer step, and of a whole training step, on a table of ``rows`` ids."""

    params = (list(TABLES), list(OPTIMIZERS), ROWS, DEVICES)
    param_names = ["table", "optimizer", "rows", "device"]
    timeout = 240

    def setup(self, table: str, optimizer: str, rows: int, device: str) -> None:
        self.stepper = Stepper(table, optimizer, rows, require_device(device))

    def time_step(self, table: str, optimizer: str, rows: int, device: str) -> None:
        self.stepper.step()
        synchronize(self.stepper.device)

    def time_train_step(self, table: str, optimizer: str, rows: int, device: str) -> None:
        self.stepper.train_step()
        synchronize(self.stepper.device)


class BloomStepSpeedup:
    """Dense Adam's step time on the full table over the step time of a Bloom table (compression 0.2)
    with each optimizer, timed back to back in one process (best of 5 each)."""

    params = (list(OPTIMIZERS), SPEEDUP_ROWS, DEVICES)
    param_names = ["bloom_optimizer", "rows", "device"]
    timeout = 240

    def setup(self, optimizer: str, rows: int, device: str) -> None:
        self.device = require_device(device)
        self.optimizer, self.rows = optimizer, rows

    def track_speedup_over_full_adam(self, optimizer: str, rows: int, device: str) -> float:
        # One table at a time (the memo holds one): the full table's state is freed before Bloom's.
        full = best_seconds(Stepper("full", "adam", rows, self.device).step, device=self.device)
        bloom = best_seconds(Stepper("bloom", optimizer, rows, self.device).step, device=self.device)
        return full / bloom

    track_speedup_over_full_adam.unit = "ratio"
