"""Report figures: one function per figure over the trials of one experiment (:func:`prepare`-d, final phase).

Each figure function returns a :class:`matplotlib.figure.Figure` and a sentence saying what a point is,
or raises :class:`FigureAbsent` with the reason when the records do not hold what it plots (one
compression level, no baseline, one table size, ...). :func:`render_figures` draws every figure of
:data:`FIGURES`, adds the footnote (what was measured, the seeds, the interval, the machine from the
records) and saves PNGs.

Every point is the mean over the trials (seeds) at that x; every error bar is
:func:`bloombench.report.stats.t_interval` of those trials, passed to seaborn as its ``errorbar``, so the
bars are the numbers of the tables' ``ci_low``/``ci_high``. Figures are built on
:class:`~matplotlib.figure.Figure` objects directly (no pyplot state, no display backend; PNGs render
with Agg) and saved without the ``Software`` metadata, so the same records give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bloombench.report.prepare import BYTES, TIME, collision_frame, higher_is_better, value_text
from bloombench.report.provenance import context_description, machine_description, wrap
from bloombench.report.stats import CONFIDENCE, t_interval

__all__ = ["FIGURES", "FigureAbsent", "FigureResult", "FigureSpec", "accuracy_ratio_figure",
           "accuracy_vs_bytes_figure", "collision_figure", "footnote", "hash_family_figure", "render_figures",
           "speed_figure", "time_ratio_figure"]

DPI = 110
_PANEL = (5.2, 3.8)  # inches per panel
_FOOTNOTE_POINTS = 7.0
# Paired (measured, expected under ideal hashing, axis label) collision measures.
_COLLISION_MEASURES = (
    ("repeat_share", "expected_repeat_share", "ids with a repeated bucket (share)"),
    ("signature_collision_share", "expected_signature_collision_share", "ids sharing all k buckets (share)"),
)
_COMPRESSION_AXIS = "compression ratio (rows of the compressed table ÷ rows of the full table)"


class FigureAbsent(Exception):
    """The records do not hold what a figure plots; the message says why (shown in the report)."""


@dataclass(frozen=True)
class FigureSpec:
    """A figure of the report: file stem, title and the function that draws it."""

    name: str
    title: str
    draw: Callable[[pd.DataFrame], tuple[Figure, str]]


@dataclass(frozen=True)
class FigureResult:
    """What :func:`render_figures` did for one :class:`FigureSpec`.

    Attributes
    ----------
    name, title : str
        From the spec.
    path : Path or None
        The PNG written, or None when the figure is absent.
    caption : str
        The footnote printed under the figure ('' when absent).
    reason : str or None
        Why the figure is absent (None when drawn).
    """

    name: str
    title: str
    path: Path | None
    caption: str
    reason: str | None


# --------------------------------------------------------------------------------------------- helpers


def _finite(data: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Rows of ``data`` where every one of ``columns`` is a finite number."""
    mask = pd.Series(True, index=data.index)
    for column in columns:
        mask &= np.isfinite(pd.to_numeric(data[column], errors="coerce").astype(float))
    return data[mask]


def _order(labels: Iterable[str]) -> list[str]:
    """Distinct labels sorted, full-table variants first (the order of legends and panels)."""
    return sorted(set(labels), key=lambda label: (not label.startswith("full"), label))


def _palette(labels: Sequence[str], shown: Iterable[str] | None = None) -> dict[str, tuple[float, float, float]]:
    """Colours of ``labels`` in order; restricted to ``shown`` (keeping each label's colour) when given."""
    colours = dict(zip(labels, sns.color_palette("tab10" if len(labels) <= 10 else "husl", len(labels))))
    if shown is None:
        return colours
    keep = set(shown)
    return {label: colour for label, colour in colours.items() if label in keep}


def _method_palette(data: pd.DataFrame, shown: pd.Series) -> dict[str, tuple[float, float, float]]:
    """Colours of the methods in ``shown``, the same for a method in every figure of the experiment."""
    return _palette(_order(data["method"]), shown)


