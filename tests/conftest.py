"""Shared fixtures: a real Dask cluster of CLI processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import distributed
import pytest

TESTS = Path(__file__).resolve().parent
STARTUP_SECONDS = 60  # generous: the machine is shared and each process imports distributed or torch


@pytest.fixture
def dask_cli_cluster(tmp_path: Path) -> Iterator[tuple[str, dict[int, subprocess.Popen]]]:
    """A `dask scheduler` and two `dask worker --no-nanny --nthreads 1` on 127.0.0.1: (address, pid → worker)."""
    command = Path(sys.executable).parent / "dask"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
               OMP_NUM_THREADS="1")
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        with open(tmp_path / f"{name}.log", "wb") as log:  # the child keeps its own copy of the handle
            process = subprocess.Popen([str(command), *args], stdout=log, stderr=subprocess.STDOUT, env=env)
        processes.append(process)
        return process

    def logs() -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(tmp_path.glob("*.log")))

    scheduler_file = tmp_path / "scheduler.json"
    try:
        scheduler = start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                          "--scheduler-file", str(scheduler_file))
        deadline = time.monotonic() + STARTUP_SECONDS
        while not scheduler_file.exists():
            assert scheduler.poll() is None and time.monotonic() < deadline, f"no scheduler:\n{logs()}"
            time.sleep(0.05)
        time.sleep(0.1)  # the file is written in one go, but let the writer finish
        address = json.loads(scheduler_file.read_text())["address"]
        workers = {}
        for i in range(2):
            worker = start(f"worker{i}", "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                           "--no-nanny", "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}",
                           "--death-timeout", "60")
            workers[worker.pid] = worker
        with distributed.Client(address, timeout=STARTUP_SECONDS, set_as_default=False) as client:
            try:
                client.wait_for_workers(2, timeout=STARTUP_SECONDS)
            except TimeoutError as error:
                raise AssertionError(f"workers did not join:\n{logs()}") from error
        yield address, workers
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait(timeout=30)
