"""Full-catalogue ranking evaluation of an ML-1M-shaped factorization model.

ML-1M's shape: 6,040 users, 3,706 items, 1,000,209 interactions (synthetic, Zipf popularity), split
80/10/10 at random. Each of the ~100,000 test pairs is ranked against all 3,706 items with the user's
training items excluded, as ``bloombench.evaluation`` does for every experiment. The model is trained for
one epoch on 10,000 training pairs (so its scores are a fitted model's, not the initialisation's; what
ranking costs does not depend on how well the model is trained). The model is the trial runner's
(``build_model`` of a trial config, fitted with its ``FitOptions``); the split is made once in
``setup_cache`` (``random_split`` with seed 0, as the runner's default split).

Target (issue 5): the full-catalogue MRR of this model <= 2 s on 2 cores (``threads=2``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bloombench.data import Interactions, random_split, synthetic
from bloombench.evaluation import evaluate_ranking, mrr_score
from bloombench.experiments.trial import build_model
from bloombench.models import FitOptions, Model

from .common import DEVICES, memoised, require_device, trial_config

ML1M_SHAPE = {"num_users": 6040, "num_items": 3706, "num_interactions": 1_000_209}
#: The trial config's dataset section: what ``setup_cache`` generates and splits.
DATASET = {"name": "synthetic", "synthetic": {**ML1M_SHAPE, "seed": 0}}
FIT_PAIRS = 10_000
#: embedding label -> layer variant of ``common.VARIANTS`` (Bloom: compression 0.2, k = 4)
EMBEDDINGS = {"full": "full", "bloom": "bloom_table"}

Split = tuple[Interactions, Interactions, Interactions]


def config(embedding: str, device: str = "cpu") -> dict[str, Any]:
    """The trial config of the ranked model: implicit BPR with ``embedding`` tables, one epoch."""
    return trial_config("implicit", EMBEDDINGS[embedding], dataset=DATASET,
                        training={"epochs": 1, "batch_size": 1024, "lr": 1e-2, "device": device, "seed": 0})


@memoised
def fitted_model(split: Split, embedding: str, device: str) -> Model:
    """The model of :func:`config`, fitted on 10,000 training pairs (the subset keeps the id spaces, so the
    model scores the whole catalogue of every user)."""
    resolved = config(embedding, device)
    model = build_model(resolved)
    model.fit(split[0].subset(np.arange(FIT_PAIRS)), FitOptions(**resolved["training"]))
    return model


class FullCatalogueRanking:
    """Seconds to rank every test pair against the whole catalogue."""

    params = (list(EMBEDDINGS), [1, 2], DEVICES)
    param_names = ["embedding", "threads", "device"]
    timeout = 300

    def setup_cache(self) -> Split:
        return random_split(synthetic(**ML1M_SHAPE, seed=0), (0.8, 0.1, 0.1), seed=0)

    def setup(self, split: Split, embedding: str, threads: int, device: str) -> None:
        self.threads = torch.get_num_threads()  # before any skip: asv tears down skipped set-ups too
        require_device(device)
        torch.set_num_threads(threads)
        self.model = fitted_model(split, embedding, device)
        mrr_score(self.model, split[2], split[0])  # first call: allocations, CUDA kernels

    def teardown(self, split: Split, embedding: str, threads: int, device: str) -> None:
        torch.set_num_threads(self.threads)

    def time_mrr(self, split: Split, embedding: str, threads: int, device: str) -> None:
        mrr_score(self.model, split[2], split[0])

    def time_all_metrics(self, split: Split, embedding: str, threads: int, device: str) -> None:
        # Test pairs ranked with train and validation items excluded, as the experiments do.
        evaluate_ranking(self.model, split[2], split[0], exclude=split[1])
