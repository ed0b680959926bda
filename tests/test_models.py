"""Tests of bloombench.models: losses, sampling, networks, the training loop and the models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bloombench.data import Interactions, SequenceInteractions
from bloombench.models import (
    BilinearNet,
    ExplicitFactorizationModel,
    FitOptions,
    ImplicitFactorizationModel,
    ImplicitSequenceModel,
    adaptive_hinge_loss,
    bpr_loss,
    default_embedding_factory,
    get_implicit_loss,
    hinge_loss,
    make_sequence_net,
    pointwise_loss,
    regression_loss,
    sample_items,
)
from bloombench.models import train as train_loop
from bloombench.models.training import LazyAdam, build_optimizers


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ----------------------------------------------------------------------------- losses


def test_pointwise_loss_by_hand():
    pos, neg = torch.tensor([0.0, 2.0]), torch.tensor([0.0, -1.0])
    expected = ((1 - 0.5) + 0.5 + (1 - _sigmoid(2.0)) + _sigmoid(-1.0)) / 2
    assert pointwise_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)


def test_bpr_loss_by_hand():
    pos, neg = torch.tensor([1.0, -0.5, 3.0]), torch.tensor([0.0, 0.5, 3.0])
    expected = ((1 - _sigmoid(1.0)) + (1 - _sigmoid(-1.0)) + 0.5) / 3
    assert bpr_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)


def test_hinge_loss_by_hand_and_mask():
    pos, neg = torch.tensor([1.0, 0.0, 3.0]), torch.tensor([0.5, 2.0, 0.0])
    # max(0, 1 - pos + neg) = 0.5, 3, 0
    assert hinge_loss(pos, neg).item() == pytest.approx(3.5 / 3)
    mask = torch.tensor([True, False, True])
    assert hinge_loss(pos, neg, mask).item() == pytest.approx(0.25)
    # A fully masked batch contributes nothing instead of 0/0.
    assert hinge_loss(pos, neg, torch.zeros(3, dtype=torch.bool)).item() == 0.0


def test_masked_bpr_ignores_masked_entries_values():
    pos = torch.tensor([[1.0, 1e6], [2.0, -1e6]])
    neg = torch.zeros(2, 2)
    mask = torch.tensor([[True, False], [True, False]])
    expected = ((1 - _sigmoid(1.0)) + (1 - _sigmoid(2.0))) / 2
    assert bpr_loss(pos, neg, mask).item() == pytest.approx(expected, rel=1e-6)


def test_adaptive_hinge_uses_highest_negative():
    pos = torch.tensor([1.0, 0.0, 3.0])
    neg = torch.tensor([[0.5, -4.0, 0.0], [-1.0, 2.0, 2.5]])  # max per column: 0.5, 2, 2.5
    expected = (0.5 + 3.0 + 0.5) / 3
    assert adaptive_hinge_loss(pos, neg).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="n_negatives"):
        adaptive_hinge_loss(pos, torch.zeros(3))


def test_regression_loss_by_hand():
    assert regression_loss(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0])).item() == 2.5
    with pytest.raises(ValueError, match="same shape"):
        regression_loss(torch.zeros(2), torch.zeros(3))


def test_unknown_loss_name():
    assert get_implicit_loss("bpr") is bpr_loss
    with pytest.raises(ValueError, match="'warp'"):
        get_implicit_loss("warp")
    with pytest.raises(ValueError, match="loss must be one of"):
        ImplicitFactorizationModel(loss="warp")


# ----------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("padding_idx", [0, 2, 4])
def test_sampling_excludes_padding_and_is_uniform(padding_idx):
    gen = torch.Generator().manual_seed(1)
    ids = sample_items(5, (40_000,), generator=gen, padding_idx=padding_idx)
    assert ids.dtype == torch.int64
    counts = torch.bincount(ids, minlength=5).numpy()
    assert counts[padding_idx] == 0
    others = np.delete(counts, padding_idx) / len(ids)
    np.testing.assert_allclose(others, 0.25, atol=0.015)


def test_sampling_without_padding_covers_all_ids_and_is_seeded():
    ids = sample_items(7, (3, 5000), generator=torch.Generator().manual_seed(3))
    assert ids.shape == (3, 5000)
    assert set(ids.unique().tolist()) == set(range(7))
    again = sample_items(7, (3, 5000), generator=torch.Generator().manual_seed(3))
    other = sample_items(7, (3, 5000), generator=torch.Generator().manual_seed(4))
    assert torch.equal(ids, again)
    assert not torch.equal(ids, other)


def test_sampling_bad_arguments():
    gen = torch.Generator()
    with pytest.raises(ValueError, match="num_items"):
        sample_items(1, (3,), generator=gen, padding_idx=0)
    with pytest.raises(ValueError, match="padding_idx"):
        sample_items(3, (3,), generator=gen, padding_idx=3)


# ----------------------------------------------------------------------------- networks


def test_default_factory_scale_padding_and_sparse_gradient():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        table = default_embedding_factory(4000, 16, padding_idx=0)
    assert table.weight[1:].std().item() == pytest.approx(1 / 16, rel=0.05)
    assert torch.all(table.weight[0] == 0)
    sparse_table = default_embedding_factory(10, 4, sparse=True)
    sparse_table(torch.tensor([1, 3])).sum().backward()
    assert sparse_table.weight.grad.is_sparse


def test_bilinear_net_scores_by_hand_and_score_all_consistent():
    net = BilinearNet(3, 4, embedding_dim=2)
    with torch.no_grad():
        net.user_embeddings.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, 1.0], [3.0, -1.0]]))
        net.item_embeddings.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0], [-1.0, 4.0]]))
        net.user_biases.weight.copy_(torch.tensor([[0.5], [0.0], [-1.0]]))
        net.item_biases.weight.copy_(torch.tensor([[0.0], [1.0], [2.0], [0.0]]))
    # user 2 . item 3 = -3 - 4 = -7, + biases -1 + 0
    assert net(torch.tensor([2]), torch.tensor([3])).item() == pytest.approx(-8.0)
    users = torch.tensor([0, 2, 1])
    all_scores = net.score_all(users)
    assert all_scores.shape == (3, 4)
    pairwise = net(users[:, None], torch.arange(4)[None, :])
    torch.testing.assert_close(all_scores, pairwise)


@pytest.mark.parametrize("representation", ["pooling", "lstm", "cnn"])
def test_sequence_nets_are_causal_with_correct_shapes(representation):
    torch.manual_seed(0)
    net = make_sequence_net(representation, num_items=12, embedding_dim=6)
    seqs = torch.tensor([[0, 0, 3, 5, 7], [1, 2, 3, 4, 11]])
    states, final = net.user_representation(seqs)
    assert states.shape == (2, 5, 6) and final.shape == (2, 6)
    # Changing the item at position t must not change the states used to predict positions <= t.
    changed = seqs.clone()
    changed[:, 3] = torch.tensor([9, 10])
    states2, final2 = net.user_representation(changed)
    torch.testing.assert_close(states[:, :4], states2[:, :4])
    assert not torch.allclose(states[:, 4], states2[:, 4])
    assert not torch.allclose(final, final2)
    # score_all agrees with scoring each item separately.
    scores = net.score_all(final)
    assert scores.shape == (2, 12)
    torch.testing.assert_close(scores, net(final[:, None, :], torch.arange(12)[None, :].expand(2, 12)))


def test_pooling_is_mean_of_real_items_and_ignores_left_padding():
    torch.manual_seed(0)
    net = make_sequence_net("pooling", num_items=10, embedding_dim=4)
    table = net.item_embeddings.weight
    states, final = net.user_representation(torch.tensor([[0, 0, 3, 5, 8]]))
    torch.testing.assert_close(final[0], (table[3] + table[5] + table[8]) / 3)
    # states[t] summarises the items before position t.
    torch.testing.assert_close(states[0, 4], (table[3] + table[5]) / 2)
    torch.testing.assert_close(states[0, 3], table[3])
    torch.testing.assert_close(states[0, :3], torch.zeros(3, 4))
    _, final_short = net.user_representation(torch.tensor([[3, 5, 8]]))
    torch.testing.assert_close(final, final_short)


# ----------------------------------------------------------------------------- toy data


def _block_data(
    seed: int = 0, n_users: int = 80, n_groups: int = 4, items_per_group: int = 10, seen: int = 6
):
    """Users and items in groups; each user saw ``seen`` of its group's items.

    Returns the training interactions and, per user, the held-out in-group items.
    """
    rng = np.random.default_rng(seed)
    user_group = np.arange(n_users) % n_groups
    users, items, held_out = [], [], []
    for user, group in enumerate(user_group):
        group_items = group * items_per_group + rng.permutation(items_per_group)
        users += [user] * seen
        items += list(group_items[:seen])
        held_out.append(group_items[seen:])
    train = Interactions(
        np.array(users), np.array(items), num_users=n_users, num_items=n_groups * items_per_group
    )
    return train, user_group, held_out, items_per_group


def _heldout_auc(scores: np.ndarray, user_group, held_out, items_per_group) -> float:
    """Mean per-user AUC of held-out in-group items against out-of-group items."""
    item_group = np.arange(scores.shape[1]) // items_per_group
    aucs = []
    for user, group in enumerate(user_group):
        pos = scores[user, held_out[user]]
        neg = scores[user, item_group != group]
        aucs.append((pos[:, None] > neg[None, :]).mean())
    return float(np.mean(aucs))


def _cyclic_sequences(seed: int, n: int, n_real: int = 15, length: int = 8):
    """Windows of the cycle 1, 2, ..., n_real, 1, ... with random left padding."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n_real, n)
    seqs = (starts[:, None] + np.arange(length)[None, :]) % n_real + 1
    pad = rng.integers(0, 4, n)
    seqs[np.arange(length)[None, :] < pad[:, None]] = 0
    nexts = (starts + length) % n_real + 1
    return SequenceInteractions(seqs, np.arange(n), num_items=n_real + 1), nexts


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize(
    ("loss", "optimizer"), [("bpr", "adam"), ("bpr", "adam-sparse"), ("adaptive_hinge", "adam")]
)
def test_implicit_factorization_learns_block_structure(loss, optimizer):
    train, user_group, held_out, per_group = _block_data()
    model = ImplicitFactorizationModel(loss=loss, embedding_dim=8)
    history = model.fit(train, epochs=15, batch_size=64, lr=0.05, optimizer=optimizer, seed=1)
    assert history.epochs == 15 and len(history.losses) == len(history.seconds) == 15
    assert all(s > 0 for s in history.seconds)
    assert history.losses[-1] < 0.75 * history.losses[0]
    scores = model.predict_scores(torch.arange(train.num_users))
    assert scores.shape == (train.num_users, train.num_items) and scores.dtype == torch.float32
    assert _heldout_auc(scores.numpy(), user_group, held_out, per_group) > 0.8


