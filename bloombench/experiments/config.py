"""Trial configurations: one schema per model kind, defaults filled in, unknown keys refused, a stable hash.

A trial config is a nested mapping of sections. Which sections and keys it has depends on ``model.kind``
and is read from the model class (:mod:`bloombench.models.registry`), never restated here:

``dataset``
    ``name``, ``data_dir`` (where it lives; not part of a trial's identity), ``min_user``/``min_item``
    (filters), ``synthetic`` (arguments of :func:`bloombench.data.synthetic`), ``table_rows`` (inflate the
    user and item id spaces to at least this many rows: Spotlight's scaling protocol, used by the speed
    experiment). For a kind whose ``inputs`` is ``"stream"``: ``name`` (a stream of
    :data:`bloombench.data.STREAMS`), ``data_dir`` and ``synthetic`` (the stream's arguments) only.
``split``
    ``kind`` (``random`` or ``user``), ``fractions``, ``seed``, plus the model kind's ``split_defaults``
    (sequence windows: ``max_length`` an int or ``"pNN"``, ``min_length``, ``step``). A stream is not
    split (each window is tested before it is trained on): its ``split`` is ``seed`` only, the seed of the
    stream's realisation (``events_seed``).
``model``
    ``kind`` plus the model constructor's arguments and defaults (:func:`~bloombench.models.model_defaults`).
``embedding`` (kinds whose ``config_section`` is ``"embedding"``)
    ``method`` (a layer of :mod:`bloombench.layers`), ``params`` (its arguments) and, for kinds with more
    than one table, ``tables`` (``both``, ``users`` or ``items``: which tables use the method).
``encoding`` (kinds whose ``config_section`` is ``"encoding"``: the paper's feed-forward model)
    ``method`` (an encoding of :mod:`bloombench.encodings`) and ``params``.
``training``
    The :class:`~bloombench.models.FitOptions` fields with the kind's ``fit_defaults``.
``evaluation``
    ``enabled`` (false: timing-only trials), the kind's ``evaluation_defaults`` and, with an embedding
    section, ``diagnostics`` (record the collision diagnostics of every hashed table).

So an implicit-factorization config holds no sequence or feed-forward field, and a trial's key
(:func:`config_hash` of its resolved config) changes only when a field its own kind uses changes.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from bloombench.checks import ArgumentError, check_choice
from bloombench.models.registry import DEFAULT_KIND, available_models, get_model, model_defaults

__all__ = ["OPEN_KEYS", "config_hash", "default_config", "get_path", "identity_config", "known_keys", "model_kind",
           "resolve_config", "restrict_config"]

_DATASET = {"name": "movielens-100k", "data_dir": None, "min_user": 1, "min_item": 1, "synthetic": {},
            "table_rows": None}
_SPLIT = {"kind": "random", "fractions": [0.8, 0.1, 0.1], "seed": 0}
_SPLIT_KINDS = ("random", "user")
_STREAM_DATASET = {"name": "stream", "data_dir": None, "synthetic": {}}
_STREAM_SPLIT = {"seed": 0}
#: The method of each compressible section when a config names none: the uncompressed reference.
_DEFAULT_METHOD = {"embedding": "full", "encoding": "identity"}
#: Keys whose values are free-form mappings (passed on to another API, which validates them).
OPEN_KEYS = frozenset({("dataset", "synthetic"), ("embedding", "params"), ("encoding", "params")})


def model_kind(config: Mapping[str, Any] | None) -> str:
    """The ``model.kind`` of a (partial) config, the default kind where it names none."""
    model = (config or {}).get("model")
    kind = model.get("kind", DEFAULT_KIND) if isinstance(model, Mapping) else DEFAULT_KIND
    return check_choice("model.kind", kind, available_models())


def default_config(kind: str = DEFAULT_KIND) -> dict[str, Any]:
    """Every section and key of a ``kind`` trial, with its default."""
    cls = get_model(kind)
    stream = cls.inputs == "stream"
    config: dict[str, Any] = {
        "dataset": copy.deepcopy(_STREAM_DATASET if stream else _DATASET),
        "split": copy.deepcopy(_STREAM_SPLIT) if stream else {**copy.deepcopy(_SPLIT),
                                                              **copy.deepcopy(dict(cls.split_defaults))},
        "model": {"kind": kind, **model_defaults(kind)},
        "training": cls.default_fit_settings(),
        "evaluation": {"enabled": True, **copy.deepcopy(dict(cls.evaluation_defaults))},
    }
    section = cls.config_section
    if section is not None:
        config[section] = {"method": _DEFAULT_METHOD[section], "params": {}}
        if section == "embedding":
            if len(cls.tables) > 1:
                config[section]["tables"] = "both"
            config["evaluation"]["diagnostics"] = False
    return config


def known_keys() -> dict[str, set[str]]:
    """The keys of every section over every model kind (what a spec's dotted paths may name)."""
    keys: dict[str, set[str]] = {}
    for kind in available_models():
        for section, values in default_config(kind).items():
            keys.setdefault(section, set()).update(values)
    return keys


def restrict_config(config: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The sections and keys of a (partial) config that a ``kind`` config has (free-form mappings whole):
    what a spec variant that changes the model kind keeps of the spec's base."""
    allowed = default_config(kind)
    out: dict[str, Any] = {}
    for section, values in config.items():
        if section in allowed and isinstance(values, Mapping):
            kept = {key: copy.deepcopy(value) for key, value in values.items() if key in allowed[section]}
            if kept:
                out[section] = kept
    return out


def get_path(config: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """``config[a][b][c]`` for ``path = "a.b.c"``, ``default`` where a part is missing."""
    value: Any = config
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    return value


def resolve_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Deep-merge ``overrides`` onto the defaults of its model kind, refusing what that kind does not use.

    Raises
    ------
    ArgumentError
        For an unknown model kind, a section or key the kind does not use (the message lists the allowed
        ones), a free-form mapping that is not a mapping, or a split kind / table choice not allowed.
    """
    kind = model_kind(overrides)
    config = default_config(kind)
    for section, values in (overrides or {}).items():
        if section not in config:
            raise ArgumentError(f"unknown config section {section!r} for model kind {kind!r}; "
                                f"allowed: {sorted(config)}")
        if not isinstance(values, Mapping):
            raise ArgumentError(f"config section {section!r} must be a mapping, got {values!r}")
        for key, value in values.items():
            if key not in config[section]:
                raise ArgumentError(f"unknown key {section}.{key} for model kind {kind!r}; "
                                    f"allowed: {sorted(config[section])}")
            if (section, key) in OPEN_KEYS:
                if not isinstance(value, Mapping):
                    raise ArgumentError(f"{section}.{key} must be a mapping, got {value!r}")
                value = dict(value)
            config[section][key] = copy.deepcopy(value)
    if "kind" in config["split"]:
        check_choice("split.kind", config["split"]["kind"], _SPLIT_KINDS)
    if "tables" in config.get("embedding", {}):
        check_choice("embedding.tables", config["embedding"]["tables"], ["both", *get_model(kind).tables])
    return config


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable short hash of a resolved config (sorted-key JSON, sha256)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def identity_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The resolved config without ``dataset.data_dir``: where the data lives is not what it is, so a trial
    run from another data directory (or machine) is the same trial."""
    config = resolve_config(overrides)
    config["dataset"]["data_dir"] = None
    return config
