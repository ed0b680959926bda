"""Trial executors: run a function over tasks in this process, in local processes or on a Dask cluster.

An executor only runs ``fn(task.payload)`` and hands back ``(task, result)`` pairs as they finish; the
sweep driver decides what to run and is the only writer of results. Each task is yielded exactly once:

* :class:`SequentialExecutor` runs the tasks in order in this process.
* :class:`ProcessExecutor` runs them in a pool of spawned local processes (pebble's). The task of a
  worker process that dies (killed, out of memory) is run again in a fresh worker; the other tasks are
  not disturbed and finished tasks are never repeated.
* :class:`DaskExecutor` submits them to a Dask distributed cluster (an existing scheduler or a
  ``LocalCluster`` it starts). Dask itself reruns the task of a dead worker on another worker.

A task that keeps killing its workers fails after ``allowed_failures`` deaths (Dask's
``distributed.scheduler.allowed-failures``, default 3) with :class:`WorkerLostError`; an exception
raised by ``fn`` is re-raised as :class:`TaskError`. Both name the task's key. ``fn`` must be a
module-level function importable by the workers (it is pickled by reference).

If the driver dies, local workers finish the task they are running and exit, and the scheduler drops a
Dask client's tasks; results are written by the driver alone, so a rerun resumes from the result store.
"""

from __future__ import annotations

import abc
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from bloombench.checks import check_int

if TYPE_CHECKING:  # imported where used: the driver loads this module whatever it runs on
    from distributed import Client, LocalCluster
    from distributed import Future as DaskFuture
    from pebble import ProcessPool

__all__ = [
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SequentialExecutor",
    "Task",
    "TaskError",
    "WorkerLostError",
    "make_executor",
]

T = TypeVar("T")

# Dask's default for distributed.scheduler.allowed-failures: the local pool counts worker deaths alike.
DEFAULT_ALLOWED_FAILURES = 3


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(payload)`` is run for it.

    Parameters
    ----------
    key : str
        Unique key of the task within one ``map_unordered`` call (the trial key).
    payload : Any
        The picklable argument of ``fn`` (a trial config).
    """

    key: str
    payload: Any

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"Task.key must be a non-empty string, got {self.key!r}")


class TaskError(RuntimeError):
    """A task did not produce a result; its original exception is the ``__cause__``.

    Attributes
    ----------
    task_key : str
        Key of the task that failed.
    """

    def __init__(self, task_key: str, message: str) -> None:
        super().__init__(message)
        self.task_key = task_key

    @classmethod
    def raised(cls, task: Task, error: BaseException) -> TaskError:
        """The error for ``fn`` having raised ``error`` on ``task``."""
        return cls(task.key, f"task {task.key!r} raised {type(error).__name__}: {error}")


class WorkerLostError(TaskError):
    """A task's worker died more than ``allowed_failures`` times while running it."""


