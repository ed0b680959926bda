"""The results layer: the trial-record schema and the JSONL store, shared by the sweep driver and the report.

Torch-free on purpose (numpy, pandas and the standard library only): the report, notebooks and
the command line read results without loading torch or anything that trains. The environment probe that
records versions and hardware lives with the trial runner (:mod:`bloombench.experiments.environment`).

Layout of ``<results_dir>/<experiment>/``
    ``trials.jsonl``
        One JSON object a line, one line per trial run, appended in the order the trials finished.
    ``trials.jsonl.torn``
        Fragments of torn last lines cut off before an append (kept for forensics, never read back).
    ``driver.lock``, ``driver.lock.json``
        The lock a sweep driver holds while it runs, and who holds it (pid, host, since when, command).
    ``trials.jsonl.lock``
        The short lock every append takes.

The record
    Every record is a JSON object. The fields both sides rely on are named here: :data:`EXPERIMENT`,
    :data:`VARIANT`, :data:`PHASE` (:data:`SEARCH` or :data:`FINAL`; a record without one is final),
    :data:`TRIAL_KEY` (the trial's identity: resuming skips the keys recorded :data:`OK`), :data:`STATUS`
    (:data:`OK` or :data:`FAILED`, the latter with :data:`ERROR`), :data:`BASELINE`, :data:`SELECTED_FROM`
    (the search trial whose hyperparameters a final trial uses) and :data:`CONFIG` (the fully resolved
    config). Everything else (metrics, timings, sizes, seeds, environment, worker) is free-form and reaches
    the report as the dotted columns of :func:`load_results`.

Writing (:meth:`ResultStore.append`)
    Under a short file lock, each record is serialised first and written with one ``write`` of one line,
    then fsynced. If the file does not end with a newline (a line torn by a power loss), the fragment is
    first moved to ``trials.jsonl.torn`` with a warning, so it never fuses with the new line. If the write
    fails or is short (a full disk), the file is cut back to its size before the append and
    :class:`StoreWriteError` (an ``OSError``) names the file and the bytes written and needed. A sweep
    driver holds :meth:`ResultStore.driver_lock` for its whole run: a second driver on the same experiment
    refuses at once with :class:`StoreLockedError`, naming the holder. Both locks are ``flock`` locks on
    descriptors that child processes started with spawn or exec do not inherit, so a lock dies with its
    process: a driver killed with SIGKILL never blocks the next one. Lock files stay in place (removing a
    ``flock``-ed file lets two processes lock two different files of one name).

Reading (:meth:`ResultStore.records`, :func:`load_results`)
    A line that cannot be a record (not UTF-8, not valid JSON, or valid JSON that is not an object) is
    skipped with a :class:`StoreWarning` naming ``file:line`` and why; a torn last line likewise. Nothing
    is invented in its place: its trial counts as not recorded, so the next run of the experiment runs it
    again, and everything else still loads.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import os
import socket
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bloombench.files import atomic_write

__all__ = ["APPEND_LOCK_TIMEOUT", "BASELINE", "CONFIG", "ERROR", "EXPERIMENT", "FAILED", "FINAL", "OK", "PHASE",
           "PHASES", "SEARCH", "SELECTED_FROM", "STATUS", "STATUSES", "TRIALS_FILE", "TRIAL_KEY", "VARIANT",
           "ResultStore", "StoreError", "StoreLockedError", "StoreWarning", "StoreWriteError", "load_results", "now"]

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
_DRIVER_LOCK = "driver.lock"
_HOLDER_SUFFIX = ".json"
#: Seconds an append waits for another writer's append (each holds the lock for one write and fsync).
APPEND_LOCK_TIMEOUT = 60.0
_BLOCK = 1 << 16
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
               type(None): "null"}


class StoreError(RuntimeError):
    """A problem of the result store, told in one line (what happened, to which file, what to do)."""


class StoreLockedError(StoreError):
    """Another driver runs the experiment (or another writer kept the append lock too long).

    Attributes
    ----------
    holder : dict
        What the holder wrote about itself (``pid``, ``host``, ``since``, ``command``); empty when unknown.
    """

    def __init__(self, message: str, holder: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.holder = holder or {}


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
        StoreLockedError
            Another writer held the append lock for :data:`APPEND_LOCK_TIMEOUT` seconds.
        """
        data = (json.dumps(record, sort_keys=True, default=_jsonable) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._append_lock():
            # O_APPEND: the write lands at the end even if a writer that ignores the lock grew the file.
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = self._cut_torn_tail(fd)
                self._write_or_undo(fd, data, size)
            finally:
                os.close(fd)

    @contextlib.contextmanager
    def _append_lock(self) -> Iterator[None]:
        fd = _flock(self.path.with_name(self.path.name + ".lock"), APPEND_LOCK_TIMEOUT)
        if fd is None:
            raise StoreLockedError(f"{self.path}: another process kept the append lock for "
                                   f"{APPEND_LOCK_TIMEOUT:.0f} s; is a writer stuck?")
        try:
            yield
        finally:
            os.close(fd)  # releases the lock

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

    @contextlib.contextmanager
    def driver_lock(self) -> Iterator[None]:
        """Hold the experiment's driver lock (non-blocking) while the block runs.

        Raises
        ------
        StoreLockedError
            At once, when another driver holds it: names its pid, host and start, and what to do.
        """
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        info = folder / (_DRIVER_LOCK + _HOLDER_SUFFIX)
        fd = _flock(folder / _DRIVER_LOCK, timeout=0.0)
        if fd is None:
            holder = _read_holder(info)
            raise StoreLockedError(_locked_message(folder, holder), holder)
        try:
            holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": now(), "command": sys.argv}
            atomic_write(info, (json.dumps(holder) + "\n").encode("utf-8"))
            yield
        finally:
            info.unlink(missing_ok=True)  # before the release: a new holder's info is never removed
            os.close(fd)


def _flock(path: Path, timeout: float) -> int | None:
    """A descriptor holding an exclusive ``flock`` on ``path`` (closing it releases the lock), or None when
    another holder kept it for ``timeout`` seconds (0: one attempt).

    ``os.open`` descriptors are not inheritable, so a spawned or exec-ed child never keeps the lock alive.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(0.01)
    except BaseException:
        os.close(fd)
        raise


def _read_holder(info: Path) -> dict[str, Any]:
    try:
        holder = json.loads(info.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # written just now, or removed just now
        return {}
    return holder if isinstance(holder, dict) else {}


def _locked_message(folder: Path, holder: dict[str, Any]) -> str:
    if not holder:
        return (f"{folder} is in use by another bloombench driver (holder unknown: it is starting or "
                "stopping); wait for it to finish, then rerun")
    pid, host = holder.get("pid"), holder.get("host")
    where = "" if host == socket.gethostname() else f" on {host}"
    return (f"{folder} is in use by another bloombench driver (pid {pid} on {host}, since {holder.get('since')}); "
            f"wait for it to finish or stop it (kill {pid}{where}), then rerun: it resumes where that driver stopped")


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
