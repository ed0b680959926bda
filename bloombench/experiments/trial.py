"""One trial: data and split (cached), the configured model, fit, evaluate, measure.

:func:`run_trial` takes a (partial) trial config (:mod:`bloombench.experiments.config`), resolves it for
its model kind and returns the measurements; it raises on failure. What the trial does with the model is
asked of the model (:class:`~bloombench.models.Model`): what data it fits, how it evaluates, its bytes and
its embedding tables; this module never branches on the model kind. :mod:`bloombench.experiments.records`
wraps a run into a result-store record.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from bloombench.experiments.config import config_hash, resolve_config
from bloombench.experiments.data import trial_data
from bloombench.layers import collision_diagnostics
from bloombench.models import FitOptions, Model, get_model, make_model

__all__ = ["build_model", "check_config", "run_trial"]


def build_model(config: Mapping[str, Any]) -> Model:
    """The model of a resolved config: its kind, settings and the method of its compressible part."""
    settings = dict(config["model"])
    kind = settings.pop("kind")
    section = get_model(kind).config_section
    part = config.get(section, {}) if section else {}
    return make_model(kind, settings, method=part.get("method"), params=part.get("params"),
                      tables=part.get("tables", "both"))


def check_config(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Resolve a trial config and refuse what cannot run, without loading data or training.

    Builds the model (its settings, its method's name and arguments) and a small layer or encoding of the
    same method and arguments, which catches bad ratios, unknown hashes and impossible arguments; what
    depends on the real table size is caught when the trial runs. CUDA availability is not checked here
    (a spec may be validated on one machine and run on another).

    Raises
    ------
    ValueError, TypeError
        What is wrong, naming the config key or argument.
    """
    from bloombench.encodings import make_encoding
    from bloombench.layers import make_embedding

    config = resolve_config(overrides)
    build_model(config)
    if "embedding" in config:
        dim = config["model"].get("embedding_dim", 4)  # the model's width: some sizes must divide it
        make_embedding(config["embedding"]["method"], 10_000, dim, **config["embedding"]["params"])
    if "encoding" in config:
        make_encoding(config["encoding"]["method"], 10_000, **config["encoding"]["params"])
    FitOptions(**{**config["training"], "device": "cpu"})
    return config


def _diagnostics(model: Model) -> dict[str, dict[str, float | int]]:
    """Collision diagnostics of each hashed embedding table, keyed by role (``users``, ``items``)."""
    return {role: collision_diagnostics(layer).to_dict() for role, layer in model.embedding_tables().items()
            if hasattr(layer, "hashed_indices")}


def run_trial(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run one trial and return its measurements (config, hash, metrics, timings, sizes).

    Parameters
    ----------
    overrides : mapping, optional
        Partial config, resolved for its model kind by :func:`~bloombench.experiments.config.resolve_config`.

    Returns
    -------
    dict
        ``config`` (fully resolved) and its ``config_hash``, ``validation`` and ``test`` metrics (empty when
        ``evaluation.enabled`` is false), ``loss`` per epoch, ``seconds_per_epoch`` (all, and the median:
        None when no epoch ran, as for the floors, which train nothing), ``best_epoch`` (the epoch whose
        weights were evaluated: the best on validation with ``training.patience``, else the last; None
        without epochs), ``validation_per_epoch`` (the early-stopping metric after each epoch; empty
        without early stopping), ``fit_seconds`` (training, plus the per-epoch validation of early
        stopping), ``index_build_seconds``, ``prepare_seconds`` (training counts and frequency plans),
        ``evaluation_seconds``, ``data_seconds``, the model's byte counts (``embedding_bytes`` 0 for the
        floors), ``table_rows`` (rows of the full item table), the split sizes, ``device``,
        ``cuda_peak_bytes`` (None on CPU), the model's own ``record_fields()`` and, with
        ``evaluation.diagnostics``, ``diagnostics`` per hashed table.
    """
    config = resolve_config(overrides)
    # FitOptions resolves the device ("auto", and refuses CUDA where there is none) before any work.
    options = FitOptions(**config["training"])
    device = options.device
    model = build_model(config)
    start = time.perf_counter()
    train, validation, test = trial_data(config, model.inputs)
    data_seconds = time.perf_counter() - start

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    settings = dict(config["evaluation"])
    enabled, diagnostics = settings.pop("enabled"), settings.pop("diagnostics", False)
    start = time.perf_counter()
    # With training.patience the model scores validation after each epoch, with the same settings.
    history = model.fit(train, options, validation=validation, evaluation=settings)
    fit_seconds = time.perf_counter() - start

    val_metrics: dict[str, float] = {}
    test_metrics: dict[str, float] = {}
    start = time.perf_counter()
    if enabled:
        # Validation excludes train items; test excludes train and validation items.
        val_metrics = model.evaluate(validation, train=train, **settings)
        test_metrics = model.evaluate(test, train=train, exclude=validation, **settings)
    evaluation_seconds = time.perf_counter() - start

    record = {
        "config": config,
        "config_hash": config_hash(config),
        "validation": val_metrics,
        "test": test_metrics,
        "loss": [float(x) for x in history.losses],
        "seconds_per_epoch": [float(x) for x in history.seconds],
        "median_seconds_per_epoch": float(np.median(history.seconds)) if history.seconds else None,
        "best_epoch": history.best_epoch,
        "validation_per_epoch": [float(x) for x in history.validation],
        "fit_seconds": fit_seconds,
        "index_build_seconds": model.index_build_seconds(),
        # counting training ids and planning frequency-aware tables (like index builds, inside fit_seconds)
        "prepare_seconds": model.prepare_seconds(),
        "evaluation_seconds": evaluation_seconds,
        "data_seconds": data_seconds,
        **model.byte_counts(),
        "table_rows": int(train.num_items),
        "sizes": {"train": len(train), "validation": len(validation), "test": len(test)},
        "device": str(device),
        "cuda_peak_bytes": int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None,
    }
    extra = model.record_fields()
    clash = sorted(set(extra) & set(record))
    if clash:
        raise ValueError(f"{type(model).__name__}.record_fields() would overwrite {clash}")
    record.update(extra)
    if diagnostics:
        record["diagnostics"] = _diagnostics(model)
    return record
