"""Training epochs through the public API that the reference commit 93d8520 already had.

Issue 17 measures training speed against 93d8520 with ``asv compare 93d8520 HEAD``: asv runs the
benchmark files of the checkout against the package built at each commit. The rest of the suite builds
its models from the runner's trial configs (``common.trial_config``), a schema the reference commit does
not read, and imports ``common``, which needs later APIs; so those benchmarks fail there. This file uses
only what is identical at both commits: :func:`bloombench.data.synthetic`,
:func:`bloombench.layers.embedding_factory`, the models' constructors and ``fit(data, epochs=..., ...)``
with keyword options returning a history whose ``seconds`` are the epochs' own clock. It imports nothing
from the rest of the suite.

Settings are the issue's (Spotlight's): implicit BPR factorization, dim 32, batch 1,024, Adam lr 1e-2,
l2 1e-6; Bloom at compression 0.2 with k = 4 on both tables; the LSTM with batch 256 on windows of 100
items (at least 20). Data: synthetic interactions of ML-100K's and ML-1M's shapes (users, items,
interactions), the same at both commits (a seeded generator that did not change), all of them trained on.
Each sample is the median epoch of three fits (seeds 0, 1, 2), after one fit on a small subset that pays
the process's first-call costs.
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from bloombench.data import synthetic
from bloombench.layers import embedding_factory
from bloombench.models import ImplicitFactorizationModel, ImplicitSequenceModel

#: (users, items, interactions) of the two MovieLens sets.
SHAPES = {"ml-100k": (943, 1682, 100_000), "ml-1m": (6040, 3706, 1_000_209)}
#: Embedding method and parameters of each variant (both tables).
TABLES: dict[str, tuple[str, dict[str, Any]]] = {
    "full": ("full", {}),
    "bloom": ("bloom", {"compression_ratio": 0.2, "num_hashes": 4}),
}
FIT = {"epochs": 1, "lr": 1e-2, "l2": 1e-6, "optimizer": "adam", "device": "cpu"}
SEEDS = (0, 1, 2)
WINDOW, MIN_WINDOW = 100, 20


def _model(kind: str, tables: str) -> Any:
    method, params = TABLES[tables]
    factory = embedding_factory(method, **params)
    if kind == "implicit":
        return ImplicitFactorizationModel(loss="bpr", embedding_dim=32, embedding_factory=factory)
    return ImplicitSequenceModel(representation="lstm", loss="bpr", embedding_dim=32, embedding_factory=factory)


def _epoch_seconds(kind: str, tables: str, data: Any, seed: int) -> float:
    batch = 1024 if kind == "implicit" else 256
    return _model(kind, tables).fit(data, batch_size=batch, seed=seed, **FIT).seconds[0]


class FactorizationEpoch:
    """Seconds of one epoch of implicit BPR factorization (ML-100K and ML-1M shapes, full and Bloom tables)."""

    params = (list(SHAPES), list(TABLES))
    param_names = ["shape", "tables"]
    timeout = 600

    def setup_cache(self) -> dict[str, Any]:
        return {name: synthetic(*shape, seed=0) for name, shape in SHAPES.items()}

    def setup(self, data: dict[str, Any], shape: str, tables: str) -> None:
        _epoch_seconds("implicit", tables, data[shape].subset(np.arange(5_000)), 0)

    def track_seconds_per_epoch(self, data: dict[str, Any], shape: str, tables: str) -> float:
        return statistics.median(_epoch_seconds("implicit", tables, data[shape], seed) for seed in SEEDS)

    track_seconds_per_epoch.unit = "seconds"


class SequenceEpoch:
    """Seconds of one epoch of the LSTM sequence model with BPR (ML-100K shape, full and Bloom tables)."""

    params = [list(TABLES)]
    param_names = ["tables"]
    timeout = 600

    def setup_cache(self) -> Any:
        users, items, interactions = SHAPES["ml-100k"]
        return synthetic(users, items, interactions, sequential=True, seed=0).to_sequences(WINDOW, MIN_WINDOW)

    def setup(self, sequences: Any, tables: str) -> None:
        _epoch_seconds("lstm", tables, sequences.subset(np.arange(64)), 0)

    def track_seconds_per_epoch(self, sequences: Any, tables: str) -> float:
        return statistics.median(_epoch_seconds("lstm", tables, sequences, seed) for seed in SEEDS)

    track_seconds_per_epoch.unit = "seconds"
