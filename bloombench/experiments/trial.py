"""One trial: data and split (cached), model with the configured embeddings, fit, evaluate.

A trial is described by a nested config dict; :func:`resolve_config` fills defaults and refuses unknown
keys, so the record of a trial always holds the *fully resolved* config and :func:`config_hash` of it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from bloombench.data import (
    Interactions,
    filter_min_interactions,
    load_dataset,
    random_split,
    synthetic,
    user_split,
)
from bloombench.evaluation import evaluate_ranking, evaluate_sequence_ranking, rmse_score
from bloombench.layers import embedding_factory
from bloombench.models import ExplicitFactorizationModel, ImplicitFactorizationModel, ImplicitSequenceModel

__all__ = ["DEFAULTS", "config_hash", "resolve_config", "run_trial"]

DEFAULTS: dict[str, dict[str, Any]] = {
    "dataset": {"name": "movielens-100k", "data_dir": None, "min_user": 1, "min_item": 1,
                "synthetic": {}},
    "split": {"kind": "random", "fractions": [0.8, 0.1, 0.1], "seed": 0,
              "max_length": 100, "min_length": 20, "step": None},
    "model": {"kind": "implicit", "loss": "bpr", "embedding_dim": 32, "representation": "lstm",
              "n_negatives": 5},
    "embedding": {"method": "full", "tables": "both", "params": {}},
    "training": {"epochs": 10, "batch_size": 1024, "lr": 1e-2, "l2": 1e-6, "optimizer": "adam",
                 "device": "cpu", "seed": 0},
    "evaluation": {"ks": [5, 10, 20], "legacy": None, "exclude_train": True, "exclude_preceding": False},
}

_CHOICES = {
    ("split", "kind"): ("random", "user"),
    ("model", "kind"): ("implicit", "explicit", "sequence"),
    ("embedding", "tables"): ("both", "items", "users"),
}
# Keys whose values are free-form mappings (passed on to another API, validated there).
_OPEN = {("dataset", "synthetic"), ("embedding", "params")}


def resolve_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Deep-merge ``overrides`` onto :data:`DEFAULTS`, refusing unknown keys and bad choices.

    Raises
    ------
    ValueError
        For an unknown section or key (the message lists the allowed ones) or a value outside
        the allowed choices.
    """
    config = copy.deepcopy(DEFAULTS)
    for section, values in (overrides or {}).items():
        if section not in config:
            raise ValueError(f"unknown config section {section!r}; allowed: {sorted(config)}")
        if not isinstance(values, Mapping):
            raise ValueError(f"config section {section!r} must be a mapping, got {values!r}")
        for key, value in values.items():
            if key not in config[section]:
                raise ValueError(f"unknown key {section}.{key}; allowed: {sorted(config[section])}")
            if (section, key) in _OPEN:
                if not isinstance(value, Mapping):
                    raise ValueError(f"{section}.{key} must be a mapping, got {value!r}")
                value = dict(value)
            config[section][key] = value
    for (section, key), allowed in _CHOICES.items():
        if config[section][key] not in allowed:
            raise ValueError(f"{section}.{key} must be one of {allowed}, got {config[section][key]!r}")
    return config


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable short hash of a resolved config (sorted-key JSON, sha256)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _frozen(mapping: Mapping[str, Any]) -> str:
    return json.dumps(mapping, sort_keys=True, default=str)


@functools.lru_cache(maxsize=8)
def _load(dataset_json: str) -> Interactions:
    spec = json.loads(dataset_json)
    if spec["name"] == "synthetic":
        data = synthetic(**spec["synthetic"])
    else:
        data = load_dataset(spec["name"], data_dir=spec["data_dir"], progress=False)
    if spec["min_user"] > 1 or spec["min_item"] > 1:
        data = filter_min_interactions(data, min_user=spec["min_user"], min_item=spec["min_item"])
    return data


@functools.lru_cache(maxsize=8)
def _split(dataset_json: str, split_json: str, sequences: bool) -> tuple:
    """Train/validation/test of a dataset, cached across trials that share data and split."""
    data = _load(dataset_json)
    spec = json.loads(split_json)
    if spec["kind"] == "user":
        val_fraction, test_fraction = spec["fractions"][1], spec["fractions"][2]
        parts = user_split(data, test_fraction=test_fraction, validation_fraction=val_fraction, seed=spec["seed"])
    else:
        parts = random_split(data, fractions=tuple(spec["fractions"]), seed=spec["seed"])
    if sequences:
        parts = tuple(p.to_sequences(spec["max_length"], spec["min_length"], spec["step"]) for p in parts)
    return parts


