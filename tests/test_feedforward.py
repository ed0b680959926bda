"""Tests of the feed-forward Bloom I/O model (bloombench.models.feedforward) and its output losses."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bloombench.data import Interactions, random_split, synthetic
from bloombench.encodings import Bags, available_encodings, make_encoding
from bloombench.evaluation import evaluate_ranking
from bloombench.models import (
    FeedForwardModel,
    FeedForwardNet,
    bernoulli_cross_entropy,
    cosine_loss,
    get_output_loss,
    softmax_cross_entropy,
)
from bloombench.models import feedforward

NUM_ITEMS = 1000
SMALL_ITEMS = 120


@functools.lru_cache(maxsize=1)
def _planted() -> tuple[Interactions, Interactions]:
    """Synthetic histories with Markov runs over popularity ranks (co-occurrence to learn), split 80/20.

    Short histories (about 15 items) in a catalogue of 1000 keep Bloom filters of m = d/4 bits far
    from saturation, the regime where the paper's compression works.
    """
    data = synthetic(400, NUM_ITEMS, 6000, zipf_exponent=0.5, sequential=True, transition_probability=0.9,
                     transition_window=2, seed=3)
    train, _, test = random_split(data, (0.8, 0.0, 0.2), seed=0)
    return train, test


@functools.lru_cache(maxsize=1)
def _small() -> Interactions:
    """A quick data set for the mechanics tests (every encoding, seeds, chunking, errors)."""
    return synthetic(60, SMALL_ITEMS, 900, seed=5)


def _params(name: str, **extra: object) -> dict:
    return extra if name == "identity" else {"compression_ratio": 0.25, **extra}


class _Scores:
    """A model stub returning fixed scores, for the chance and popularity references."""

    def __init__(self, scores: torch.Tensor) -> None:
        self.scores = scores

    def predict_scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.scores.expand(len(users), -1).clone()


# ----------------------------------------------------------------------------- output losses


def test_output_losses_by_hand_with_mask():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    target = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
    log_p = torch.log_softmax(logits, 1)
    row0 = -(0.5 * log_p[0, 0] + 0.5 * log_p[0, 1])
    mask = torch.tensor([True, False])
    assert softmax_cross_entropy(logits, target, mask).item() == pytest.approx(row0.item(), rel=1e-6)
    bits = torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, 1.0]])
    by_hand = -(bits * F.logsigmoid(logits) + (1 - bits) * F.logsigmoid(-logits)).sum(1).mean()
    assert bernoulli_cross_entropy(logits, bits).item() == pytest.approx(by_hand.item(), rel=1e-6)
    cos = (logits[0] @ bits[0]) / (logits[0].norm() * bits[0].norm())
    assert cosine_loss(logits, bits, mask).item() == pytest.approx(1 - cos.item(), rel=1e-6)
    assert get_output_loss("softmax") is softmax_cross_entropy
    with pytest.raises(ValueError, match="output loss must be one of"):
        get_output_loss("hinge")
    with pytest.raises(ValueError, match="same shape|one shape"):
        softmax_cross_entropy(logits, target[:, :2])


# ----------------------------------------------------------------------------- the net


@pytest.mark.parametrize("name", ["identity", "bloom", "ecoc"])
def test_input_layer_is_a_linear_layer_on_the_normalised_encoded_input(name):
    encoding = make_encoding(name, SMALL_ITEMS, **_params(name))
    net = FeedForwardNet(encoding, hidden=(8, 6), activation="tanh")
    bags = Bags.from_lists([[1, 5, 9, 5], [], [42]])
    x = encoding.encode_input(bags).to_dense(encoding.num_bits)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    expected = net.body(x @ net.input_layer.weight + net.input_bias)
    assert torch.allclose(net(bags), expected, atol=1e-5)
    assert net(bags).shape == (3, encoding.num_bits)
    assert torch.allclose(net.score(bags), encoding.decode(net(bags)))


def test_identity_network_is_the_uncompressed_baseline_and_bytes_add_up():
    hidden, d = 16, SMALL_ITEMS
    identity = FeedForwardNet(make_encoding("identity", d), hidden=(hidden,))
    assert identity.input_layer.weight.shape == (d, hidden) and identity.body[-1].out_features == d
    bloom = FeedForwardNet(make_encoding("bloom", d, m=40, num_hashes=3), hidden=(hidden,))
    assert bloom.byte_breakdown() == {"encoding": d * 3 * 4, "input_layer": (40 * hidden + hidden) * 4,
                                      "hidden_layers": 0, "output_layer": (hidden * 40 + 40) * 4}
    deep = FeedForwardNet(make_encoding("identity", d), hidden=(8, 4)).byte_breakdown()
    assert deep["hidden_layers"] == (8 * 4 + 4) * 4 and deep["output_layer"] == (4 * d + d) * 4


# ----------------------------------------------------------------------------- the model


@pytest.mark.parametrize("name", ["identity", "bloom", "cbe", "pmi"])
def test_model_learns_planted_structure_better_than_chance_and_popularity(name):
    train, test = _planted()
    model = FeedForwardModel(name, encoding_params=_params(name), hidden=(64,))
    history = model.fit(train, epochs=20, batch_size=32, lr=1e-2, seed=0)
    assert history.losses[-1] < history.losses[0]
    mrr = evaluate_ranking(model, test, train).mrr
    chance = evaluate_ranking(_Scores(torch.zeros(NUM_ITEMS)), test, train).mrr
    popularity = torch.as_tensor(np.bincount(train.item_ids, minlength=NUM_ITEMS), dtype=torch.float32)
    popular = evaluate_ranking(_Scores(popularity), test, train).mrr
    assert mrr > 10 * chance and mrr > 1.5 * popular


@pytest.mark.parametrize("name", available_encodings())
def test_every_encoding_trains_and_predicts(name):
    train = _small()
    model = FeedForwardModel(name, encoding_params=_params(name), hidden=(16,))
    history = model.fit(train, epochs=2, batch_size=128)
    assert history.epochs == 2 and all(np.isfinite(history.losses))
    scores = model.predict_scores(np.array([0, 5, 7]))
    assert scores.shape == (3, SMALL_ITEMS) and torch.isfinite(scores).all()
    assert model.encoding.fitted and model.encoding.num_items == SMALL_ITEMS


def test_predictions_use_the_whole_history_and_do_not_depend_on_chunking(monkeypatch):
    train = _small()
    model = FeedForwardModel("bloom", encoding_params={"m": 30}, hidden=(16,))
    model.fit(train, epochs=1)
    users = torch.tensor([3, 1, 2, 0, 9])
    rows = [sorted(set(train.item_ids[train.user_ids == u].tolist())) for u in users.tolist()]
    with torch.no_grad():
        expected = model.network.eval().score(Bags.from_lists(rows))
    assert torch.allclose(model.predict_scores(users), expected, atol=1e-5)
    monkeypatch.setattr(feedforward, "_PREDICT_CHUNK", 2)
    assert torch.allclose(model.predict_scores(users), expected, atol=1e-5)


def test_same_seed_same_history_and_different_seed_differs():
    train = _small()

    def losses(seed: int, encoding: object = "bloom") -> list[float]:
        model = FeedForwardModel(encoding, encoding_params={"m": 40} if encoding == "bloom" else None, hidden=(8,))
        return model.fit(train, epochs=2, batch_size=64, seed=seed).losses

    assert losses(1) == losses(1) and losses(1) != losses(2)
    # An Encoding instance is used as given (and refitted on the training data where it learns).
    encoding = make_encoding("cbe", SMALL_ITEMS, m=40)
    assert losses(1, encoding) == losses(1, encoding)


def test_sparse_optimizer_and_adam_sparse_refusal_for_dense_codes():
    train = _small()
    model = FeedForwardModel("bloom", encoding_params={"m": 40}, hidden=(8,))
    assert np.isfinite(model.fit(train, epochs=1, optimizer="adam-sparse").losses).all()
    assert model.network.input_layer.sparse
    with pytest.raises(ValueError, match="adam-sparse.*'pmi' feeds dense"):
        FeedForwardModel("pmi", encoding_params={"m": 10}).fit(train, epochs=1, optimizer="adam-sparse")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["identity", "bloom", "ecoc", "cca"])
def test_model_trains_and_predicts_on_cuda(name):
    train, test = random_split(_small(), (0.8, 0.0, 0.2), seed=0)[::2]
    model = FeedForwardModel(name, encoding_params=_params(name), hidden=(16,))
    model.fit(train, epochs=2, device="cuda")
    scores = model.predict_scores(torch.tensor([0, 1]))
    assert scores.device.type == "cuda" and scores.shape == (2, SMALL_ITEMS)
    assert np.isfinite(evaluate_ranking(model, test, train).mrr)


def test_bad_arguments_are_refused():
    train = _small()
    with pytest.raises(ValueError, match="hidden must be a sequence"):
        FeedForwardModel(hidden=64)
    with pytest.raises(ValueError, match=r"hidden\[1\] must be a positive int, got 0"):
        FeedForwardModel(hidden=(8, 0))
    with pytest.raises(ValueError, match="activation must be one of"):
        FeedForwardModel(activation="swish")
    with pytest.raises(ValueError, match=r"target_fraction must be a number in \(0, 1\), got 1.0"):
        FeedForwardModel(target_fraction=1.0)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        FeedForwardModel(dropout=1.0)
    with pytest.raises(TypeError, match="encoding must be an Encoding or an encoding name"):
        FeedForwardModel(encoding=3)
    with pytest.raises(ValueError, match="encoding_params apply to an encoding given by name"):
        FeedForwardModel(make_encoding("identity", 5), encoding_params={"m": 3})
    with pytest.raises(ValueError, match="built for num_items=5"):
        FeedForwardModel(make_encoding("identity", 5)).fit(train, epochs=1)
    with pytest.raises(ValueError, match="encoding must be one of"):
        FeedForwardModel("blom").fit(train, epochs=1)
    with pytest.raises(RuntimeError, match="not fitted"):
        FeedForwardModel().predict_scores([0])
    with pytest.raises(TypeError, match="interactions must be an instance of Interactions, got"):
        FeedForwardModel().fit(train.to_csr(), epochs=1)
    model = FeedForwardModel(hidden=(4,))
    model.fit(train, epochs=1)
    with pytest.raises(ValueError, match=r"user_ids must lie in \[0, 60\)"):
        model.predict_scores([60])
