"""From raw trial records to the columns the figures and tables plot: labels, sizes, baseline ratios.

:func:`prepare` keeps the trials recorded ``ok`` of one phase (``final`` by default: the reported trials,
not the hyperparameter search; a record without ``phase`` is final) and adds

``phase``
    ``search`` or ``final``.

``is_floor``, ``floor``
    The trials of a floor model (``config.model.kind`` in :data:`FLOOR_KINDS`: ``popularity``, ``random``,
    or their sequence forms ``sequence-popularity``, ``sequence-random``;
    no embedding or encoding, no epochs) and its kind ('' for every other trial). Floors are not methods:
    they have no compression; the figures draw them as bands and the tables as their own rows.
``part_section``
    Where the record's compressible part came from: ``embedding``, ``encoding`` or '' (a floor).
``method``
    The record's ``variant`` label (the spec's name for it; the embedding method where a record has none)
    plus whichever embedding settings vary among the trials of that name, e.g. ``bloom k=4 (hash=xxh64)``
    or, without variant labels, ``bloom (k=4, index=on_the_fly)``. Settings constant in an experiment are
    left out (the report's config table lists them); the compression ratio, bucket count and hash seed
    never enter it (they are the x axis or the random draw).
``method_base``
    The same label without the hash family (the hash figures and tables put the family in its own column).
``hash``
    The hash family (``params.hash`` of the record's embedding or encoding; '' where it names none).
``compression``
    The record's ``compression`` (the spec's placement of the trial), else ``params.bytes_ratio`` or
    ``params.compression_ratio`` of the embedding or encoding; 1.0 for the full table and for the baseline;
    for a full table at a smaller embedding dimension than the baseline's (``reduced_dim``, the
    equal-memory baseline), its embedding-bytes ratio to the baseline; NaN for a floor.
``table_rows``
    Rows of the full table: a record's ``table_rows`` or ``config.dataset.synthetic.num_items``.
``accuracy``
    The accuracy metric (``test.mrr``, else ``test.rmse`` for explicit models, else the validation
    metric where a run recorded no test metrics; see :func:`accuracy_metric`).
``accuracy_ratio``, ``time_ratio``, ``bytes_ratio``
    Accuracy, median seconds per epoch and embedding bytes divided by the baseline's (a floor's
    ``accuracy_ratio`` too: the figures of ratios draw it as a band).
``baseline_seed_matched``
    Whether the ratio's denominator is the baseline trial with the same split and training seeds (else
    it is the baseline's mean over its seeds).
``is_baseline``
    The trials of the baseline variant.
``popularity_accuracy``, ``popularity_ratio``, ``popularity_seed_matched``
    For every trial that is not a floor: the popularity floor's accuracy on the same data (the trial with
    the same seeds where there is one, else the floor's mean over its seeds), the trial's accuracy divided
    by it, and whether the seeds matched. NaN / False without a popularity floor.
``is_code_floor``, ``code_floor_accuracy``, ``code_floor_ratio``
    The trials of the ``coded-popularity`` kind (popularity decoded through an encoding, see
    :mod:`bloombench.models.coded_popularity`) are neither methods nor floor bands: each is the floor of
    the method trials with the same encoding section on the same data. Those trials get its accuracy
    (same seeds where there are, else its mean) and their ratio to it; NaN elsewhere.

The baseline is the full (uncompressed) table of the same experiment and *context*: the same dataset,
table size, split kind, model, epochs and device (:data:`CONTEXT_COLUMNS`). Records that say
``baseline: true`` name it; among several full variants, the one at the largest embedding dimension, and
then (dense and sparse gradients) the one trained with the optimizer most of the compressed variants use.
A floor is compared with the trials of the same *data* (:data:`DATA_CONTEXT_COLUMNS`: experiment, dataset,
table size and split kind), paired on the seed fields its records carry.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from bloombench.results import FINAL, OK, PHASE, SEARCH, STATUS

__all__ = ["CODE_FLOOR", "COLLISION_FIELDS", "CONTEXT_COLUMNS", "DATA_CONTEXT_COLUMNS", "FLOOR_KINDS", "METRICS",
           "POPULARITY", "SEED_COLUMNS", "VALIDATION_METRICS", "accuracy_metric", "collision_frame", "floor_rows",
           "higher_is_better", "method_labels", "method_rows", "phases", "prepare", "value_text",
           "with_part_columns"]

#: The record's compressible part, from whichever section its model kind has (``config.embedding.*``: a layer
#: of the tables; ``config.encoding.*``: the paper's encoding); see :func:`with_part_columns`.
PART_SECTIONS = ("config.embedding.", "config.encoding.")
METHOD = "part.method"
PARAMS = "part.params."
COMPRESSION = PARAMS + "compression_ratio"
HASH = PARAMS + "hash"
OPTIMIZER = "config.training.optimizer"
KIND = "config.model.kind"
DIM = "config.model.embedding_dim"
#: Model kinds that are floors, not methods: what any method must beat (the issue "trustworthy accuracy
#: comparisons"). Their records have no embedding or encoding section and no epochs.
FLOOR_KINDS = ("popularity", "random")
POPULARITY = "popularity"
#: The per-encoding floor: popularity as far as a method's own output code can express it.
CODE_FLOOR = "coded-popularity"
TIME = "median_seconds_per_epoch"
#: Prefix of a stream trial's own fields (``StreamModel.record_fields``): totals, and per-window lists under
#: ``windows.``.
STREAM = "stream."
BYTES = "embedding_bytes"

#: Accuracy columns, in order of preference (validation only where a run skipped the test evaluation).
METRICS = ("test.mrr", "test.rmse", "validation.mrr", "validation.rmse")
#: The columns a hyperparameter search selects on, in order of preference.
VALIDATION_METRICS = ("validation.mrr", "validation.rmse")
# Error metrics: lower is better (every other metric: higher is better).
_LOWER_IS_BETTER = ("rmse",)
#: A compressed trial is divided by the baseline trial with the same values of these.
SEED_COLUMNS = ("config.split.seed", "config.training.seed")
#: What must match between a trial and its baseline (plus every ``config.dataset.synthetic.*`` column).
#: The embedding dimension is not part of it: a full table at a smaller dimension is the equal-memory
#: baseline variant, compared with the context's baseline.
CONTEXT_COLUMNS = ("experiment", "config.dataset.name", "table_rows", "config.split.kind", "config.model.kind",
                   "config.model.loss", "config.model.representation", "config.training.epochs",
                   "config.training.device")
#: What must match between a trial and a floor (the same data; plus every ``config.dataset.synthetic.*`` column).
DATA_CONTEXT_COLUMNS = ("experiment", "config.dataset.name", "table_rows", "config.split.kind")
# Settings that size the table or draw its hashes: the x axis or the noise, never part of a label.
_UNLABELLED = frozenset({"compression_ratio", "bytes_ratio", "num_buckets", "seed"})
_ALIASES = {"num_hashes": "k"}
_ADDED = [PHASE, "is_floor", "floor", "part_section", "method_id", "method", "method_base", "hash", "compression",
          "reduced_dim", "table_rows", "accuracy", "context", "data_context", "seed_key", "is_baseline",
          "accuracy_ratio", "time_ratio", "bytes_ratio", "baseline_seed_matched", "popularity_accuracy",
          "popularity_ratio", "popularity_seed_matched", "is_code_floor", "code_floor_accuracy",
          "code_floor_ratio"]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def value_text(value: Any) -> str:
    """A hashable, readable text of a record value (lists, NaN and 4.0 read as JSON, '' and 4)."""
    if _is_missing(value):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, sort_keys=True, default=str)
    return str(value)


def _joined(frame: pd.DataFrame, columns: Iterable[str]) -> pd.Series:
    present = [c for c in columns if c in frame.columns]
    if not present:
        return pd.Series("", index=frame.index, dtype=object)
    texts = [frame[c].map(value_text) for c in present]
    return pd.Series(["|".join(parts) for parts in zip(*texts)], index=frame.index, dtype=object)


def accuracy_metric(frame: pd.DataFrame, candidates: Iterable[str] = METRICS) -> str | None:
    """The first of ``candidates`` (default :data:`METRICS`) with a finite value in ``frame``, else None."""
    for name in candidates:
        if name in frame.columns and np.isfinite(pd.to_numeric(frame[name], errors="coerce")).any():
            return name
    return None


def higher_is_better(metric: str) -> bool:
    """False for error metrics (``*.rmse``), True for ranking metrics."""
    return metric.rsplit(".", 1)[-1] not in _LOWER_IS_BETTER


def phases(frame: pd.DataFrame) -> pd.Series:
    """Each record's ``phase``: ``search`` or ``final`` (a missing phase reads as final)."""
    if PHASE not in frame.columns:
        return pd.Series(FINAL, index=frame.index, dtype=object)
    return frame[PHASE].map(value_text).replace("", FINAL)


