"""Report figures: one function per figure over the trials of one experiment (:func:`prepare`-d, final phase).

Each figure function returns a :class:`matplotlib.figure.Figure` and a sentence saying what a point is,
or raises :class:`FigureAbsent` with the reason when the records do not hold what it plots (one
compression level, no baseline, one table size, ...). :func:`render_figures` draws every figure of
:data:`FIGURES` and saves PNGs; the caption (what was measured, the seeds, the interval, the machine from
the records) is returned for the page and stored in the PNG's ``Description`` text, not drawn under the
axes, so the page shows it once.

Accuracy figures draw the popularity and random floors as labelled bands (mean and 95% t-interval over
their trials, :func:`bloombench.report.compare.floor_summary`); floors are never a series on the x axis.
The accuracy-vs-bytes figure draws the Pareto frontier. Helpers: :mod:`bloombench.report.plotting`. PNGs
render with Agg and are saved without the ``Software`` metadata, so the same records give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bloombench.report.compare import IDEAL_HASH, floor_summary, frontier, words
from bloombench.report.plotting import (
    MAX_COLOURED,
    PANEL,
    canvas,
    compression_label,
    finite,
    floor_bands,
    frontier_line,
    Highlight,
    highlight,
    highlighted_lines,
    legend,
    lines,
    order,
    palette,
    points,
    reference_line,
)
from bloombench.report.prepare import BYTES, TIME, collision_frame, higher_is_better, method_rows, value_text
from bloombench.report.provenance import context_description, machine_description
from bloombench.report.stats import CONFIDENCE
from bloombench.report.stream_figures import STREAM_FIGURES

__all__ = ["FIGURES", "FigureAbsent", "FigureResult", "FigureSpec", "accuracy_ratio_figure",
           "accuracy_vs_bytes_figure", "collision_figure", "footnote", "hash_family_figure", "render_figures",
           "regime_fill_figure", "regime_panels_figure", "speed_figure", "time_ratio_figure"]

# Paired (measured, expected under ideal hashing, axis label) collision measures.
_COLLISION_MEASURES = (
    ("repeat_share", "expected_repeat_share", "ids with a repeated bucket (share)"),
    ("signature_collision_share", "expected_signature_collision_share", "ids sharing all k buckets (share)"),
)


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
        The caption the page prints under the figure ('' when absent).
    reason : str or None
        Why the figure is absent (None when drawn).
    """

    name: str
    title: str
    path: Path | None
    caption: str
    reason: str | None


# --------------------------------------------------------------------------------------------- captions


def _metric_name(data: pd.DataFrame) -> str:
    return data.attrs.get("metric") or "accuracy"


def _method_palette(data: pd.DataFrame, shown: pd.Series) -> dict:
    """Colours of the methods in ``shown``, the same for a method in every figure of the experiment."""
    return palette(order(method_rows(data)["method"]), shown)


def _baseline_label(data: pd.DataFrame) -> str:
    labels = order(data.loc[data["is_baseline"].astype(bool), "method"])
    return ", ".join(labels) if labels else "none"


def _denominator(data: pd.DataFrame) -> str:
    """Which baseline trial a ratio divides by: the same-seed one, where every trial has it."""
    baseline = f"the baseline ({_baseline_label(data)})"
    if method_rows(data)["baseline_seed_matched"].astype(bool).all():
        return f"{baseline} trained with the same seeds"
    return f"{baseline} trained with the same seeds where it was, else by the baseline's mean over its seeds"


def _floors_text(data: pd.DataFrame) -> str:
    """What the floor bands are, or that the records hold none."""
    names = list(floor_summary(data)["method"])
    if not names:
        return "No popularity or random floor among these records: no floor band."
    return (f"Bands: the {' and '.join(names)} floor{'s' if len(names) > 1 else ''} (line: mean over their "
            f"trials; band: {CONFIDENCE:.0%} Student-t interval), which no method should fall below.")


def _reduced_text(rows: pd.DataFrame) -> str:
    reduced = order(rows.loc[rows["reduced_dim"].astype(bool), "method"])
    if not reduced:
        return ""
    return (f" {', '.join(reduced)}: a full table at a smaller embedding dimension, placed at its embedding-bytes "
            "ratio to the baseline.")


# --------------------------------------------------------------------------------------------- figures