def _tables_factory(config: dict[str, Any]) -> tuple[Any, Any]:
    """Embedding factories for the (user, item) tables: the configured method where asked, else full."""
    emb = config["embedding"]
    compressed = embedding_factory(emb["method"], **emb["params"])
    full = embedding_factory("full")
    users = compressed if emb["tables"] in ("both", "users") else full
    items = compressed if emb["tables"] in ("both", "items") else full
    return users, items


def _build_model(config: dict[str, Any]) -> Any:
    model = config["model"]
    users, items = _tables_factory(config)
    if model["kind"] == "sequence":
        return ImplicitSequenceModel(representation=model["representation"], loss=model["loss"],
                                     embedding_dim=model["embedding_dim"], embedding_factory=items,
                                     n_negatives=model["n_negatives"])
    if model["kind"] == "explicit":
        return ExplicitFactorizationModel(embedding_dim=model["embedding_dim"], embedding_factory=items,
                                          user_embedding_factory=users)
    return ImplicitFactorizationModel(loss=model["loss"], embedding_dim=model["embedding_dim"],
                                      embedding_factory=items, user_embedding_factory=users,
                                      n_negatives=model["n_negatives"])


def _byte_counts(net: nn.Module) -> dict[str, int]:
    embedding = sum(m.memory_bytes() for m in net.modules() if hasattr(m, "memory_bytes"))
    total = sum(t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()])
    return {"embedding_bytes": int(embedding), "model_bytes": int(total),
            "parameters": int(sum(p.numel() for p in net.parameters()))}


def _evaluate(model: Any, kind: str, parts: tuple, target: Any, exclude: Any, spec: dict[str, Any]) -> dict:
    train = parts[0]
    if kind == "explicit":
        return {"rmse": rmse_score(model, target)}
    if kind == "sequence":
        metrics = evaluate_sequence_ranking(model, target, exclude_preceding=spec["exclude_preceding"],
                                            ks=spec["ks"], legacy=spec["legacy"])
    else:
        metrics = evaluate_ranking(model, target, train, exclude=exclude, exclude_train=spec["exclude_train"],
                                   ks=spec["ks"], legacy=spec["legacy"])
    return metrics.as_dict()


def run_trial(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run one trial and return its record (config, hash, metrics, timings, sizes).

    Parameters
    ----------
    overrides : mapping, optional
        Partial config, merged onto :data:`DEFAULTS` by :func:`resolve_config`.

    Returns
    -------
    dict
        ``config``, ``config_hash``, ``validation`` and ``test`` metrics, ``seconds_per_epoch``
        (median and all), ``loss``, ``evaluation_seconds``, byte counts and the dataset sizes.
    """
    config = resolve_config(overrides)
    kind = config["model"]["kind"]
    start = time.perf_counter()
    parts = _split(_frozen(config["dataset"]), _frozen(config["split"]), kind == "sequence")
    data_seconds = time.perf_counter() - start
    train, validation, test = parts

    model = _build_model(config)
    history = model.fit(train, progress=False, **config["training"])

    start = time.perf_counter()
    if kind == "sequence":
        val_metrics = _evaluate(model, kind, parts, validation, None, config["evaluation"])
        test_metrics = _evaluate(model, kind, parts, test, None, config["evaluation"])
    else:
        # Validation excludes train items; test excludes train and validation items.
        val_metrics = _evaluate(model, kind, parts, validation, None, config["evaluation"])
        test_metrics = _evaluate(model, kind, parts, test, validation, config["evaluation"])
    evaluation_seconds = time.perf_counter() - start

    sizes = {"train": len(train), "validation": len(validation), "test": len(test)}
    return {
        "config": config,
        "config_hash": config_hash(config),
        "validation": val_metrics,
        "test": test_metrics,
        "loss": [float(x) for x in history.losses],
        "seconds_per_epoch": [float(x) for x in history.seconds],
        "median_seconds_per_epoch": float(np.median(history.seconds)),
        "evaluation_seconds": evaluation_seconds,
        "data_seconds": data_seconds,
        **_byte_counts(model._net),
        "sizes": sizes,
        "device": str(torch.device(config["training"]["device"])),
    }

