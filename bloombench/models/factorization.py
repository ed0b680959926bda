"""Matrix factorization models (Spotlight's implicit and explicit factorization).

Each model is a thin wrapper: a :class:`~bloombench.models.representations.BilinearNet`
plus a ``batch_loss`` closure handed to the shared
:func:`~bloombench.models.training.train` loop.
"""

from __future__ import annotations


import numpy as np
import torch

from bloombench.checks import check_int
from bloombench.data.interactions import Interactions
from bloombench.layers.frequency import count_ids
from bloombench.models.base import Model
from bloombench.models.fused_adam import FusedAdamStep
from bloombench.models.inputs import as_id_tensor, check_id_range, check_training_data
from bloombench.models.losses import get_implicit_loss, regression_loss
from bloombench.models.representations import BilinearNet, EmbeddingFactory
from bloombench.models.sampling import sample_items
from bloombench.models.training import EpochCallback, FitHistory, FitOptions, seeded_init, train

__all__ = ["ExplicitFactorizationModel", "ImplicitFactorizationModel"]

_PREDICT_CHUNK = 1 << 16


class _FactorizationBase(Model):
    """State and helpers common to both factorization models: a user and an item table."""

    tables = {"users": "user_embedding_factory", "items": "embedding_factory"}
    components = ("embedding_factory", "user_embedding_factory")

    def __init__(
        self,
        embedding_dim: int,
        embedding_factory: EmbeddingFactory | None,
        user_embedding_factory: EmbeddingFactory | None = None,
    ) -> None:
        embedding_dim = check_int("embedding_dim", embedding_dim)
        for name, factory in (("embedding_factory", embedding_factory),
                              ("user_embedding_factory", user_embedding_factory)):
            if factory is not None and not callable(factory):
                raise TypeError(f"{name} must be callable, got {type(factory).__name__}")
        self.embedding_dim = embedding_dim
        self.embedding_factory = embedding_factory
        self.user_embedding_factory = user_embedding_factory
        self.num_users: int | None = None
        self.num_items: int | None = None
        self.device: torch.device = torch.device("cpu")
        self.network: BilinearNet | None = None

    def _setup(self, interactions: Interactions, options: FitOptions) -> tuple[torch.Tensor, torch.Tensor]:
        """Build a fresh net for ``interactions`` and return its (user, item) id tensors."""
        check_training_data(interactions, Interactions, "interactions")
        self.num_users = int(interactions.num_users)
        self.num_items = int(interactions.num_items)
        check_id_range(interactions.user_ids, self.num_users, "interactions.user_ids")
        check_id_range(interactions.item_ids, self.num_items, "interactions.item_ids")
        self.device = options.device
        # Training-split counts, computed only for a table whose method uses them (build_embedding).
        frequencies = {"users": lambda: count_ids(interactions.user_ids, self.num_users),
                       "items": lambda: count_ids(interactions.item_ids, self.num_items)}
        net = seeded_init(
            options.seed,
            lambda: BilinearNet(
                self.num_users, self.num_items, self.embedding_dim, self.embedding_factory, options.sparse,
                self.user_embedding_factory, frequencies,
            ),
        )
        self.network = net.to(self.device)
        users = torch.as_tensor(interactions.user_ids, device=self.device)
        items = torch.as_tensor(interactions.item_ids, device=self.device)
        return users, items

    def embedding_tables(self) -> dict[str, torch.nn.Module]:
        net = self._require_fitted()
        return {"users": net.user_embeddings, "items": net.item_embeddings}


