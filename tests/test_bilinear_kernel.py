"""The fused bilinear kernel against the modules' pure-torch path it replaces (the reference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bloombench.data.interactions import Interactions
from bloombench.layers import available_methods, embedding_factory, get_method, make_embedding
from bloombench.models import ImplicitFactorizationModel
from bloombench.models import bilinear_kernel as kernel
from bloombench.models import fused_adam
from bloombench.models.representations import BilinearNet
from bloombench.models.training import FitOptions

USERS, ITEMS, DIM = 60, 90, 8
#: Layers whose forward is a scaled row sum, so the kernel takes them (label: method, params).
FUSED = {
    "full": ("full", {}),
    "bloom_mean": ("bloom", {"compression_ratio": 0.3, "num_hashes": 4}),
    "bloom_sum": ("bloom", {"compression_ratio": 0.3, "num_hashes": 3, "mode": "sum"}),
    "bloom_on_the_fly": ("bloom", {"compression_ratio": 0.3, "num_hashes": 2, "index": "on_the_fly"}),
    "bloom_identity": ("bloom", {"compression_ratio": 1.0}),
    "hashing_trick": ("hashing_trick", {"compression_ratio": 0.3}),
}

pytestmark = pytest.mark.skipif(not kernel.available(), reason="numba is not importable")


def factory(method: str, params: dict):
    return embedding_factory(method, init_seed=3, **params)


def net_of(user: str, item: str, dtype: torch.dtype = torch.float32) -> BilinearNet:
    torch.manual_seed(0)
    net = BilinearNet(USERS, ITEMS, DIM, factory(*FUSED[item]), user_embedding_factory=factory(*FUSED[user]))
    with torch.no_grad():  # non-zero biases, so that their gradients and sums are checked too
        net.user_biases.weight.normal_()
        net.item_biases.weight.normal_()
    return net.to(dtype)


def scores_and_grads(net: BilinearNet, users: torch.Tensor, items: torch.Tensor, grad: torch.Tensor,
                     kernels: str, monkeypatch: pytest.MonkeyPatch) -> tuple[torch.Tensor, list[torch.Tensor]]:
    monkeypatch.setenv(kernel.ENV_VAR, kernels)
    scores = net(users, items)
    params = [p for p in net.parameters() if p.requires_grad]
    return scores.detach(), list(torch.autograd.grad(scores, params, grad))


@pytest.mark.parametrize("item", FUSED)
@pytest.mark.parametrize("user", ["full", "bloom_mean"])
@pytest.mark.parametrize("negatives", [0, 3])
def test_scores_and_gradients_equal_the_modules_path(user, item, negatives, monkeypatch):
    generator = torch.Generator().manual_seed(1)
    users = torch.randint(0, USERS, (50,), generator=generator)  # repeats: gradients of a row add up
    shape = (50,) if negatives == 0 else (1 + negatives, 50)
    items = torch.randint(0, ITEMS, shape, generator=generator)
    grad = torch.randn(shape, generator=generator)
    net = net_of(user, item)
    assert kernel.bilinear_scores(net.user_embeddings, net.item_embeddings, net.user_biases.weight,
                                  net.item_biases.weight, users, items) is not None  # the kernel does run
    fused, fused_grads = scores_and_grads(net, users, items, grad, "1", monkeypatch)
    reference, reference_grads = scores_and_grads(net, users, items, grad, "0", monkeypatch)
    assert fused.shape == reference.shape == shape
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-6)
    for got, want in zip(fused_grads, reference_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_float64_tables_are_computed_in_float64(monkeypatch):
    net = net_of("bloom_mean", "full", torch.float64)
    users, items = torch.arange(20) % USERS, torch.arange(40).view(2, 20) % ITEMS
    grad = torch.ones(2, 20, dtype=torch.float64)
    fused, fused_grads = scores_and_grads(net, users, items, grad, "1", monkeypatch)
    reference, reference_grads = scores_and_grads(net, users, items, grad, "0", monkeypatch)
    assert fused.dtype == torch.float64
    torch.testing.assert_close(fused, reference, rtol=1e-12, atol=1e-12)
    for got, want in zip(fused_grads, reference_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def apply_to(net: BilinearNet, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor | None:
    return kernel.bilinear_scores(net.user_embeddings, net.item_embeddings, net.user_biases.weight,
                                  net.item_biases.weight, users, items)


def test_declines_what_it_does_not_compute_exactly(monkeypatch):
    users, items = torch.arange(5), torch.arange(10).view(2, 5)
    net = net_of("full", "full")
    assert apply_to(net, users, items) is not None
    assert apply_to(net, users.view(5, 1), items) is None  # users must be (B,)
    assert apply_to(net, users, torch.arange(7)) is None  # items do not line up with the users
    assert apply_to(net, users, items.view(2, 5, 1)) is None
    assert apply_to(net.half(), users, items) is None  # a dtype the kernel was not built for
    monkeypatch.setenv(kernel.ENV_VAR, "0")
    assert apply_to(net_of("full", "full"), users, items) is None


@pytest.mark.parametrize("method, params", [("full", {"padding_idx": 0}), ("full", {"sparse": True}),
                                            ("bloom", {"compression_ratio": 0.3, "padding_idx": 0}),
                                            ("qr", {"compression_ratio": 0.3}), ("tt", {"compression_ratio": 0.3})])
def test_layers_that_are_not_plain_row_sums_keep_their_own_forward(method, params):
    layer = make_embedding(method, ITEMS, DIM, **params)
    assert layer.gather_rows(torch.arange(4)) is None


@pytest.mark.parametrize("method", available_methods())
def test_every_gather_plan_reproduces_the_layer(method):
    """Registry-wide contract: where a layer answers ``gather_rows``, the scaled row sum is its output."""
    for params in get_method(method).examples.values():
        layer = make_embedding(method, 1_000, DIM, **params)  # examples are sized for ~100+ ids
        ids = torch.randint(0, 1_000, (3, 7), generator=torch.Generator().manual_seed(0))
        plan = layer.gather_rows(ids)
        if plan is None:
            continue
        weight, rows, scale = plan
        assert rows.dtype in (torch.int64, torch.int32) and rows.shape[:-1] == ids.shape
        torch.testing.assert_close(scale * weight[rows].sum(-2), layer(ids), rtol=1e-6, atol=1e-7)


def test_gather_rows_validates_ids_like_the_forward():
    layer = make_embedding("bloom", ITEMS, DIM, compression_ratio=0.3)
    with pytest.raises(ValueError, match="ids must be in"):
        layer.gather_rows(torch.tensor([ITEMS]))


def test_training_with_the_score_kernel_ends_in_the_same_model(monkeypatch):
    """Adagrad is not fused into a step: the score kernel runs inside torch's training loop instead."""
    calls = []
    original = kernel._BilinearScores.apply
    monkeypatch.setattr(kernel._BilinearScores, "apply", lambda *args: calls.append(1) or original(*args))
    out = fit_both_ways(monkeypatch, "bpr", "bloom_mean", optimizer="adagrad")
    (fused, fused_history), (reference, reference_history) = out["1"], out["0"]
    assert len(calls) == 3 * 12  # every batch of the kernel run (3,000 / 256: 12 an epoch)
    np.testing.assert_allclose(fused_history.losses, reference_history.losses, rtol=1e-4)
    torch.testing.assert_close(fused.predict_scores(np.arange(USERS)), reference.predict_scores(np.arange(USERS)),
                               rtol=1e-3, atol=1e-4)


