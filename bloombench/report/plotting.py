"""Drawing helpers the report's figures share: canvas, colours, legend, series, floor bands, the frontier.

Figures are built on :class:`~matplotlib.figure.Figure` objects directly (no pyplot state, no display
backend). Every point is the mean over the trials (seeds) at that x and every error bar
:func:`bloombench.report.stats.t_interval` of those trials, passed to seaborn as its ``errorbar``, so the
bars are the tables' ``ci_low``/``ci_high``. The floors are drawn by :func:`floor_bands` from
:func:`bloombench.report.compare.floor_summary`: the same numbers as the floors table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from bloombench.report.compare import floor_summary
from bloombench.report.stats import t_interval

__all__ = ["DPI", "MAX_COLOURED", "OTHER_COLOUR", "PANEL", "Colour", "canvas", "compression_label", "finite",
           "floor_bands", "frontier_line", "Highlight", "highlight", "highlighted_lines", "legend", "lines", "order",
           "palette", "points", "reference_line"]

DPI = 110
PANEL = (5.2, 3.8)  # inches per panel
Colour = tuple[float, float, float] | str
#: Floors: neutral greys, unlike any method colour (tab10's grey is never a floor's): line style, band alpha.
_FLOOR_STYLE = {"popularity": ("0.15", ":", 0.16), "random": ("0.45", "-.", 0.10)}
#: Most families a curve figure colours; with more, the ideal family and the best and worst stand out.
MAX_COLOURED = 4
#: The colour of the families not singled out.
OTHER_COLOUR = "0.72"


def finite(data: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Rows of ``data`` where every one of ``columns`` is a finite number."""
    mask = pd.Series(True, index=data.index)
    for column in columns:
        mask &= np.isfinite(pd.to_numeric(data[column], errors="coerce").astype(float))
    return data[mask]


def order(labels: Iterable[str]) -> list[str]:
    """Distinct labels sorted, full-table variants first (the order of legends and panels)."""
    return sorted(set(labels), key=lambda label: (not label.startswith("full"), label))


def palette(labels: Sequence[str], shown: Iterable[str] | None = None) -> dict[str, Colour]:
    """Colours of ``labels`` in order; restricted to ``shown`` (keeping each label's colour) when given."""
    colours = dict(zip(labels, sns.color_palette("tab10" if len(labels) <= 10 else "husl", len(labels))))
    if shown is None:
        return colours
    keep = set(shown)
    return {label: colour for label, colour in colours.items() if label in keep}


@dataclass(frozen=True)
class Highlight:
    """Colours of the hash-family series of a curve figure.

    Attributes
    ----------
    colours : dict
        The coloured series and their colours.
    greys : list of str
        The series drawn grey, thin and without bars, under the coloured ones.
    labels : dict
        Legend label of each coloured series (its role where it was singled out).
    """

    colours: dict[str, Colour]
    greys: list[str]
    labels: dict[str, str]

    def legend(self) -> tuple[dict[str, Colour], list[Line2D]]:
        """The legend's coloured entries by label, and the one entry of the grey series."""
        shown = {self.labels[s]: c for s, c in self.colours.items()}
        if not self.greys:
            return shown, []
        return shown, [Line2D([], [], color=OTHER_COLOUR, marker="o", markersize=3, linewidth=0.8,
                              label=f"other families ({len(self.greys)}), no bars")]

    def note(self) -> str:
        """What the colours mean, for the caption ('' when every series has its colour)."""
        if not self.greys:
            return ""
        return (f" Coloured: {', '.join(self.labels[s] for s in self.colours)}; grey: the other {len(self.greys)} "
                f"families ({len(self.greys) + len(self.colours)} near-identical hues could not be told apart; the "
                "hash-family figure ranks them all).")


def highlight(means: pd.Series, higher: bool, ideal: Iterable[str] = (), taken: Iterable[Colour] = ()) -> Highlight:
    """Colours of hash-family series (``means``: each series' mean, the ranking).

    With at most :data:`MAX_COLOURED` series each has its colour. With more, near-identical hues cannot be told
    apart, so only the ``ideal`` series (the ideal ``random`` family) and the best and worst by ``means`` are
    coloured (tab10 colours not in ``taken``, which other series of the figure use) and the rest are grey.
    """
    series = sorted(means.index)
    spare = [c for c in sns.color_palette("tab10", 10) if c not in set(taken)]
    if len(series) <= MAX_COLOURED:
        colours = dict(zip(series, spare if len(spare) >= len(series) else sns.color_palette("husl", len(series))))
        return Highlight(colours, [], {s: s for s in series})
    ranked = sorted(series, key=lambda h: (-means[h] if higher else means[h], h))
    roles = {s: f"{s} (ideal hashing)" for s in sorted(set(ideal) & set(series))}
    roles.setdefault(ranked[0], f"{ranked[0]} (best mean)")
    roles.setdefault(ranked[-1], f"{ranked[-1]} (worst mean)")
    colours = dict(zip(roles, spare))
    return Highlight(colours, [s for s in series if s not in colours], roles)


