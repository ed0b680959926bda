"""Figures of the open-vocabulary experiment (model kind ``stream``): the per-window series of its records.

A ``stream`` trial records one entry per window of the stream under ``stream.windows.*`` (MRR of new and of
returning users, the user table's memory, the users seen, training events per second, ...; see the README's
"Open vocabulary"); :func:`stream_windows` turns those lists into one row per trial × window, and each figure
draws the mean over the trials (seeds) of a variant at each window with the 95% Student-t interval
(:func:`bloombench.report.plotting.lines`). Records without ``stream.windows.*`` (every other experiment) make
each figure absent, so the other experiments' sections do not show them.

:data:`STREAM_FIGURES` lists them as ``(name, title, draw)``: :mod:`bloombench.report.figures` wraps them in its
``FigureSpec`` and appends them to ``FIGURES``. This module does not import :mod:`~bloombench.report.figures` at
import time (that module imports this one); :class:`~bloombench.report.figures.FigureAbsent` is fetched when a
figure is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from bloombench.report.plotting import canvas, finite, legend, lines, order, palette
from bloombench.report.prepare import DIM, STREAM, method_rows
from bloombench.report.stats import t_interval

__all__ = ["STREAM_FIGURES", "WINDOWS", "stream_memory_figure", "stream_mrr_figure", "stream_throughput_figure",
           "stream_windows"]

#: Prefix of the per-window lists in the flattened records.
WINDOWS = f"{STREAM}windows."
#: Training events per training second over the whole stream (a trial's total).
THROUGHPUT = f"{STREAM}events_per_second"
#: Bytes per float32 weight: the full table's floor is users seen × dim × this.
FLOAT_BYTES = 4
#: Most windows whose intervals a figure draws as error bars; beyond, as shaded bands.
_BARS_UP_TO = 30
_GROUPS = (("mrr_new", "new users (their first window with events)"), ("mrr_returning", "returning users"))


def _absent(reason: str) -> Exception:
    """A :class:`~bloombench.report.figures.FigureAbsent` with ``reason`` (imported here: figures imports us)."""
    from bloombench.report.figures import FigureAbsent

    return FigureAbsent(reason)


def _number(values: object, window: int) -> float:
    """Entry ``window`` of a recorded list as a float; NaN where it is missing, None or not a number."""
    if not isinstance(values, (list, tuple)) or window >= len(values):
        return math.nan
    try:
        return float(values[window])
    except (TypeError, ValueError):
        return math.nan


def stream_windows(data: pd.DataFrame, *fields: str) -> pd.DataFrame:
    """The per-window lists ``stream.windows.<field>`` of the method trials in long format.

    Parameters
    ----------
    data : DataFrame
        Prepared trials (:func:`bloombench.report.prepare.prepare`).
    *fields : str
        Names under ``stream.windows.`` (``mrr_new``, ``memory_bytes``, ...).

    Returns
    -------
    DataFrame
        One row per trial × window: ``trial`` (the row label in ``data``), ``window`` (0: the first),
        ``method``, ``seed_key``, ``is_baseline``, the embedding dimension ``dim`` (NaN where not recorded) and
        one float column per field, NaN where the record holds None (nothing ranked) or a shorter list.

    Raises
    ------
    FigureAbsent
        When no trial records the lists (not a stream experiment).
    """
    columns = [WINDOWS + field for field in fields]
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise _absent(f"the trials record no {', '.join(missing)}: only stream trials (model kind 'stream', the "
                      "open-vocabulary experiment) record per-window series")
    rows = method_rows(data)
    rows = rows[rows[columns].apply(lambda row: any(isinstance(v, (list, tuple)) for v in row), axis=1)]
    if rows.empty:
        raise _absent(f"no trial holds a per-window list under {', '.join(columns)}")
    dims = pd.to_numeric(rows[DIM], errors="coerce") if DIM in rows.columns else pd.Series(math.nan, rows.index)
    long = []
    for trial, row in rows.iterrows():
        windows = max(len(v) for v in row[columns] if isinstance(v, (list, tuple)))
        for window in range(windows):
            long.append({"trial": trial, "window": window, "method": row["method"], "seed_key": row["seed_key"],
                         "is_baseline": bool(row["is_baseline"]), "dim": float(dims[trial]),
                         **{field: _number(row[c], window) for field, c in zip(fields, columns)}})
    return pd.DataFrame(long)


def _window_axis(ax) -> None:
    """The window index on x: whole numbers only."""
    ax.set_xlabel("window (0: the first)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _colours(data: pd.DataFrame, shown: pd.Series) -> dict:
    """A method's colour, the same as in the experiment's other figures (all methods, full tables first)."""
    return palette(order(method_rows(data)["method"]), shown)


def stream_mrr_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """MRR per window of new and of returning users (a panel each), a line per variant.

    Windows where a group had nothing ranked (None: returning users in window 0) are left out.
    """
    long = stream_windows(data, *(field for field, _ in _GROUPS))
    if not any(finite(long, field).shape[0] for field, _ in _GROUPS):
        raise _absent("no window of any trial holds a finite MRR of new or returning users")
    colours = _colours(data, long["method"])
    many = long["window"].nunique() > _BARS_UP_TO  # then the intervals are bands: bars would hide the lines
    fig, axes = canvas(len(_GROUPS))
    for ax, (field, title) in zip(axes, _GROUPS):
        lines(ax, finite(long, field), "window", field, "method", colours, band=many,
              markersize=1 if many else 3, linewidth=1 if many else None)
        ax.set(ylabel="MRR", title=title)
        _window_axis(ax)
    legend(fig, colours, "method")
    return fig, ("Each point: the MRR of a trial's sampled events of that window (exact ranks over the full "
                 "catalogue), ranked before the model trains on the window (prequential); new users: ids in their "
                 "first window with events, returning: the others. Windows where a group had nothing ranked (no "
                 "returning user in the first window) are left out.")


def stream_memory_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """The user table's memory at the end of each window (log y), a line per variant, and the bytes a full
    table needs for the users seen so far (users seen × dim × 4) as a dashed line."""
    long = stream_windows(data, "memory_bytes", "users_seen")
    rows = long[np.isfinite(long["memory_bytes"]) & (long["memory_bytes"] > 0)]  # log axis: positive bytes only
    if rows.empty:
        raise _absent("no window of any trial records a positive stream.windows.memory_bytes")
    colours = _colours(data, rows["method"])
    fig, (ax,) = canvas(1)
    lines(ax, rows, "window", "memory_bytes", "method", colours, markersize=3)
    ax.set_yscale("log")
    ax.set(ylabel="user-table bytes (memory_bytes())")
    _window_axis(ax)
    # The stream (so the users seen) depends on the seeds, not the method: one floor, the mean over the trials.
    full = long.assign(full=long["users_seen"] * long["dim"] * FLOAT_BYTES)
    floor = finite(full, "full").groupby("window")["full"].mean()
    extra = []
    if not floor.empty:
        ax.plot(floor.index, floor.to_numpy(), color="0.2", linestyle="--", linewidth=1.2, zorder=3)
        extra.append(Line2D([], [], color="0.2", linestyle="--", label="full table for the users seen\n"
                            f"(users seen × dim × {FLOAT_BYTES} B)"))
        floor_text = (f" Dashed: the weights of a full table with one row per user seen so far (users seen × "
                      f"embedding dim × {FLOAT_BYTES} bytes, mean over the trials), the least a growing table holds.")
    else:
        floor_text = " No trial records users_seen per window and its embedding dim: no full-table line."
    legend(fig, colours, "method", extra)
    return fig, ("Each point: the bytes a trial's user table holds (memory_bytes(): weights, id maps and index "
                 "tables) after training on that window; variants at the same budget hold (nearly) the same bytes, "
                 f"so their lines overlap.{floor_text}")


def stream_throughput_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Training events per second per variant over the whole stream (left) and per window (right)."""
    if THROUGHPUT not in data.columns:
        raise _absent(f"the trials record no {THROUGHPUT}: only stream trials (model kind 'stream', the "
                      "open-vocabulary experiment) record it")
    long = stream_windows(data, "events_per_second")
    totals = finite(method_rows(data), THROUGHPUT)
    totals = totals[pd.to_numeric(totals[THROUGHPUT]) > 0].assign(
        events_per_second=lambda frame: pd.to_numeric(frame[THROUGHPUT]).astype(float))
    windows = long[np.isfinite(long["events_per_second"]) & (long["events_per_second"] > 0)]
    if totals.empty and windows.empty:
        raise _absent(f"no trial records a positive {THROUGHPUT} or stream.windows.events_per_second")
    colours = _colours(data, pd.concat([totals["method"], windows["method"]]))
    fig, (left, right) = canvas(2)
    shown = [m for m in colours if m in set(totals["method"])]
    if shown:
        sns.pointplot(data=totals, y="method", order=shown, x="events_per_second", hue="method", hue_order=shown,
                      palette={m: colours[m] for m in shown}, estimator="mean", errorbar=t_interval,
                      linestyle="none", capsize=0.2, dodge=False, legend=False, ax=left)
    # Linear axes: a log axis would cut the wide per-window intervals whose lower end is below 0.
    left.set_xlim(left=0)
    left.set(xlabel="training events per second", ylabel="", title="whole stream")
    lines(right, windows, "window", "events_per_second", "method", colours, markersize=3)
    right.set_ylim(bottom=0)
    right.set(ylabel="training events per second", title="per window")
    _window_axis(right)
    legend(fig, colours, "method")
    return fig, ("Each point: training events per second of training (the window's BPR steps and optimizer "
                 "updates; ranking and stream generation excluded) of a trial, over the whole stream (left: "
                 "stream.events_per_second) and per window (right).")


#: The stream figures, in page order: (file stem, title, draw function).
STREAM_FIGURES: tuple[tuple[str, str, Callable[[pd.DataFrame], tuple[Figure, str]]], ...] = (
    ("stream_mrr", "MRR per window of the stream, new and returning users", stream_mrr_figure),
    ("stream_memory", "User-table memory per window vs a full table for the users seen", stream_memory_figure),
    ("stream_throughput", "Training events per second", stream_throughput_figure),
)
