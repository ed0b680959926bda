"""The planted-structure generator: shapes, seeds, history lengths, and structure a model can learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bloombench.data import planted, random_split
from bloombench.evaluation import evaluate_ranking
from bloombench.experiments.trial import run_trial


def test_shape_history_lengths_and_distinct_items_per_user() -> None:
    data = planted(300, 2000, 20.0, seed=1)
    assert data.num_users == 300 and data.num_items == 2000
    counts = np.bincount(data.user_ids, minlength=300)
    assert counts.min() >= 1 and abs(counts.mean() - 20) < 1.5
    pairs = data.user_ids * data.num_items + data.item_ids
    assert len(np.unique(pairs)) == len(pairs)  # drawn without replacement
    assert np.all(np.diff(data.user_ids) >= 0) and data.timestamps is not None
    capped = planted(10, 5, 50.0, seed=1)  # histories cannot exceed the catalogue
    assert np.bincount(capped.user_ids).max() == 5


def test_reproducible_from_the_seed() -> None:
    a, b, c = planted(50, 400, 10.0, seed=3), planted(50, 400, 10.0, seed=3), planted(50, 400, 10.0, seed=4)
    assert np.array_equal(a.item_ids, b.item_ids) and not np.array_equal(a.item_ids, c.item_ids)
    small_chunks = planted(50, 400, 10.0, seed=3, chunk_bytes=4 * 400 * 7)
    assert np.array_equal(a.item_ids, small_chunks.item_ids)  # the block size changes nothing


def test_zipf_exponent_concentrates_popularity() -> None:
    def top_share(exponent: float) -> float:  # share of the interactions that go to the 50 most popular items
        counts = np.bincount(planted(400, 1000, 20.0, zipf_exponent=exponent, seed=2).item_ids, minlength=1000)
        return np.sort(counts)[::-1][:50].sum() / counts.sum()

    shares = [top_share(e) for e in (0.0, 1.2, 2.0)]
    assert shares[0] < shares[1] < shares[2] and shares[2] > 2 * shares[0]


class _Popularity:
    """Items scored by their training counts: what a model that learns nothing personal reaches."""

    def __init__(self, train) -> None:
        self.counts = torch.as_tensor(np.bincount(train.item_ids, minlength=train.num_items), dtype=torch.float32)
        self.num_users, self.num_items = train.num_users, train.num_items

    def predict_scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.counts.expand(len(users), -1).clone()


def test_the_factors_are_learnable_beyond_popularity() -> None:
    # At the default temperature a factorization model must clearly beat the popularity ranking.
    spec = {"num_users": 300, "num_items": 500, "mean_history": 30, "seed": 0}
    train, validation, test = random_split(planted(**spec), (0.8, 0.1, 0.1), seed=0)
    popularity = evaluate_ranking(_Popularity(train), test, train, exclude=validation).mrr
    config = {"dataset": {"name": "planted", "synthetic": spec}, "model": {"embedding_dim": 16},
              "training": {"epochs": 20, "batch_size": 256, "lr": 2e-2}}
    assert run_trial(config)["test"]["mrr"] > 1.5 * popularity


@pytest.mark.parametrize("bad, match", [({"mean_history": 0.5}, "mean_history"), ({"temperature": 0}, "temperature"),
                                        ({"num_items": 0}, "num_items")])
def test_bad_arguments_are_refused(bad, match) -> None:
    with pytest.raises(ValueError, match=match):
        planted(**{"num_users": 10, "num_items": 20, **bad})


def test_splits_work_on_it() -> None:
    train, validation, test = random_split(planted(100, 300, 15.0), (0.8, 0.1, 0.1), seed=0)
    assert len(train) > len(validation) > 0 and len(test) > 0
