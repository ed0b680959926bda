"""Task functions for tests/test_executors.py, importable by worker processes (tests/ is on their path).

Each returns where it ran (pid, host) so a test can tell which worker produced a result. ``started_dir``
in a payload makes a task leave ``<key>.<pid>.started`` there when it starts, so a test can see every
attempt of a task and the process it ran in.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any


def _started(payload: dict[str, Any]) -> None:
    if payload.get("started_dir"):
        Path(payload["started_dir"], f"{payload['key']}.{os.getpid()}.started").touch()


def square(payload: dict[str, Any]) -> dict[str, Any]:
    """``x ** 2`` with the pid and host that computed it and when (``time.time()``) it started and ended.

    It first waits (up to 30 s) for the file ``wait_for`` to exist, if given, then sleeps ``sleep`` s.
    """
    _started(payload)
    start = time.time()
    if payload.get("wait_for"):
        deadline = time.monotonic() + 30
        while not Path(payload["wait_for"]).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    time.sleep(payload.get("sleep", 0.0))
    return {"value": payload["x"] ** 2, "pid": os.getpid(), "host": socket.gethostname(),
            "start": start, "end": time.time()}


def die_once(payload: dict[str, Any]) -> dict[str, Any]:
    """SIGKILL this process on the first attempt (no ``marker`` file yet), else :func:`square`."""
    marker = Path(payload["marker"])
    if not marker.exists():
        _started(payload)
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return square(payload)


def die_always(payload: dict[str, Any]) -> dict[str, Any]:
    """SIGKILL this process on every attempt, counting attempts in the ``attempts`` file."""
    with open(payload["attempts"], "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def die_on(payload: dict[str, Any]) -> dict[str, Any]:
    """By the payload's ``die``: ``"once"`` :func:`die_once`, ``"always"`` :func:`die_always`, else :func:`square`."""
    if payload.get("die") == "once":
        return die_once(payload)
    if payload.get("die") == "always":
        return die_always(payload)
    return square(payload)


def torch_threads(payload: dict[str, Any]) -> int:
    """``torch.get_num_threads()`` in the worker."""
    import torch  # only here: the Dask workers of the other tests need not load it

    return torch.get_num_threads()


def fail(payload: dict[str, Any]) -> dict[str, Any]:
    """Raise ``ValueError`` for odd ``x``, else :func:`square`."""
    if payload["x"] % 2:
        raise ValueError(f"odd x={payload['x']}")
    return square(payload)
