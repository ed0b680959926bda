"""One training epoch of implicit factorization and of the LSTM sequence model: full vs Bloom tables,
dense vs sparse gradients, on ML-100K-shaped synthetic data (benchmarks never download).

Each measurement is one trial of the library's runner (``bloombench.experiments.trial.run_trial``), so
the data, the split, the table inflation and the model are exactly the experiments' own: synthetic data
of ML-100K's shape (943 users, 1,682 items, 100,000 interactions, Zipf item popularity, sequential
structure for the LSTM), the runner's random 80/10/10 split (the LSTM trains on the kind's windows of
the training part: 100 items, at least 20), one epoch, no evaluation. ``table_rows`` None keeps the
data's id spaces; 1e6 is Spotlight's scaling protocol, as the speed experiment runs it
(``dataset.table_rows``: the same interactions, the user and item id spaces inflated to 1e6 rows), so
the epoch time isolates what a large table costs (dense Adam touches every row at every step).

Hyperparameters are those of the quick reproduction profile (dim 32, lr 1e-2, l2 1e-6; batch 1024 for
factorization, 256 sequences for the LSTM). The epoch time is the training loop's own clock
(``seconds_per_epoch``: loading data and building the model and its index tables is not part of it); a
trial on a small data set in ``setup`` pays the process's first-call costs beforehand. There is no
``setup_cache``: the runner loads and splits the data itself (40 ms for this synthetic set), outside the
clock.
"""

from __future__ import annotations

from typing import Any

from bloombench.experiments.trial import run_trial

from .common import DEVICES, MODELS, by_profile, require_device, trial_config

ML100K_SHAPE = {"num_users": 943, "num_items": 1682, "num_interactions": 100_000}
#: A small data set of the same kind for the warm-up trial (100 interactions per user, so every user has
#: an LSTM window).
WARM_UP_SHAPE = {"num_users": 50, "num_items": 1682, "num_interactions": 5_000}
#: ``dataset.table_rows``: None keeps the data's id spaces.
TABLE_ROWS = by_profile([None, 1_000_000])
TRAINING = {"epochs": 1, "lr": 1e-2, "l2": 1e-6, "seed": 0}
BATCH = {"implicit": 1024, "lstm": 256}
#: variant -> (layer variant of ``common.VARIANTS``, optimizer of ``bloombench.models.OPTIMIZERS``)
EPOCH_VARIANTS: dict[str, tuple[str, str]] = {
    "full": ("full", "adam"),
    "full-sparse": ("full", "adam-sparse"),
    "bloom": ("bloom_table", "adam"),
    "bloom-sparse": ("bloom_table", "adam-sparse"),
}


def epoch_config(model: str, variant: str, table_rows: int | None, device: str,
                 shape: dict[str, int] = ML100K_SHAPE) -> dict[str, Any]:
    """The trial config of one timed epoch of ``model`` with ``variant``'s tables and optimizer."""
    layer, optimizer = EPOCH_VARIANTS[variant]
    dataset = {"name": "synthetic", "synthetic": {**shape, "sequential": True, "seed": 0},
               "table_rows": table_rows}
    training = {**TRAINING, "batch_size": BATCH[model], "optimizer": optimizer, "device": device}
    return trial_config(model, layer, dataset=dataset, training=training, evaluate=False)


class Epoch:
    """Seconds of one epoch (model x tables/gradients x table rows x device)."""

    params = (list(MODELS), list(EPOCH_VARIANTS), TABLE_ROWS, DEVICES)
    param_names = ["model", "variant", "table_rows", "device"]
    timeout = 300

    def setup(self, model: str, variant: str, table_rows: int | None, device: str) -> None:
        require_device(device)
        run_trial(epoch_config(model, variant, None, device, WARM_UP_SHAPE))  # first-call costs

    def track_seconds_per_epoch(self, model: str, variant: str, table_rows: int | None, device: str) -> float:
        return run_trial(epoch_config(model, variant, table_rows, device))["seconds_per_epoch"][0]

    track_seconds_per_epoch.unit = "seconds"