def _ratio_vs_compression(data: pd.DataFrame, column: str, ylabel: str) -> tuple[Figure, str]:
    """``column`` (a ratio to the baseline) against compression, per method, or per hash family; the floors
    as bands when ``column`` is the accuracy ratio. Returns the figure and what its colours mean."""
    rows = finite(method_rows(data), column, "compression")
    rows = rows[~rows["is_baseline"].astype(bool)]
    levels = sorted(rows.loc[rows["method_id"] != "full", "compression"].unique())
    if not data["is_baseline"].astype(bool).any():
        raise FigureAbsent("no baseline (full table, or a record marked baseline) among the trials, so there is "
                           "no ratio to plot")
    if len(levels) < 2:
        shown = ", ".join(compression_label(v) for v in levels) or "none"
        raise FigureAbsent(f"the compressed trials hold {len(levels)} compression level(s) ({shown}) with a "
                           f"finite {column}; a curve needs at least 2 (the tables give the values)")
    spread = rows["data_context"].nunique()
    if column == "accuracy_ratio" and spread > 1:
        raise FigureAbsent(f"the trials span {spread} datasets (e.g. planted regimes); one curve would pool "
                           "their ratios: the per-regime figures show them apart")
    text = words(data)
    by_family = rows.loc[rows["hash"] != "", "hash"].nunique() >= 2
    # With several hash families a panel per method, a colour per family; else one panel, a colour per method.
    rows = rows.assign(series=rows["hash"].where(rows["hash"] != "", rows["method"]) if by_family else rows["method"])
    panels = order(rows["method_base"]) if by_family else [None]
    if by_family:
        higher = column == "accuracy_ratio" and higher_is_better(_metric_name(data))  # time: lower is better
        marked = highlight(rows.groupby("series")[column].mean(), higher, ideal=[IDEAL_HASH])
    else:
        colours = _method_palette(data, rows["series"])
        marked = Highlight(colours, [], {m: m for m in colours})
    fig, axes = canvas(len(panels))
    for ax, panel in zip(axes, panels):
        part = rows if panel is None else rows[rows["method_base"] == panel]
        highlighted_lines(ax, part, "compression", column, "series", marked.colours, marked.greys)
        reference = reference_line(ax, f"baseline: {text.baseline}")
        ax.set(xlabel=text.axis if len(panels) == 1 else text.short, ylabel=ylabel, title=panel or "")
    shown, greys = marked.legend()
    extra = [reference, *greys, *(floor_bands(axes, data, column) if column == "accuracy_ratio" else [])]
    legend(fig, shown, "hash family" if by_family else "method", extra)
    return fig, marked.note() + _reduced_text(rows)


def accuracy_ratio_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Accuracy ÷ the baseline's against the compression ratio (per method / hash family), with the floors."""
    metric = _metric_name(data)
    fig, how = _ratio_vs_compression(data, "accuracy_ratio", f"{metric} ÷ baseline {metric}")
    better = "higher" if higher_is_better(metric) else "lower"
    return fig, (f"Each point: {metric} of a trial divided by that of {_denominator(data)} ({better} is better)."
                 f"{how} {_floors_text(data)}")


def time_ratio_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Median seconds per epoch ÷ the baseline's against the compression ratio."""
    fig, how = _ratio_vs_compression(data, "time_ratio", "seconds per epoch ÷ baseline's")
    return fig, (f"Each point: a trial's median wall-clock seconds per training epoch divided by that of "
                 f"{_denominator(data)} (below 1: faster).{how}")


