"""The comparisons the report states, over :func:`~bloombench.report.prepare.prepare`-d trials of one experiment.

Figures, tables and the Findings read the same functions, so a sentence, a band and a table cell are one
number:

:func:`floor_summary`
    Each floor (popularity, random): mean and 95% t-interval over its trials of the accuracy, or of its
    ratio to the baseline.
:func:`frontier`
    Mean accuracy and embedding bytes of every (method, compression) setting, marking the **Pareto
    frontier**: the settings no other setting beats with fewer or as many bytes.
:func:`hash_tests`, :func:`family_overlap`
    Does the hash family matter? Per method and compression, whether the families' intervals overlap, and
    a paired t-test (per seed, :func:`scipy.stats.ttest_rel`) of each family against the ideal ``random``
    family, Holm-adjusted over the families.
:func:`words`
    What the experiment compresses, in words: table rows (``config.embedding``) or the bits of the code
    (``config.encoding``, the paper's m/d), and what its baseline is.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bloombench.report.prepare import BYTES, FLOOR_KINDS, floor_rows, higher_is_better, method_rows
from bloombench.report.stats import summarise, t_interval

__all__ = ["IDEAL_HASH", "SIGNIFICANCE", "Words", "family_overlap", "floor_summary", "frontier", "hash_tests",
           "holm", "pareto_mask", "words"]

#: The hash family every other family is tested against: a seeded random table, ideal hashing.
IDEAL_HASH = "random"
#: The level of the hash-family tests (after Holm's adjustment).
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Words:
    """How figures and sentences name what an experiment compresses.

    Attributes
    ----------
    axis : str
        The x-axis label of a ratio-vs-compression figure with one panel.
    short : str
        The same, short: panel axes and sentences ("compression 0.2", "m/d 0.2").
    baseline : str
        What the ratios divide by ("full table", "identity encoding (m = d)").
    """

    axis: str
    short: str
    baseline: str


_EMBEDDING = Words("compression ratio\n(rows of the compressed table ÷ rows of the full table)", "compression",
                   "full table")
_ENCODING = Words("m/d (bits of the code ÷ items)", "m/d", "identity encoding (m = d)")
_MIXED = Words("compression ratio", "compression", "baseline")


def words(data: pd.DataFrame) -> Words:
    """The :class:`Words` of the methods' trials: by ``part_section`` (embedding, encoding, or both)."""
    sections = set(method_rows(data)["part_section"]) - {""}
    if sections == {"encoding"}:
        return _ENCODING
    return _EMBEDDING if sections <= {"embedding"} else _MIXED


