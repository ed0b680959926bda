"""Early stopping (``FitOptions.patience``): the loop's callback, the best weights restored, every model kind."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bloombench.data import Interactions, random_split
from bloombench.models import EarlyStopping, FitHistory, FitOptions, ImplicitFactorizationModel
from bloombench.models import train as train_loop


def _data(seed: int = 0) -> tuple[Interactions, Interactions]:
    """A small planted-block dataset and a validation part of it."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(120), 12)
    groups = users % 4
    items = groups * 25 + rng.integers(0, 25, len(users))
    data = Interactions(users, items, num_users=120, num_items=100)
    train, validation, _ = random_split(data, fractions=(0.8, 0.2, 0.0), seed=seed)
    return train, validation


def test_the_callback_stops_after_patience_epochs_without_improvement_and_restores_the_best() -> None:
    net = nn.Linear(1, 1)
    scores = iter([0.1, 0.3, 0.2, 0.3, 0.25, 0.9])  # best at epoch 2; a tie (0.3) is no improvement
    weights = []

    def score() -> float:
        weights.append(net.weight.detach().clone())
        return next(scores)

    stopper = EarlyStopping(lambda: net, score, patience=3)
    data = (torch.ones(4, 1),)
    history = train_loop(net, data, lambda batch, _: net(batch[0]).pow(2).mean(), FitOptions(epochs=6, lr=0.1),
                         callback=stopper)
    assert history.epochs == 5 and history.validation == [0.1, 0.3, 0.2, 0.3, 0.25] and history.best_epoch == 2
    stopper.restore()
    torch.testing.assert_close(net.weight.detach(), weights[1], rtol=0, atol=0)


def test_min_mode_and_non_finite_scores_never_improve() -> None:
    net = nn.Linear(1, 1)
    values = iter([float("nan"), 2.0, 1.0, float("inf"), 1.5])
    stopper = EarlyStopping(lambda: net, lambda: next(values), patience=2, mode="min")
    history = FitHistory()
    stops = [stopper(epoch, history) for epoch in range(5)]
    assert stops == [False, False, False, False, True] and history.best_epoch == 3


def test_fit_with_patience_ends_with_the_best_validation_epoch() -> None:
    train, validation = _data()
    model = ImplicitFactorizationModel(embedding_dim=8)
    history = model.fit(train, epochs=40, batch_size=128, lr=0.05, patience=2, seed=3, validation=validation)
    assert 1 <= history.best_epoch <= history.epochs <= 40 and len(history.validation) == history.epochs
    assert history.validation[history.best_epoch - 1] == max(history.validation)
    assert history.epochs == 40 or history.epochs - history.best_epoch == 2
    # The weights the model ends with are the best epoch's: evaluating them again gives that score.
    assert model.evaluate(validation, train=train)["mrr"] == pytest.approx(max(history.validation), abs=1e-12)


def test_without_patience_the_last_epoch_is_the_one_used_and_validation_is_not_needed() -> None:
    train, validation = _data()
    history = ImplicitFactorizationModel(embedding_dim=8).fit(train, epochs=3, batch_size=128)
    assert history.best_epoch == 3 and history.validation == []
    with pytest.raises(ValueError, match="needs validation data"):
        ImplicitFactorizationModel(embedding_dim=8).fit(train, epochs=3, patience=1)
    with pytest.raises(ValueError, match="patience"):
        FitOptions(patience=0)


def test_early_stopping_changes_when_training_ends_not_how_it_trains() -> None:
    train, validation = _data()
    stopped = ImplicitFactorizationModel(embedding_dim=8)
    history = stopped.fit(train, epochs=40, batch_size=128, lr=0.05, patience=2, seed=3, validation=validation)
    plain = ImplicitFactorizationModel(embedding_dim=8)
    plain_history = plain.fit(train, epochs=history.best_epoch, batch_size=128, lr=0.05, seed=3)
    assert plain_history.losses == history.losses[:history.best_epoch]
    torch.testing.assert_close(plain.predict_scores([0, 1]), stopped.predict_scores([0, 1]), rtol=0, atol=0)


class _ModeRecorder(nn.Module):
    """A table that records whether the net was in training mode at each training forward."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None) -> None:
        super().__init__()
        self.table = nn.Embedding(num_embeddings, embedding_dim)
        self.modes: list[bool] = []

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            self.modes.append(self.training)
        return self.table(ids)


def test_every_epoch_trains_in_training_mode_after_the_validation_evaluated_in_eval_mode() -> None:
    train, validation = _data()
    model = ImplicitFactorizationModel(embedding_dim=4, embedding_factory=_ModeRecorder)
    model.fit(train, epochs=3, batch_size=512, patience=3, validation=validation)
    assert model.network.item_embeddings.modes and all(model.network.item_embeddings.modes)


SYNTHETIC = {"name": "synthetic", "synthetic": {"num_users": 60, "num_items": 80, "num_interactions": 3000, "seed": 3}}
EVERY_KIND = {
    "implicit": {"model": {"embedding_dim": 8}},
    "sequence": {"model": {"kind": "sequence", "embedding_dim": 8},
                 "split": {"kind": "user", "fractions": [0.6, 0.2, 0.2], "max_length": 10, "min_length": 3}},
    "feedforward": {"model": {"kind": "feedforward", "hidden": [16]},
                    "encoding": {"method": "bloom", "params": {"compression_ratio": 0.5}}},
}


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_every_trained_kind_stops_early_in_a_trial_and_records_the_epoch_used(kind: str) -> None:
    from bloombench.experiments import run_trial

    config = {"dataset": SYNTHETIC, **EVERY_KIND[kind], "training": {"epochs": 6, "patience": 1, "batch_size": 64}}
    record = run_trial(config)
    curve, best = record["validation_per_epoch"], record["best_epoch"]
    assert len(curve) == len(record["seconds_per_epoch"]) == len(record["loss"]) and 1 <= best <= len(curve)
    assert curve[best - 1] == max(curve)
    assert record["validation"]["mrr"] == pytest.approx(curve[best - 1], rel=1e-6)


def test_explicit_factorization_stops_on_the_lowest_validation_rmse() -> None:
    from bloombench.models import ExplicitFactorizationModel

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 50, 2000), rng.integers(0, 40, 2000)
    ratings = (1 + (users % 5 + items % 5) / 2 + rng.normal(0, 0.3, 2000)).astype(np.float32)
    data = Interactions(users, items, ratings=ratings, num_users=50, num_items=40)
    train, validation, _ = random_split(data, fractions=(0.8, 0.2, 0.0), seed=0)
    model = ExplicitFactorizationModel(embedding_dim=4)
    history = model.fit(train, epochs=30, batch_size=128, lr=0.05, patience=2, validation=validation)
    assert history.validation[history.best_epoch - 1] == min(history.validation)
    assert model.evaluate(validation, train=train)["rmse"] == pytest.approx(min(history.validation), rel=1e-6)
