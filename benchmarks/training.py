"""One training epoch of implicit factorization and of the LSTM sequence model: full vs Bloom tables,
dense vs sparse gradients, on ML-100K-shaped synthetic data (benchmarks never download).

The data has ML-100K's shape (943 users, 1,682 items, 100,000 interactions, Zipf item popularity,
sequential structure for the LSTM). The inflated setting keeps the same interactions and declares an item
space of 1e6 ids, as Spotlight's scaling script inflates its tables: only the table grows, so the epoch
time isolates what a large table costs (dense Adam touches every row at every step).

Hyperparameters are those of the quick reproduction profile (dim 32, lr 1e-2, l2 1e-6; batch 1024 for
factorization, 256 sequences for the LSTM). The epoch time is the training loop's own clock
(``FitHistory.seconds``: building the model and its index tables is not part of it); a short fit in
``setup`` pays the process's first-call costs beforehand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bloombench.data import Interactions, synthetic
from bloombench.layers import embedding_factory
from bloombench.models import ImplicitFactorizationModel, ImplicitSequenceModel

from .common import BLOOM, DEVICES, DIM, require_device

ML100K_SHAPE = {"num_users": 943, "num_items": 1682, "num_interactions": 100_000}
INFLATED_ITEMS = 1_000_000
MAX_LENGTH = 100  # about the 95th percentile of the per-user counts (Spotlight's choice of window)
MIN_LENGTH = 20
FIT = {"lr": 1e-2, "l2": 1e-6, "seed": 0}
BATCH = {"implicit": 1024, "lstm": 256}
# variant -> (embedding method and parameters, optimizer)
VARIANTS: dict[str, tuple[str, dict[str, object], str]] = {
    "full": ("full", {}, "adam"),
    "full-sparse": ("full", {}, "adam-sparse"),
    "bloom": ("bloom", BLOOM, "adam"),
    "bloom-sparse": ("bloom", BLOOM, "adam-sparse"),
}


def with_item_space(data: Interactions, num_items: int) -> Interactions:
    """The same interactions declared over ``num_items`` item ids (the table grows, the data does not)."""
    return Interactions(user_ids=data.user_ids, item_ids=data.item_ids, timestamps=data.timestamps,
                        num_users=data.num_users, num_items=num_items)


def training_data(model: str, data: Interactions) -> Any:
    """What ``model`` trains on: the interactions, or the LSTM's left-padded windows of them."""
    return data if model == "implicit" else data.to_sequences(MAX_LENGTH, MIN_LENGTH)


def fit_one_epoch(model: str, variant: str, data: Any, device: str) -> float:
    """Build ``model`` with ``variant``'s tables, train one epoch on ``data``; the epoch's seconds."""
    method, params, optimizer = VARIANTS[variant]
    factory = embedding_factory(method, **params)
    if model == "implicit":
        net = ImplicitFactorizationModel(loss="bpr", embedding_dim=DIM, embedding_factory=factory)
    else:
        net = ImplicitSequenceModel(representation="lstm", loss="bpr", embedding_dim=DIM, embedding_factory=factory)
    history = net.fit(data, epochs=1, batch_size=BATCH[model], optimizer=optimizer, device=device, **FIT)
    return history.seconds[0]


class Epoch:
    """Seconds of one epoch (model x tables/gradients x item-table size x device)."""

    params = (["implicit", "lstm"], list(VARIANTS), [ML100K_SHAPE["num_items"], INFLATED_ITEMS], DEVICES)
    param_names = ["model", "variant", "items", "device"]
    timeout = 300

    def setup_cache(self) -> dict[int, Interactions]:
        data = synthetic(**ML100K_SHAPE, sequential=True, seed=0)
        return {ML100K_SHAPE["num_items"]: data, INFLATED_ITEMS: with_item_space(data, INFLATED_ITEMS)}

    def setup(self, cache: dict[int, Interactions], model: str, variant: str, items: int, device: str) -> None:
        require_device(device)
        self.data = training_data(model, cache[items])
        small = cache[ML100K_SHAPE["num_items"]].subset(np.arange(5_000))
        fit_one_epoch(model, variant, training_data(model, small), device)  # first-call costs

    def track_seconds_per_epoch(self, cache: dict[int, Interactions], model: str, variant: str, items: int,
                                device: str) -> float:
        return fit_one_epoch(model, variant, self.data, device)

    track_seconds_per_epoch.unit = "seconds"
