"""Mean and 95% confidence interval over seeds: the one estimator every figure and table uses.

The interval is Student's t (``scipy.stats.t``): ``mean ± t_{(1+c)/2, n-1} · s / sqrt(n)``, with ``s``
the sample standard deviation. It is not seaborn's bootstrap ``errorbar=("ci", 95)``: with the 3 to 5
seeds of an experiment a bootstrap interval is too narrow and changes with the resampling seed, while the
t-interval is exact for normal noise and deterministic. Figures pass :func:`t_interval` to seaborn as a
callable ``errorbar``, so a figure's error bars and its table's ``ci_low``/``ci_high`` are the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["CONFIDENCE", "summarise", "t_interval"]

CONFIDENCE = 0.95


def _finite(values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def t_interval(values: Sequence[float] | np.ndarray | pd.Series,
               confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t confidence interval of the mean of ``values`` (non-finite values ignored).

    Parameters
    ----------
    values : sequence of float
        One value per seed.
    confidence : float, default 0.95
        Coverage, in (0, 1).

    Returns
    -------
    (low, high) : tuple of float
        ``(nan, nan)`` for fewer than two finite values (no spread to estimate); ``(mean, mean)`` when
        every value is equal.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    x = _finite(values)
    if x.size < 2:
        return math.nan, math.nan
    mean = float(x.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2.0, x.size - 1)) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean - half, mean + half


def summarise(frame: pd.DataFrame, by: Sequence[str], column: str, prefix: str | None = None) -> pd.DataFrame:
    """Per group of ``by``: trial count, mean and 95% t-interval of ``column``.

    Parameters
    ----------
    frame : DataFrame
        One row per trial.
    by : sequence of str
        Grouping columns (missing values form their own group).
    column : str
        The measured value.
    prefix : str, optional
        Prefix of the output columns (default ``column``): ``<prefix>_n``, ``_mean``, ``_ci_low``,
        ``_ci_high``.

    Returns
    -------
    DataFrame
        One row per group, the ``by`` columns first.
    """
    missing = [c for c in [*by, column] if c not in frame.columns]
    if missing:
        raise ValueError(f"summarise: columns {missing} not in the frame; it has {sorted(frame.columns)}")
    prefix = prefix or column
    rows = []
    for key, group in frame.groupby(list(by), dropna=False, sort=True):
        values = _finite(group[column])
        low, high = t_interval(values)
        rows.append({**dict(zip(by, key)),
                     f"{prefix}_n": int(values.size),
                     f"{prefix}_mean": float(values.mean()) if values.size else math.nan,
                     f"{prefix}_ci_low": low, f"{prefix}_ci_high": high})
    columns = [*by, f"{prefix}_n", f"{prefix}_mean", f"{prefix}_ci_low", f"{prefix}_ci_high"]
    return pd.DataFrame(rows, columns=columns)