class ImplicitFactorizationModel(_FactorizationBase):
    """Factorization for implicit feedback trained with sampled negatives.

    Parameters
    ----------
    loss : str
        "pointwise", "bpr", "hinge" or "adaptive_hinge" (see
        :mod:`bloombench.models.losses`).
    embedding_dim : int
        Latent dimension.
    embedding_factory : EmbeddingFactory, optional
        Builds the user and item tables; default full tables.
    user_embedding_factory : EmbeddingFactory, optional
        Builds the user table instead, when it should differ from the item table.
    n_negatives : int
        Negatives per positive for "adaptive_hinge" (the others use one).

    Notes
    -----
    Negatives are drawn uniformly from all items, so they may occasionally be
    items the user did interact with (as in Spotlight).
    """

    def __init__(
        self,
        loss: str = "bpr",
        embedding_dim: int = 32,
        embedding_factory: EmbeddingFactory | None = None,
        n_negatives: int = 5,
        user_embedding_factory: EmbeddingFactory | None = None,
    ) -> None:
        super().__init__(embedding_dim, embedding_factory, user_embedding_factory)
        self._loss_fn = get_implicit_loss(loss)
        n_negatives = check_int("n_negatives", n_negatives)
        self.loss = loss
        self.n_negatives = n_negatives if loss == "adaptive_hinge" else 1

    def _fit(self, interactions: Interactions, options: FitOptions,
             callback: EpochCallback | None) -> FitHistory:
        """Fit on observed (user, item) pairs (ratings are ignored); see :meth:`Model.fit`."""
        users, items = self._setup(interactions, options)
        net, num_items, n_neg, loss_fn = self.network, self.num_items, self.n_negatives, self._loss_fn
        adaptive = self.loss == "adaptive_hinge"

        def scored_items(batch: tuple[torch.Tensor, ...],
                         generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            """Users ``(B,)`` and their items ``(1 + n_neg, B)``: the positive, then sampled negatives."""
            batch_users, batch_items = batch
            negatives = sample_items(num_items, (n_neg, len(batch_users)), generator=generator)
            return batch_users, torch.cat([batch_items.unsqueeze(0), negatives])

        def batch_loss(batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
            # One forward for the positives and the negatives: each user is embedded once and every item
            # lookup (and its backward) is one call, where two calls cost twice the per-call overhead.
            scores = net(*scored_items(batch, generator))
            return loss_fn(scores[0], scores[1:] if adaptive else scores[1])

        fused = FusedAdamStep.maybe(net, self.loss, n_neg, options)
        step = None if fused is None else lambda batch, generator: fused(*scored_items(batch, generator))
        return train(net, (users, items), batch_loss, options, callback=callback, desc=type(self).__name__,
                     step=step)

    @torch.no_grad()
    def predict_scores(self, user_ids: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Scores of every item for each user.

        Parameters
        ----------
        user_ids : torch.LongTensor or array-like
            Users to score (moved to the model's device if needed).

        Returns
        -------
        torch.Tensor
            float tensor ``(len(user_ids), num_items)`` on the model's device;
            nothing is excluded (evaluation removes training items).
        """
        net = self._require_fitted()
        net.eval()
        return net.score_all(as_id_tensor(user_ids, self.num_users, self.device, "user_ids"))


class ExplicitFactorizationModel(_FactorizationBase):
    """Factorization regressing explicit ratings with the squared error.

    Parameters
    ----------
    embedding_dim : int
        Latent dimension.
    embedding_factory : EmbeddingFactory, optional
        Builds the user and item tables; default full tables.
    user_embedding_factory : EmbeddingFactory, optional
        Builds the user table instead, when it should differ from the item table.
    """

    evaluation_defaults: dict = {}
    stopping_metric = ("rmse", "min")

    def __init__(
        self,
        embedding_dim: int = 32,
        embedding_factory: EmbeddingFactory | None = None,
        user_embedding_factory: EmbeddingFactory | None = None,
    ) -> None:
        super().__init__(embedding_dim, embedding_factory, user_embedding_factory)

    def evaluate(self, target: Interactions, *, train: Interactions, exclude: object = None,
                 **settings: object) -> dict[str, float]:
        """``{"rmse": ...}`` of the predicted ratings of ``target`` (takes no settings)."""
        from bloombench.evaluation import rmse_score

        if settings:
            raise TypeError(f"ExplicitFactorizationModel.evaluate takes no settings, got {sorted(settings)}")
        return {"rmse": rmse_score(self, target)}

    def _fit(self, interactions: Interactions, options: FitOptions,
             callback: EpochCallback | None) -> FitHistory:
        """Fit on ``interactions.ratings`` (see :meth:`Model.fit`).

        Raises
        ------
        ValueError
            If ``interactions`` has no ratings or a rating is not finite.
        """
        check_training_data(interactions, Interactions, "interactions")
        if interactions.ratings is None:
            raise ValueError("ExplicitFactorizationModel needs interactions with ratings, got ratings=None")
        if not np.all(np.isfinite(interactions.ratings)):
            raise ValueError("interactions.ratings contains NaN or infinite values")
        users, items = self._setup(interactions, options)
        ratings = torch.as_tensor(interactions.ratings, dtype=torch.float32, device=self.device)
        net = self.network

        def batch_loss(batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
            batch_users, batch_items, batch_ratings = batch
            return regression_loss(batch_ratings, net(batch_users, batch_items))

        return train(
            net, (users, items, ratings), batch_loss, options, callback=callback, desc=type(self).__name__
        )

    @torch.no_grad()
    def predict(self, user_ids: object, item_ids: object) -> np.ndarray:
        """Predicted ratings of (user, item) pairs.

        Parameters
        ----------
        user_ids, item_ids : array-like or torch.Tensor
            Same shape ``(n,)``.

        Returns
        -------
        np.ndarray
            float32 ``(n,)``.
        """
        net = self._require_fitted()
        net.eval()
        users = as_id_tensor(user_ids, self.num_users, self.device, "user_ids").reshape(-1)
        items = as_id_tensor(item_ids, self.num_items, self.device, "item_ids").reshape(-1)
        if users.shape != items.shape:
            raise ValueError(
                f"user_ids and item_ids must have the same length, got {len(users)} and {len(items)}"
            )
        chunks = [
            net(users[i : i + _PREDICT_CHUNK], items[i : i + _PREDICT_CHUNK]).cpu()
            for i in range(0, len(users), _PREDICT_CHUNK)
        ]
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return torch.cat(chunks).numpy().astype(np.float32, copy=False)
