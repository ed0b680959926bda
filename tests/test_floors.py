"""The reference floors: popularity and random scores, for interactions and for sequences, as trials."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bloombench.data import Interactions, SequenceInteractions
from bloombench.experiments import run_trial
from bloombench.experiments.config import resolve_config
from bloombench.models.coded_popularity import CodedPopularityModel
from bloombench.models import (
    PopularityModel,
    RandomModel,
    SequencePopularityModel,
    SequenceRandomModel,
    get_model,
)

SYNTHETIC = {"name": "synthetic",
             "synthetic": {"num_users": 60, "num_items": 80, "num_interactions": 3000, "seed": 3}}
KINDS = ("popularity", "random", "sequence-popularity", "sequence-random")


def test_popularity_scores_items_by_their_training_counts_and_ranks_unseen_items() -> None:
    train = Interactions(np.array([0, 1, 2, 2, 3]), np.array([2, 2, 2, 1, 1]), num_users=5, num_items=4)
    model = PopularityModel()
    history = model.fit(train)
    assert history.epochs == 0 and history.best_epoch is None and history.seconds == []
    torch.testing.assert_close(model.predict_scores([0, 4]), torch.tensor([[0.0, 2, 3, 0]] * 2))
    # User 4 saw nothing: item 2 (3 counts) ranks first. User 0 saw item 2: item 1 is its first unseen item.
    test = Interactions(np.array([4, 0]), np.array([2, 1]), num_users=5, num_items=4)
    assert model.evaluate(test, train=train)["mrr"] == pytest.approx(1.0)
    assert model.byte_counts() == {"embedding_bytes": 0, "model_bytes": 16, "parameters": 0}
    # Scores are fresh tensors: the evaluation writes into them.
    model.predict_scores([0]).zero_()
    assert model.predict_scores([0])[0, 2] == 3


def test_random_scores_are_seeded_reproducible_and_differ_across_seeds() -> None:
    train = Interactions(np.arange(6) % 3, np.arange(6), num_users=3, num_items=10)

    def scores(seed: int) -> torch.Tensor:
        model = RandomModel()
        model.fit(train, seed=seed)
        return model.predict_scores([0, 1, 2])

    assert torch.equal(scores(4), scores(4)) and not torch.equal(scores(4), scores(5))
    first = scores(4)
    assert first.shape == (3, 10) and 0 <= float(first.min()) and float(first.max()) < 1
    assert not torch.equal(first[0], first[1])  # every query draws its own scores


def test_sequence_popularity_counts_the_items_of_the_training_windows_never_padding() -> None:
    train = SequenceInteractions(np.array([[0, 0, 3, 1], [2, 3, 3, 1]]), np.array([0, 1]), num_items=5)
    model = SequencePopularityModel()
    model.fit(train)
    torch.testing.assert_close(model.predict_sequence_scores(np.array([[0, 1, 2]])),
                               torch.tensor([[0.0, 2, 1, 3, 0]]))
    # Next item 3 is the most popular (rank 1); next item 4 is unseen (tied last of the 4 real items).
    test = SequenceInteractions(np.array([[0, 1, 3], [0, 2, 4]]), np.array([0, 1]), num_items=5)
    assert model.evaluate(test)["mrr"] == pytest.approx((1 + 1 / 4) / 2)
    with pytest.raises(TypeError, match="sequences must be an instance of SequenceInteractions"):
        SequencePopularityModel().fit(Interactions(np.array([0]), np.array([1])))


@pytest.mark.parametrize("kind", KINDS)
def test_the_floor_kinds_configure_nothing_to_train_compress_or_tune(kind: str) -> None:
    cls = get_model(kind)
    config = resolve_config({"model": {"kind": kind}})
    assert not cls.trains and cls.config_section is None
    assert config["model"] == {"kind": kind} and set(config["training"]) == {"seed", "device"}
    assert "embedding" not in config and "encoding" not in config
    sequences = cls.inputs == "sequences"
    assert ("max_length" in config["split"]) == sequences == kind.startswith("sequence-")
    assert issubclass(cls, (SequencePopularityModel, SequenceRandomModel)) == sequences
    with pytest.raises(ValueError, match="unknown key training.lr"):
        resolve_config({"model": {"kind": kind}, "training": {"lr": 0.1}})


@pytest.mark.parametrize("kind", ["popularity", "random"])
def test_a_floor_trial_records_no_epochs_no_bytes_and_real_metrics(kind: str) -> None:
    records = [run_trial({"dataset": SYNTHETIC, "model": {"kind": kind}, "training": {"seed": seed}})
               for seed in (0, 0, 1)]
    first = records[0]
    assert first["seconds_per_epoch"] == [] and first["median_seconds_per_epoch"] is None
    assert first["loss"] == [] and first["best_epoch"] is None and first["validation_per_epoch"] == []
    assert first["embedding_bytes"] == 0 and first["parameters"] == 0 and first["index_build_seconds"] == 0
    assert first["fit_seconds"] >= 0 and 0 < first["test"]["mrr"] < 1 and 0 < first["validation"]["mrr"] < 1
    assert records[1]["test"] == first["test"]  # reproducible for a seed
    if kind == "random":  # the training seed draws the scores; popularity does not depend on it
        assert records[2]["test"] != first["test"]
    else:
        assert records[2]["test"] == first["test"]


def test_popularity_beats_random_on_zipf_data_and_random_is_near_its_expectation() -> None:
    popularity = run_trial({"dataset": SYNTHETIC, "model": {"kind": "popularity"}})["test"]["mrr"]
    randoms = [run_trial({"dataset": SYNTHETIC, "model": {"kind": "random"}, "training": {"seed": s}})["test"]["mrr"]
               for s in range(3)]
    assert popularity > 2 * max(randoms)
    # A uniformly random rank among ~80 unseen items: E[1/rank] = H(n)/n, about 0.06 here.
    assert 0.02 < float(np.mean(randoms)) < 0.15


def test_sequence_floors_run_as_trials_on_windows() -> None:
    config = {"dataset": SYNTHETIC, "split": {"kind": "user", "fractions": [0.6, 0.2, 0.2], "max_length": 10,
                                              "min_length": 3}, "evaluation": {"exclude_preceding": True}}
    popularity = run_trial({**config, "model": {"kind": "sequence-popularity"}})
    random = run_trial({**config, "model": {"kind": "sequence-random"}})
    assert popularity["seconds_per_epoch"] == [] and popularity["embedding_bytes"] == 0
    assert popularity["test"]["mrr"] > random["test"]["mrr"] > 0


# ---- popularity through an output code -------------------------------------------------------------
def coded_popularity(method: str, **params: object) -> tuple[CodedPopularityModel, PopularityModel]:
    data = run_trial_data()
    coded = CodedPopularityModel(method, encoding_params=params)
    coded.fit(data, seed=0)
    plain = PopularityModel()
    plain.fit(data, seed=0)
    return coded, plain


def run_trial_data() -> Interactions:
    rng = np.random.default_rng(5)
    items = rng.zipf(1.6, 4000) % 90  # skewed counts, every count distinct enough to rank
    return Interactions(rng.integers(0, 50, 4000), items, num_users=50, num_items=90)


def ranks(scores: torch.Tensor) -> np.ndarray:
    from scipy.stats import rankdata
    return rankdata(-scores.reshape(-1).numpy(), method="average")


def test_coded_popularity_through_the_identity_code_ranks_exactly_as_popularity() -> None:
    coded, plain = coded_popularity("identity")
    np.testing.assert_array_equal(ranks(coded.predict_scores([0])), ranks(plain.predict_scores([0])))
    assert coded.byte_counts()["embedding_bytes"] == 0


def test_coded_popularity_through_the_hashing_trick_ties_the_items_of_a_bucket_at_its_summed_count() -> None:
    coded, plain = coded_popularity("hashing_trick", m=10)
    bits = coded.encoding.all_bits().reshape(-1)
    scores = coded.predict_scores([3]).reshape(-1)
    counts = plain.counts
    for bucket in bits.unique():
        members = bits == bucket
        assert torch.allclose(scores[members], scores[members][0])  # one score per bucket
    # Buckets rank by their total count: the ranking of the buckets' sums.
    sums = torch.zeros(10).index_add_(0, bits, counts)
    order = torch.argsort(sums[bits], descending=True, stable=True)
    assert torch.all(scores[order][:-1] >= scores[order][1:])


@pytest.mark.parametrize(("method", "params"), [("bloom", {"m": 30, "num_hashes": 3}),
                                                ("ecoc", {"m": 12}), ("pmi", {"m": 8}),
                                                ("cca", {"m": 8})])
def test_coded_popularity_of_every_code_kind_puts_the_most_popular_items_high(method: str, params: dict) -> None:
    coded, plain = coded_popularity(method, **params)
    scores = coded.predict_scores([0, 1])
    assert scores.shape == (2, 90) and torch.isfinite(scores).all() and torch.equal(scores[0], scores[1])
    top = int(torch.argmax(plain.counts))
    # The single most popular item ranks in the top fifth through any of these codes.
    assert ranks(scores[0])[top] <= 18


def test_coded_popularity_runs_as_a_trial_with_an_encoding_and_no_training() -> None:
    record = run_trial({"dataset": SYNTHETIC, "model": {"kind": "coded-popularity"},
                        "encoding": {"method": "bloom", "params": {"compression_ratio": 0.5, "num_hashes": 2}}})
    assert record["config"]["encoding"]["params"]["compression_ratio"] == 0.5
    assert record["seconds_per_epoch"] == [] and record["best_epoch"] is None
    assert 0 < record["test"]["mrr"] <= 1