def floor_summary(data: pd.DataFrame, column: str = "accuracy") -> pd.DataFrame:
    """Per floor kind present: its label, trial count, mean and 95% t-interval of ``column``.

    Returns
    -------
    DataFrame
        ``floor, method, n, mean, ci_low, ci_high`` in :data:`FLOOR_KINDS` order; empty without floors or
        without a finite value.
    """
    rows = []
    for kind in FLOOR_KINDS:
        trials = floor_rows(data, kind)
        values = pd.to_numeric(trials[column], errors="coerce").astype(float).to_numpy()
        values = values[np.isfinite(values)]
        if not values.size:
            continue
        low, high = t_interval(values)
        rows.append({"floor": kind, "method": ", ".join(sorted(set(trials["method"]))), "n": int(values.size),
                     "mean": float(values.mean()), "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=["floor", "method", "n", "mean", "ci_low", "ci_high"])


def pareto_mask(size: np.ndarray, value: np.ndarray, higher: bool = True) -> np.ndarray:
    """Which points are on the Pareto frontier of (smaller ``size``, better ``value``).

    A point is on it when every point at most as large is worse (ties in value: the smaller point wins;
    the same size and value: both stay).
    """
    size, value = np.asarray(size, dtype=float), np.asarray(value, dtype=float)
    score = value if higher else -value
    on = np.zeros(size.size, dtype=bool)
    for i in range(size.size):
        rivals = (size <= size[i]) & (np.arange(size.size) != i)
        beaten = (score[rivals] > score[i]) | ((score[rivals] == score[i]) & (size[rivals] < size[i]))
        on[i] = np.isfinite(score[i]) and not beaten.any()
    return on


def frontier(data: pd.DataFrame) -> pd.DataFrame:
    """Every method setting (method, compression) with its median embedding bytes and mean accuracy.

    Returns
    -------
    DataFrame
        ``method, compression, embedding_bytes, trials, accuracy_mean, accuracy_ci_low, accuracy_ci_high,
        on_frontier``, sorted by bytes; empty when no method trial has a finite accuracy and size.
    """
    rows = method_rows(data)
    rows = rows[np.isfinite(rows["accuracy"].astype(float)) & np.isfinite(rows[BYTES].astype(float))]
    columns = ["method", "compression", BYTES, "trials", "accuracy_mean", "accuracy_ci_low", "accuracy_ci_high",
               "on_frontier"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    keys = ["method", "compression"]
    table = summarise(rows, keys, "accuracy").rename(columns={"accuracy_n": "trials"})
    table[BYTES] = table[keys].merge(rows.groupby(keys, dropna=False)[BYTES].median().reset_index(), on=keys,
                                     how="left")[BYTES].to_numpy()
    metric = data.attrs.get("metric") or "accuracy"
    table["on_frontier"] = pareto_mask(table[BYTES].to_numpy(), table["accuracy_mean"].to_numpy(),
                                       higher_is_better(metric))
    return table[columns].sort_values([BYTES, "method"], kind="stable").reset_index(drop=True)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of ``pvalues`` (NaN stays NaN and does not count as a test)."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def _hashed(data: pd.DataFrame) -> pd.DataFrame:
    rows = method_rows(data)
    return rows[(rows["hash"] != "") & ~rows["is_baseline"].astype(bool) & np.isfinite(rows["accuracy"].astype(float))]


def hash_tests(data: pd.DataFrame, reference: str = IDEAL_HASH) -> pd.DataFrame:
    """Paired t-test of each hash family's accuracy against ``reference``'s, per method and compression.

    Pairs are the trials with the same seeds (``seed_key``); the difference is family minus reference, its
    interval :func:`~bloombench.report.stats.t_interval` of the per-seed differences, the p-value
    :func:`scipy.stats.ttest_rel`'s (two-sided), ``p_holm`` Holm-adjusted over the families of the same
    method and compression, ``differs`` whether ``p_holm < SIGNIFICANCE``.

    Returns
    -------
    DataFrame
        ``method, compression, hash, pairs, difference_mean, difference_ci_low, difference_ci_high, t, p,
        p_holm, differs``; empty unless two families, ``reference`` among them, were tried.
    """
    columns = ["method", "compression", "hash", "pairs", "difference_mean", "difference_ci_low",
               "difference_ci_high", "t", "p", "p_holm", "differs"]
    rows = _hashed(data)
    if rows["hash"].nunique() < 2 or reference not in set(rows["hash"]):
        return pd.DataFrame(columns=columns)
    out = []
    for (method, compression), group in rows.groupby(["method_base", "compression"], sort=True):
        per_seed = group.pivot_table(index="seed_key", columns="hash", values="accuracy", aggfunc="mean")
        if reference not in per_seed.columns:
            continue
        tests = []
        for family in sorted(c for c in per_seed.columns if c != reference):
            pair = per_seed[[family, reference]].dropna()
            difference = (pair[family] - pair[reference]).to_numpy()
            t, p = math.nan, math.nan
            if difference.size >= 2 and np.ptp(difference) > 0:  # no spread: no t-statistic
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    result = stats.ttest_rel(pair[family], pair[reference])
                t, p = float(result.statistic), float(result.pvalue)
            low, high = t_interval(difference)
            tests.append({"method": method, "compression": compression, "hash": family, "pairs": int(difference.size),
                          "difference_mean": float(difference.mean()) if difference.size else math.nan,
                          "difference_ci_low": low, "difference_ci_high": high, "t": t, "p": p})
        adjusted = holm(np.array([test["p"] for test in tests]))
        for test, p_holm in zip(tests, adjusted):
            out.append({**test, "p_holm": float(p_holm), "differs": bool(p_holm < SIGNIFICANCE)})
    return pd.DataFrame(out, columns=columns)


def family_overlap(data: pd.DataFrame) -> pd.DataFrame:
    """Per method and compression: do the hash families' 95% intervals of the accuracy all overlap?

    In one dimension, intervals overlap pairwise exactly when the highest lower end is at most the lowest
    upper end; when they do not, those two families are a pair that does not overlap.

    Returns
    -------
    DataFrame
        ``method, compression, families, overlap`` (bool; NaN-free intervals only), ``highest_low`` and
        ``lowest_high`` (the families at the two ends), ``best``, ``best_mean``, ``worst``, ``worst_mean``;
        empty with fewer than two families.
    """
    columns = ["method", "compression", "families", "overlap", "highest_low", "lowest_high", "best", "best_mean",
               "worst", "worst_mean"]
    rows = _hashed(data)
    if rows["hash"].nunique() < 2:
        return pd.DataFrame(columns=columns)
    higher = higher_is_better(data.attrs.get("metric") or "accuracy")
    table = summarise(rows, ["method_base", "compression", "hash"], "accuracy")
    out = []
    for (method, compression), group in table.groupby(["method_base", "compression"], sort=True):
        bounded = group.dropna(subset=["accuracy_ci_low", "accuracy_ci_high"])
        ranked = group.sort_values(["accuracy_mean", "hash"], ascending=[not higher, True], kind="stable")
        top, bottom = ranked.iloc[0], ranked.iloc[-1]
        if len(bounded) >= 2:
            low = bounded.sort_values(["accuracy_ci_low", "hash"], ascending=[False, True]).iloc[0]
            high = bounded.sort_values(["accuracy_ci_high", "hash"]).iloc[0]
            overlap, ends = bool(low["accuracy_ci_low"] <= high["accuracy_ci_high"]), (low["hash"], high["hash"])
        else:
            overlap, ends = math.nan, ("", "")
        out.append({"method": method, "compression": compression, "families": int(len(group)), "overlap": overlap,
                    "highest_low": ends[0], "lowest_high": ends[1], "best": top["hash"],
                    "best_mean": float(top["accuracy_mean"]), "worst": bottom["hash"],
                    "worst_mean": float(bottom["accuracy_mean"])})
    return pd.DataFrame(out, columns=columns)
