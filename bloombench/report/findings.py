"""The page's Findings: plain sentences with numbers, generated from one experiment's prepared trials only.

For each experiment (:func:`findings`), in order: the floors; the accuracy each method keeps at each
compression, against the baseline and against the popularity floor; the settings below the popularity
floor (a result to explain before trusting it); the best setting at each memory budget (the Pareto
frontier of accuracy against embedding bytes); whether the hash family matters (do the families'
intervals overlap, and paired t-tests against ideal hashing); the speed ratios. Every number is a mean
with its 95% Student-t interval in brackets, computed by the functions the figures and tables use
(:mod:`bloombench.report.compare`, :func:`bloombench.report.stats.summarise`); every finding links the
figure that shows it (the table where the figure is not drawn). Nothing here is written by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from bloombench.report.compare import (
    IDEAL_HASH,
    SIGNIFICANCE,
    family_overlap,
    floor_summary,
    frontier,
    hash_tests,
    words,
)
from bloombench.report.prepare import BYTES, POPULARITY, higher_is_better, method_rows, value_text
from bloombench.report.stats import CONFIDENCE, summarise

__all__ = ["Finding", "findings"]


@dataclass(frozen=True)
class Finding:
    """One topic of an experiment's findings.

    Attributes
    ----------
    topic : str
        What it answers ("Floors", "Best at each memory budget", ...).
    lead : str
        The answer in one sentence ('' when the items say it all).
    items : list of str
        Plain sentences with their numbers, one per method, step or test.
    href : str
        The figure (or table) on the page that shows it ('' when none).
    link_text : str
        "figure" or "table".
    flagged : bool
        A result to look at before trusting the experiment (a setting below the popularity floor).
    """

    topic: str
    lead: str = ""
    items: list[str] = field(default_factory=list)
    href: str = ""
    link_text: str = ""
    flagged: bool = False


def _num(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "n/a"


def _ci(low: float, high: float) -> str:
    """The interval in brackets, or why there is none."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "[no interval: one trial]"
    return f"[{_num(low)}, {_num(high)}]"


def _bytes(value: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} bytes"


def _link(links: Mapping[str, str], *names: str) -> dict[str, str]:
    """``href`` and ``link_text`` of the first of ``names`` that the page holds (``fig-*``: a figure)."""
    name = next((n for n in names if n in links), None)
    if name is None:
        return {"href": "", "link_text": ""}
    return {"href": links[name], "link_text": "figure" if name.startswith("fig-") else "table"}


class _Settings:
    """Names of method settings: "bloom k=2 at compression 0.25", "full d=4 (bytes ratio 0.25)", "full"."""

    def __init__(self, data: pd.DataFrame) -> None:
        methods = method_rows(data)
        self.short = words(data).short
        self.reduced = set(methods.loc[methods["reduced_dim"].astype(bool), "method"])
        self.baselines = set(methods.loc[methods["is_baseline"].astype(bool), "method"])
        self.baseline = ", ".join(sorted(self.baselines)) or "the baseline"

    def level(self, method: str, compression: float) -> str:
        if not math.isfinite(compression):  # a variant at one fixed size (no ratio), e.g. int8 rows
            return "its one size"
        if method in self.reduced:
            return f"bytes ratio {_num(compression)}"
        return "uncompressed" if self._uncompressed(compression) else f"{self.short} {compression:g}"

    def _uncompressed(self, compression: float) -> bool:
        return compression == 1.0 and self.short == "compression"  # m/d = 1 is a code, not the identity

    def name(self, method: str, compression: float) -> str:
        if method in self.baselines or not math.isfinite(compression) or self._uncompressed(compression):
            return method
        if method in self.reduced:
            return f"{method} ({self.level(method, compression)})"
        return f"{method} at {self.level(method, compression)}"


def _floor_finding(data: pd.DataFrame, metric: str, links: Mapping[str, str]) -> Finding:
    values, ratios = floor_summary(data), floor_summary(data, "accuracy_ratio").set_index("floor")
    link = _link(links, "fig-accuracy_ratio", "fig-accuracy_bytes", "floors")
    if values.empty:
        return Finding("Floors", "No popularity or random floor was recorded for this experiment, so its accuracies "
                                 "cannot be checked against what a model without embeddings achieves.", **link)
    sentences = []
    for floor in values.itertuples(index=False):
        text = f"{floor.method}: {metric} {_num(floor.mean)} {_ci(floor.ci_low, floor.ci_high)} over {floor.n} trials"
        if floor.floor in ratios.index and math.isfinite(ratios.at[floor.floor, "mean"]):
            ratio = ratios.loc[floor.floor]
            text += f", {_num(ratio['mean'])}× the baseline's {metric} {_ci(ratio['ci_low'], ratio['ci_high'])}"
        sentences.append(text + ".")
    if POPULARITY not in set(values["floor"]):
        sentences.append("No popularity floor was recorded, so no method is checked against it.")
    return Finding("Floors", "", sentences, **link)