def with_part_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``part.*`` columns: each record's ``config.embedding.*`` or ``config.encoding.*``
    (whichever its model kind has), so embedding layers and the paper's encodings are read alike; and
    ``part_section``, the section's name (``embedding``, ``encoding``, or '' for a record with neither)."""
    out = frame.copy()
    out["part_section"] = ""
    for section in PART_SECTIONS:
        name = section.split(".")[1]
        for column in (c for c in frame.columns if c.startswith(section)):
            target = "part." + column[len(section):]
            out[target] = out[target].combine_first(frame[column]) if target in out.columns else frame[column]
        method = section + "method"
        if method in frame.columns:
            out.loc[frame[method].map(value_text) != "", "part_section"] = name
    return out


def method_rows(prepared: pd.DataFrame) -> pd.DataFrame:
    """The prepared trials of methods (every trial but the floors' and the code floors')."""
    floors = prepared["is_floor"].astype(bool)
    if "is_code_floor" in prepared.columns:
        floors |= prepared["is_code_floor"].astype(bool)
    return prepared[~floors]


def floor_rows(prepared: pd.DataFrame, kind: str | None = None) -> pd.DataFrame:
    """The prepared trials of the floors (of one kind of :data:`FLOOR_KINDS` when given)."""
    rows = prepared[prepared["is_floor"].astype(bool)]
    return rows if kind is None else rows[rows["floor"] == kind]


