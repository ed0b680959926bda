"""One trial: data and split (cached), model with the configured embeddings, fit, evaluate.

A trial is described by a nested config dict; :func:`resolve_config` fills defaults and refuses unknown
keys, so the record of a trial always holds the *fully resolved* config and :func:`config_hash` of it.
:func:`run_trial` raises on failure; :func:`execute_trial` is what executors run: it wraps
:func:`run_trial` into a complete result-store record (identity, seeds, environment, times) and turns
any exception into a record with ``status="failed"`` instead of raising.

Config keys beyond the obvious ones:

``dataset.table_rows``
    Inflate the user and item id spaces to at least this many rows (Spotlight's scaling protocol: the
    interactions stay the same, the tables grow). Used by the speed experiment.
``split.max_length``
    Sequence window length: an int, or ``"pNN"`` for the NN-th percentile of the per-user interaction
    counts of the training part (Spotlight used the 95th).
``evaluation.enabled``
    ``False`` skips evaluation (timing-only trials on inflated tables).
``evaluation.diagnostics``
    Record the collision diagnostics of every hashed table of the trained model.
``model.kind = "feedforward"``
    The paper's feed-forward model (:mod:`bloombench.models.feedforward`): ``embedding.method`` names an
    output/input encoding of :mod:`bloombench.encodings` (``identity`` is the uncompressed baseline) and
    ``embedding.params`` its arguments (``compression_ratio`` = m/d, ``num_hashes``, ``hash``, ...);
    ``model.hidden``, ``activation``, ``dropout``, ``target_fraction``, ``input_norm`` shape the net.
    ``embedding_bytes`` is then the codes plus the m-wide input and output layers.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import os
import resource
import socket
import time
import traceback
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
from bloombench.experiments.environment import environment
from bloombench.layers import collision_diagnostics, embedding_factory
from bloombench.models import (
    ExplicitFactorizationModel,
    FeedForwardModel,
    ImplicitFactorizationModel,
    ImplicitSequenceModel,
)
from bloombench.results import now

__all__ = ["DEFAULTS", "config_hash", "execute_trial", "identity_config", "lost_trial_record", "resolve_config",
           "run_trial"]

DEFAULTS: dict[str, dict[str, Any]] = {
    "dataset": {"name": "movielens-100k", "data_dir": None, "min_user": 1, "min_item": 1,
                "synthetic": {}, "table_rows": None},
    "split": {"kind": "random", "fractions": [0.8, 0.1, 0.1], "seed": 0,
              "max_length": 100, "min_length": 20, "step": None},
    "model": {"kind": "implicit", "loss": "bpr", "embedding_dim": 32, "representation": "lstm",
              "n_negatives": 5, "hidden": [256], "activation": "tanh", "dropout": 0.0, "target_fraction": 0.5,
              "input_norm": "l2"},
    "embedding": {"method": "full", "tables": "both", "params": {}},
    "training": {"epochs": 10, "batch_size": 1024, "lr": 1e-2, "l2": 1e-6, "optimizer": "adam",
                 "device": "cpu", "seed": 0},
    "evaluation": {"ks": [5, 10, 20], "legacy": None, "exclude_train": True, "exclude_preceding": False,
                   "enabled": True, "diagnostics": False},
}

_CHOICES = {
    ("split", "kind"): ("random", "user"),
    ("model", "kind"): ("implicit", "explicit", "sequence", "feedforward"),
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


def identity_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The resolved config without ``dataset.data_dir``: where the data lives is not what it is, so a trial
    run from another data directory (or machine) is the same trial."""
    config = resolve_config(overrides)
    config["dataset"]["data_dir"] = None
    return config


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
    rows = spec["table_rows"]
    if rows is not None:
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise ValueError(f"dataset.table_rows must be a positive int or None, got {rows!r}")
        # Spotlight's scaling protocol: the same interactions, larger id spaces (the raw-id maps no longer
        # cover every id, so they are dropped).
        data = dataclasses.replace(data, num_users=max(rows, data.num_users), num_items=max(rows, data.num_items),
                                   user_map=None, item_map=None)
    return data


