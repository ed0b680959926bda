"""The results layer: the trial-record schema and the JSONL store, shared by the sweep driver and the report.

Torch-free on purpose (numpy, pandas and the standard library only): the report, notebooks and
the command line read results without loading torch or anything that trains. The environment probe that
records versions and hardware lives with the trial runner (:mod:`bloombench.experiments.environment`).

One JSON line per trial in ``results/<experiment>/trials.jsonl``. Every record is a JSON object. The
fields both sides rely on are named here: :data:`EXPERIMENT`, :data:`VARIANT`, :data:`PHASE`
(:data:`SEARCH` or :data:`FINAL`; a record without one is final), :data:`TRIAL_KEY` (the trial's identity:
resuming skips the keys recorded :data:`OK`), :data:`STATUS` (:data:`OK` or :data:`FAILED`, the latter with
:data:`ERROR`), :data:`BASELINE`, :data:`SELECTED_FROM` (the search trial whose hyperparameters a final
trial uses) and :data:`CONFIG` (the fully resolved config). Everything else (metrics, timings, sizes,
seeds, environment, worker) is free-form and reaches the report as the dotted columns of
:func:`load_results`.

Only the driver writes. Each record is serialised first and written with a single ``write`` of one line
on a file opened for appending, then flushed and fsynced, so a crash leaves either the whole line or
nothing (a torn last line, from a power loss, is skipped on load with a warning).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BASELINE", "CONFIG", "ERROR", "EXPERIMENT", "FAILED", "FINAL", "OK", "PHASE", "PHASES", "SEARCH",
           "SELECTED_FROM", "STATUS", "STATUSES", "TRIALS_FILE", "TRIAL_KEY", "VARIANT", "ResultStore",
           "load_results", "now"]

# Record fields (see the module docstring).
EXPERIMENT, VARIANT, PHASE, TRIAL_KEY = "experiment", "variant", "phase", "trial_key"
STATUS, ERROR, BASELINE, SELECTED_FROM, CONFIG = "status", "error", "baseline", "selected_from", "config"
#: The values of :data:`STATUS`.
OK, FAILED = "ok", "failed"
STATUSES = (OK, FAILED)
#: The values of :data:`PHASE`: hyperparameter search, then the reported trials.
SEARCH, FINAL = "search", "final"
PHASES = (SEARCH, FINAL)

TRIALS_FILE = "trials.jsonl"


def now() -> str:
    """The current UTC time, ISO 8601 to the second (the records' ``started``/``ended``)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars and arrays as Python values, anything else as its text."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


class ResultStore:
    """Append-only JSONL trial records of one experiment.

    Parameters
    ----------
    results_dir : path
        Root of the results tree (``results/``).
    experiment : str
        Experiment name; records go to ``<results_dir>/<experiment>/trials.jsonl``.
    """

    def __init__(self, results_dir: str | os.PathLike[str], experiment: str) -> None:
        if not experiment or "/" in experiment or experiment.startswith("."):
            raise ValueError(f"experiment must be a plain directory name, got {experiment!r}")
        self.experiment = experiment
        self.path = Path(results_dir) / experiment / TRIALS_FILE

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record, in file order (a torn trailing line is skipped with a warning)."""
        if not self.path.exists():
            return
        with self.path.open("r", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.endswith("\n"):
                    warnings.warn(f"{self.path}:{number}: incomplete last line skipped", stacklevel=2)
                    return
                if line.strip():
                    yield json.loads(line)

    def completed(self) -> set[str]:
        """Keys of the trials recorded with status ``ok``."""
        return {r[TRIAL_KEY] for r in self.records() if r.get(STATUS) == OK}

    def append(self, record: dict[str, Any]) -> None:
        """Append one record atomically (one ``write`` of one line, flushed and fsynced)."""
        line = json.dumps(record, sort_keys=True, default=_jsonable) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: the single write lands at the end even if the file grew meanwhile.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            data = line.encode("utf-8")
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)


def load_results(results_dir: str | os.PathLike[str], experiment: str | None = None) -> pd.DataFrame:
    """All records of one experiment (or of every experiment) as a flat DataFrame.

    Nested keys become dotted columns (``test.mrr``, ``config.embedding.method``).
    """
    root = Path(results_dir)
    names = [experiment] if experiment else sorted(p.parent.name for p in root.glob(f"*/{TRIALS_FILE}"))
    rows = [record for name in names for record in ResultStore(root, name).records()]
    if not rows:
        return pd.DataFrame()
    return pd.json_normalize(rows)