def _compared(data: pd.DataFrame, column: str) -> pd.DataFrame:
    """The methods' trials other than the baseline's with a finite ``column`` (a ratio to the baseline)."""
    rows = method_rows(data)
    return rows[~rows["is_baseline"].astype(bool) & np.isfinite(rows[column].astype(float))]


def _kept_finding(data: pd.DataFrame, metric: str, links: Mapping[str, str]) -> Finding | None:
    rows = _compared(data, "accuracy_ratio")
    if rows.empty:
        return None
    settings = _Settings(data)
    baseline = settings.baseline
    popularity = rows["popularity_ratio"].notna().any()
    keys = ["method", "compression"]
    table = summarise(rows, keys, "accuracy_ratio").merge(summarise(rows, keys, "popularity_ratio"), on=keys)
    sentences = []
    for method, group in table.groupby("method", sort=False):
        parts = []
        for row in group.sort_values("compression", ascending=False).itertuples(index=False):
            part = (f"{settings.level(method, row.compression)}: {_num(row.accuracy_ratio_mean)}× "
                    f"{_ci(row.accuracy_ratio_ci_low, row.accuracy_ratio_ci_high)}")
            if popularity:
                part += (f" of {baseline}, {_num(row.popularity_ratio_mean)}× "
                         f"{_ci(row.popularity_ratio_ci_low, row.popularity_ratio_ci_high)} of popularity")
            parts.append(part)
        sentences.append(f"{method} — " + "; ".join(parts) + ".")
    lead = (f"The {metric} each method keeps, as a per-seed ratio to {baseline}'s"
            + (" and to the popularity floor's" if popularity else "") + f" ({CONFIDENCE:.0%} intervals in brackets).")
    return Finding("Accuracy kept", lead, sentences, **_link(links, "fig-accuracy_ratio", "accuracy"))


def _below_finding(data: pd.DataFrame, metric: str, links: Mapping[str, str],
                   explanation: str | None = None) -> Finding | None:
    rows = method_rows(data)
    rows = rows[rows["popularity_accuracy"].notna() & np.isfinite(rows["accuracy"].astype(float))]
    if rows.empty:
        return None
    keys = ["method", "compression"]
    table = summarise(rows, keys, "accuracy").merge(summarise(rows, keys, "popularity_ratio"), on=keys)
    # dropna=False: a method without a compression ratio (int8 rows at the model's width) keeps its row
    means = rows.groupby(keys, dropna=False)[["popularity_accuracy", "code_floor_accuracy"]].mean().reset_index()
    merged = table[keys].merge(means, on=keys)
    table["popularity"] = merged["popularity_accuracy"].to_numpy()
    table["code_floor"] = merged["code_floor_accuracy"].to_numpy()
    coded = rows[rows["code_floor_ratio"].notna()]
    if not coded.empty:
        table = table.merge(summarise(coded, keys, "code_floor_ratio"), on=keys, how="left")
    else:
        table = table.assign(code_floor_ratio_mean=np.nan, code_floor_ratio_ci_low=np.nan,
                             code_floor_ratio_ci_high=np.nan)
    higher = higher_is_better(metric)
    below = table[table["accuracy_mean"] < table["popularity"]] if higher else \
        table[table["accuracy_mean"] > table["popularity"]]
    link = _link(links, "accuracy", "fig-accuracy_ratio")
    if below.empty:
        return Finding("Below the popularity floor", f"No method setting has a mean {metric} below the popularity "
                                                     "floor's.", **link)
    # Below popularity but not below what its own code can express (on average, or within the interval of
    # the per-seed ratio to it): the loss is the code's, and the results show it (models.coded_popularity).
    sign = 1.0 if higher else -1.0
    above_code = sign * (below["accuracy_mean"] - below["code_floor"]) >= 0
    bound = below["code_floor_ratio_ci_high"] if higher else below["code_floor_ratio_ci_low"]
    level_with_code = ~above_code & (sign * (bound - 1.0) >= 0)
    by_code = (above_code | level_with_code) & below["code_floor"].notna()
    settings = _Settings(data)
    unexplained = int((~by_code).sum())
    if unexplained == 0:
        tail = "none below the popularity its own code can express (below the list)."
    elif explanation:
        tail = "explained by the spec (below the list)."
    else:
        tail = "a result to explain before trusting the experiment:"
    lead = (f"{len(below)} of {len(table)} method settings have a mean {metric} "
            f"{'below' if higher else 'above (worse than)'} the popularity floor's, " + tail)
    sentences = []
    for row, above, level in zip(below.itertuples(index=False), above_code, level_with_code):
        sentence = (f"{settings.name(row.method, row.compression)}: {metric} {_num(row.accuracy_mean)} "
                    f"{_ci(row.accuracy_ci_low, row.accuracy_ci_high)} against popularity's "
                    f"{_num(row.popularity)}, {_num(row.popularity_ratio_mean)}× popularity "
                    f"{_ci(row.popularity_ratio_ci_low, row.popularity_ratio_ci_high)}.")
        if np.isfinite(row.code_floor):
            sentence += (f" Popularity decoded through its own code scores {_num(row.code_floor)}; the model "
                         f"scores {_num(row.code_floor_ratio_mean)}× that "
                         f"{_ci(row.code_floor_ratio_ci_low, row.code_floor_ratio_ci_high)}")
            if above:
                sentence += (": the loss against popularity is the code's (items it cannot tell apart), "
                             "not the training's.")
            elif level:
                sentence += (", not detectably different: the model learns no more than its code's popularity, "
                             "and the loss against popularity is the code's.")
            else:
                sentence += ", below what its code allows."
        sentences.append(sentence)
    if unexplained and explanation:
        sentences.append(f"Explanation (the spec's [explanations]): {explanation}")
    if unexplained == 0 or explanation:
        return Finding("Below the popularity floor (explained)", lead, sentences, **link)
    return Finding("Below the popularity floor", lead, sentences, **link, flagged=True)