def test_same_seed_same_history_and_different_seed_differs():
    train, *_ = _block_data()

    def run(seed):
        model = ImplicitFactorizationModel(embedding_dim=8)
        return model.fit(train, epochs=3, batch_size=64, seed=seed).losses, model

    losses_a, model_a = run(5)
    losses_b, model_b = run(5)
    losses_c, _ = run(6)
    assert losses_a == losses_b
    torch.testing.assert_close(model_a.predict_scores([0, 1]), model_b.predict_scores([0, 1]), rtol=0, atol=0)
    assert losses_a != losses_c


def test_adam_sparse_splits_sparse_tables_from_dense_biases():
    options = FitOptions(optimizer="adam-sparse", l2=1e-3)
    net = BilinearNet(5, 6, embedding_dim=3, sparse=options.sparse)
    net(torch.tensor([0, 1]), torch.tensor([2, 3])).sum().backward()
    assert net.user_embeddings.weight.grad.is_sparse and net.item_embeddings.weight.grad.is_sparse
    assert not net.user_biases.weight.grad.is_sparse
    sparse_opt, dense_opt = build_optimizers(net, options)
    assert isinstance(sparse_opt, torch.optim.SparseAdam)
    assert type(dense_opt) is torch.optim.Adam
    sparse_ids = {id(p) for g in sparse_opt.param_groups for p in g["params"]}
    dense_ids = {id(p) for g in dense_opt.param_groups for p in g["params"]}
    assert sparse_ids == {id(net.user_embeddings.weight), id(net.item_embeddings.weight)}
    assert dense_ids == {id(net.user_biases.weight), id(net.item_biases.weight)}
    assert dense_opt.param_groups[0]["weight_decay"] == 1e-3
    # Both optimizers step: embedding rows in the batch and the biases move.
    before = [p.detach().clone() for p in net.parameters()]
    sparse_opt.step()
    dense_opt.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters()))
    # The dense setting is one Adam over everything.
    (only,) = build_optimizers(BilinearNet(5, 6, 3), FitOptions(optimizer="adam"))
    assert type(only) is torch.optim.Adam and len(only.param_groups[0]["params"]) == 4