# ---- the fused training step (bloombench.models.fused_adam) ------------------------------------------
def fit_both_ways(monkeypatch, loss: str, item: str = "bloom_mean", **fit: object):
    rng = np.random.default_rng(0)
    data = Interactions(rng.integers(0, USERS, 3_000), rng.integers(0, ITEMS, 3_000),
                        num_users=USERS, num_items=ITEMS)
    out = {}
    for flag in ("1", "0"):
        monkeypatch.setenv(kernel.ENV_VAR, flag)
        model = ImplicitFactorizationModel(loss=loss, embedding_dim=DIM, embedding_factory=factory(*FUSED[item]),
                                           user_embedding_factory=factory(*FUSED["full"]))
        history = model.fit(data, **{"epochs": 3, "batch_size": 256, "seed": 4, "l2": 1e-3, **fit})
        out[flag] = (model, history)
    return out


@pytest.mark.parametrize("loss", sorted(fused_adam.LOSSES))
@pytest.mark.parametrize("item", ["full", "bloom_mean", "bloom_sum"])
def test_fused_step_trains_the_model_the_modules_and_torch_adam_train(loss, item, monkeypatch):
    calls = []
    original = fused_adam.FusedAdamStep.__call__
    monkeypatch.setattr(fused_adam.FusedAdamStep, "__call__",
                        lambda self, *args: calls.append(1) or original(self, *args))
    out = fit_both_ways(monkeypatch, loss, item)
    (fused, fused_history), (reference, reference_history) = out["1"], out["0"]
    assert len(calls) == 3 * 12  # every batch of the kernel run took the fused step (3,000 / 256: 12 a epoch)
    np.testing.assert_allclose(fused_history.losses, reference_history.losses, rtol=1e-4, atol=1e-6)
    for (name, got), want in zip(fused.network.named_parameters(), reference.network.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5, msg=name)