def _window_length(value: Any, train: Interactions) -> int:
    """``split.max_length``: an int, or ``"pNN"``, the NN-th percentile of per-user counts in ``train``."""
    if isinstance(value, str) and value.startswith("p"):
        try:
            percentile = float(value[1:])
        except ValueError:
            percentile = -1.0
        if not 0 < percentile <= 100:
            raise ValueError(f"split.max_length must be an int or 'pNN' with 0 < NN <= 100, got {value!r}")
        counts = np.bincount(train.user_ids)
        return max(1, int(np.percentile(counts[counts > 0], percentile)))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"split.max_length must be a positive int or 'pNN', got {value!r}")
    return value


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
        length = _window_length(spec["max_length"], parts[0])
        parts = tuple(p.to_sequences(length, spec["min_length"], spec["step"]) for p in parts)
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
    if model["kind"] == "feedforward":  # the paper's model: embedding.method names an output encoding
        emb = config["embedding"]
        return FeedForwardModel(emb["method"], encoding_params=emb["params"], hidden=tuple(model["hidden"]),
                                activation=model["activation"], dropout=model["dropout"],
                                target_fraction=model["target_fraction"], input_norm=model["input_norm"])
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


def _byte_counts(net: nn.Module) -> dict[str, Any]:
    embedding = sum(m.memory_bytes() for m in net.modules() if hasattr(m, "memory_bytes"))
    total = sum(t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()])
    counts: dict[str, Any] = {"embedding_bytes": int(embedding), "model_bytes": int(total),
                              "parameters": int(sum(p.numel() for p in net.parameters()))}
    if hasattr(net, "byte_breakdown"):
        # The paper's model: what m sizes is the codes plus the m-wide input and output layers.
        parts = net.byte_breakdown()
        counts["byte_breakdown"] = parts
        counts["embedding_bytes"] = int(parts["encoding"] + parts["input_layer"] + parts["output_layer"])
    return counts


def _index_build_seconds(net: nn.Module) -> float:
    """Seconds the model's hash indices took to build (0 for on-the-fly indices and unhashed layers)."""
    return float(sum(getattr(m, "build_seconds", 0.0) for m in net.modules()))


def _diagnostics(net: nn.Module) -> dict[str, dict[str, float | int]]:
    """Collision diagnostics of each hashed table of ``net``, keyed by table (``users``, ``items``)."""
    tables = {"users": getattr(net, "user_embeddings", None), "items": getattr(net, "item_embeddings", None)}
    return {name: collision_diagnostics(layer).to_dict() for name, layer in tables.items()
            if layer is not None and hasattr(layer, "hashed_indices")}


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
    """Run one trial and return its measurements (config, hash, metrics, timings, sizes).

    Parameters
    ----------
    overrides : mapping, optional
        Partial config, merged onto :data:`DEFAULTS` by :func:`resolve_config`.

    Returns
    -------
    dict
        ``config``, ``config_hash``, ``validation`` and ``test`` metrics (empty when
        ``evaluation.enabled`` is false), ``seconds_per_epoch`` (median and all), ``loss``,
        ``fit_seconds``, ``index_build_seconds``, ``evaluation_seconds``, ``data_seconds``, byte counts,
        ``table_rows`` (rows of the full item table), the split sizes, ``cuda_peak_bytes`` (None on CPU)
        and, with ``evaluation.diagnostics``, ``diagnostics`` per hashed table.
    """
    config = resolve_config(overrides)
    kind = config["model"]["kind"]
    device = torch.device(config["training"]["device"])
    start = time.perf_counter()
    parts = _split(_frozen(config["dataset"]), _frozen(config["split"]), kind == "sequence")
    data_seconds = time.perf_counter() - start
    train, validation, test = parts

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = _build_model(config)
    start = time.perf_counter()
    history = model.fit(train, progress=False, **config["training"])
    fit_seconds = time.perf_counter() - start
    net = model._net

    spec = config["evaluation"]
    val_metrics: dict[str, float] = {}
    test_metrics: dict[str, float] = {}
    start = time.perf_counter()
    if spec["enabled"]:
        # Validation excludes train items; test excludes train and validation items.
        val_metrics = _evaluate(model, kind, parts, validation, None, spec)
        test_metrics = _evaluate(model, kind, parts, test, validation if kind != "sequence" else None, spec)
    evaluation_seconds = time.perf_counter() - start

    record = {
        "config": config,
        "config_hash": config_hash(config),
        "validation": val_metrics,
        "test": test_metrics,
        "loss": [float(x) for x in history.losses],
        "seconds_per_epoch": [float(x) for x in history.seconds],
        "median_seconds_per_epoch": float(np.median(history.seconds)),
        "fit_seconds": fit_seconds,
        "index_build_seconds": _index_build_seconds(net),
        "evaluation_seconds": evaluation_seconds,
        "data_seconds": data_seconds,
        **_byte_counts(net),
        "table_rows": int(train.num_items),
        "sizes": {"train": len(train), "validation": len(validation), "test": len(test)},
        "device": str(device),
        "cuda_peak_bytes": int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None,
    }
    if spec["diagnostics"]:
        record["diagnostics"] = _diagnostics(net)
    return record


