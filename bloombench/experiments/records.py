"""Result-store records of trials: what executors run (:func:`execute_trial`) and what the driver writes
for a trial whose worker kept dying (:func:`lost_trial_record`).

Every record starts with the identity of its task (experiment, variant, phase, key, baseline, the search
trial it took its hyperparameters from) and holds the resolved config, the seeds, the environment and
the times; :func:`execute_trial` never raises: a failing trial becomes a record with ``status="failed"``.
"""

from __future__ import annotations

import os
import resource
import socket
import time
import traceback
from collections.abc import Mapping
from typing import Any

from bloombench.experiments.config import resolve_config
from bloombench.experiments.environment import environment
from bloombench.experiments.trial import run_trial
from bloombench.results import FAILED, OK, now

__all__ = ["execute_trial", "lost_trial_record"]


def _task_record(task: Mapping[str, Any]) -> dict[str, Any]:
    """The identity fields of an executor task, as every record of it starts (``compression``: the trial's
    place on the compression axis, as the spec puts it; absent from tasks that name none)."""
    record: dict[str, Any] = {key: task[key] for key in ("experiment", "variant", "phase", "trial_key")}
    record["baseline"] = bool(task.get("baseline", False))
    if task.get("selected_from"):
        record["selected_from"] = task["selected_from"]
    if "compression" in task:
        record["compression"] = task["compression"]
    return record


def _failure(task: Mapping[str, Any], error: BaseException, trace: str) -> dict[str, Any]:
    """``status="failed"`` with the error, the traceback and the config as far as it resolves."""
    try:
        config = resolve_config(task["config"])
    except (TypeError, ValueError):
        config = task["config"]
    return {"status": FAILED, "error": f"{type(error).__name__}: {error}", "traceback": trace,
            "config": config}


def _seeds(config: Mapping[str, Any]) -> dict[str, Any]:
    def at(*path: str) -> Any:
        value: Any = config
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    return {"split": at("split", "seed"), "training": at("training", "seed"),
            "embedding": at("embedding", "params", "seed")}


def execute_trial(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run the trial of an executor task and return its complete result-store record; never raises.

    Parameters
    ----------
    task : mapping
        ``experiment``, ``variant``, ``phase``, ``trial_key``, ``config`` (trial overrides) and
        optionally ``selected_from`` (the search trial whose hyperparameters a final trial uses) and
        ``compression`` (where the report places the trial: see
        :meth:`bloombench.experiments.variants.Variant.compression`).

    Returns
    -------
    dict
        The identity fields of ``task``, ``status`` (``"ok"`` or ``"failed"`` with ``error`` and
        ``traceback``: an exception, a NaN loss or running out of memory fails the trial, not the sweep),
        the measurements of :func:`~bloombench.experiments.trial.run_trial`, ``seeds``, ``environment``,
        ``worker``, ``started``, ``ended``, ``wall_seconds`` and ``peak_rss_bytes`` (the peak resident
        memory of the process that ran it, so far).
    """
    record = _task_record(task)
    record["started"] = now()
    start = time.perf_counter()
    try:
        record.update(run_trial(task["config"]))
        record["status"] = OK
    except Exception as error:  # recorded (MemoryError and CUDA OOM included); the sweep goes on
        record.update(_failure(task, error, traceback.format_exc(limit=8)))
    record.update(
        ended=now(), wall_seconds=time.perf_counter() - start, environment=environment(),
        worker={"host": socket.gethostname(), "pid": os.getpid()}, seeds=_seeds(record["config"]),
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
    return record


def lost_trial_record(task: Mapping[str, Any], error: BaseException) -> dict[str, Any]:
    """The ``failed`` record of a trial whose worker process kept dying (killed, out of memory).

    Made by the driver (the worker is gone), so it holds the identity, config, seeds and error, and the
    driver's time of writing as ``ended``.
    """
    record = _task_record(task)
    record.update(_failure(task, error, ""), ended=now())
    record["seeds"] = _seeds(record["config"])
    return record