def method_labels(frame: pd.DataFrame, exclude: Iterable[str] = ()) -> pd.Series:
    """Label of each trial's variant: the method and its settings that vary within the experiment.

    Parameters
    ----------
    frame : DataFrame
        Trials with ``experiment`` and ``part.method`` columns (:func:`with_part_columns`; and ``variant``
        where recorded).
    exclude : iterable of str
        Further embedding parameter names to leave out (the hash-family figure leaves out ``hash``).
    """
    skip = _UNLABELLED | set(exclude)
    candidates = [c for c in frame.columns if c.startswith(PARAMS) and c[len(PARAMS):] not in skip]
    candidates += [c for c in ("part.tables", OPTIMIZER) if c in frame.columns]
    names = frame[METHOD].map(value_text).replace("", "?")
    if "variant" in frame.columns:
        names = frame["variant"].map(value_text).where(lambda v: v != "", names)
    labels = pd.Series("", index=frame.index, dtype=object)
    for _, group in frame.assign(_name=names).groupby(["experiment", "_name"], dropna=False, sort=False):
        texts = {c: group[c].map(value_text) for c in candidates}
        varying = [c for c in candidates if texts[c].nunique() > 1]
        for index in group.index:
            settings = [f"{_ALIASES.get(c.rsplit('.', 1)[-1], c.rsplit('.', 1)[-1])}={texts[c][index]}"
                        for c in varying if texts[c][index]]
            name = group.at[index, "_name"]
            labels[index] = f"{name} ({', '.join(settings)})" if settings else name
    return labels