def _canvas(panels: int, rows: int = 1, panel_width: float = _PANEL[0]) -> tuple[Figure, list]:
    """A constrained-layout figure with ``rows`` × ``panels`` axes, returned flat in row order."""
    fig = Figure(figsize=(panel_width * panels + 2.2, _PANEL[1] * rows + 0.6), layout="constrained", dpi=DPI)
    axes = fig.subplots(rows, panels, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _legend(fig: Figure, palette: dict[str, tuple[float, float, float]], title: str,
            extra: Sequence[Line2D] = ()) -> None:
    """One legend for the whole figure (panels share the colours), outside on the right."""
    handles = [Line2D([], [], color=colour, marker="o", label=label) for label, colour in palette.items()]
    fig.legend(handles=[*handles, *extra], title=title, loc="outside right upper", fontsize="small",
               title_fontsize="small", frameon=False)


def _baseline_line(ax) -> Line2D:
    ax.axhline(1.0, color="0.4", linestyle="--", linewidth=1)
    return Line2D([], [], color="0.4", linestyle="--", label="full-table baseline (= 1)")


def _lines(ax, data: pd.DataFrame, x: str, y: str, hue: str, palette: dict) -> None:
    """Mean of ``y`` per ``x`` for each ``hue`` series, with the t-interval error bars."""
    sns.lineplot(data=data, x=x, y=y, hue=hue, hue_order=[h for h in palette if h in set(data[hue])],
                 palette=palette, estimator="mean", errorbar=t_interval, err_style="bars", marker="o",
                 err_kws={"capsize": 3}, legend=False, ax=ax)


def _points(ax, data: pd.DataFrame, x: str, order: Sequence[str], y: str, hue: str, palette: dict) -> None:
    """Mean of ``y`` per category ``x`` for each ``hue`` level, with the t-interval error bars, dodged."""
    sns.pointplot(data=data, x=x, order=list(order), y=y, hue=hue,
                  hue_order=[h for h in palette if h in set(data[hue])], palette=palette, estimator="mean",
                  errorbar=t_interval, dodge=0.5 if data[hue].nunique() > 1 else False, linestyle="none",
                  capsize=0.1, legend=False, ax=ax)
    ax.tick_params(axis="x", labelrotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")


def _metric_name(data: pd.DataFrame) -> str:
    return data.attrs.get("metric") or "accuracy"


def _baseline_label(data: pd.DataFrame) -> str:
    labels = _order(data.loc[data["is_baseline"].astype(bool), "method"])
    return ", ".join(labels) if labels else "none"


def _denominator(data: pd.DataFrame) -> str:
    """Which baseline trial a ratio divides by: the same-seed one, where every trial has it."""
    baseline = f"the full-table baseline ({_baseline_label(data)})"
    if data["baseline_seed_matched"].astype(bool).all():
        return f"{baseline} trained with the same seeds"
    return f"{baseline} trained with the same seeds where it was, else by the baseline's mean over its seeds"


def _compression_label(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------------------------- figures


def _ratio_vs_compression(data: pd.DataFrame, column: str, ylabel: str) -> Figure:
    """``column`` (a ratio to the baseline) against compression, per method, or per hash family."""
    rows = _finite(data, column, "compression")
    rows = rows[~rows["is_baseline"].astype(bool)]
    levels = sorted(rows.loc[rows["method_id"] != "full", "compression"].unique())
    if not data["is_baseline"].astype(bool).any():
        raise FigureAbsent("no full-table baseline among the trials, so there is no ratio to plot")
    if len(levels) < 2:
        shown = ", ".join(_compression_label(v) for v in levels) or "none"
        raise FigureAbsent(f"the compressed trials hold {len(levels)} compression level(s) ({shown}) with a "
                           f"finite {column}; a curve needs at least 2 (the tables give the values)")
    by_family = rows.loc[rows["hash"] != "", "hash"].nunique() >= 2
    # With several hash families a panel per method, a colour per family; else one panel, a colour per method.
    rows = rows.assign(series=rows["hash"].where(rows["hash"] != "", rows["method"]) if by_family else rows["method"])
    panels = _order(rows["method_base"]) if by_family else [None]
    palette = _palette(sorted(set(rows["series"]))) if by_family else _method_palette(data, rows["series"])
    fig, axes = _canvas(len(panels))
    for ax, panel in zip(axes, panels):
        part = rows if panel is None else rows[rows["method_base"] == panel]
        _lines(ax, part, "compression", column, "series", palette)
        reference = _baseline_line(ax)
        ax.set(xlabel=_COMPRESSION_AXIS if len(panels) == 1 else "compression ratio", ylabel=ylabel,
               title=panel or "")
    _legend(fig, palette, "hash family" if by_family else "method", [reference])
    return fig


def accuracy_ratio_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Accuracy ÷ the full-table baseline's against the compression ratio (per method / hash family)."""
    metric = _metric_name(data)
    fig = _ratio_vs_compression(data, "accuracy_ratio", f"{metric} ÷ baseline {metric}")
    better = "higher" if higher_is_better(metric) else "lower"
    return fig, f"Each point: {metric} of a trial divided by that of {_denominator(data)} ({better} is better)."


def time_ratio_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Median seconds per epoch ÷ the baseline's against the compression ratio."""
    fig = _ratio_vs_compression(data, "time_ratio", "seconds per epoch ÷ baseline's")
    return fig, (f"Each point: a trial's median wall-clock seconds per training epoch divided by that of "
                 f"{_denominator(data)} (below 1: faster).")


def accuracy_vs_bytes_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Accuracy against the total bytes of the embedding tables (log x), every method incl. the baseline."""
    metric = _metric_name(data)
    rows = _finite(data, "accuracy", BYTES)
    sizes = rows[BYTES].nunique()
    if sizes < 2:
        raise FigureAbsent(f"the trials with a finite {metric} hold {sizes} distinct embedding size(s); "
                           "the figure needs at least 2")
    palette = _method_palette(data, rows["method"])
    fig, (ax,) = _canvas(1)
    _lines(ax, rows, BYTES, "accuracy", "method", palette)
    ax.set_xscale("log")
    ax.set(xlabel="embedding bytes (weights + index tables, all tables of the model)", ylabel=metric)
    _legend(fig, palette, "method")
    return fig, (f"Each point: {metric} of a trial against the bytes its embedding layers hold "
                 "(memory_bytes(): weights and stored index tables).")


def speed_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Median seconds per epoch against the rows of the full table (log-log), per method."""
    rows = _finite(data, "table_rows", TIME)
    sizes = rows["table_rows"].nunique()
    if sizes < 2:
        raise FigureAbsent(f"the trials hold {sizes} table size(s) (table_rows); a speed curve needs at least 2")
    palette = _method_palette(data, rows["method"])
    fig, (ax,) = _canvas(1)
    _lines(ax, rows, "table_rows", TIME, "method", palette)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="rows of the full item table", ylabel="seconds per epoch")
    _legend(fig, palette, "method")
    return fig, "Each point: a trial's median wall-clock seconds per training epoch at that table size."


def hash_family_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Accuracy ratio per hash family at each compression level, families ordered by their mean ratio."""
    metric = _metric_name(data)
    rows = _finite(data, "accuracy_ratio")
    rows = rows[(rows["hash"] != "") & ~rows["is_baseline"].astype(bool)]
    families = rows["hash"].nunique()
    if families < 2:
        raise FigureAbsent(f"the compressed trials with an accuracy ratio name {families} hash famil"
                           f"{'y' if families == 1 else 'ies'}; a comparison needs at least 2")
    means = rows.groupby("hash")["accuracy_ratio"].mean()
    # Best family first: highest ratio (lowest for an error metric); names break ties.
    order = sorted(means.index, key=lambda h: (-means[h] if higher_is_better(metric) else means[h], h))
    rows = rows.assign(level=rows["compression"].map(_compression_label))
    levels = [_compression_label(v) for v in sorted(rows["compression"].unique(), reverse=True)]
    palette = _palette(levels)
    panels = _order(rows["method_base"])
    fig, axes = _canvas(len(panels), panel_width=max(_PANEL[0], 0.45 * families + 1.0))
    for ax, panel in zip(axes, panels):
        _points(ax, rows[rows["method_base"] == panel], "hash", order, "accuracy_ratio", "level", palette)
        reference = _baseline_line(ax)
        ax.set(xlabel="hash family (best mean ratio first)", ylabel=f"{metric} ÷ baseline {metric}", title=panel)
    _legend(fig, palette, "compression ratio", [reference])
    return fig, (f"Each point: {metric} of a trial divided by that of {_denominator(data)}, per hash family "
                 "and compression ratio.")


def collision_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Measured collision shares per hash family next to their expectation under ideal hashing."""
    frame = collision_frame(data)
    long = [frame.assign(measure=label, measured=frame[measured], expected=frame[expected])
            for measured, expected, label in _COLLISION_MEASURES if {measured, expected} <= set(frame.columns)]
    rows = _finite(pd.concat(long, ignore_index=True), "measured", "compression") if long else frame.iloc[:0]
    if rows.empty:
        raise FigureAbsent("no trial records collision diagnostics (the hash-function experiment records them)")
    rows = rows.assign(level=rows["compression"].map(_compression_label))
    levels = [_compression_label(v) for v in sorted(rows["compression"].unique(), reverse=True)]
    palette = _palette(levels)
    measures = [label for _, _, label in _COLLISION_MEASURES if label in set(rows["measure"])]
    groups = sorted({(m, t) for m, t in zip(rows["method_base"], rows["table"])})
    families = rows["hash"].nunique()
    fig, axes = _canvas(len(measures), rows=len(groups), panel_width=max(_PANEL[0], 0.35 * families + 1.0))
    panels = [(group, measure) for group in groups for measure in measures]
    for ax, ((method, table), measure) in zip(axes, panels):
        part = rows[(rows["method_base"] == method) & (rows["table"] == table) & (rows["measure"] == measure)]
        _points(ax, part, "hash", sorted(set(rows["hash"])), "measured", "level", palette)
        # The expectation depends on n, m and k only, not on the family: one dashed line per level.
        for level, expected in part.groupby("level")["expected"].mean().items():
            if math.isfinite(expected):
                ax.axhline(expected, color=palette[level], linestyle="--", linewidth=1)
        ax.set(xlabel="hash family", ylabel=measure, title=f"{method} · {table} table")
        ax.set_ylim(bottom=-0.02)  # a share is never negative: a t-interval below 0 is cut at the axis
    ideal = Line2D([], [], color="0.4", linestyle="--", label="expected, ideal hashing")
    _legend(fig, palette, "compression ratio", [ideal])
    return fig, ("Each point: a share of the table's ids measured on a trial's embedding layer "
                 "(collision_diagnostics): ids whose k buckets are not all distinct, and ids whose multiset of k "
                 "buckets equals another id's (the layer cannot tell them apart); dashed: the expected share "
                 "under uniform independent hashing.")


#: The report's figures, in page order.
FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("accuracy_ratio", "Accuracy ratio to the baseline vs compression", accuracy_ratio_figure),
    FigureSpec("accuracy_bytes", "Accuracy vs embedding bytes", accuracy_vs_bytes_figure),
    FigureSpec("time_ratio", "Time-per-epoch ratio to the baseline vs compression", time_ratio_figure),
    FigureSpec("speed", "Seconds per epoch vs table rows", speed_figure),
    FigureSpec("hash_families", "Hash-family comparison", hash_family_figure),
    FigureSpec("collisions", "Collision diagnostics: measured vs ideal hashing", collision_figure),
)


# --------------------------------------------------------------------------------------------- rendering


def footnote(data: pd.DataFrame, how: str) -> str:
    """How a figure was measured: ``how``, the interval, the seeds, the setting and the machine (records)."""
    seeds = sorted({value_text(v) for v in data.get("config.training.seed", pd.Series(dtype=object))} - {""},
                   key=lambda s: (len(s), s))
    seed_text = f"training seeds {', '.join(seeds)}" if seeds else "seeds not recorded"
    interval = (f"Points: mean over trials; bars: {CONFIDENCE:.0%} Student-t confidence interval of the mean "
                f"({seed_text}; one trial: no bar).")
    return " ".join([how, interval, context_description(data) + ".", machine_description(data)])


def _add_footnote(fig: Figure, text: str) -> None:
    """Print ``text`` under the axes, reserving its height in the constrained layout."""
    width_in = fig.get_figwidth()
    lines = wrap(text, width=max(60, int(width_in * 72 / (_FOOTNOTE_POINTS * 0.6)))).splitlines()
    height = (len(lines) * _FOOTNOTE_POINTS * 1.35 + 6) / 72 / fig.get_figheight()
    fig.get_layout_engine().set(rect=(0, height, 1, 1 - height))
    fig.text(0.005, 0.005, "\n".join(lines), fontsize=_FOOTNOTE_POINTS, va="bottom", ha="left", color="0.25")


def render_figures(data: pd.DataFrame, directory: str | Path,
                   specs: Sequence[FigureSpec] = FIGURES) -> list[FigureResult]:
    """Draw each figure of ``specs`` over ``data`` and save it as ``<directory>/<name>.png``.

    Parameters
    ----------
    data : DataFrame
        The prepared final trials of one experiment (:func:`bloombench.report.prepare.prepare`).
    directory : path
        Created when a figure is drawn.
    specs : sequence of FigureSpec, default :data:`FIGURES`

    Returns
    -------
    list of FigureResult
        One per spec, in order; an absent figure has ``path=None`` and its ``reason``.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a prepared pandas DataFrame, got {type(data).__name__}")
    results = []
    for spec in specs:
        if data.empty:
            results.append(FigureResult(spec.name, spec.title, None, "", "no successful final trial"))
            continue
        try:
            fig, how = spec.draw(data)
        except FigureAbsent as absent:
            results.append(FigureResult(spec.name, spec.title, None, "", str(absent)))
            continue
        caption = footnote(data, how)
        fig.suptitle(spec.title)
        _add_footnote(fig, caption)
        path = Path(directory) / f"{spec.name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", metadata={"Software": None})
        results.append(FigureResult(spec.name, spec.title, path, caption, None))
    return results