def _task_record(task: Mapping[str, Any]) -> dict[str, Any]:
    """The identity fields of an executor task, as every record of it starts."""
    record: dict[str, Any] = {key: task[key] for key in ("experiment", "variant", "phase", "trial_key")}
    record["baseline"] = bool(task.get("baseline", False))
    if task.get("selected_from"):
        record["selected_from"] = task["selected_from"]
    return record


def _failure(task: Mapping[str, Any], error: BaseException, trace: str) -> dict[str, Any]:
    """``status="failed"`` with the error, the traceback and the config as far as it resolves."""
    try:
        config = resolve_config(task["config"])
    except ValueError:
        config = task["config"]
    return {"status": "failed", "error": f"{type(error).__name__}: {error}", "traceback": trace,
            "config": config}


def _seeds(config: Mapping[str, Any]) -> dict[str, Any]:
    def at(*path: str) -> Any:
        value: Any = config
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    return {"split": at("split", "seed"), "training": at("training", "seed"),
            "embedding": at("embedding", "params", "seed")}


def execute_trial(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run the trial of an executor task and return its complete result-store record; never raises.

    Parameters
    ----------
    task : mapping
        ``experiment``, ``variant``, ``phase``, ``trial_key``, ``config`` (trial overrides) and
        optionally ``selected_from`` (the search trial whose hyperparameters a final trial uses).

    Returns
    -------
    dict
        The identity fields of ``task``, ``status`` (``"ok"`` or ``"failed"`` with ``error`` and
        ``traceback``: an exception, a NaN loss or running out of memory fails the trial, not the sweep),
        the measurements of :func:`run_trial`, ``seeds``, ``environment``, ``worker``, ``started``,
        ``ended``, ``wall_seconds`` and ``peak_rss_bytes`` (the peak resident memory of the process
        that ran it, so far).
    """
    record = _task_record(task)
    record["started"] = now()
    start = time.perf_counter()
    try:
        record.update(run_trial(task["config"]))
        record["status"] = "ok"
    except Exception as error:  # recorded (MemoryError and CUDA OOM included); the sweep goes on
        record.update(_failure(task, error, traceback.format_exc(limit=8)))
    record.update(
        ended=now(), wall_seconds=time.perf_counter() - start, environment=environment(),
        worker={"host": socket.gethostname(), "pid": os.getpid()}, seeds=_seeds(record["config"]),
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
    return record


def lost_trial_record(task: Mapping[str, Any], error: BaseException) -> dict[str, Any]:
    """The ``failed`` record of a trial whose worker process kept dying (killed, out of memory).

    Made by the driver (the worker is gone), so it holds the identity, config, seeds and error, and the
    driver's time of writing as ``ended``.
    """
    record = _task_record(task)
    record.update(_failure(task, error, ""), ended=now())
    record["seeds"] = _seeds(record["config"])
    return record
