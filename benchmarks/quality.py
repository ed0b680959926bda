"""Accuracy across commits: test MRR of a fixed small configuration on MovieLens 100K.

Implicit BPR factorization, dim 32, batch 1024, Adam lr 1e-2, l2 1e-6, 10 epochs, seed 0 (the quick
profile's setting), random 80/10/10 split with seed 0; the full table and Bloom at compression 0.2
(k = 4) on both tables. Validation excludes training items, test excludes training and validation items.
Training is deterministic on the CPU, so any change of these numbers comes from a code change.

The data is looked up (never downloaded) in ``$BLOOMBENCH_DATA``, the project's ``../shared/data`` and
bloombench's data directory; without it every benchmark here is skipped.
"""

from __future__ import annotations

from bloombench.data import DatasetNotFoundError, Interactions, load_dataset, random_split
from bloombench.evaluation import evaluate_ranking
from bloombench.layers import embedding_factory
from bloombench.models import ImplicitFactorizationModel

from .common import BLOOM, DIM, movielens_dirs

EMBEDDINGS = {"full": ("full", {}), "bloom-0.2": ("bloom", BLOOM)}
FIT = {"epochs": 10, "batch_size": 1024, "lr": 1e-2, "l2": 1e-6, "optimizer": "adam", "device": "cpu", "seed": 0}


def load_movielens_100k() -> Interactions | None:
    """ML-100K from the first directory that holds it, or None (no download is ever attempted)."""
    for directory in movielens_dirs():
        try:
            return load_dataset("movielens-100k", data_dir=directory, download=False, progress=False)
        except DatasetNotFoundError:
            continue
    return None


def trial(data: Interactions, embedding: str) -> dict[str, float]:
    """Fit the fixed configuration with ``embedding`` tables; validation and test MRR."""
    train, validation, test = random_split(data, (0.8, 0.1, 0.1), seed=0)
    method, params = EMBEDDINGS[embedding]
    model = ImplicitFactorizationModel(loss="bpr", embedding_dim=DIM,
                                       embedding_factory=embedding_factory(method, **params))
    model.fit(train, **FIT)
    return {"validation": evaluate_ranking(model, validation, train).mrr,
            "test": evaluate_ranking(model, test, train, exclude=validation).mrr}


class MovieLens100K:
    """Validation and test MRR of the fixed configuration (and Bloom's test MRR relative to full)."""

    params = (list(EMBEDDINGS),)
    param_names = ["embedding"]
    timeout = 300

    def setup_cache(self) -> dict[str, dict[str, float]]:
        # Empty, not None, without data: asv passes no cache argument at all for None.
        data = load_movielens_100k()
        return {} if data is None else {embedding: trial(data, embedding) for embedding in EMBEDDINGS}

    def setup(self, metrics: dict[str, dict[str, float]], embedding: str) -> None:
        if not metrics:
            raise NotImplementedError("MovieLens 100K not found (set BLOOMBENCH_DATA); benchmarks never download")

    def track_test_mrr(self, metrics: dict[str, dict[str, float]], embedding: str) -> float:
        return metrics[embedding]["test"]

    track_test_mrr.unit = "MRR"

    def track_validation_mrr(self, metrics: dict[str, dict[str, float]], embedding: str) -> float:
        return metrics[embedding]["validation"]

    track_validation_mrr.unit = "MRR"

    def track_test_mrr_ratio_to_full(self, metrics: dict[str, dict[str, float]], embedding: str) -> float:
        return metrics[embedding]["test"] / metrics["full"]["test"]

    track_test_mrr_ratio_to_full.unit = "ratio"
