"""The base of every model kind: the facts a trial needs, declared once on the model class.

A model is configured by its constructor (Spotlight's convention): the constructor's keyword arguments
and their defaults *are* the model kind's configuration (:func:`bloombench.models.registry.model_defaults`
reads them). Class attributes declare the rest of what the experiment harness needs, so that experiment
code asks the model instead of branching on its kind:

``inputs``
    What :meth:`Model.fit` takes: ``"interactions"``, ``"sequences"`` (windows cut from a split) or
    ``"stream"`` (an :class:`~bloombench.data.InteractionStream`, unsplit: the model evaluates as it fits, and
    ``evaluate`` gets the stream's parts).
``config_section``
    The config section that configures the model's compressible part: ``"embedding"`` (a layer of
    :mod:`bloombench.layers` for each table), ``"encoding"`` (an encoding of :mod:`bloombench.encodings`)
    or None (nothing to compress).
``tables``
    Embedding tables by role (``"users"``, ``"items"``) and the constructor argument that takes each
    one's factory.
``fit_defaults``
    This kind's defaults for :class:`~bloombench.models.training.FitOptions` (the others are FitOptions'
    own).
``fit_fields``
    The FitOptions fields the kind uses (None: all of them); a trial config's ``training`` section holds
    only these, so a kind that trains nothing has no learning rate to be keyed or searched on.
``trains``
    Whether ``fit`` trains parameters. False for the reference floors (popularity, random), which have no
    hyperparameters: experiment specs run no search for them.
``stopping_metric``
    ``(metric, "max" | "min")``: the key of :meth:`Model.evaluate`'s result that early stopping watches.
``split_defaults``, ``evaluation_defaults``
    The kind's own settings of the split (sequence windows) and of :meth:`Model.evaluate`.
``components``
    Constructor arguments that wire in built parts (factories, encodings) rather than configure.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from bloombench.models.early_stopping import EarlyStopping
from bloombench.models.training import EpochCallback, FitHistory, FitOptions

__all__ = ["Model"]


class Model(abc.ABC):
    """A recommender: ``fit(data, options)``, a public ``network`` and item scores for evaluation.

    Attributes
    ----------
    network : torch.nn.Module or None
        The trained network (None before :meth:`fit`).
    device : torch.device
        Where the network lives.
    """

    inputs: ClassVar[str] = "interactions"
    config_section: ClassVar[str | None] = "embedding"
    tables: ClassVar[Mapping[str, str]] = {}
    fit_defaults: ClassVar[Mapping[str, Any]] = {}
    split_defaults: ClassVar[Mapping[str, Any]] = {}
    evaluation_defaults: ClassVar[Mapping[str, Any]] = {"ks": [5, 10, 20], "legacy": None, "exclude_train": True}
    components: ClassVar[tuple[str, ...]] = ()
    fit_fields: ClassVar[tuple[str, ...] | None] = None
    trains: ClassVar[bool] = True
    stopping_metric: ClassVar[tuple[str, str]] = ("mrr", "max")

    network: nn.Module | None = None
    device: torch.device = torch.device("cpu")

    # ---- fitting ---------------------------------------------------------------------------------
    @classmethod
    def fit_options(cls, options: FitOptions | None = None, **settings: Any) -> FitOptions:
        """``options`` as given, or FitOptions from this kind's defaults overlaid with ``settings``."""
        if options is not None:
            if settings:
                raise TypeError(f"give fit options either as options= or as keywords, not both "
                                f"(got options and {sorted(settings)})")
            if not isinstance(options, FitOptions):
                raise TypeError(f"options must be a FitOptions, got {type(options).__name__}")
            return options
        return FitOptions(**{**cls.fit_defaults, **settings})

    @classmethod
    def default_fit_settings(cls) -> dict[str, Any]:
        """Every FitOptions field this kind uses (``fit_fields``) with its default (``progress`` left out:
        it is not configuration)."""
        fields = {f.name: f.default for f in dataclasses.fields(FitOptions)
                  if f.name != "progress" and (cls.fit_fields is None or f.name in cls.fit_fields)}
        return {**fields, **{k: v for k, v in cls.fit_defaults.items() if k in fields}}

    def fit(self, data: Any, options: FitOptions | None = None, *, validation: Any = None,
            evaluation: Mapping[str, Any] | None = None, callback: EpochCallback | None = None,
            **settings: Any) -> FitHistory:
        """Fit from scratch (each call re-initialises the network from the options' seed).

        Parameters
        ----------
        data : Interactions or SequenceInteractions
            The training data (see ``inputs``).
        options : FitOptions, optional
            Training options; or give them as keywords (``epochs=5, lr=1e-3``), the rest taking this
            kind's defaults (``fit_defaults``).
        validation : Interactions or SequenceInteractions, optional
            Held-out data for early stopping (needed when ``options.patience`` is set): after each epoch
            the model is scored on it with :meth:`evaluate` (``train=data``, ``evaluation`` as settings,
            the ``stopping_metric``), training stops after ``patience`` epochs without improvement and the
            best epoch's weights are restored.
        evaluation : mapping, optional
            Settings of :meth:`evaluate` for the validation scores (``evaluation_defaults``' keys).
        callback : callable, optional
            ``callback(epoch, history)`` after each epoch; a true return value stops training.

        Returns
        -------
        FitHistory
            ``best_epoch`` is the epoch whose weights the model ends with (the last one without early
            stopping); ``validation`` the score of each epoch with it.
        """
        options = self.fit_options(options, **settings)
        if options.patience is None or not self.trains:
            history = self._fit(data, options, callback)
        else:
            if validation is None:
                raise ValueError(f"patience={options.patience} (early stopping) needs validation data: "
                                 "fit(data, options, validation=...)")
            metric, mode = self.stopping_metric
            stopper = EarlyStopping(self._require_fitted, lambda: self.evaluate(
                validation, train=data, **dict(evaluation or {}))[metric], options.patience, mode)

            def each_epoch(epoch: int, history: FitHistory) -> bool:
                stop = stopper(epoch, history)
                asked = callback is not None and bool(callback(epoch, history))
                return stop or asked

            history = self._fit(data, options, each_epoch)
            stopper.restore()
        if history.best_epoch is None and history.epochs:
            history.best_epoch = history.epochs
        return history

    @abc.abstractmethod
    def _fit(self, data: Any, options: FitOptions, callback: EpochCallback | None) -> FitHistory:
        """Build ``self.network`` for ``data`` and train it with ``options``."""

    def _require_fitted(self) -> nn.Module:
        if self.network is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        return self.network

    # ---- evaluation ------------------------------------------------------------------------------
    def evaluate(self, target: Any, *, train: Any, exclude: Any = None, **settings: Any) -> dict[str, float]:
        """Ranking metrics of ``target`` (full catalogue; ``settings`` are ``evaluation_defaults``' keys).

        ``train`` items are excluded when ``exclude_train`` is set, and ``exclude`` (another split) too.
        """
        from bloombench.evaluation import evaluate_ranking

        return evaluate_ranking(self, target, train, exclude=exclude, **settings).as_dict()

    # ---- what the trial records ------------------------------------------------------------------
    def embedding_tables(self) -> dict[str, nn.Module]:
        """The fitted embedding table of each role in ``tables`` (``{"users": ..., "items": ...}``)."""
        return {}

    def byte_counts(self) -> dict[str, Any]:
        """``embedding_bytes`` (every ``memory_bytes()`` of the network's modules), ``model_bytes`` (every
        parameter and buffer) and ``parameters`` (trainable scalars) of the fitted network."""
        net = self._require_fitted()
        embedding = sum(m.memory_bytes() for m in net.modules() if hasattr(m, "memory_bytes"))
        total = sum(t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()])
        return {"embedding_bytes": int(embedding), "model_bytes": int(total),
                "parameters": int(sum(p.numel() for p in net.parameters()))}

    def record_fields(self) -> dict[str, Any]:
        """Fields this kind adds to its trial record (none by default; the stream model's per-window series)."""
        return {}

    def index_build_seconds(self) -> float:
        """Seconds the network's hash index tables took to build (0 for on-the-fly and unhashed layers)."""
        net = self._require_fitted()
        return float(sum(getattr(m, "build_seconds", 0.0) for m in net.modules()))

    def prepare_seconds(self) -> float:
        """Seconds the network's layers spent counting training ids and planning frequency-aware tables."""
        net = self._require_fitted()
        return float(sum(getattr(m, "prepare_seconds", 0.0) for m in net.modules()))