def _frontier_finding(data: pd.DataFrame, metric: str, links: Mapping[str, str]) -> Finding | None:
    table = frontier(data)
    if table[BYTES].nunique() < 2:
        return None
    settings = _Settings(data)
    on = table[table["on_frontier"].astype(bool)]
    steps = [f"From {_bytes(row.embedding_bytes)}: {settings.name(row.method, row.compression)}, {metric} "
             f"{_num(row.accuracy_mean)} {_ci(row.accuracy_ci_low, row.accuracy_ci_high)}."
             for row in on.itertuples(index=False)]
    lead = (f"The Pareto frontier of mean {metric} against embedding bytes holds {len(on)} of {len(table)} settings: "
            "each beats every setting with as many or fewer bytes, and every other setting is beaten by one no "
            "larger. The best setting for a memory budget is the last step at or below it:")
    return Finding("Best at each memory budget", lead, steps, **_link(links, "fig-accuracy_bytes", "frontier"))


def _hash_finding(data: pd.DataFrame, metric: str, links: Mapping[str, str]) -> Finding | None:
    overlap = family_overlap(data)
    if overlap.empty:
        return None
    tests = hash_tests(data)
    short = words(data).short
    sentences, detected = [], []
    for row in overlap.itertuples(index=False):
        where = f"At {short} {row.compression:g} ({row.method}, {row.families} families)"
        spread = (f"means from {_num(row.worst_mean)} ({row.worst}) to {_num(row.best_mean)} ({row.best})")
        if row.overlap is True:
            sentences.append(f"{where}: the {CONFIDENCE:.0%} intervals of {metric} all overlap ({spread}).")
        elif row.overlap is False:
            sentences.append(f"{where}: the {CONFIDENCE:.0%} intervals of {metric} do not all overlap: "
                             f"{row.highest_low}'s lies above {row.lowest_high}'s ({spread}).")
        else:
            sentences.append(f"{where}: too few trials for intervals ({spread}).")
        group = tests[(tests["method"] == row.method) & (tests["compression"] == row.compression)]
        if group.empty:
            continue
        differ = group[group["differs"].astype(bool)]
        described = [f"{t.hash} by {_num(t.difference_mean)} {_ci(t.difference_ci_low, t.difference_ci_high)} "
                     f"(adjusted p {_num(t.p_holm)})" for t in differ.itertuples(index=False)]
        smallest = group.dropna(subset=["p_holm"]).sort_values(["p_holm", "hash"]).head(1)
        test = (f"Paired t-tests of {metric} against {IDEAL_HASH} over {int(group['pairs'].max())} seeds, "
                f"Holm-adjusted over {len(group)} families: ")
        if described:
            detected.append(f"{short} {row.compression:g} ({', '.join(differ['hash'])})")
            verb = "differs" if len(described) == 1 else "differ"
            test += f"{verb} at the {SIGNIFICANCE:g} level: " + "; ".join(described) + "."
        elif smallest.empty:
            test += "no test (no spread between the paired trials)."
        else:
            best = smallest.iloc[0]
            test += (f"none differs at the {SIGNIFICANCE:g} level (smallest adjusted p {_num(best['p_holm'])}: "
                     f"{best['hash']}, difference {_num(best['difference_mean'])}, unadjusted interval "
                     f"{_ci(best['difference_ci_low'], best['difference_ci_high'])}).")
        sentences.append(test)
    if tests.empty:
        lead = f"No {IDEAL_HASH} family (ideal hashing) among the trials, so no paired test; the intervals:"
    elif detected:
        lead = ("Yes: a family differed from ideal hashing (paired t-test, Holm-adjusted) at " + "; ".join(detected)
                + ".")
    else:
        lead = f"Not detectably: no family differed from ideal hashing (paired t-test, Holm-adjusted) at any {short}."
    return Finding("Does the hash family matter?", lead, sentences, **_link(links, "fig-hash_families", "hash_tests"))


