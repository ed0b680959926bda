"""Report tables: one function per table, each a DataFrame; :func:`write_table` saves CSV and Markdown.

Means and ``ci_low``/``ci_high`` are over seeds with the 95% Student-t interval of
:mod:`bloombench.report.stats` (the same numbers as the figures' error bars). Every function takes the
records of :func:`bloombench.results.load_results` (one or several experiments) and returns an empty
DataFrame when the records hold nothing it can tabulate.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bloombench.report.compare import floor_summary, frontier, hash_tests
from bloombench.report.prepare import (
    BYTES,
    SEED_COLUMNS,
    STREAM,
    TIME,
    VALIDATION_METRICS,
    accuracy_metric,
    collision_frame,
    higher_is_better,
    method_rows,
    phases,
    prepare,
    value_text,
)
from bloombench.report.stats import summarise
from bloombench.results import (
    ERROR,
    EXPERIMENT,
    FINAL,
    OK,
    PHASE,
    SEARCH,
    SELECTED_FROM,
    STATUS,
    TRIAL_KEY,
    VARIANT,
)

__all__ = ["BELOW_POPULARITY", "accuracy_table", "collision_table", "failures_table", "floors_table", "frontier_table",
           "hash_table", "hash_test_table", "search_table", "speed_table", "stream_table", "write_table"]

#: The accuracy table's flag: the mean accuracy is worse than the popularity floor's (for an error metric:
#: higher), a result the report must explain before anyone trusts it.
BELOW_POPULARITY = "below_popularity"


def _merge(parts: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    table = parts[0]
    for part in parts[1:]:
        table = table.merge(part, on=keys, how="outer")
    return table


def _method_order(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Rows sorted by ``by``, the full-table variants of each experiment first."""
    order = table.assign(_not_full=~table["method"].astype(str).str.startswith("full"))
    sort = [c for c in ("experiment", "_not_full") if c in order.columns] + [c for c in by if c != "experiment"]
    ascending = [c != "compression" for c in sort]  # largest compression ratio (least compressed) first
    return order.sort_values(sort, ascending=ascending, kind="stable").drop(columns="_not_full").reset_index(drop=True)