def test_adam_sparse_leaves_unseen_rows_untouched():
    # Lazy (sparse) Adam updates only rows with gradients: a user absent from the data never moves.
    train = Interactions(np.array([0, 0, 1, 1]), np.array([0, 1, 2, 3]), num_users=3, num_items=4)
    model = ImplicitFactorizationModel(embedding_dim=4)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        initial = BilinearNet(3, 4, 4).user_embeddings.weight.detach().clone()
    model.fit(train, epochs=3, batch_size=2, optimizer="adam-sparse", seed=0)
    learned = model.network.user_embeddings.weight.detach()
    torch.testing.assert_close(learned[2], initial[2], rtol=0, atol=0)
    assert not torch.equal(learned[0], initial[0])


def test_adam_sparse_rejects_factory_without_sparse_gradients():
    def dense_only(num_embeddings, embedding_dim, padding_idx=None, sparse=False):
        return default_embedding_factory(num_embeddings, embedding_dim, padding_idx)

    train, *_ = _block_data()
    model = ImplicitFactorizationModel(embedding_factory=dense_only)
    with pytest.raises(ValueError, match="sparse=True"):
        model.fit(train, epochs=1, optimizer="adam-sparse")


class _NaNEmbedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_embeddings, embedding_dim))

    def forward(self, ids):
        return self.weight[ids] * float("nan")