def highlighted_lines(ax: Axes, data: pd.DataFrame, x: str, y: str, hue: str, colours: dict,
                      greys: Sequence[str]) -> None:
    """:func:`lines` of the coloured series over the grey ones (thin, no bars: the context, not the comparison)."""
    grey = data[hue].isin(set(greys))
    if grey.any():
        lines(ax, data[grey], x, y, hue, dict.fromkeys(greys, OTHER_COLOUR), errorbars=False, linewidth=0.8,
              markersize=3)
    lines(ax, data[~grey], x, y, hue, colours)


def canvas(panels: int, rows: int = 1, panel_width: float = PANEL[0]) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure with ``rows`` × ``panels`` axes, returned flat in row order."""
    fig = Figure(figsize=(panel_width * panels + 2.2, PANEL[1] * rows + 0.4), layout="constrained", dpi=DPI)
    axes = fig.subplots(rows, panels, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def legend(fig: Figure, colours: dict[str, Colour], title: str, extra: Sequence[Line2D | Patch] = ()) -> None:
    """One legend for the whole figure (panels share the colours), outside on the right."""
    handles = [Line2D([], [], color=colour, marker="o", label=label) for label, colour in colours.items()]
    entries = [*handles, *extra]
    # Two columns past 14 entries: one column would run below the axes (19 methods and the floors).
    fig.legend(handles=entries, title=title, loc="outside right upper", fontsize="small", title_fontsize="small",
               frameon=False, ncols=2 if len(entries) > 14 else 1)


def reference_line(ax: Axes, label: str) -> Line2D:
    """The dashed line at ratio 1, and its legend entry."""
    ax.axhline(1.0, color="0.4", linestyle="--", linewidth=1)
    return Line2D([], [], color="0.4", linestyle="--", label=label)


def lines(ax: Axes, data: pd.DataFrame, x: str, y: str, hue: str, colours: dict, errorbars: bool = True,
          band: bool = False, **style) -> None:
    """Mean of ``y`` per ``x`` for each ``hue`` series, with the t-interval as error bars (or, ``band=True``, as
    a shaded band: readable where there are too many x values for bars)."""
    style = {"marker": "o", **style}
    sns.lineplot(data=data, x=x, y=y, hue=hue, hue_order=[h for h in colours if h in set(data[hue])],
                 palette=colours, estimator="mean", errorbar=t_interval if errorbars else None,
                 err_style="band" if band else "bars", err_kws={"alpha": 0.15} if band else {"capsize": 3},
                 legend=False, ax=ax, **style)


def points(ax: Axes, data: pd.DataFrame, x: str, categories: Sequence[str], y: str, hue: str, colours: dict) -> None:
    """Mean of ``y`` per category ``x`` for each ``hue`` level, with the t-interval error bars, dodged."""
    sns.pointplot(data=data, x=x, order=list(categories), y=y, hue=hue,
                  hue_order=[h for h in colours if h in set(data[hue])], palette=colours, estimator="mean",
                  errorbar=t_interval, dodge=0.5 if data[hue].nunique() > 1 else False, linestyle="none",
                  capsize=0.1, legend=False, ax=ax)
    ax.tick_params(axis="x", labelrotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")


def compression_label(value: float) -> str:
    return f"{value:g}"


def floor_bands(axes: Sequence[Axes], data: pd.DataFrame, column: str) -> list[Line2D | Patch]:
    """Draw each floor of ``data`` as a labelled horizontal band on every axes; its legend entries.

    The line is the floor's mean of ``column`` over its trials, the band its 95% t-interval (none with one
    trial). Floors are not methods: they have no compression and no x position.
    """
    handles: list[Line2D | Patch] = []
    for floor in floor_summary(data, column).itertuples(index=False):
        colour, style, alpha = _FLOOR_STYLE.get(floor.floor, ("0.3", ":", 0.1))
        for ax in axes:
            if math.isfinite(floor.ci_low) and math.isfinite(floor.ci_high):
                ax.axhspan(floor.ci_low, floor.ci_high, color=colour, alpha=alpha, linewidth=0, zorder=0)
            ax.axhline(floor.mean, color=colour, linestyle=style, linewidth=1.2, zorder=1)
            ax.text(0.995, floor.mean, f"{floor.method} floor", transform=blended_transform_factory(ax.transAxes,
                    ax.transData), ha="right", va="bottom", fontsize="x-small", color=colour, zorder=1)
        handles.append(Line2D([], [], color=colour, linestyle=style, label=f"{floor.method} floor (mean, 95% CI)"))
    return handles


def frontier_line(ax: Axes, frontier: pd.DataFrame, x: str, y: str) -> Line2D | None:
    """The Pareto frontier as a step line through its points (each step: the best so far holds until the
    next frontier point); its legend entry, or None when ``frontier`` marks no point."""
    on = frontier[frontier["on_frontier"].astype(bool)].sort_values(x)
    if on.empty:
        return None
    style = {"color": "0.1", "alpha": 0.35, "linewidth": 5, "solid_capstyle": "round"}
    ax.plot(on[x], on[y], drawstyle="steps-post", zorder=0.5, **style)
    return Line2D([], [], label="Pareto frontier (best mean at ≤ bytes)", **style)