def _with_experiment(table: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """``table`` of one experiment's comparisons with its ``experiment`` column first."""
    name = ", ".join(sorted(set(data["experiment"].map(value_text))))
    return table.assign(experiment=name)[["experiment", *table.columns]]


def _per_experiment(frame: pd.DataFrame, metric: str | None, make) -> pd.DataFrame:
    """``make(prepared)`` for each experiment of ``frame`` (comparisons never mix experiments), stacked."""
    data = prepare(frame, metric)
    if data.empty or data.attrs.get("metric") is None:
        return pd.DataFrame()
    parts = []
    for _, part in data.groupby("experiment", sort=True):
        part.attrs["metric"] = data.attrs["metric"]
        table = make(part)
        if not table.empty:
            parts.append(_with_experiment(table, part))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def accuracy_table(frame: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Accuracy, its ratios to the baseline and to the popularity floor, bytes and time per method and compression.

    Parameters
    ----------
    frame : DataFrame
        Records of :func:`bloombench.results.load_results`.
    metric : str, optional
        Accuracy column (default: ``test.mrr``, else ``test.rmse``).

    Returns
    -------
    DataFrame
        ``experiment, method, compression`` (and ``table_rows`` when recorded), ``trials``,
        ``seed_matched`` (trials divided by the same-seed baseline), ``<metric>_mean/_ci_low/_ci_high``,
        ``accuracy_ratio_*``, ``embedding_bytes`` (median), ``bytes_ratio``, ``s_per_epoch`` (median of the
        trials' median seconds per epoch) and ``time_ratio_*``. Where the records hold a popularity floor
        also ``popularity_<metric>`` (the floor's mean over the trials' paired floor trials),
        ``popularity_ratio_*`` (per-seed ratio to it), ``popularity_seed_matched`` and
        :data:`BELOW_POPULARITY`. Floors are not rows: see :func:`floors_table`.
    """
    data = prepare(frame, metric)
    metric = data.attrs.get("metric")
    if data.empty or metric is None:
        return pd.DataFrame()
    floors = data["popularity_ratio"].notna().any()
    data = method_rows(data)
    if data.empty:  # floors only: they have their own table
        return pd.DataFrame()
    keys = ["experiment", "method", "compression"] + (["table_rows"] if data["table_rows"].notna().any() else [])
    grouped = data.groupby(keys, dropna=False, sort=True)
    counts = grouped.agg(trials=("accuracy", "size"), seed_matched=("baseline_seed_matched", "sum"),
                         embedding_bytes=(BYTES, "median"), bytes_ratio=("bytes_ratio", "mean"),
                         s_per_epoch=(TIME, "median"), popularity_seed_matched=("popularity_seed_matched", "sum"),
                         popularity=("popularity_accuracy", "mean")).reset_index()
    table = _merge([counts, summarise(data, keys, "accuracy", metric), summarise(data, keys, "accuracy_ratio"),
                    summarise(data, keys, "popularity_ratio"), summarise(data, keys, "time_ratio")], keys)
    table = table.drop(columns=[c for c in table.columns if c.endswith("_n")])
    for column in ("embedding_bytes", "table_rows"):  # counts: integers in the CSV and Markdown
        if column in table.columns:
            table[column] = table[column].round().astype("Int64")
    order = [*keys, "trials", "seed_matched", f"{metric}_mean", f"{metric}_ci_low", f"{metric}_ci_high",
             "accuracy_ratio_mean", "accuracy_ratio_ci_low", "accuracy_ratio_ci_high"]
    if floors:
        worse = table[f"{metric}_mean"] < table["popularity"] if higher_is_better(metric) else \
            table[f"{metric}_mean"] > table["popularity"]
        table[BELOW_POPULARITY] = worse & table["popularity"].notna()
        table = table.rename(columns={"popularity": f"popularity_{metric}"})
        order += [f"popularity_{metric}", "popularity_seed_matched", "popularity_ratio_mean",
                  "popularity_ratio_ci_low", "popularity_ratio_ci_high", BELOW_POPULARITY]
    order += ["embedding_bytes", "bytes_ratio", "s_per_epoch", "time_ratio_mean", "time_ratio_ci_low",
              "time_ratio_ci_high"]
    return _method_order(table[order], keys)


def floors_table(frame: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The popularity and random floors: accuracy and its ratio to the baseline, mean and 95% t-interval.

    Returns
    -------
    DataFrame
        ``experiment, floor, method, trials, <metric>_mean/_ci_low/_ci_high, accuracy_ratio_mean/_ci_low/
        _ci_high``; empty when the records hold no floor.
    """
    def make(data: pd.DataFrame) -> pd.DataFrame:
        metric_name = data.attrs["metric"]
        values = floor_summary(data).rename(columns={"n": "trials", "mean": f"{metric_name}_mean",
                                                     "ci_low": f"{metric_name}_ci_low",
                                                     "ci_high": f"{metric_name}_ci_high"})
        ratios = floor_summary(data, "accuracy_ratio").drop(columns=["method", "n"]).rename(
            columns={"mean": "accuracy_ratio_mean", "ci_low": "accuracy_ratio_ci_low",
                     "ci_high": "accuracy_ratio_ci_high"})
        return values.merge(ratios, on="floor", how="left") if not values.empty else values

    return _per_experiment(frame, metric, make)


def frontier_table(frame: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Every method setting by embedding bytes with its mean accuracy; ``on_frontier`` marks the Pareto
    frontier (no other setting is as small or smaller and more accurate). See
    :func:`bloombench.report.compare.frontier`."""
    table = _per_experiment(frame, metric, frontier)
    if not table.empty:  # bytes are counts: integers in the CSV and Markdown
        table[BYTES] = table[BYTES].round().astype("Int64")
    return table


def hash_test_table(frame: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Each hash family against the ideal ``random`` family: paired t-tests per method and compression
    (see :func:`bloombench.report.compare.hash_tests`); empty without two families incl. ``random``."""
    return _per_experiment(frame, metric, hash_tests)


def speed_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Median seconds per epoch and its ratio to the full table per method and table size (rows).

    Empty unless the trials record at least two table sizes (``table_rows`` or the synthetic data's
    ``num_items``).
    """
    data = prepare(frame)
    data = data[np.isfinite(data["table_rows"].astype(float)) & np.isfinite(data[TIME].astype(float))]
    if data.empty or data["table_rows"].nunique() < 2:
        return pd.DataFrame()
    keys = ["experiment", "method", "table_rows"]
    table = _merge([summarise(data, keys, TIME, "s_per_epoch"), summarise(data, keys, "time_ratio")], keys)
    table = table.rename(columns={"s_per_epoch_n": "trials"}).drop(columns="time_ratio_n")
    table["table_rows"] = table["table_rows"].round().astype("Int64")
    return _method_order(table, keys)


def stream_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per method of a stream experiment: the user table's memory, throughput and MRR per user group.

    Returns
    -------
    DataFrame
        ``experiment, method, trials, baseline`` (the baseline's rows first); medians of the user table's final and peak bytes
        (``user_memory_bytes``, ``user_memory_bytes_peak``), of the users seen, of the bytes one float row per
        user seen takes (``full_table_bytes_final``: the floor of any growing table) and of the ids evicted;
        mean and 95% interval of the training events per second (``events_per_second``), of the events per
        second of the whole pass (``events_per_second_wall``: generation and ranking included) and of the
        test MRR over all, new and returning users. Empty without stream trials.
    """
    data = prepare(frame)
    if data.empty or f"{STREAM}events_per_second" not in data.columns:
        return pd.DataFrame()
    data = method_rows(data)
    data = data[pd.to_numeric(data[f"{STREAM}events"], errors="coerce").notna()]
    if data.empty:
        return pd.DataFrame()
    keys = ["experiment", "method"]
    medians = {"user_memory_bytes": "user_memory_bytes_final", "user_memory_bytes_peak": "user_memory_bytes_peak",
               "users_seen": "users_seen", "full_table_bytes_final": "full_table_bytes_final",
               "evicted": "evicted"}
    data = data.assign(**{name: pd.to_numeric(data[STREAM + field], errors="coerce")
                          for name, field in medians.items() if STREAM + field in data.columns})
    counts = data.groupby(keys, sort=True).agg(
        trials=("method", "size"), baseline=("is_baseline", "any"),
        **{name: (name, "median") for name in medians if name in data.columns})
    parts = [counts.reset_index()]
    for column, prefix in ((f"{STREAM}events_per_second", "events_per_second"),
                           (f"{STREAM}events_per_second_wall", "events_per_second_wall"),
                           ("test.mrr", "mrr"), ("test.mrr_new", "mrr_new"), ("test.mrr_returning", "mrr_returning")):
        if column in data.columns:
            parts.append(summarise(data.assign(**{column: pd.to_numeric(data[column], errors="coerce")}), keys,
                                   column, prefix).drop(columns=f"{prefix}_n"))
    table = _merge(parts, keys)
    for column in medians:
        if column in table.columns:
            table[column] = table[column].round().astype("Int64")
    # the baseline (the growing full table) first: the others are read against it
    return table.sort_values(["experiment", "baseline", "method"], ascending=[True, False, True],
                             kind="stable").reset_index(drop=True)


def hash_table(frame: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Accuracy ratio to the full table per hash family, method and compression.

    Empty unless the compressed trials name at least two hash families.
    """
    data = prepare(frame, metric)
    metric = data.attrs.get("metric")
    if data.empty or metric is None:
        return pd.DataFrame()
    data = data[(data["hash"] != "") & ~data["is_baseline"].astype(bool)]
    if data["hash"].nunique() < 2:
        return pd.DataFrame()
    keys = ["experiment", "method_base", "hash", "compression"]
    table = _merge([summarise(data, keys, "accuracy", metric), summarise(data, keys, "accuracy_ratio")], keys)
    table = table.rename(columns={f"{metric}_n": "trials", "method_base": "method"}).drop(columns="accuracy_ratio_n")
    # Best family first within each (method, compression); for an error metric a lower ratio is better.
    return table.sort_values(["experiment", "method", "compression", "accuracy_ratio_mean", "hash"],
                             ascending=[True, True, False, not higher_is_better(metric), True],
                             kind="stable").reset_index(drop=True)


def collision_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Measured collision shares next to the ideal-hashing expectation, per hash, method, compression, table.

    Values are means over the trials (seeds) of each group; empty when no record carries ``diagnostics``.
    """
    data = collision_frame(prepare(frame))
    if data.empty:
        return pd.DataFrame()
    keys = ["experiment", "method_base", "hash", "compression", "table"]
    fields = [c for c in data.columns if c not in (*keys, "seed_key")]
    grouped = data.groupby(keys, dropna=False, sort=True)
    table = grouped[fields].mean().reset_index()
    table.insert(len(keys), "trials", grouped.size().to_numpy())
    return table.rename(columns={"method_base": "method"})


def _best(values: pd.Series, metric: str) -> pd.Series:
    """Mask of the best finite value(s) of ``values`` (max, or min for an error metric)."""
    target = values.max() if higher_is_better(metric) else values.min()
    return values.eq(target) & values.notna()


def search_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The hyperparameter-search trials: the settings that vary among them, the validation metric, the choice.

    ``selected`` marks the configuration the search handed on to the final trials: the search trials the
    final records name in ``selected_from``; for records without it, those whose varied settings (seeds
    aside) are the final trials' settings; and where no final trial matches (no final phase yet), the best
    validation value. ``selected_by`` says which rule applied.

    Returns
    -------
    DataFrame
        ``experiment, variant, trial_key``, the varying settings (without the ``config.`` prefix), the
        validation metric, ``selected`` (bool) and ``selected_by``; rows best first. Empty when the
        records hold no ``ok`` search trial.
    """
    if frame.empty or STATUS not in frame.columns:
        return pd.DataFrame()
    phase = phases(frame)
    search = frame[(phase == SEARCH) & (frame[STATUS] == OK)]
    metric = accuracy_metric(search, VALIDATION_METRICS)
    if search.empty or metric is None:
        return pd.DataFrame()
    final = frame[(phase == FINAL) & (frame[STATUS] == OK)]
    settings = [c for c in sorted(search.columns)
                if c.startswith("config.") and search[c].map(value_text).nunique() > 1]
    matching = [c for c in settings if c not in SEED_COLUMNS]
    values = pd.to_numeric(search[metric], errors="coerce").astype(float)
    named = set(final[SELECTED_FROM].map(value_text)) - {""} if SELECTED_FROM in final.columns else set()
    selected = search[TRIAL_KEY].map(value_text).isin(named) if TRIAL_KEY in search.columns else None
    rule = "selected_from of the final trials"
    if selected is None or not selected.any():
        chosen = {tuple(row) for row in final.reindex(columns=matching).map(value_text).itertuples(index=False)}
        texts = search[matching].map(value_text).itertuples(index=False)
        selected = pd.Series([tuple(row) in chosen for row in texts] if matching else False, index=search.index)
        rule = "final trials' settings"
    if not selected.any():
        selected, rule = _best(values, metric), f"best {metric}"
    columns = [c for c in (EXPERIMENT, VARIANT, TRIAL_KEY) if c in search.columns]
    table = search[columns].map(value_text)
    for column in settings:
        table[column.removeprefix("config.")] = search[column].map(value_text)
    table[metric] = values
    table["selected"] = selected.to_numpy()
    table["selected_by"] = rule
    order = [metric, TRIAL_KEY] if TRIAL_KEY in table.columns else [metric]
    return table.sort_values(order, ascending=[not higher_is_better(metric), True][:len(order)],
                             kind="stable", na_position="last").reset_index(drop=True)


def failures_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The trials not recorded ``ok``: experiment, phase, variant, trial key, status and error, in file order."""
    if frame.empty or STATUS not in frame.columns:
        return pd.DataFrame()
    failed = frame[frame[STATUS] != OK]
    # The phases of the failed rows only: assigning a full-length Series to an empty frame would add its rows.
    failed = failed.assign(**{PHASE: phases(failed)})
    columns = [c for c in (EXPERIMENT, PHASE, VARIANT, TRIAL_KEY, STATUS, ERROR) if c in failed.columns]
    return failed[columns].map(value_text).reset_index(drop=True)


def _stem(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip())


def write_table(table: pd.DataFrame, directory: str | Path, name: str) -> dict[str, Path]:
    """Write ``table`` as ``<directory>/<name>.csv`` (full precision) and ``.md`` (4 significant digits).

    Returns
    -------
    dict
        ``{"csv": path, "md": path}``.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(name)
    paths = {"csv": folder / f"{stem}.csv", "md": folder / f"{stem}.md"}
    table.to_csv(paths["csv"], index=False)
    markdown = table.to_markdown(index=False, floatfmt=".4g", missingval="") if len(table.columns) else ""
    paths["md"].write_text(markdown + "\n", encoding="utf-8")
    return paths
