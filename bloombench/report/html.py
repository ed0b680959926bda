"""The static HTML page: table views, relative links and the jinja2 rendering of ``templates/index.html.j2``.

The template is rendered with autoescaping on and strict undefined variables: every value from the
records (variant names, errors, spec text) is escaped, and a misspelt template variable fails the build
instead of printing nothing. Links are relative to the page and percent-encoded, so the folder opens from
disk (``file://``) with no server; the page has no external CSS, JavaScript or fonts.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import numpy as np
import pandas as pd

__all__ = ["FLAG_MARK", "TableView", "anchor_ids", "cell_text", "relative_href", "render_page", "table_view"]

_TEMPLATE = "index.html.j2"


#: What a flagged row's flag cell shows (the row is also marked by its class).
FLAG_MARK = "▼ yes"


@dataclass(frozen=True)
class TableView:
    """A table as the page shows it: column names, rows of cell texts, and which rows are flagged."""

    columns: list[str]
    rows: list[list[str]]
    flagged: list[bool] = field(default_factory=list)


def cell_text(value: Any) -> str:
    """A cell as shown on the page: 4 significant digits for floats (as the Markdown), '' for missing."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def table_view(table: pd.DataFrame, flag: str | None = None) -> TableView:
    """The cell texts of ``table`` (:func:`cell_text`), column order kept.

    Parameters
    ----------
    table : DataFrame
    flag : str, optional
        A boolean column: its true rows are flagged (the page marks the row, the cell reads
        :data:`FLAG_MARK`).
    """
    rows = [[cell_text(v) for v in row] for row in table.itertuples(index=False, name=None)]
    flagged = [False] * len(rows)
    if flag is not None and flag in table.columns:
        position = list(table.columns).index(flag)
        flagged = [bool(v) for v in table[flag].fillna(False)]
        for row, marked in zip(rows, flagged):
            row[position] = FLAG_MARK if marked else ""
    return TableView([str(c) for c in table.columns], rows, flagged)


def relative_href(target: str | Path, page_dir: str | Path) -> str:
    """Percent-encoded POSIX path of ``target`` relative to the page's folder (works from ``file://``)."""
    relative = os.path.relpath(Path(target).resolve(), Path(page_dir).resolve())
    return quote(Path(relative).as_posix())


def anchor_ids(names: list[str]) -> dict[str, str]:
    """A distinct HTML id per name (letters, digits, ``-`` and ``_``; a suffix where two would clash)."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = "exp-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "experiment")
        candidate, number = base, 2
        while candidate in taken:
            candidate, number = f"{base}-{number}", number + 1
        ids[name] = candidate
        taken.add(candidate)
    return ids


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("bloombench.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def render_page(context: Mapping[str, Any]) -> str:
    """The page's HTML for ``context`` (the variables of ``templates/index.html.j2``)."""
    return _environment().get_template(_TEMPLATE).render(**context)
