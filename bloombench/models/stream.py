"""The streaming model kind: factorization trained and evaluated prequentially over an interaction stream.

What the open-vocabulary experiment runs. The user table is the compared method, built for an **open
vocabulary** (``num_embeddings=None``): hashed tables (Bloom on the fly, the hashing trick, HashCoFi)
need no allocation for a new user and keep their memory; the full-table baselines grow
(:class:`~bloombench.layers.GrowingEmbedding`) or evict (:class:`~bloombench.layers.LRUEmbedding`). Items
are a full table with a bias. Fitting is one pass over the stream: each window is first ranked
(:mod:`bloombench.evaluation.prequential`) and then trained on, ``epochs`` passes over its events in time
order with BPR and one uniform negative per event.

Updates are sparse (every table is built with ``sparse=True``): a dense gradient would cost a pass over the
whole table per step, which is what the scenario rules out. The optimizer is this module's: ``adagrad``
(torch's Adagrad update, applied to the touched rows; its state grows with a growing table and is reset
for rows a table reassigns, ``take_fresh_rows``) or ``sgd``; ``l2`` decays the touched rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from bloombench.checks import ArgumentError, check_int
from bloombench.evaluation.prequential import GROUPS, PrequentialLog, reciprocal_ranks, sample_events
from bloombench.layers import FullEmbedding
from bloombench.models.base import Model
from bloombench.models.losses import get_implicit_loss
from bloombench.models.representations import EmbeddingFactory
from bloombench.models.training import FitHistory, FitOptions, seeded_init

__all__ = ["StreamModel", "StreamNet"]

_OPTIMIZERS = ("adagrad", "sgd")
_SCORE_BLOCK = 256  # events scored against the whole catalogue at once (256 x 1e5 floats: 100 MB)
_EPS = 1e-10


class StreamNet(nn.Module):
    """``score(u, i) = <p_u, q_i> + b_i``: a user table (any layer), a full item table and item biases."""

    def __init__(self, users: nn.Module, num_items: int, dim: int) -> None:
        super().__init__()
        self.user_embeddings = users
        self.item_embeddings = FullEmbedding(num_items, dim, sparse=True)
        self.item_biases = nn.Embedding(num_items, 1, sparse=True)
        nn.init.zeros_(self.item_biases.weight)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.item_scores(self.user_embeddings(users), items)

    def item_scores(self, vectors: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of ``items`` for users whose vectors are ``vectors`` (looked up once for several items)."""
        return (vectors * self.item_embeddings(items)).sum(-1) + self.item_biases(items)[..., 0]

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of every item for each user, ``(len(users), num_items)``."""
        scores = self.user_embeddings(users) @ self.item_embeddings.weight.T
        return scores.add_(self.item_biases.weight[:, 0])  # in place: one pass fewer over (users, items)


class _SparseOptimizer:
    """Adagrad or SGD on sparse gradients, state per parameter row, grown and reset with the tables."""

    def __init__(self, net: nn.Module, kind: str, lr: float, l2: float) -> None:
        self.net, self.kind, self.lr, self.l2 = net, kind, lr, l2
        self.state: dict[str, torch.Tensor] = {}

    def reset_rows(self, name: str, rows: torch.Tensor | None) -> None:
        state = self.state.get(name)
        if state is not None and rows is not None and rows.numel():
            rows = rows.to(state.device)
            state[rows[rows < state.shape[0]]] = 0.0

    @torch.no_grad()
    def step(self) -> None:
        for name, param in self.net.named_parameters():
            grad = param.grad
            if grad is None:
                continue
            param.grad = None
            # Row-sparse (sparse_dim 1) whatever the layer gives: a dense gradient of a weight matrix or
            # bias (DHE's MLP) becomes its nonzero rows, as an embedding table's sparse gradient already is.
            if grad.is_sparse and grad.sparse_dim() != 1:  # sparse element-wise (DHE's MLP): as rows
                grad = grad.to_dense()
            grad = grad.coalesce() if grad.is_sparse else grad.to_sparse(1)
            rows, values = grad.indices()[0], grad.values()
            if self.l2:
                values = values + self.l2 * param[rows]
            if self.kind == "adagrad":
                state = self.state.get(name)
                if state is None or state.shape[0] < param.shape[0]:  # a grown table: new rows start at 0
                    grown = torch.zeros_like(param)
                    if state is not None:
                        grown[:state.shape[0]] = state
                    state = self.state[name] = grown
                state[rows] += values * values
                values = values / (state[rows].sqrt() + _EPS)
            param.index_add_(0, rows, values, alpha=-self.lr)


class StreamModel(Model):
    """Factorization over an interaction stream, fitted by a prequential pass (see the module notes).

    Parameters
    ----------
    embedding_dim : int
        Latent dimension.
    loss : str
        An implicit loss of :mod:`bloombench.models.losses` (one uniform negative per event).
    eval_events : int
        Events ranked per window and per group (new, returning users); 0 ranks none.
    user_embedding_factory : EmbeddingFactory, optional
        Builds the user table, called with ``num_embeddings=None``; default a growing full table.
    """

    inputs = "stream"
    tables = {"users": "user_embedding_factory"}
    components = ("user_embedding_factory",)
    fit_defaults = {"epochs": 1, "batch_size": 1024, "lr": 0.05, "l2": 0.0, "optimizer": "adagrad"}
    # one prequential pass (``epochs`` passes over each window): no early stopping, so no ``patience``
    fit_fields = ("epochs", "batch_size", "lr", "l2", "optimizer", "seed", "device")
    evaluation_defaults: dict = {}

    def __init__(self, embedding_dim: int = 32, loss: str = "bpr", eval_events: int = 1000,
                 user_embedding_factory: EmbeddingFactory | None = None) -> None:
        self.embedding_dim = check_int("embedding_dim", embedding_dim)
        self._loss_fn = get_implicit_loss(loss)
        self.loss = loss
        self.eval_events = check_int("eval_events", eval_events, 0)
        if user_embedding_factory is None:
            from bloombench.layers import embedding_factory

            user_embedding_factory = embedding_factory("growing")
        self.user_embedding_factory = user_embedding_factory
        self.network: StreamNet | None = None
        self.log = PrequentialLog()
        self.windows: dict[str, list[Any]] = {}
        self.totals: dict[str, Any] = {}

    def _build(self, stream: Any, options: FitOptions) -> StreamNet:
        def build() -> StreamNet:
            try:
                users = self.user_embedding_factory(None, self.embedding_dim, sparse=True)
            except (TypeError, ValueError) as error:
                raise ArgumentError(f"the stream model's user table has an open vocabulary (num_embeddings=None); "
                                    f"its method refused it: {error}") from None
            return StreamNet(users, stream.num_items, self.embedding_dim)

        return seeded_init(options.seed, build)  # both tables' initial weights follow the training seed

    def _fit(self, stream: Any, options: FitOptions,
             callback: Callable[[int, FitHistory], None] | None) -> FitHistory:
        """One prequential pass over ``stream`` (an :class:`~bloombench.data.stream.InteractionStream`)."""
        if options.optimizer not in _OPTIMIZERS:
            raise ArgumentError(f"training.optimizer must be one of {list(_OPTIMIZERS)} for the stream model "
                                f"(sparse updates), got {options.optimizer!r}")
        self.device = options.device
        net = self.network = self._build(stream, options).to(self.device)
        optimizer = _SparseOptimizer(net, options.optimizer, options.lr, options.l2)
        generator = torch.Generator().manual_seed(options.seed)
        self.log = PrequentialLog()
        keys = ("events", "users_seen", "memory_bytes", "rows", "loss", "train_seconds", "eval_seconds",
                "generate_seconds", "events_per_second")
        self.windows = {key: [] for key in keys}
        history = FitHistory()
        users_layer = net.user_embeddings
        fresh = getattr(users_layer, "take_fresh_rows", None)
        clock = time.perf_counter()
        for window in stream:
            generated = time.perf_counter()
            users = torch.as_tensor(window.user_ids, device=self.device)
            items = torch.as_tensor(window.item_ids, device=self.device)
            start = time.perf_counter()
            if self.eval_events:
                self._rank(net, window, users, items, options.seed)
            ranked = time.perf_counter()
            net.train()
            losses = []
            for _ in range(options.epochs):
                for begin in range(0, len(window), options.batch_size):
                    batch_users = users[begin:begin + options.batch_size]
                    batch_items = items[begin:begin + options.batch_size]
                    negatives = torch.randint(stream.num_items, batch_items.shape, generator=generator)
                    vectors = users_layer(batch_users)
                    loss = self._loss_fn(net.item_scores(vectors, batch_items),
                                         net.item_scores(vectors, negatives.to(self.device)))
                    if fresh is not None:  # rows a table (re)assigned to new ids start without history
                        optimizer.reset_rows("user_embeddings.weight", fresh())
                    loss.backward()
                    optimizer.step()
                    losses.append(loss.item())
            if not np.isfinite(losses).all():
                raise FloatingPointError(f"loss became NaN or infinite in window {window.index}")
            trained = time.perf_counter()
            self._log_window(window, float(np.mean(losses)), trained - ranked, ranked - start, generated - clock,
                             options.epochs)
            history.losses.append(float(np.mean(losses)))
            history.seconds.append(trained - clock)
            history.epochs += 1
            if callback is not None:
                callback(window.index, history)
            clock = time.perf_counter()
        self._totals(stream)
        return history

    @torch.no_grad()
    def _rank(self, net: StreamNet, window: Any, users: torch.Tensor, items: torch.Tensor, seed: int) -> None:
        """Rank a sample of the window's events before training on them (test, then train)."""
        net.eval()
        sample = sample_events(np.random.default_rng([seed, window.index, 0x7E57]), window.new, self.eval_events)

        def reciprocal(indices: np.ndarray) -> np.ndarray:
            index = torch.as_tensor(indices, device=self.device)
            parts = [reciprocal_ranks(net.score_all(users[index[i:i + _SCORE_BLOCK]]),
                                      items[index[i:i + _SCORE_BLOCK]]).cpu()
                     for i in range(0, index.numel(), _SCORE_BLOCK)]
            return torch.cat(parts).numpy()

        self.log.add_window(window.new, sample, reciprocal)

    def _log_window(self, window: Any, loss: float, train: float, rank: float, generate: float,
                    epochs: int) -> None:
        table = self._require_fitted().user_embeddings
        row = {"events": len(window), "users_seen": int(window.users_seen), "memory_bytes": table.memory_bytes(),
               "rows": getattr(table, "num_rows", None), "loss": loss, "train_seconds": train,
               "eval_seconds": rank, "generate_seconds": generate,
               "events_per_second": len(window) * epochs / train if train > 0 else None}
        for key, value in row.items():
            self.windows[key].append(value)

    def _totals(self, stream: Any) -> None:
        w = self.windows
        events, train = int(sum(w["events"])), float(sum(w["train_seconds"]))
        wall = train + float(sum(w["eval_seconds"])) + float(sum(w["generate_seconds"]))
        self.totals = {
            "events": events, "windows": len(w["events"]), "users_seen": w["users_seen"][-1] if events else 0,
            "events_per_second": events / train if train > 0 else None,
            "events_per_second_wall": events / wall if wall > 0 else None,
            "user_memory_bytes_final": w["memory_bytes"][-1] if events else None,
            "user_memory_bytes_peak": max(w["memory_bytes"], default=None),
            # what one float32 row per user seen takes: the floor of any growing full table
            "full_table_bytes_final": (w["users_seen"][-1] if events else 0) * self.embedding_dim * 4,
            "evicted": getattr(self._require_fitted().user_embeddings, "num_evicted", None),
            "stream": repr(stream),
        }

    # ---- evaluation and records -------------------------------------------------------------------
    def evaluate(self, target: Any, *, train: Any = None, exclude: Any = None, **settings: Any) -> dict[str, float]:
        """Prequential metrics over the windows of ``target`` (a :class:`~bloombench.data.stream.StreamPart`),
        recorded by :meth:`fit`: ``mrr``, ``hit_rate@10`` and each ``_new`` / ``_returning``."""
        if settings:
            raise TypeError(f"StreamModel.evaluate takes no settings, got {sorted(settings)}")
        self._require_fitted()
        return self.log.summary(range(target.start, min(target.stop, len(self.windows["events"]))))

    def record_fields(self) -> dict[str, Any]:
        """``stream``: per-window series (``windows``: equal-length lists) and the pass's totals."""
        windows = dict(self.windows)
        for group in GROUPS:
            windows[f"mrr_{group}"] = self.log.window_means(group)
            windows[f"hit_rate@10_{group}"] = self.log.window_means(group, "hits")
            windows[f"events_{group}"] = list(self.log.events[group])
            windows[f"ranked_{group}"] = list(self.log.ranked[group])
        return {"stream": {**self.totals, "windows": windows}}

    def embedding_tables(self) -> dict[str, nn.Module]:
        return {"users": self._require_fitted().user_embeddings}