def accuracy_vs_bytes_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Accuracy against the total bytes of the embedding tables (log x), every method incl. the baseline,
    the Pareto frontier and the floors."""
    metric = _metric_name(data)
    rows = finite(method_rows(data), "accuracy", BYTES)
    sizes = rows[BYTES].nunique()
    if sizes < 2:
        raise FigureAbsent(f"the trials with a finite {metric} hold {sizes} distinct embedding size(s); "
                           "the figure needs at least 2")
    colours = _method_palette(data, rows["method"])
    hashed = rows["hash"] != ""
    marked = Highlight(colours, [], {m: m for m in colours})
    if rows.loc[hashed, "method"].nunique() > MAX_COLOURED:  # a series per family: the few that matter stand out
        plain = {m: c for m, c in colours.items() if m not in set(rows.loc[hashed, "method"])}
        families = highlight(rows[hashed].groupby("method")["accuracy"].mean(), higher_is_better(metric),
                             ideal=set(rows.loc[rows["hash"] == IDEAL_HASH, "method"]), taken=plain.values())
        marked = Highlight({**plain, **families.colours}, families.greys, {**{m: m for m in plain}, **families.labels})
    fig, (ax,) = canvas(1)
    best = frontier(data)
    edge = frontier_line(ax, best, BYTES, "accuracy_mean")
    highlighted_lines(ax, rows, BYTES, "accuracy", "method", marked.colours, marked.greys)
    ax.set_xscale("log")
    ax.set(xlabel="embedding bytes (weights + index tables, all tables of the model)", ylabel=metric)
    shown, greys = marked.legend()
    legend(fig, shown, "method", [*greys, *[h for h in [edge] if h is not None], *floor_bands([ax], data, "accuracy")])
    on = best[best["on_frontier"].astype(bool)]
    return fig, (f"Each point: {metric} of a trial against the bytes its embedding layers hold "
                 "(memory_bytes(): weights and stored index tables). Thick grey steps: the Pareto frontier, the "
                 f"{len(on)} settings whose mean {metric} no setting with as many or fewer bytes beats."
                 f"{marked.note()}{_reduced_text(rows)} {_floors_text(data)}")


def speed_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Median seconds per epoch against the rows of the full table (log-log), per method."""
    rows = finite(method_rows(data), "table_rows", TIME)
    sizes = rows["table_rows"].nunique()
    if sizes < 2:
        raise FigureAbsent(f"the trials hold {sizes} table size(s) (table_rows); a speed curve needs at least 2")
    colours = _method_palette(data, rows["method"])
    fig, (ax,) = canvas(1)
    lines(ax, rows, "table_rows", TIME, "method", colours)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="rows of the full item table", ylabel="seconds per epoch")
    legend(fig, colours, "method")
    return fig, "Each point: a trial's median wall-clock seconds per training epoch at that table size."


def hash_family_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Accuracy ratio per hash family at each compression level, families ordered by their mean ratio."""
    metric = _metric_name(data)
    rows = finite(method_rows(data), "accuracy_ratio")
    rows = rows[(rows["hash"] != "") & ~rows["is_baseline"].astype(bool)]
    families = rows["hash"].nunique()
    if families < 2:
        raise FigureAbsent(f"the compressed trials with an accuracy ratio name {families} hash famil"
                           f"{'y' if families == 1 else 'ies'}; a comparison needs at least 2")
    means = rows.groupby("hash")["accuracy_ratio"].mean()
    # Best family first: highest ratio (lowest for an error metric); names break ties.
    ranked = sorted(means.index, key=lambda h: (-means[h] if higher_is_better(metric) else means[h], h))
    rows = rows.assign(level=rows["compression"].map(compression_label))
    levels = [compression_label(v) for v in sorted(rows["compression"].unique(), reverse=True)]
    colours = palette(levels)
    panels = order(rows["method_base"])
    fig, axes = canvas(len(panels), panel_width=max(PANEL[0], 0.45 * families + 1.0))
    text = words(data)
    for ax, panel in zip(axes, panels):
        points(ax, rows[rows["method_base"] == panel], "hash", ranked, "accuracy_ratio", "level", colours)
        reference = reference_line(ax, f"baseline: {text.baseline}")
        for label in ax.get_xticklabels():
            if label.get_text() == IDEAL_HASH:  # the ideal control: what every family is tested against
                label.set_fontweight("bold")
        ax.set(xlabel="hash family (best mean ratio first)", ylabel=f"{metric} ÷ baseline {metric}", title=panel)
    legend(fig, colours, text.short, [reference, *floor_bands(axes, data, "accuracy_ratio")])
    ideal = f" In bold: {IDEAL_HASH}, ideal hashing." if IDEAL_HASH in means.index else ""
    return fig, (f"Each point: {metric} of a trial divided by that of {_denominator(data)}, per hash family "
                 f"and {text.short}.{ideal} {_floors_text(data)}")


def collision_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Measured collision shares per hash family next to their expectation under ideal hashing."""
    frame = collision_frame(data)
    long = [frame.assign(measure=label, measured=frame[measured], expected=frame[expected])
            for measured, expected, label in _COLLISION_MEASURES if {measured, expected} <= set(frame.columns)]
    rows = finite(pd.concat(long, ignore_index=True), "measured", "compression") if long else frame.iloc[:0]
    if rows.empty:
        raise FigureAbsent("no trial records collision diagnostics (the hash-function experiment records them)")
    rows = rows.assign(level=rows["compression"].map(compression_label))
    levels = [compression_label(v) for v in sorted(rows["compression"].unique(), reverse=True)]
    colours = palette(levels)
    measures = [label for _, _, label in _COLLISION_MEASURES if label in set(rows["measure"])]
    groups = sorted({(m, t) for m, t in zip(rows["method_base"], rows["table"])})
    families = rows["hash"].nunique()
    fig, axes = canvas(len(measures), rows=len(groups), panel_width=max(PANEL[0], 0.35 * families + 1.0))
    panels = [(group, measure) for group in groups for measure in measures]
    for ax, ((method, table), measure) in zip(axes, panels):
        part = rows[(rows["method_base"] == method) & (rows["table"] == table) & (rows["measure"] == measure)]
        points(ax, part, "hash", sorted(set(rows["hash"])), "measured", "level", colours)
        # The expectation depends on n, m and k only, not on the family: one dashed line per level.
        for level, expected in part.groupby("level")["expected"].mean().items():
            if math.isfinite(expected):
                ax.axhline(expected, color=colours[level], linestyle="--", linewidth=1)
        ax.set(xlabel="hash family", ylabel=measure, title=f"{method} · {table} table")
        ax.set_ylim(bottom=-0.02)  # a share is never negative: a t-interval below 0 is cut at the axis
    ideal = Line2D([], [], color="0.4", linestyle="--", label="expected, ideal hashing")
    legend(fig, colours, "compression ratio", [ideal])
    return fig, ("Each point: a share of the table's ids measured on a trial's embedding layer "
                 "(collision_diagnostics): ids whose k buckets are not all distinct, and ids whose multiset of k "
                 "buckets equals another id's (the layer cannot tell them apart); dashed: the expected share "
                 "under uniform independent hashing.")


