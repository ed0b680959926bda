"""The results layer: the trial-record schema and the JSONL store, shared by the sweep driver and the report.

Torch-free on purpose (numpy, pandas and the standard library only): the report, notebooks and
the command line read results without loading torch or anything that trains. The environment probe that
records versions and hardware lives with the trial runner (:mod:`bloombench.experiments.environment`).

Layout of ``<results_dir>/<experiment>/``
    ``trials.jsonl``
        One JSON object a line, one line per trial run, appended in the order the trials finished.
    ``trials.jsonl.torn``
        Fragments of torn last lines cut off before an append (kept for forensics, never read back).

The record
    Every record is a JSON object. The fields both sides rely on are named here: :data:`EXPERIMENT`,
    :data:`VARIANT`, :data:`PHASE` (:data:`SEARCH` or :data:`FINAL`; a record without one is final),
    :data:`TRIAL_KEY` (the trial's identity: resuming skips the keys recorded :data:`OK`), :data:`STATUS`
    (:data:`OK` or :data:`FAILED`, the latter with :data:`ERROR`), :data:`BASELINE`, :data:`SELECTED_FROM`
    (the search trial whose hyperparameters a final trial uses) and :data:`CONFIG` (the fully resolved
    config). Everything else (metrics, timings, sizes, seeds, environment, worker) is free-form and reaches
    the report as the dotted columns of :func:`load_results`.

Writing (:meth:`ResultStore.append`)
    Only the driver writes. Each record is serialised first and written with one ``write`` of one line,
    then fsynced. If the file does not end with a newline (a line torn by a power loss), the fragment is
    first moved to ``trials.jsonl.torn`` with a warning, so it never fuses with the new line. If the write
    fails or is short (a full disk), the file is cut back to its size before the append and
    :class:`StoreWriteError` (an ``OSError``) names the file and the bytes written and needed.

Reading (:meth:`ResultStore.records`, :func:`load_results`)
    A line that cannot be a record (not UTF-8, not valid JSON, or valid JSON that is not an object) is
    skipped with a :class:`StoreWarning` naming ``file:line`` and why; a torn last line likewise. Nothing
    is invented in its place: its trial counts as not recorded, so the next run of the experiment runs it
    again, and everything else still loads.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BASELINE", "CONFIG", "ERROR", "EXPERIMENT", "FAILED", "FINAL", "OK", "PHASE", "PHASES", "SEARCH",
           "SELECTED_FROM", "STATUS", "STATUSES", "TRIALS_FILE", "TRIAL_KEY", "VARIANT", "ResultStore", "StoreError",
           "StoreWarning", "StoreWriteError", "load_results", "now"]

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
_TORN_SUFFIX = ".torn"
_BLOCK = 1 << 16
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
               type(None): "null"}


class StoreError(RuntimeError):
    """A problem of the result store, told in one line (what happened, to which file, what to do)."""


class StoreWriteError(OSError, StoreError):
    """An append that did not complete (disk full, I/O error); the file is back to its previous size."""


class StoreWarning(UserWarning):
    """A line of a results file was skipped or moved aside (named ``file:line`` with the reason)."""


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


def _write(fd: int, data: bytes) -> int:
    """One ``os.write`` (its own function so tests can make it fail or write short, as a full disk does)."""
    return os.write(fd, data)


def _decode(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """A line's record, or None and why it is not one."""
    try:
        value = json.loads(raw.removesuffix(b"\n").decode("utf-8"))  # UTF-8 only; columns count within the line
    except UnicodeDecodeError as error:
        return None, f"not UTF-8 ({error.reason} at byte {error.start})"
    except json.JSONDecodeError as error:
        return None, f"not valid JSON ({error.msg} at column {error.colno})"
    if not isinstance(value, dict):
        return None, f"{_JSON_TYPES.get(type(value), type(value).__name__)}, not a record object"
    return value, ""


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

    @property
    def torn_path(self) -> Path:
        """Where torn last lines cut off before an append are kept."""
        return self.path.with_name(self.path.name + _TORN_SUFFIX)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, in file order; a line that is not one is skipped with a :class:`StoreWarning`."""
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n"):
                    warnings.warn(f"{self.path}:{number}: incomplete last line skipped (a write cut short by a "
                                  "crash; its trial counts as not recorded)", StoreWarning, stacklevel=2)
                    return
                if not raw.strip():
                    continue
                record, why = _decode(raw)
                if record is None:
                    warnings.warn(f"{self.path}:{number}: line skipped, {why}; its trial counts as not recorded",
                                  StoreWarning, stacklevel=2)
                    continue
                yield record

    def completed(self) -> set[str]:
        """Keys of the trials recorded with status ``ok``."""
        return {r[TRIAL_KEY] for r in self.records() if r.get(STATUS) == OK and TRIAL_KEY in r}

    def append(self, record: dict[str, Any]) -> None:
        """Append one record as one line: whole, after any torn fragment is moved aside, or not at all.

        Raises
        ------
        StoreWriteError
            The write failed or was short (the file is cut back to its size before the append).
        """
        data = (json.dumps(record, sort_keys=True, default=_jsonable) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: the write lands at the end even if the file grew meanwhile.
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = self._cut_torn_tail(fd)
            self._write_or_undo(fd, data, size)
        finally:
            os.close(fd)

    def _cut_torn_tail(self, fd: int) -> int:
        """Move a last line without its newline to :attr:`torn_path`; the size of the complete lines."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return size
        cut, end = 0, size
        while end > 0:  # the byte after the last newline, scanning back block by block
            start = max(0, end - _BLOCK)
            newline = os.pread(fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                break
            end = start
        fragment = os.pread(fd, size - cut, cut)
        with self.torn_path.open("ab") as torn:  # kept (and durable) before the file loses it
            torn.write(fragment + b"\n")
            torn.flush()
            os.fsync(torn.fileno())
        os.ftruncate(fd, cut)
        os.fsync(fd)
        warnings.warn(f"{self.path}: a torn last line ({size - cut} bytes, a write cut short by a crash) was "
                      f"moved to {self.torn_path} before appending", StoreWarning, stacklevel=3)
        return cut

    def _write_or_undo(self, fd: int, data: bytes, size: int) -> None:
        """Write ``data`` and fsync; on failure cut the file back to ``size`` and raise StoreWriteError."""
        cause = None
        try:
            if _write(fd, data) == len(data):
                os.fsync(fd)
                return
            code, problem = errno.ENOSPC, "short write (disk full?)"
        except OSError as error:
            code, problem, cause = error.errno or errno.EIO, error.strerror or str(error), error
        written = os.fstat(fd).st_size - size  # what reached the file, whatever the failing call said
        outcome = f"cut back to its {size} bytes"
        try:
            os.ftruncate(fd, size)
        except OSError as undo:
            outcome = (f"not cut back ({undo.strerror or undo}): its torn last line is skipped on load and "
                       "moved aside by the next append")
        raise StoreWriteError(code, f"record not stored in {self.path}: {problem}, {written} of {len(data)} "
                                    f"bytes written; the file is {outcome}") from cause

def load_results(results_dir: str | os.PathLike[str], experiment: str | None = None) -> pd.DataFrame:
    """All records of one experiment (or of every experiment) as a flat DataFrame.

    Nested keys become dotted columns (``test.mrr``, ``config.embedding.method``). Lines that are not
    records are skipped with a :class:`StoreWarning` (see the module docstring).
    """
    root = Path(results_dir)
    names = [experiment] if experiment else sorted(p.parent.name for p in root.glob(f"*/{TRIALS_FILE}"))
    rows = [record for name in names for record in ResultStore(root, name).records()]
    if not rows:
        return pd.DataFrame()
    return pd.json_normalize(rows)
