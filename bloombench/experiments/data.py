"""A trial's data: the dataset (loaded, filtered, inflated) and its split, cached across the trials of a
process that share them (a sweep runs many trials on one split); or, for a model that takes a stream, the
stream (lazy: nothing to cache) and the parts its evaluation reports."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from bloombench.data import (
    GENERATORS,
    Interactions,
    filter_min_interactions,
    generate,
    load_dataset,
    make_stream,
    random_split,
    user_split,
)

__all__ = ["split_data", "stream_data", "trial_data"]


@functools.lru_cache(maxsize=8)
def _load(dataset_json: str) -> Interactions:
    spec = json.loads(dataset_json)
    if spec["name"] in GENERATORS:  # a seeded generator, its arguments in dataset.synthetic
        data = generate(spec["name"], **spec["synthetic"])
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


def _frozen(mapping: Mapping[str, Any]) -> str:
    return json.dumps(mapping, sort_keys=True, default=str)


def split_data(dataset: Mapping[str, Any], split: Mapping[str, Any], sequences: bool) -> tuple:
    """``(train, validation, test)`` of a resolved config's ``dataset`` and ``split`` sections.

    Parameters
    ----------
    dataset, split : mapping
        The config sections (see :mod:`bloombench.experiments.config`).
    sequences : bool
        Cut each part into windows (``split.max_length``, ``min_length``, ``step``) for a sequence model.
    """
    return _split(_frozen(dataset), _frozen(split), sequences)


def stream_data(dataset: Mapping[str, Any], split: Mapping[str, Any]) -> tuple:
    """``(stream, validation, test)``: the stream of ``dataset`` realised with ``split.seed``, and its first
    and second halves of windows (tune on the beginning of a stream, report on the rest)."""
    params = dict(dataset["synthetic"])
    if "events_seed" in params:
        raise ValueError("dataset.synthetic.events_seed is set by split.seed (each repeat draws its stream)")
    stream = make_stream(dataset["name"], **params, events_seed=split["seed"])
    half = stream.num_windows // 2
    return stream, stream.part("validation", 0, half), stream.part("test", half, stream.num_windows)


def trial_data(config: Mapping[str, Any], inputs: str) -> tuple:
    """``(train, validation, test)`` of a resolved config for a model whose ``inputs`` are given."""
    if inputs == "stream":
        return stream_data(config["dataset"], config["split"])
    return split_data(config["dataset"], config["split"], inputs == "sequences")