#: The report's figures, in page order.
# The regime experiment's axes, read from the records: the planted catalogue size d, the mean history
# length c, the code's k, and the share of a history the model predicts (the rest is encoded as input).
_ITEMS = "config.dataset.synthetic.num_items"
_HISTORY = "config.dataset.synthetic.mean_history"
_HASHES = "config.encoding.params.num_hashes"
_TARGET = "config.model.target_fraction"


def _regime_rows(data: pd.DataFrame) -> pd.DataFrame:
    """The compressed trials with their regime: ``regime`` label ("d = 1,000, c = 10"), ``k`` and the
    theoretical ``fill`` of the input half of a mean history's Bloom code (:func:`bloombench.theory.bloom_fill`)."""
    from bloombench.theory import bloom_fill

    missing = [c for c in (_ITEMS, _HISTORY, _HASHES) if c not in data.columns]
    if missing:
        raise FigureAbsent(f"the trials record no {', '.join(missing)}: the regime figures need planted data with "
                           "its catalogue size and mean history length, and a Bloom code's k")
    rows = finite(method_rows(data), "accuracy_ratio", "compression", _ITEMS, _HISTORY, _HASHES)
    rows = rows[~rows["is_baseline"].astype(bool)].copy()
    regimes = rows[[_ITEMS, _HISTORY]].drop_duplicates()
    if len(regimes) < 2:
        raise FigureAbsent(f"the trials hold {len(regimes)} (catalogue size, history length) regime(s); "
                           "the regime figures compare at least 2")
    d, c = (pd.to_numeric(rows[col]).astype(float) for col in (_ITEMS, _HISTORY))
    k = pd.to_numeric(rows[_HASHES]).astype(float)
    inputs = c * (1 - pd.to_numeric(rows[_TARGET], errors="coerce").fillna(0.5).astype(float))
    bits = (rows["compression"].astype(float) * d).clip(lower=1)
    rows["regime"] = [f"d = {a:,.0f}, c = {b:g}" for a, b in zip(d, c)]
    rows["k"] = [f"k = {v:g}" for v in k]
    rows["fill"] = [bloom_fill(*args) for args in zip(k, inputs, bits)]
    return rows.sort_values([_ITEMS, _HISTORY])


def _log_ticks(ax, values: pd.Series) -> None:
    """A log x axis ticked at the grid's own values (few, so each is labelled plainly)."""
    ticks = sorted(set(values.astype(float)))
    ax.set_xscale("log")
    ax.set_xticks(ticks, [compression_label(v) for v in ticks])
    ax.minorticks_off()