def _check_address(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a Dask scheduler address like 'tcp://host:8786', got {value!r}")
    return value


class Executor(abc.ABC):
    """Runs ``fn`` over tasks and yields ``(task, result)`` as each finishes; a context manager.

    Subclasses implement :meth:`_run` (a generator) and may override :meth:`close`.
    """

    def map_unordered(self, fn: Callable[[Any], T], tasks: Sequence[Task], *,
                      max_concurrent: int | None = None,
                      on_lost: Callable[[Task, WorkerLostError], T] | None = None) -> Iterator[tuple[Task, T]]:
        """Run ``fn(task.payload)`` for every task; yield ``(task, result)`` in completion order.

        Parameters
        ----------
        fn : callable
            Module-level function of one payload, importable by the workers.
        tasks : sequence of Task
            The tasks, with unique keys.
        max_concurrent : int, optional
            Most tasks in flight at once (``1`` runs them one at a time, e.g. for timings that must not
            be disturbed); ``None`` lets every worker be busy.
        on_lost : callable, optional
            ``on_lost(task, error)`` gives the result of a task whose workers kept dying (out of memory,
            killed), so the other tasks go on; without it such a task raises :class:`WorkerLostError`.

        Yields
        ------
        (Task, result)
            Each task exactly once, as soon as its result is in.

        Raises
        ------
        TaskError
            ``fn`` raised on a task (the original exception is the ``__cause__``).
        WorkerLostError
            A task's worker died more often than allowed (without ``on_lost``).
        """
        tasks = list(tasks)
        seen: set[str] = set()
        for task in tasks:
            if not isinstance(task, Task):
                raise TypeError(f"tasks must hold Task objects, got {task!r}")
            if task.key in seen:
                raise ValueError(f"tasks must have unique keys, got {task.key!r} twice")
            seen.add(task.key)
        if max_concurrent is not None:
            check_int("max_concurrent", max_concurrent)
        # Validation above runs now; the work starts on the first next().
        return self._run(fn, tasks, max_concurrent, on_lost)

    @abc.abstractmethod
    def _run(self, fn: Callable[[Any], T], tasks: list[Task], max_concurrent: int | None,
             on_lost: Callable[[Task, WorkerLostError], T] | None) -> Iterator[tuple[Task, T]]:
        """Generator behind :meth:`map_unordered` (arguments already validated)."""

    @staticmethod
    def _lost(task: Task, error: WorkerLostError,
              on_lost: Callable[[Task, WorkerLostError], T] | None) -> tuple[Task, T]:
        """The pair to yield for a lost task, or raise ``error`` when nobody handles it."""
        if on_lost is None:
            raise error
        return task, on_lost(task, error)

    def close(self) -> None:
        """Release workers and connections."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class SequentialExecutor(Executor):
    """Runs the tasks one after another, in order, in this process (``max_concurrent`` is moot)."""

    def _run(self, fn: Callable[[Any], T], tasks: list[Task], max_concurrent: int | None,
             on_lost: Callable[[Task, WorkerLostError], T] | None) -> Iterator[tuple[Task, T]]:
        for task in tasks:  # no worker to lose: a crash here is the driver's own
            try:
                result = fn(task.payload)
            except Exception as error:
                raise TaskError.raised(task, error) from error
            yield task, result

    def __repr__(self) -> str:
        return "SequentialExecutor()"


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # the cores this process may run on, not the machine's
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _with_threads(fn: Callable[[Any], T], threads: int, payload: Any) -> T:
    """``fn(payload)`` with torch using ``threads`` threads (run in a pool worker)."""
    import torch

    torch.set_num_threads(threads)
    return fn(payload)


class ProcessExecutor(Executor):
    """Runs the tasks in a pool of ``workers`` local processes (spawned, so CUDA and threads are safe).

    Parameters
    ----------
    workers : int
        Number of worker processes.
    threads_per_worker : int, optional
        ``torch.set_num_threads`` of each task; default: the usable cores divided by the tasks in
        flight (at least 1), so a full pool does not oversubscribe the machine and a lone task
        (``max_concurrent=1``, e.g. timings) gets every core.
    allowed_failures : int
        How many worker deaths one task may cause and still be run again (Dask's meaning and default).

    Notes
    -----
    The pool is pebble's: unlike :class:`concurrent.futures.ProcessPoolExecutor`, whose pool breaks as a
    whole when one worker dies (failing, and terminating, every task in flight), it knows which task each
    worker runs, fails only that task's future and starts a replacement worker. The task is then
    submitted again; the others never notice.
    """

    def __init__(self, workers: int, *, threads_per_worker: int | None = None,
                 allowed_failures: int = DEFAULT_ALLOWED_FAILURES) -> None:
        self.workers = check_int("workers", workers)
        self._fixed_threads = threads_per_worker is not None
        if threads_per_worker is None:
            threads_per_worker = max(1, _usable_cores() // workers)
        self.threads_per_worker = check_int("threads_per_worker", threads_per_worker)
        self.allowed_failures = check_int("allowed_failures", allowed_failures, 0)
        self._pool: ProcessPool | None = None

    def _live_pool(self) -> ProcessPool:
        if self._pool is None:
            import torch  # the initializer is pickled by reference: workers import torch, not this module
            from pebble import ProcessPool

            self._pool = ProcessPool(self.workers, initializer=torch.set_num_threads,
                                     initargs=(self.threads_per_worker,),
                                     context=multiprocessing.get_context("spawn"))
        return self._pool

    def _run(self, fn: Callable[[Any], T], tasks: list[Task], max_concurrent: int | None,
             on_lost: Callable[[Task, WorkerLostError], T] | None) -> Iterator[tuple[Task, T]]:
        from pebble import ProcessExpired

        # Tasks wait here rather than in the pool's queue, so a task abandoned early never starts.
        limit = min(max_concurrent or self.workers, self.workers)
        threads = self.threads_per_worker if self._fixed_threads else max(1, _usable_cores() // limit)
        queue = deque(tasks)
        inflight: dict[Future[T], Task] = {}
        deaths: Counter[str] = Counter()
        try:
            while queue or inflight:
                while queue and len(inflight) < limit:
                    task = queue.popleft()
                    inflight[self._live_pool().schedule(_with_threads, (fn, threads, task.payload))] = task
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    task = inflight.pop(future)
                    error = future.exception()
                    if error is None:
                        yield task, future.result()
                    elif isinstance(error, ProcessExpired):
                        deaths[task.key] += 1
                        if deaths[task.key] > self.allowed_failures:
                            lost = WorkerLostError(task.key, f"task {task.key!r}: its worker process died "
                                                             f"{deaths[task.key]} times running it (last exit "
                                                             f"code {error.exitcode}; allowed_failures="
                                                             f"{self.allowed_failures})")
                            lost.__cause__ = error
                            yield self._lost(task, lost, on_lost)
                            continue
                        queue.appendleft(task)  # rerun first, in a fresh worker
                    else:
                        raise TaskError.raised(task, error) from error
        finally:
            # Abandoned early (an error, or the consumer stopped): cancelling stops a running task too.
            for future in inflight:
                future.cancel()

    def close(self) -> None:
        """Stop the pool; tasks still running are terminated (nobody is left to take their results)."""
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None

    def __repr__(self) -> str:
        return (f"ProcessExecutor(workers={self.workers}, threads_per_worker={self.threads_per_worker}, "
                f"allowed_failures={self.allowed_failures})")


class DaskExecutor(Executor):
    """Submits the tasks to a Dask distributed cluster.

    Parameters
    ----------
    address : str, optional
        Address of a running scheduler (``tcp://host:port``).
    local_workers : int, optional
        Start a ``LocalCluster`` of this many single-threaded worker processes on 127.0.0.1 instead
        (closed with the executor). Give exactly one of ``address`` and ``local_workers``.
    timeout : float
        Seconds to wait for the scheduler.

    Notes
    -----
    Each submission has ``pure=False`` and a key unique to this client and call, so a rerun is never
    served from an earlier result. A task whose worker dies is rerun by the scheduler on another worker;
    after the scheduler's ``allowed-failures`` deaths it fails with :class:`WorkerLostError`. Dask's
    nannies start worker processes with ``OMP_NUM_THREADS=1`` (``distributed.nanny.pre-spawn-environ``).
    """

    def __init__(self, address: str | None = None, local_workers: int | None = None, *,
                 timeout: float = 30.0) -> None:
        if (address is None) == (local_workers is None):
            raise ValueError("give exactly one of address (a running scheduler) and local_workers (start a "
                             f"LocalCluster), got address={address!r}, local_workers={local_workers!r}")
        if address is not None:
            _check_address("address", address)
        if local_workers is not None:
            check_int("local_workers", local_workers)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        try:
            from distributed import Client, LocalCluster
        except ImportError as error:
            raise ImportError("DaskExecutor needs dask's distributed scheduler: "
                              "pip install 'dask[distributed]'") from error
        self.address = address
        self.local_workers = local_workers
        self._cluster: LocalCluster | None = None
        if local_workers is not None:
            self._cluster = LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None)
            address = self._cluster.scheduler_address
        try:
            self._client: Client = Client(address, timeout=timeout, set_as_default=False)
        except OSError as error:
            self._close_cluster()
            raise ConnectionError(f"could not reach the Dask scheduler at {address!r} within {timeout} s: "
                                  f"{error}") from error
        self._calls = 0

    def _run(self, fn: Callable[[Any], T], tasks: list[Task], max_concurrent: int | None,
             on_lost: Callable[[Task, WorkerLostError], T] | None) -> Iterator[tuple[Task, T]]:
        from distributed import KilledWorker, as_completed

        self._calls += 1
        prefix = f"trial-{self._client.id}-{self._calls}"
        queue = deque(tasks)
        inflight: dict[str, tuple[DaskFuture, Task]] = {}

        def submit() -> DaskFuture:
            task = queue.popleft()
            future = self._client.submit(fn, task.payload, key=f"{prefix}-{task.key}", pure=False)
            inflight[future.key] = (future, task)
            return future

        limit = max_concurrent or len(tasks)
        finished = as_completed([submit() for _ in range(min(limit, len(queue)))], loop=self._client.loop)
        try:
            for future in finished:
                _, task = inflight.pop(future.key)
                if queue:  # keep the cluster busy while the driver records this result
                    finished.add(submit())
                try:
                    result = future.result()
                except KilledWorker as error:
                    lost = WorkerLostError(task.key, f"task {task.key!r}: Dask gave up on it after its "
                                                     f"workers died running it ({error})")
                    lost.__cause__ = error
                    yield self._lost(task, lost, on_lost)
                    continue
                except Exception as error:
                    raise TaskError.raised(task, error) from error
                yield task, result
        finally:
            if inflight:
                self._client.cancel([future for future, _ in inflight.values()])

    def _close_cluster(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def close(self) -> None:
        """Close the client (its unfinished tasks are released) and the LocalCluster, if one was started."""
        self._client.close()
        self._close_cluster()

    def __repr__(self) -> str:
        where = f"address={self.address!r}" if self.address else f"local_workers={self.local_workers}"
        return f"DaskExecutor({where})"


def make_executor(workers: int = 1, scheduler: str | None = None, dask_local: int | None = None) -> Executor:
    """The executor for the command line's ``--workers``, ``--scheduler`` and ``--dask-local``.

    Parameters
    ----------
    workers : int
        ``1``: run sequentially in this process; more: that many local processes.
    scheduler : str, optional
        Address of a Dask scheduler to submit the tasks to.
    dask_local : int, optional
        Start a Dask ``LocalCluster`` of this many workers.

    Raises
    ------
    ValueError, TypeError
        An argument is out of range, or more than one way of running was asked for.
    """
    check_int("workers", workers)
    if scheduler is not None:
        _check_address("scheduler", scheduler)
    if dask_local is not None:
        check_int("dask_local", dask_local)
    chosen = {name: value for name, value in
              (("workers", workers if workers > 1 else None), ("scheduler", scheduler),
               ("dask_local", dask_local)) if value is not None}
    if len(chosen) > 1:
        given = ", ".join(f"{name}={value!r}" for name, value in chosen.items())
        raise ValueError(f"workers > 1, scheduler and dask_local are mutually exclusive (a Dask cluster "
                         f"brings its own workers), got {given}")
    if scheduler is not None:
        return DaskExecutor(address=scheduler)
    if dask_local is not None:
        return DaskExecutor(local_workers=dask_local)
    return ProcessExecutor(workers) if workers > 1 else SequentialExecutor()
