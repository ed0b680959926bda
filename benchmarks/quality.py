"""Accuracy across commits: test MRR of a fixed small configuration on MovieLens 100K.

One trial of the library's runner (``bloombench.experiments.trial.run_trial``) per embedding: implicit BPR
factorization, dim 32, batch 1024, Adam lr 1e-2, l2 1e-6, 10 epochs, seed 0 (the quick profile's
setting), random 80/10/10 split with seed 0; the full table and Bloom at compression 0.2 (k = 4) on both
tables. Validation excludes training items, test excludes training and validation items (the runner's
protocol). Training is deterministic on the CPU, so any change of these numbers comes from a code change.

The data is looked up (never downloaded) in ``$BLOOMBENCH_DATA``, the project's ``../shared/data`` and
bloombench's data directory; without it every benchmark here is skipped.
"""

from __future__ import annotations

from pathlib import Path

from bloombench.data import available_datasets
from bloombench.experiments.trial import run_trial

from .common import movielens_dirs, trial_config

DATASET = "movielens-100k"
#: result label -> layer variant of ``common.VARIANTS`` (the labels of the committed results)
EMBEDDINGS = {"full": "full", "bloom-0.2": "bloom_table"}
TRAINING = {"epochs": 10, "batch_size": 1024, "lr": 1e-2, "l2": 1e-6, "optimizer": "adam", "device": "cpu",
            "seed": 0}


def movielens_100k_dir() -> Path | None:
    """The first of :func:`~benchmarks.common.movielens_dirs` holding a local ML-100K, or None.

    Asks the library which files it would read there, so the trial that follows loads them and never
    reaches a download.
    """
    for directory in movielens_dirs():
        if any(row["name"] == DATASET and row["present"] for row in available_datasets(directory)):
            return directory
    return None


def trial(data_dir: Path, embedding: str) -> dict[str, float]:
    """Validation and test MRR of the fixed configuration with ``embedding`` tables."""
    record = run_trial(trial_config("implicit", EMBEDDINGS[embedding], training=TRAINING,
                                    dataset={"name": DATASET, "data_dir": str(data_dir)}))
    return {"validation": record["validation"]["mrr"], "test": record["test"]["mrr"]}


class MovieLens100K:
    """Validation and test MRR of the fixed configuration (and Bloom's test MRR relative to full)."""

    params = (list(EMBEDDINGS),)
    param_names = ["embedding"]
    timeout = 300

    def setup_cache(self) -> dict[str, dict[str, float]]:
        # Every trial here, once: the track methods only read their numbers. Empty, not None, without
        # data: asv passes no cache argument at all for None.
        data_dir = movielens_100k_dir()
        return {} if data_dir is None else {embedding: trial(data_dir, embedding) for embedding in EMBEDDINGS}

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