def _floor_labels(frame: pd.DataFrame) -> pd.Series:
    """A floor's label: its variant label, else its model kind."""
    kinds = frame[KIND].map(value_text) if KIND in frame.columns else pd.Series("", index=frame.index)
    if "variant" not in frame.columns:
        return kinds
    return frame["variant"].map(value_text).where(lambda v: v != "", kinds)


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _largest_dim(full: pd.DataFrame) -> pd.DataFrame:
    """The rows at the largest embedding dimension (all rows where none is recorded)."""
    dims = _numeric(full, DIM)
    return full[dims == dims.max()] if dims.notna().any() else full


def _choose_baseline(group: pd.DataFrame) -> pd.DataFrame:
    """The trials of the baseline variant of one context (empty when it has no full table)."""
    # A full table at a smaller dimension is the equal-memory variant, never the baseline.
    if "baseline" in group.columns and group["baseline"].eq(True).any():
        return _largest_dim(group[group["baseline"].eq(True)])
    full = _largest_dim(group[group["method_id"] == "full"])
    if full.empty:
        return full
    if OPTIMIZER in group.columns and full[OPTIMIZER].map(value_text).nunique() > 1:
        compressed = group.loc[group["method_id"] != "full", OPTIMIZER].map(value_text)
        choices = sorted(set(full[OPTIMIZER].map(value_text)))
        modes = sorted(compressed.mode()) if len(compressed) else []
        preferred = next((m for m in modes if m in choices), choices[0])
        full = full[full[OPTIMIZER].map(value_text) == preferred]
    labels = sorted(full["method"].unique(), key=lambda label: (label != "full", label))
    return full[full["method"] == labels[0]]