def test_nan_guard_names_epoch_and_batch():
    train, *_ = _block_data()
    model = ImplicitFactorizationModel(embedding_factory=_NaNEmbedding)
    with pytest.raises(FloatingPointError, match="epoch 1, batch 1 "):
        model.fit(train, epochs=2, batch_size=64)
    with pytest.raises(FloatingPointError, match=r"at epoch \d+, batch \d+"):
        ImplicitFactorizationModel().fit(train, epochs=3, batch_size=64, lr=1e30)


def test_callback_runs_after_each_epoch_and_progress_reports(capsys):
    train, *_ = _block_data()
    seen = []
    ImplicitFactorizationModel(embedding_dim=4).fit(
        train,
        epochs=3,
        progress=True,
        callback=lambda epoch, history: seen.append((epoch, history.epochs)),
    )
    assert seen == [(0, 1), (1, 2), (2, 3)]
    captured = capsys.readouterr()
    assert "epoch 3: loss" in captured.out + captured.err


def test_fit_options_normalise_and_train_checks_data():
    options = FitOptions(epochs=np.int64(2), lr=np.float32(0.5), seed=np.int64(1))
    assert options.epochs == 2 and type(options.epochs) is int and options.lr == 0.5
    assert options.device == torch.device("cpu") and not options.sparse
    assert FitOptions(optimizer="adam-sparse").sparse
    net = BilinearNet(2, 2, 2)
    with pytest.raises(ValueError, match="first dimension"):
        train_loop(net, (torch.zeros(3, dtype=torch.long), torch.zeros(4, dtype=torch.long)), None, options)


@pytest.mark.parametrize("optimizer", ["adagrad", "sgd"])
def test_other_optimizers_reduce_loss(optimizer):
    train, *_ = _block_data()
    lr = 0.1 if optimizer == "adagrad" else 20.0
    history = ImplicitFactorizationModel(embedding_dim=8).fit(
        train, epochs=8, batch_size=64, lr=lr, optimizer=optimizer
    )
    assert history.losses[-1] < 0.6 * history.losses[0]


