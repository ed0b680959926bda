"""The result store: one JSON line per trial in ``results/<experiment>/trials.jsonl``.

Only the driver writes. Each record is serialised first and written with a single ``write`` of one
line on a file opened for appending, then flushed and fsynced, so a crash leaves either the whole line
or nothing (a torn last line, from a power loss, is skipped on load with a warning). Rerunning an
experiment skips the trials whose key is already recorded with status ``ok``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import bloombench

__all__ = ["ResultStore", "environment", "load_results"]


@functools.lru_cache(maxsize=1)
def _git_commit() -> str | None:
    """HEAD of the checkout bloombench runs from: the package's folder (editable or inside the checkout,
    as in tox's env), else the working directory (a wheel installed elsewhere, run from the checkout)."""
    for folder in (Path(__file__).resolve().parent, Path.cwd()):
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                 cwd=folder, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.stdout.strip():
            return out.stdout.strip()
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Versions, git commit and hardware of this process (recorded with every trial)."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "bloombench": bloombench.__version__,
        "git_commit": _git_commit(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


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
        self.path = Path(results_dir) / experiment / "trials.jsonl"

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
        return {r["trial_key"] for r in self.records() if r.get("status") == "ok"}

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


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def load_results(results_dir: str | os.PathLike[str], experiment: str | None = None) -> pd.DataFrame:
    """All records of one experiment (or of every experiment) as a flat DataFrame.

    Nested keys become dotted columns (``test.mrr``, ``config.embedding.method``).
    """
    root = Path(results_dir)
    names = [experiment] if experiment else sorted(p.parent.name for p in root.glob("*/trials.jsonl"))
    rows = [record for name in names for record in ResultStore(root, name).records()]
    if not rows:
        return pd.DataFrame()
    return pd.json_normalize(rows)