def regime_panels_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Accuracy ratio against m/d, one panel per (catalogue size d, mean history length c), a line per k,
    with that regime's floors."""
    rows = _regime_rows(data)
    regimes = list(dict.fromkeys(rows["regime"]))
    columns = min(3, len(regimes))
    fig, axes = canvas(columns, rows=-(-len(regimes) // columns), panel_width=4.2)
    colours = palette(order(rows["method"]))
    bands: list = []
    for ax, regime in zip(axes, regimes):
        part = rows[rows["regime"] == regime]
        lines(ax, part, "compression", "accuracy_ratio", "method", colours)
        reference = reference_line(ax, f"baseline: {words(data).baseline}")
        context = set(part["data_context"])
        bands = floor_bands([ax], data[data["data_context"].isin(context)], "accuracy_ratio") or bands
        ax.set(xlabel=words(data).short, ylabel="ratio to the baseline", title=regime)
        _log_ticks(ax, part["compression"])
    for ax in axes[len(regimes):]:
        ax.set_visible(False)
    legend(fig, colours, "method", [reference, *bands])
    return fig, (f"Each point: {_metric_name(data)} of a trial divided by that of {_denominator(data)}, one panel "
                 "per planted catalogue size d and mean history length c; the floors of that regime as bands.")


def regime_fill_figure(data: pd.DataFrame) -> tuple[Figure, str]:
    """Accuracy ratio against m/d and against the theoretical fill of the input code, a colour per regime:
    if the fill explains the loss, the regimes that spread apart on the left collapse on the right."""
    rows = _regime_rows(data)
    colours = palette(list(dict.fromkeys(rows["regime"])))
    fig, axes = canvas(2)
    for ax, x, label in ((axes[0], "compression", words(data).short),
                         (axes[1], "fill", "fill of the input code under ideal hashing, 1 − exp(−k c_in / m)")):
        for marker, (k, part) in zip("os^D", rows.groupby("k", sort=True)):
            lines(ax, part, x, "accuracy_ratio", "regime", colours, marker=marker, linestyle="-" if marker == "o" else "--")
        reference = reference_line(ax, f"baseline: {words(data).baseline}")
        ax.set(xlabel=label, ylabel="ratio to the baseline")
    _log_ticks(axes[0], rows["compression"])
    styles = [Line2D([], [], color="0.3", marker=m, linestyle="-" if m == "o" else "--", label=k)
              for m, k in zip("os^D", sorted(set(rows["k"])))]
    legend(fig, colours, "regime (catalogue d, mean history c)", [*styles, reference])
    return fig, (f"Each point: {_metric_name(data)} of a trial divided by that of {_denominator(data)}; colour: the "
                 "planted regime, marker: the code's k. Right: the same points against the expected share of the "
                 "m input bits a history's code sets (c_in: the items of a mean history given as input), "
                 "the quantity the paper's 'little loss down to m/d = 1/5' depends on besides m/d.")


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("accuracy_ratio", "Accuracy ratio to the baseline vs compression", accuracy_ratio_figure),
    FigureSpec("accuracy_bytes", "Accuracy vs embedding bytes", accuracy_vs_bytes_figure),
    FigureSpec("time_ratio", "Time-per-epoch ratio to the baseline vs compression", time_ratio_figure),
    FigureSpec("speed", "Seconds per epoch vs table rows", speed_figure),
    FigureSpec("hash_families", "Hash-family comparison", hash_family_figure),
    FigureSpec("collisions", "Collision diagnostics: measured vs ideal hashing", collision_figure),
    FigureSpec("regime", "Accuracy ratio vs m/d per regime (catalogue size, history length)", regime_panels_figure),
    FigureSpec("regime_fill", "Accuracy ratio vs m/d and vs the code's theoretical fill", regime_fill_figure),
    *(FigureSpec(*spec) for spec in STREAM_FIGURES),  # the open-vocabulary stream's per-window series
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
        # Left-aligned: centred over the whole figure it would run into the legend's title.
        fig.suptitle(spec.title, x=0.01, ha="left", fontsize="large")
        path = Path(directory) / f"{spec.name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        # The caption travels with the file (its Description), not drawn: the page prints it once, below.
        fig.savefig(path, format="png", metadata={"Software": None, "Title": spec.title, "Description": caption})
        results.append(FigureResult(spec.name, spec.title, path, caption, None))
    return results