def _denominators(keys: pd.Series, reference: pd.Series, reference_keys: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Per key, the reference value with the same key (the mean where several), else the reference's mean;
    and whether the key matched."""
    per_key = reference.groupby(reference_keys).mean()
    matched = keys.isin(set(per_key.index))
    return keys.map(per_key).astype(float).fillna(reference.mean()), matched


def _add_ratios(out: pd.DataFrame) -> None:
    columns = {"accuracy": "accuracy_ratio", TIME: "time_ratio", BYTES: "bytes_ratio"}
    for _, group in method_rows(out).groupby("context", sort=False):
        baseline = _choose_baseline(group)
        if baseline.empty:
            continue
        out.loc[baseline.index, "is_baseline"] = True
        for source, target in columns.items():
            denominator, matched = _denominators(group["seed_key"], out.loc[baseline.index, source],
                                                 baseline["seed_key"])
            out.loc[group.index, target] = (out.loc[group.index, source] / denominator).to_numpy()
        out.loc[group.index, "baseline_seed_matched"] = matched.to_numpy()
        dims = _numeric(group, DIM)
        reduced = (group["method_id"] == "full") & (dims < _numeric(baseline, DIM).max())
        if reduced.any():  # the equal-memory baseline: at its bytes ratio, named apart from the baseline
            index = group.index[reduced]
            out.loc[index, "reduced_dim"] = True
            out.loc[index, "compression"] = out.loc[index, "bytes_ratio"]
            same = index[out.loc[index, "method"].isin(set(baseline["method"])).to_numpy()]
            for column in ("method", "method_base"):
                out.loc[same, column] = out.loc[same, column] + " (smaller dim)"


def _floor_keys(out: pd.DataFrame, floor: pd.DataFrame) -> pd.Series:
    """The seed key of every trial over the seed fields the floor's records all carry."""
    carried = [c for c in SEED_COLUMNS if c in floor.columns and floor[c].map(value_text).ne("").all()]
    return _joined(out, carried)


def _add_floor_ratios(out: pd.DataFrame) -> None:
    """Floors divided by the baseline of their data; every other trial divided by its data's popularity floor."""
    floors = out[out["is_floor"]]
    for data_context, group in out.groupby("data_context", sort=False):
        methods = method_rows(group)
        baselines = methods[methods["is_baseline"]]
        for kind, floor in floors[floors["data_context"] == data_context].groupby("floor", sort=True):
            keys = _floor_keys(out, floor)
            if not baselines.empty and baselines["context"].nunique() == 1:  # else: whose ratio would it be?
                denominator, _ = _denominators(keys[floor.index], baselines["accuracy"], keys[baselines.index])
                out.loc[floor.index, "accuracy_ratio"] = (floor["accuracy"] / denominator).to_numpy()
            if kind != POPULARITY or methods.empty:
                continue
            denominator, matched = _denominators(keys[methods.index], floor["accuracy"], keys[floor.index])
            out.loc[methods.index, "popularity_accuracy"] = denominator.to_numpy()
            out.loc[methods.index, "popularity_ratio"] = (methods["accuracy"] / denominator).to_numpy()
            out.loc[methods.index, "popularity_seed_matched"] = matched.to_numpy()


def _add_code_floor_ratios(out: pd.DataFrame) -> None:
    """Every method trial divided by the code floor with its encoding section, on its data."""
    floors = out[out["is_code_floor"]]
    encoding = sorted(c for c in out.columns if c.startswith("config.encoding."))
    if floors.empty or not encoding:
        return
    synthetic = sorted(c for c in out.columns if c.startswith("config.dataset.synthetic."))
    code = _joined(out, [*DATA_CONTEXT_COLUMNS, *synthetic, *encoding])
    methods = method_rows(out)
    for key, floor in floors.groupby(code[floors.index], sort=False):
        members = methods[code[methods.index] == key]
        if members.empty:
            continue
        keys = _floor_keys(out, floor)
        denominator, _ = _denominators(keys[members.index], floor["accuracy"], keys[floor.index])
        out.loc[members.index, "code_floor_accuracy"] = denominator.to_numpy()
        out.loc[members.index, "code_floor_ratio"] = (members["accuracy"] / denominator).to_numpy()


def prepare(frame: pd.DataFrame, metric: str | None = None, phase: str | None = FINAL) -> pd.DataFrame:
    """The ``ok`` trials of ``frame`` with the analysis columns described in the module docstring.

    Parameters
    ----------
    frame : DataFrame
        Records as returned by :func:`bloombench.results.load_results`.
    metric : str, optional
        Accuracy column; default :func:`accuracy_metric` of the frame. Stored in ``.attrs["metric"]``.
    phase : {"final", "search", None}, default "final"
        Keep the trials of this phase only; None keeps both (baselines are then chosen across phases).

    Returns
    -------
    DataFrame
        A copy; empty (with the added columns) when there is no ``ok`` trial.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if phase not in (FINAL, SEARCH, None):
        raise ValueError(f"phase must be {FINAL!r}, {SEARCH!r} or None, got {phase!r}")
    if frame.empty:
        empty = pd.DataFrame(columns=[*frame.columns, *[c for c in _ADDED if c not in frame.columns]])
        empty.attrs["metric"] = metric
        return empty
    frame = with_part_columns(frame)
    kind = frame[KIND].map(value_text) if KIND in frame.columns else pd.Series("", index=frame.index)
    floor = kind.str.removeprefix("sequence-")  # the sequence floors are the same two floors, on windows
    floor = floor.where(floor.isin(FLOOR_KINDS), "")
    if METHOD not in frame.columns and floor.ne("").any():  # floors only: no embedding or encoding section
        frame = frame.assign(**{METHOD: np.nan})
    missing = [c for c in ("experiment", METHOD) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks the columns {missing}: pass the records of load_results() "
                         "(config.embedding.method or config.encoding.method)")
    if metric is not None and metric not in frame.columns:
        raise ValueError(f"metric {metric!r} is not a column of the frame; accuracy columns present: "
                         f"{[c for c in frame.columns if c.startswith(('test.', 'validation.'))]}")
    ok = frame[STATUS] == OK if STATUS in frame.columns else pd.Series(True, index=frame.index)
    if phase is not None:
        ok &= phases(frame) == phase
    out = frame.loc[ok].copy()
    metric = metric or accuracy_metric(out)

    out[PHASE] = phases(out)
    out["floor"] = floor[ok]
    out["is_floor"] = out["floor"] != ""
    out["is_code_floor"] = kind[ok].eq(CODE_FLOOR)
    out["method_id"] = out[METHOD].map(value_text)
    out["method"] = method_labels(out).where(~out["is_floor"], _floor_labels(out))
    out["method_base"] = method_labels(out, exclude=("hash",)).where(~out["is_floor"], out["method"])
    out["hash"] = out[HASH].map(value_text) if HASH in out.columns else ""
    compression = _numeric(out, PARAMS + "bytes_ratio").fillna(_numeric(out, COMPRESSION))
    if "compression" in out.columns:  # the spec's own placement, recorded with the trial (a scaled full table)
        compression = _numeric(out, "compression").fillna(compression)
    # The uncompressed reference sits at 1.0: the full table, or a record marked as the spec's baseline
    # (e.g. the paper's identity encoding), unless it names a ratio of its own.
    reference = out["method_id"].eq("full")
    if "baseline" in out.columns:
        reference |= out["baseline"].eq(True)
    out["compression"] = compression.where(compression.notna() | ~reference, 1.0)
    out["reduced_dim"] = False
    rows = _numeric(out, "table_rows")
    out["table_rows"] = rows.fillna(_numeric(out, "config.dataset.synthetic.num_items"))
    out["accuracy"] = _numeric(out, metric) if metric else np.nan
    for column in (TIME, BYTES):
        out[column] = _numeric(out, column)
    synthetic = sorted(c for c in out.columns if c.startswith("config.dataset.synthetic."))
    out["context"] = _joined(out, [*CONTEXT_COLUMNS, *synthetic])
    out["data_context"] = _joined(out, [*DATA_CONTEXT_COLUMNS, *synthetic])
    out["seed_key"] = _joined(out, SEED_COLUMNS)
    out["is_baseline"] = False
    out["baseline_seed_matched"] = False
    out["popularity_seed_matched"] = False
    for column in ("accuracy_ratio", "time_ratio", "bytes_ratio", "popularity_accuracy", "popularity_ratio",
                   "code_floor_accuracy", "code_floor_ratio"):
        out[column] = np.nan
    _add_ratios(out)
    _add_floor_ratios(out)
    _add_code_floor_ratios(out)
    out.attrs["metric"] = metric
    return out


#: The collision measures a record's ``diagnostics`` may hold (see ``bloombench.layers.collision_diagnostics``).
COLLISION_FIELDS = ("repeat_share", "expected_repeat_share", "signature_collision_share",
                    "expected_signature_collision_share", "chi2_pvalue", "load_max", "load_mean", "num_buckets",
                    "num_hashes", "num_ids")
_DIAGNOSTIC = re.compile(r"^diagnostics\.(?:(?P<table>.+)\.)?(?P<field>[A-Za-z0-9_]+)$")


def collision_frame(prepared: pd.DataFrame) -> pd.DataFrame:
    """Collision diagnostics of prepared trials, one row per (trial, diagnosed table).

    A record's ``diagnostics`` may be one flat dict (table ``all``) or one dict per table
    (``diagnostics.items.repeat_share``, ...).

    Returns
    -------
    DataFrame
        ``experiment, method_base, hash, compression, seed_key, table`` and the :data:`COLLISION_FIELDS` found;
        empty when no trial carries diagnostics.
    """
    found: dict[str, dict[str, str]] = {}
    for column in prepared.columns:
        match = _DIAGNOSTIC.match(column)
        if match and match["field"] in COLLISION_FIELDS:
            found.setdefault(match["table"] or "all", {})[match["field"]] = column
    keys = ["experiment", "method_base", "hash", "compression", "seed_key"]
    parts = []
    for table, fields in sorted(found.items()):
        part = prepared[keys].copy()
        part["table"] = table
        for field, column in fields.items():
            part[field] = pd.to_numeric(prepared[column], errors="coerce").astype(float)
        measured = [f for f in fields if f in ("repeat_share", "signature_collision_share")]
        parts.append(part[part[measured].notna().any(axis=1)] if measured else part.iloc[:0])
    if not parts:
        return pd.DataFrame(columns=[*keys, "table"])
    return pd.concat(parts, ignore_index=True)
