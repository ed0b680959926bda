"""Fast parsing of delimited rating files with line-accurate error reports.

The happy path is one pandas C-engine pass plus vectorised checks; only when
something is wrong do we re-scan line by line to name the first bad line.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["RatingsFormat", "MalformedDataError", "parse_ratings"]

_COLUMNS = ("user", "item", "rating", "timestamp")
_INTEGER_COLUMNS = frozenset({"user", "item", "timestamp"})


class MalformedDataError(ValueError):
    """A data file has a row that does not match its format."""


@dataclass(frozen=True)
class RatingsFormat:
    """Layout of a delimited rating file.

    Parameters
    ----------
    sep : str
        Field separator, possibly multi-character (MovieLens uses ``"::"``).
    columns : tuple of str
        Field names in file order, from ``("user", "item", "rating", "timestamp")``;
        ``user`` and ``item`` are required.
    header : bool
        Whether the first line is a header to skip.
    """

    sep: str
    columns: tuple[str, ...]
    header: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.columns) - set(_COLUMNS)
        if unknown or not {"user", "item"} <= set(self.columns):
            raise ValueError(
                f"columns must include 'user' and 'item' and only use {_COLUMNS}, "
                f"got {self.columns}"
            )
        if not self.sep or "\n" in self.sep:
            raise ValueError(f"sep must be a non-empty string without newlines, got {self.sep!r}")


def _check_value(column: str, text: str) -> str | None:
    """Return why ``text`` is not a valid value for ``column`` (None if valid)."""
    try:
        if column in _INTEGER_COLUMNS:
            value = int(text)
            if column != "timestamp" and value < 0:
                return f"{column} id must be non-negative, got {text!r}"
        else:
            if not np.isfinite(float(text)):
                return f"{column} must be finite, got {text!r}"
    except ValueError:
        kind = "an integer" if column in _INTEGER_COLUMNS else "a number"
        return f"{column} must be {kind}, got {text!r}"
    return None


def _find_bad_line(data: bytes, fmt: RatingsFormat) -> tuple[int, str] | None:
    """Slow reference check of every line; returns (1-based line number, reason)."""
    lines = data.split(b"\n")
    start = 1 if fmt.header else 0
    for number, raw in enumerate(lines[start:], start=start + 1):
        line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
        if not line.strip():
            continue  # blank lines are skipped by the fast path too
        fields = line.split(fmt.sep)
        if len(fields) != len(fmt.columns):
            return number, (
                f"expected {len(fmt.columns)} fields separated by {fmt.sep!r}, "
                f"got {len(fields)}: {line[:80]!r}"
            )
        for column, text in zip(fmt.columns, fields, strict=True):
            reason = _check_value(column, text.strip())
            if reason is not None:
                return number, f"{reason} in {line[:80]!r}"
    return None


def _fast_parse(body: bytes, fmt: RatingsFormat) -> dict[str, np.ndarray]:
    sep = fmt.sep
    if len(sep) > 1:
        # The C engine only takes one-character separators; "::" -> "\t" keeps it fast.
        body = body.replace(sep.encode(), b"\t")
        sep = "\t"
    dtypes = {c: (np.int64 if c in _INTEGER_COLUMNS else np.float64) for c in fmt.columns}
    frame = pd.read_csv(
        io.BytesIO(body),
        sep=sep,
        header=None,
        names=list(fmt.columns),
        dtype=dtypes,
        index_col=False,
        engine="c",
        skip_blank_lines=True,
    )
    # pandas pads short rows with NaN and may silently drop extra fields;
    # counting separators catches both.
    if body.count(sep.encode()) != len(frame) * (len(fmt.columns) - 1):
        raise ValueError("field count mismatch")
    out = {c: frame[c].to_numpy() for c in fmt.columns}
    for column in ("user", "item"):
        if len(out[column]) and out[column].min() < 0:
            raise ValueError(f"negative {column} id")
    if "rating" in out and not np.all(np.isfinite(out["rating"])):
        raise ValueError("non-finite rating")
    return out


def parse_ratings(
    data: bytes, fmt: RatingsFormat, *, source: str = "<data>"
) -> dict[str, np.ndarray]:
    """Parse a delimited rating file into raw column arrays.

    Parameters
    ----------
    data : bytes
        Whole file content.
    fmt : RatingsFormat
        Layout of the file.
    source : str
        Name used in error messages (e.g. the file path).

    Returns
    -------
    dict
        ``{"user", "item"}`` int64 raw ids, plus ``"rating"`` (float32) and
        ``"timestamp"`` (int64) when the format has them.

    Raises
    ------
    MalformedDataError
        Naming the first bad line (1-based, header included) and why it is bad.
    """
    body = data
    if fmt.header:
        newline = data.find(b"\n")
        body = b"" if newline < 0 else data[newline + 1 :]
    if not body.strip():
        raise MalformedDataError(f"{source}: no data rows")
    try:
        columns = _fast_parse(body, fmt)
    except (ValueError, TypeError, OverflowError) as exc:
        bad = _find_bad_line(data, fmt)
        if bad is None:  # pragma: no cover - the slow check is stricter than the fast one
            raise MalformedDataError(f"{source}: could not parse ({exc})") from exc
        number, reason = bad
        raise MalformedDataError(f"{source}, line {number}: {reason}") from None
    if "rating" in columns:
        columns["rating"] = columns["rating"].astype(np.float32)
    return columns