def _speed_finding(data: pd.DataFrame, links: Mapping[str, str]) -> Finding | None:
    rows = _compared(data, "time_ratio")
    if rows.empty:
        return None
    settings = _Settings(data)
    baseline = settings.baseline
    by_rows = rows["table_rows"].nunique() > 1
    level = "table_rows" if by_rows else "compression"
    lead = f"Median seconds per epoch divided by {baseline}'s, per seed (below 1: faster):"
    sentences = []
    table = summarise(rows, ["method", level], "time_ratio")
    for method, group in table.groupby("method", sort=False):
        parts = [(f"{int(row[level]):,} rows" if by_rows else settings.level(method, row[level]))
                 + f": {_num(row['time_ratio_mean'])}× {_ci(row['time_ratio_ci_low'], row['time_ratio_ci_high'])}"
                 for _, row in group.sort_values(level, ascending=by_rows).iterrows()]
        sentences.append(f"{method} — " + "; ".join(parts) + ".")
    return Finding("Speed", lead, sentences, **_link(links, "fig-time_ratio", "fig-speed", "speed", "accuracy"))


def findings(data: pd.DataFrame, links: Mapping[str, str],
             explanations: Mapping[str, str] | None = None) -> list[Finding]:
    """The findings of one experiment's prepared final trials.

    Parameters
    ----------
    data : DataFrame
        :func:`bloombench.report.prepare.prepare`-d trials of one experiment (final phase).
    links : mapping
        What the page holds, by name: ``fig-<figure name>`` for each drawn figure and each table's file
        stem (``accuracy``, ``floors``, ...), mapped to its ``#anchor``.
    explanations : mapping, optional
        The spec's ``[explanations]``: ``below_popularity`` is printed under the settings below the
        popularity floor, which are then listed as explained rather than flagged.

    Returns
    -------
    list of Finding
        Empty when there is no successful trial.
    """
    if data.empty:
        return []
    metric = data.attrs.get("metric")
    out: list[Finding | None] = []
    if metric is not None and np.isfinite(data["accuracy"].astype(float)).any():  # floors alone have findings too
        explanation = (explanations or {}).get("below_popularity")
        for label, part in _data_contexts(data):
            part.attrs.update(data.attrs)
            found = [_floor_finding(part, metric, links), _kept_finding(part, metric, links),
                     _below_finding(part, metric, links, explanation), _frontier_finding(part, metric, links),
                     _hash_finding(part, metric, links)]
            out += [f if f is None or not label else replace(f, topic=f"{f.topic} — {label}") for f in found]
    out.append(_speed_finding(data, links))
    return [f for f in out if f is not None]


def _data_contexts(data: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The trials of each data context (dataset, catalogue and history sizes...) apart, with a label naming
    what differs between them ('' when there is one): accuracy is never pooled across datasets. Table
    sizes alone (the speed experiment) stay together: the speed finding tells them apart."""
    columns = [c for c in data.columns if (c == "config.dataset.name" or c.startswith("config.dataset.synthetic."))
               and data[c].map(value_text).nunique() > 1]
    if not columns:
        return [("", data)]
    parts = []
    for values, part in data.groupby([data[c].map(value_text) for c in columns], sort=True):
        values = values if isinstance(values, tuple) else (values,)
        label = ", ".join(f"{c.rsplit('.', 1)[-1]} {v}" for c, v in zip(columns, values))
        parts.append((label, part.copy()))
    return parts