@pytest.mark.parametrize("change", [{"loss": "adaptive_hinge"}, {"optimizer": "adagrad"},
                                    {"optimizer": "adam-sparse"}, {"item": "qr"}, {"kernels": "0"}])
def test_fused_step_declines_what_it_would_not_do_exactly(change, monkeypatch):
    assert fused_adam.FusedAdamStep.maybe(BilinearNet(USERS, ITEMS, DIM), "bpr", 1, FitOptions()) is not None
    monkeypatch.setenv(kernel.ENV_VAR, change.get("kernels", "1"))
    options = FitOptions(optimizer=change.get("optimizer", "adam"))
    item = factory("qr", {"compression_ratio": 0.5}) if "item" in change else factory(*FUSED["full"])
    net = BilinearNet(USERS, ITEMS, DIM, item, options.sparse)
    loss = change.get("loss", "bpr")
    n_negatives = 5 if loss == "adaptive_hinge" else 1
    assert fused_adam.FusedAdamStep.maybe(net, loss, n_negatives, options) is None


def test_plain_torch_embeddings_are_fused_and_bad_ids_left_to_torch(monkeypatch):
    net = BilinearNet(USERS, ITEMS, DIM)  # the default factory: nn.Embedding tables
    users, items = torch.arange(10), torch.arange(20).view(2, 10)
    grad = torch.randn(2, 10)
    assert apply_to(net, users, items) is not None
    fused, fused_grads = scores_and_grads(net, users, items, grad, "1", monkeypatch)
    reference, reference_grads = scores_and_grads(net, users, items, grad, "0", monkeypatch)
    torch.testing.assert_close(fused, reference)
    for got, want in zip(fused_grads, reference_grads, strict=True):
        torch.testing.assert_close(got, want)
    monkeypatch.setenv(kernel.ENV_VAR, "1")
    with pytest.raises(IndexError):
        net(users, torch.full((2, 10), ITEMS))


def test_fused_step_declines_a_net_with_more_trainable_parameters(monkeypatch):
    net = BilinearNet(USERS, ITEMS, DIM)
    net.extra = torch.nn.Linear(2, 2)  # Adam over net.parameters() would move it too
    assert fused_adam.FusedAdamStep.maybe(net, "bpr", 1, FitOptions()) is None


def test_declines_layers_whose_id_range_differs_from_the_biases():
    """The kernel reads bias rows unchecked: only the layers' own id checks keep those reads in range."""
    net = BilinearNet(USERS, ITEMS, DIM)
    net.item_embeddings = torch.nn.Embedding(ITEMS + 5, DIM)  # accepts ids the item biases do not have
    assert apply_to(net, torch.arange(3), torch.arange(3)) is None
    open_vocabulary = make_embedding("bloom", None, DIM, num_buckets=16, index="on_the_fly")
    net.item_embeddings = open_vocabulary
    assert apply_to(net, torch.arange(3), torch.arange(3)) is None
