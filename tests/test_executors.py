"""Executors with real processes: a local pool, a Dask LocalCluster and `dask scheduler`/`dask worker`.

Worker deaths are real SIGKILLs. The task functions live in tests/executor_tasks.py, which spawned
processes import from the parent's ``sys.path`` and the Dask CLI workers from ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask
import executor_tasks
import pytest
from conftest import STARTUP_SECONDS

from bloombench.experiments.executors import (
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SequentialExecutor,
    Task,
    TaskError,
    WorkerLostError,
    make_executor,
)


@pytest.fixture(scope="module")
def process_executor() -> Iterator[ProcessExecutor]:
    # One pool for the module: spawning workers (they import torch) is the slow part.
    with ProcessExecutor(2, allowed_failures=1) as executor:
        yield executor


@pytest.fixture(scope="module")
def local_dask() -> Iterator[DaskExecutor]:
    # The LocalCluster's scheduler reads allowed-failures when it starts: one death is forgiven.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        executor = DaskExecutor(local_workers=2)
    with executor:
        yield executor


def squares(count: int, **payload: Any) -> list[Task]:
    return [Task(f"t{x}", {"key": f"t{x}", "x": x, **payload}) for x in range(count)]


def run_all(executor: Executor, fn: Callable[[Any], Any], tasks: list[Task],
            **options: Any) -> dict[str, Any]:
    """Results by key, after checking that every task was yielded exactly once."""
    pairs = list(executor.map_unordered(fn, tasks, **options))
    counts = Counter(task.key for task, _ in pairs)
    assert counts == Counter(task.key for task in tasks), f"each task must be yielded once: {counts}"
    return {task.key: result for task, result in pairs}


def starts(started_dir: Path) -> dict[str, list[int]]:
    """The pids each task key started in, from its ``<key>.<pid>.started`` markers."""
    found: dict[str, list[int]] = {}
    for marker in started_dir.glob("*.started"):
        key, pid, _ = marker.name.split(".")
        found.setdefault(key, []).append(int(pid))
    return found


def test_the_three_executors_agree(process_executor: ProcessExecutor, local_dask: DaskExecutor) -> None:
    tasks = squares(6)
    here = run_all(SequentialExecutor(), executor_tasks.square, tasks)
    assert {key: r["value"] for key, r in here.items()} == {f"t{x}": x * x for x in range(6)}
    assert {r["pid"] for r in here.values()} == {os.getpid()}
    for executor in (process_executor, local_dask):
        there = run_all(executor, executor_tasks.square, tasks)
        assert {key: r["value"] for key, r in there.items()} == {key: r["value"] for key, r in here.items()}
        assert os.getpid() not in {r["pid"] for r in there.values()}, f"{executor!r} ran in the driver"
        assert run_all(executor, executor_tasks.square, []) == {}


def test_process_workers_share_the_cores(process_executor: ProcessExecutor) -> None:
    expected = max(1, len(os.sched_getaffinity(0)) // 2)
    assert process_executor.threads_per_worker == expected
    results = run_all(process_executor, executor_tasks.torch_threads, squares(4))
    assert set(results.values()) == {expected}
    # A lone task (timings) gets every core; a fixed thread count stays fixed.
    alone = run_all(process_executor, executor_tasks.torch_threads, squares(2), max_concurrent=1)
    assert set(alone.values()) == {len(os.sched_getaffinity(0))}
    assert ProcessExecutor(3, threads_per_worker=5).threads_per_worker == 5


def test_max_concurrent_one_runs_tasks_one_at_a_time(process_executor: ProcessExecutor,
                                                     local_dask: DaskExecutor) -> None:
    for executor in (process_executor, local_dask):
        results = run_all(executor, executor_tasks.square, squares(3, sleep=0.2), max_concurrent=1)
        spans = sorted((r["start"], r["end"]) for r in results.values())
        assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans


def test_process_executor_reruns_the_task_whose_worker_died(process_executor: ProcessExecutor,
                                                            tmp_path: Path) -> None:
    marker = tmp_path / "died"
    tasks = squares(6, started_dir=str(tmp_path), sleep=0.1)
    tasks[2] = Task("t2", {**tasks[2].payload, "die": "once", "marker": str(marker)})
    results = run_all(process_executor, executor_tasks.die_on, tasks)
    assert {key: r["value"] for key, r in results.items()} == {f"t{x}": x * x for x in range(6)}
    killed_pid = int(marker.read_text())
    assert results["t2"]["pid"] != killed_pid
    started = starts(tmp_path)
    assert sorted(started.pop("t2")) == sorted([killed_pid, results["t2"]["pid"]])
    # The other tasks, the one running beside t2 included, ran once each, where their result says.
    assert started == {key: [results[key]["pid"]] for key in started}
    assert len(started) == 5


def test_process_executor_fails_a_task_that_kills_every_worker(process_executor: ProcessExecutor,
                                                               tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"
    # The bystander runs beside the killer's first death (it waits for the attempts file): it must
    # finish undisturbed, in the process it started in, while the killer fails after its second death.
    bystander = Task("bystander", {"key": "bystander", "x": 3, "wait_for": str(attempts), "sleep": 0.1,
                                   "started_dir": str(tmp_path)})
    killer = Task("killer", {"die": "always", "attempts": str(attempts)})
    yielded = []
    with pytest.raises(WorkerLostError, match=r"task 'killer': its worker process died 2 times") as caught:
        for task, result in process_executor.map_unordered(executor_tasks.die_on, [bystander, killer]):
            yielded.append((task.key, result["value"], result["pid"]))
    assert caught.value.task_key == "killer"
    pids = attempts.read_text().split()
    assert len(pids) == 2 and len(set(pids)) == 2, pids
    assert [(key, value) for key, value, _ in yielded] == [("bystander", 9)]
    assert starts(tmp_path) == {"bystander": [yielded[0][2]]}


def test_errors_raised_by_fn_name_the_task(process_executor: ProcessExecutor,
                                           local_dask: DaskExecutor) -> None:
    for executor in (SequentialExecutor(), process_executor, local_dask):
        with pytest.raises(TaskError, match=r"task 't1' raised ValueError: odd x=1") as caught:
            run_all(executor, executor_tasks.fail, squares(2), max_concurrent=1)
        assert caught.value.task_key == "t1" and isinstance(caught.value.__cause__, ValueError)


def test_dask_fails_a_task_that_kills_every_worker(local_dask: DaskExecutor, tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"
    with pytest.raises(WorkerLostError, match=r"task 'killer': Dask gave up") as caught:
        run_all(local_dask, executor_tasks.die_always, [Task("killer", {"attempts": str(attempts)})])
    assert caught.value.task_key == "killer"
    assert len(attempts.read_text().split()) == 2  # allowed-failures=1: the second death is final


def test_on_lost_turns_a_lost_task_into_a_result_and_the_others_go_on(process_executor: ProcessExecutor,
                                                                       local_dask: DaskExecutor,
                                                                       tmp_path: Path) -> None:
    # Dask counts a worker's death against every task running on it, so there the killer runs alone
    # (max_concurrent=1) lest a bystander be lost with it; the pool blames the killer only.
    for name, executor, limit in (("pool", process_executor, None), ("dask", local_dask, 1)):
        attempts = tmp_path / f"attempts-{name}"
        tasks = [Task("killer", {"die": "always", "attempts": str(attempts)}), *squares(3)]
        results = dict(run_all(executor, executor_tasks.die_on, tasks, max_concurrent=limit,
                               on_lost=lambda task, error: {"lost": task.key, "error": str(error)}))
        assert results.keys() == {"killer", "t0", "t1", "t2"}
        assert results["killer"]["lost"] == "killer" and "killer" in results["killer"]["error"]
        assert [results[f"t{x}"]["value"] for x in range(3)] == [0, 1, 4]
        assert len(attempts.read_text().split()) == 2  # allowed_failures=1: the second death is final


def test_dask_reruns_the_task_of_a_killed_worker(dask_cli_cluster: tuple[str, dict[int, subprocess.Popen]],
                                                 tmp_path: Path) -> None:
    address, workers = dask_cli_cluster
    started_dir = tmp_path / "started"
    started_dir.mkdir()
    killed: dict[str, Any] = {}

    def kill_the_first_worker_to_start_a_task() -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            for key, pids in starts(started_dir).items():
                workers[pids[0]].kill()  # SIGKILL while the task sleeps in it
                killed.update(key=key, pid=pids[0])
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_first_worker_to_start_a_task, daemon=True)
    killer.start()
    with DaskExecutor(address) as executor:
        results = run_all(executor, executor_tasks.square, squares(4, sleep=1.0, started_dir=str(started_dir)))
    killer.join(timeout=5)
    assert killed, "no task started"
    assert workers[killed["pid"]].wait(timeout=5) == -9
    (survivor,) = set(workers) - {killed["pid"]}
    assert {key: r["value"] for key, r in results.items()} == {f"t{x}": x * x for x in range(4)}
    # The killed worker finished nothing; its task started there, then ran again on the other worker.
    assert {r["pid"] for r in results.values()} == {survivor}
    assert sorted(starts(started_dir)[killed["key"]]) == sorted([killed["pid"], survivor])
    assert {r["host"] for r in results.values()} == {socket.gethostname()}


def test_dask_executor_reports_an_unreachable_scheduler() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError, match=rf"could not reach the Dask scheduler at 'tcp://127.0.0.1:{port}'"):
        DaskExecutor(f"tcp://127.0.0.1:{port}", timeout=1)


def test_make_executor_picks_the_executor() -> None:
    assert isinstance(make_executor(), SequentialExecutor)
    with make_executor(workers=3) as executor:
        assert isinstance(executor, ProcessExecutor) and executor.workers == 3


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"workers": 0}, ValueError, r"workers must be a positive int, got 0"),
    ({"workers": True}, TypeError, r"workers must be a positive int, got True"),
    ({"workers": "2"}, TypeError, r"workers must be a positive int, got '2'"),
    ({"dask_local": -1}, ValueError, r"dask_local must be a positive int, got -1"),
    ({"workers": 2, "scheduler": "tcp://127.0.0.1:8786"}, ValueError,
     r"mutually exclusive .*got workers=2, scheduler='tcp://127.0.0.1:8786'"),
    ({"scheduler": "tcp://127.0.0.1:8786", "dask_local": 2}, ValueError,
     r"mutually exclusive .*got scheduler='tcp://127.0.0.1:8786', dask_local=2"),
    ({"scheduler": " "}, ValueError, r"scheduler must be a Dask scheduler address like 'tcp://host:8786', got ' '"),
    ({"scheduler": 8786}, ValueError, r"scheduler must be a Dask scheduler address .*got 8786"),
])
def test_make_executor_refuses_bad_arguments(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make_executor(**kwargs)


def test_bad_tasks_and_limits_are_refused_before_anything_runs() -> None:
    executor = SequentialExecutor()
    with pytest.raises(ValueError, match=r"tasks must have unique keys, got 't0' twice"):
        executor.map_unordered(executor_tasks.square, squares(1) * 2)
    with pytest.raises(TypeError, match=r"tasks must hold Task objects, got \{'x': 1\}"):
        executor.map_unordered(executor_tasks.square, [{"x": 1}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"max_concurrent must be a positive int, got 0"):
        executor.map_unordered(executor_tasks.square, squares(1), max_concurrent=0)
    with pytest.raises(ValueError, match=r"Task.key must be a non-empty string, got ''"):
        Task("", {})
    with pytest.raises(ValueError, match=r"give exactly one of address .* got address=None, local_workers=None"):
        DaskExecutor()
    with pytest.raises(ValueError, match=r"allowed_failures must be an int >= 0, got -1"):
        ProcessExecutor(2, allowed_failures=-1)
