"""Model kinds by name: build one from its configuration, read its defaults from its constructor.

A new model kind is one file in ``bloombench/models/`` (a :class:`~bloombench.models.base.Model`) plus one
line in ``_MODELS``. The experiment harness never branches on the kind: it asks this registry.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from bloombench.checks import ArgumentError, check_choice
from bloombench.models.base import Model
from bloombench.models.coded_popularity import CodedPopularityModel
from bloombench.models.factorization import ExplicitFactorizationModel, ImplicitFactorizationModel
from bloombench.models.feedforward import FeedForwardModel
from bloombench.models.popularity import PopularityModel, SequencePopularityModel
from bloombench.models.random_ranking import RandomModel, SequenceRandomModel
from bloombench.models.sequence import ImplicitSequenceModel
from bloombench.models.stream import StreamModel

__all__ = ["DEFAULT_KIND", "available_models", "get_model", "make_model", "model_defaults"]

_MODELS: dict[str, type[Model]] = {
    "implicit": ImplicitFactorizationModel,
    "explicit": ExplicitFactorizationModel,
    "sequence": ImplicitSequenceModel,
    "feedforward": FeedForwardModel,
    "stream": StreamModel,
    "popularity": PopularityModel,
    "random": RandomModel,
    "coded-popularity": CodedPopularityModel,
    "sequence-popularity": SequencePopularityModel,
    "sequence-random": SequenceRandomModel,
}

#: The kind a configuration without ``model.kind`` gets.
DEFAULT_KIND = "implicit"


def available_models() -> list[str]:
    """Names accepted by :func:`get_model`, in registry order."""
    return list(_MODELS)


def get_model(kind: str) -> type[Model]:
    """The model class registered as ``kind``; unknown names list the available ones."""
    return _MODELS[check_choice("model.kind", kind, available_models())]


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@functools.cache
def _defaults(cls: type[Model]) -> tuple[tuple[str, Any], ...]:
    parameters = inspect.signature(cls.__init__).parameters
    return tuple((name, _jsonable(p.default)) for name, p in parameters.items()
                 if name != "self" and name not in cls.components
                 and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def model_defaults(kind: str) -> dict[str, Any]:
    """The configuration of ``kind`` with its defaults: the constructor's arguments, components left out.

    Examples
    --------
    >>> model_defaults("sequence")["representation"]
    'lstm'
    """
    return dict(_defaults(get_model(kind)))


def make_model(kind: str, settings: Mapping[str, Any] | None = None, *, method: str | None = None,
               params: Mapping[str, Any] | None = None, tables: str = "both") -> Model:
    """Build a model of ``kind`` from its configuration and the method of its compressible part.

    Parameters
    ----------
    kind : str
        A name from :func:`available_models`.
    settings : mapping, optional
        Constructor arguments (keys of :func:`model_defaults`).
    method, params
        The layer (``config_section == "embedding"``) or encoding (``"encoding"``) and its arguments.
    tables : {"both", "users", "items"}
        Which embedding tables use ``method`` (the others are full tables); for a kind with one table it
        is that table.

    Raises
    ------
    ArgumentError
        For an unknown kind, setting, method or table choice.
    """
    cls = get_model(kind)
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(model_defaults(kind)))
    if unknown:
        raise ArgumentError(f"model kind {kind!r} has no setting(s) {unknown}; allowed: {sorted(model_defaults(kind))}")
    if cls.config_section == "encoding":
        settings.update(encoding=method or "identity", encoding_params=dict(params or {}))
    elif cls.config_section == "embedding":
        from bloombench.layers import embedding_factory

        compressed = embedding_factory(method or "full", **dict(params or {}))
        full = embedding_factory("full")
        check_choice("embedding.tables", tables, ["both", *cls.tables])
        for role, argument in cls.tables.items():
            settings[argument] = compressed if tables in ("both", role) else full
    return cls(**settings)