def test_fit_argument_validation():
    train, *_ = _block_data()
    model = ImplicitFactorizationModel()
    with pytest.raises(ValueError, match="optimizer must be one of"):
        model.fit(train, optimizer="rmsprop")
    with pytest.raises(ValueError, match="epochs"):
        model.fit(train, epochs=0)
    with pytest.raises(ValueError, match="lr"):
        model.fit(train, lr=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(train, batch_size=0)
    with pytest.raises(TypeError, match="Interactions"):
        model.fit(train.user_ids)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict_scores(torch.tensor([0]))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            model.fit(train, device="cuda")
    model.fit(train, epochs=1)
    with pytest.raises(ValueError, match=r"user_ids must lie in \[0, 80\)"):
        model.predict_scores(torch.tensor([80]))


# ----------------------------------------------------------------------------- explicit


def test_explicit_factorization_learns_planted_ratings():
    rng = np.random.default_rng(0)
    n_users, n_items = 60, 40
    ratings = np.where((np.arange(n_users)[:, None] % 2) == (np.arange(n_items)[None, :] % 2), 5.0, 1.0)
    users, items = np.divmod(np.arange(n_users * n_items), n_items)
    is_test = rng.random(len(users)) < 0.2
    data = Interactions(users, items, ratings=ratings[users, items], num_users=n_users, num_items=n_items)
    model = ExplicitFactorizationModel(embedding_dim=8)
    history = model.fit(data.subset(~is_test), epochs=15, batch_size=128, lr=0.03, seed=0)
    assert history.losses[-1] < 0.1 * history.losses[0]
    predicted = model.predict(users[is_test], items[is_test])
    assert predicted.dtype == np.float32 and predicted.shape == (is_test.sum(),)
    rmse = np.sqrt(np.mean((predicted - ratings[users, items][is_test]) ** 2))
    assert rmse < 0.5  # predicting the mean rating gives about 2.0
    with pytest.raises(ValueError, match="ratings"):
        model.fit(Interactions(users, items))


# ----------------------------------------------------------------------------- sequences


def test_lstm_sequence_model_learns_cyclic_next_item():
    train, _ = _cyclic_sequences(0, 300)
    test, nexts = _cyclic_sequences(1, 100)
    model = ImplicitSequenceModel(representation="lstm", embedding_dim=16)
    history = model.fit(train, epochs=6, batch_size=32, lr=0.02, seed=0)
    assert history.losses[-1] < 0.5 * history.losses[0]
    scores = model.predict_sequence_scores(torch.as_tensor(test.sequences))
    assert scores.shape == (100, train.num_items)
    scores[:, 0] = -np.inf
    accuracy = (scores.argmax(1).numpy() == nexts).mean()
    assert accuracy > 0.8  # chance is 1/15


@pytest.mark.parametrize("representation", ["pooling", "cnn"])
@pytest.mark.parametrize("loss", ["pointwise", "adaptive_hinge"])
def test_sequence_model_other_representations_and_losses_train(representation, loss):
    train, _ = _cyclic_sequences(0, 120, length=6)
    model = ImplicitSequenceModel(representation=representation, loss=loss, embedding_dim=8)
    history = model.fit(train, epochs=4, batch_size=32, lr=0.02, optimizer="adam-sparse")
    assert history.losses[-1] < history.losses[0]
    # Prediction accepts a different length than training.
    assert model.predict_sequence_scores(torch.tensor([[0, 0, 0, 2, 3, 4, 5, 6, 7]])).shape == (1, 16)


def test_sequence_model_same_seed_same_history():
    train, _ = _cyclic_sequences(0, 64, length=5)
    runs = [
        ImplicitSequenceModel(embedding_dim=4).fit(train, epochs=2, batch_size=16, seed=3).losses
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_sequence_model_rejects_bad_input():
    with pytest.raises(ValueError, match="representation"):
        ImplicitSequenceModel(representation="gru")
    train, _ = _cyclic_sequences(0, 16, length=4)
    model = ImplicitSequenceModel(embedding_dim=4)
    model.fit(train, epochs=1)
    with pytest.raises(ValueError, match="sequences must lie"):
        model.predict_sequence_scores(torch.tensor([[0, 1, 16]]))
    with pytest.raises(ValueError, match=r"\(n, L\)"):
        model.predict_sequence_scores(torch.tensor([1, 2]))


# ----------------------------------------------------------------------------- injected embeddings


class _ModuloEmbedding(nn.Module):
    """Deliberately unlike nn.Embedding: two hashed half-tables summed; id 0 is NOT zero."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, sparse=False):
        super().__init__()
        self.sparse = sparse
        buckets = max(2, (num_embeddings * 3) // 4)
        self.buckets = buckets
        self.table = nn.Parameter(torch.randn(buckets, embedding_dim) / embedding_dim)

    def forward(self, ids):
        first = F.embedding(ids % self.buckets, self.table, sparse=self.sparse)
        second = F.embedding((ids * 7 + 3) % self.buckets, self.table, sparse=self.sparse)
        return first + second


class _RecordingFactory:
    def __init__(self):
        self.calls = []

    def __call__(self, num_embeddings, embedding_dim, padding_idx=None, sparse=False):
        self.calls.append((num_embeddings, embedding_dim, padding_idx, sparse))
        return _ModuloEmbedding(num_embeddings, embedding_dim, padding_idx, sparse)


@pytest.mark.parametrize("optimizer", ["adam", "adam-sparse"])
def test_custom_embedding_factory_in_every_model(optimizer):
    sparse = optimizer == "adam-sparse"
    train, user_group, held_out, per_group = _block_data()
    factory = _RecordingFactory()
    model = ImplicitFactorizationModel(embedding_dim=8, embedding_factory=factory)
    history = model.fit(train, epochs=10, batch_size=64, lr=0.05, optimizer=optimizer)
    assert factory.calls == [(80, 8, None, sparse), (40, 8, None, sparse)]
    assert history.losses[-1] < 0.7 * history.losses[0]
    scores = model.predict_scores(torch.arange(80)).numpy()
    assert _heldout_auc(scores, user_group, held_out, per_group) > 0.7

    explicit_data = Interactions(train.user_ids, train.item_ids, ratings=np.ones(len(train), np.float32))
    explicit = ExplicitFactorizationModel(embedding_dim=4, embedding_factory=factory)
    explicit.fit(explicit_data, epochs=2, optimizer=optimizer)
    assert explicit.predict([0, 1], [2, 3]).shape == (2,)

    sequences, _ = _cyclic_sequences(0, 64, length=5)
    for representation in ["pooling", "lstm", "cnn"]:
        factory.calls.clear()
        seq_model = ImplicitSequenceModel(representation, embedding_dim=4, embedding_factory=factory)
        seq_model.fit(sequences, epochs=2, batch_size=16, optimizer=optimizer)
        assert factory.calls == [(16, 4, 0, sparse)]
        assert seq_model.predict_sequence_scores(torch.as_tensor(sequences.sequences[:3])).shape == (3, 16)


def test_three_argument_factory_works_with_dense_optimizer():
    calls = []

    def factory(num_embeddings, embedding_dim, padding_idx):
        calls.append(padding_idx)
        return nn.Embedding(num_embeddings, embedding_dim, padding_idx=padding_idx)

    sequences, _ = _cyclic_sequences(0, 32, length=4)
    ImplicitSequenceModel("pooling", embedding_dim=4, embedding_factory=factory).fit(sequences, epochs=1)
    assert calls == [0]


def test_padding_embedding_is_masked_even_if_factory_ignores_padding_idx():
    factory = _RecordingFactory()
    torch.manual_seed(0)
    net = make_sequence_net("pooling", num_items=10, embedding_dim=4, embedding_factory=factory)
    assert not torch.allclose(net.item_embeddings(torch.tensor([0])), torch.zeros(4))
    _, padded = net.user_representation(torch.tensor([[0, 0, 4, 6]]))
    _, unpadded = net.user_representation(torch.tensor([[4, 6]]))
    torch.testing.assert_close(padded, unpadded)


@pytest.mark.parametrize("model", [ImplicitFactorizationModel(), ExplicitFactorizationModel(),
                                   ImplicitSequenceModel()])
def test_fit_refuses_the_wrong_data_type_and_empty_data(model) -> None:
    with pytest.raises(TypeError, match=r"must be an instance of (Sequence)?Interactions, got list"):
        model.fit([1, 2, 3])
    if not isinstance(model, ImplicitSequenceModel):
        empty = Interactions(np.array([], dtype=np.int64), np.array([], dtype=np.int64),
                             ratings=np.array([], dtype=np.float32), num_users=2, num_items=2)
        with pytest.raises(ValueError, match="interactions is empty; nothing to fit"):
            model.fit(empty)


def test_dense_optimizers_use_torchs_fused_step_on_the_cpu():
    net = BilinearNet(5, 6, 3)
    for name in ("adam", "adagrad", "sgd"):
        (optimizer,) = build_optimizers(net, FitOptions(optimizer=name))
        assert optimizer.defaults["fused"] is True, name


# ----------------------------------------------------------------------------- l2 with sparse gradients


def test_sparse_adam_applies_the_l2_of_dense_adam_to_the_rows_a_batch_looked_up():
    # One step from the same weights and data gradient: looked-up rows move exactly as under
    # Adam(weight_decay=l2); rows no batch looked up do not move at all (lazy), where dense Adam decays them.
    weight = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    ids = torch.tensor([1, 4, 4])
    dense, sparse = nn.Parameter(weight.clone()), nn.Parameter(weight.clone())
    F.embedding(ids, dense).sum().backward()
    F.embedding(ids, sparse, sparse=True).sum().backward()
    assert sparse.grad.is_sparse
    torch.optim.Adam([dense], lr=0.1, weight_decay=0.5).step()
    LazyAdam([sparse], lr=0.1, weight_decay=0.5).step()
    torch.testing.assert_close(sparse.detach()[[1, 4]], dense.detach()[[1, 4]])
    torch.testing.assert_close(sparse.detach()[[0, 2, 3, 5]], weight[[0, 2, 3, 5]], rtol=0, atol=0)


def test_the_penalty_is_the_gradient_of_half_l2_times_the_squared_looked_up_rows():
    weight = nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]))
    F.embedding(torch.tensor([0, 0, 2]), weight, sparse=True).mul(0).sum().backward()  # zero data gradient
    optimizer = LazyAdam([weight], lr=1.0, weight_decay=0.1)
    seen = {}
    original = torch.optim.SparseAdam.step

    def capture(self, closure=None):
        seen["grad"] = weight.grad.to_dense().clone()
        return original(self, closure)

    torch.optim.SparseAdam.step = capture
    try:
        optimizer.step()
    finally:
        torch.optim.SparseAdam.step = original
    # d/dw of 0.1/2 * (||w0||^2 + ||w2||^2), once per row although row 0 was looked up twice.
    expected = torch.tensor([[0.1, 0.2], [0.0, 0.0], [0.05, 0.05]])
    torch.testing.assert_close(seen["grad"], expected)
    assert optimizer.param_groups[0]["weight_decay"] == 0.1


def test_sparse_gradients_train_the_same_model_as_dense_adam():
    # A small Zipf data set, a strong l2: dense Adam and SparseAdam with the rows' l2 reach the same test MRR.
    from bloombench.data import random_split, synthetic

    train, validation, test = random_split(synthetic(num_users=200, num_items=300, num_interactions=5000, seed=1),
                                           fractions=(0.8, 0.1, 0.1), seed=0)
    mrr = {}
    for optimizer in ("adam", "adam-sparse"):
        values = []
        for seed in range(2):
            model = ImplicitFactorizationModel(embedding_dim=8)
            model.fit(train, epochs=10, batch_size=256, lr=0.02, l2=3e-3, optimizer=optimizer, seed=seed)
            values.append(model.evaluate(test, train=train, exclude=validation)["mrr"])
        mrr[optimizer] = float(np.mean(values))
    assert mrr["adam"] > 0.2  # far above random (~0.02 on 300 items)
    assert mrr["adam-sparse"] == pytest.approx(mrr["adam"], abs=0.005)
