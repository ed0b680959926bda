"""Run an experiment spec: search trials, selection, final trials — resumable, on any executor.

The driver is the only writer of ``results/<experiment>/trials.jsonl`` (:mod:`bloombench.results`):
executors (in-process, local processes, a Dask cluster) run :func:`~bloombench.experiments.records.execute_trial`
and hand the records back; the driver appends each one atomically as it arrives. It holds the experiment's
driver lock for the whole run, so a second driver on the same results folder refuses at once
(:class:`~bloombench.results.StoreLockedError`, naming the holder) instead of running every trial again.
Trials already recorded ``ok`` are skipped, so rerunning after the driver was killed resumes where it
stopped, and a record is never written twice in one run even if an executor reports a task twice. A
failed trial is recorded ``failed`` and the sweep goes on; a rerun tries it again. So does a trial whose
worker process keeps dying (out of memory, killed): the executor reruns it on a fresh worker a few times,
then the driver records it ``failed``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from bloombench.experiments.executors import Executor, SequentialExecutor, Task
from bloombench.experiments.spec import ExperimentSpec, TrialSpec
from bloombench.experiments.records import execute_trial, lost_trial_record
from bloombench.files import atomic_write
from bloombench.results import OK, STATUS, ResultStore

__all__ = ["SweepOutcome", "choose_dataset", "run_experiment"]


@dataclasses.dataclass
class SweepOutcome:
    """What one :func:`run_experiment` call did.

    Attributes
    ----------
    experiment : str
        Results folder name.
    planned : int
        Trials of the spec (search and final) known when the sweep ended.
    skipped : int
        Trials already recorded ``ok`` before this run (resumed).
    ran, failed : int
        Trials this run executed, and how many of them failed.
    selected : dict
        The winning search draw of each group: ``{group: {path: value}}``.
    """

    experiment: str
    planned: int = 0
    skipped: int = 0
    ran: int = 0
    failed: int = 0
    selected: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        """One line: what was planned, found recorded, run now and failed."""
        return (f"{self.experiment}: {self.planned} trials, {self.skipped} already recorded, "
                f"{self.ran} run now, {self.failed} failed")


def choose_dataset(spec: ExperimentSpec, data_dir: str | None = None) -> str:
    """The dataset a spec runs on: its ``base.dataset.name``, or the first usable entry of a list.

    An entry is usable when its data is in the data directory (nothing is downloaded to decide) and,
    for sequence models, carries timestamps. When no entry is usable, the last one is used (it may be
    fetched: MovieLens 100K comes from an offline-reachable source).
    """
    from bloombench.data import DatasetNotFoundError, load_dataset

    names = spec.base.get("dataset", {}).get("name", "movielens-100k")
    if isinstance(names, str):
        return names
    from bloombench.experiments.config import model_kind
    from bloombench.models import get_model

    needs_time = get_model(model_kind(spec.base)).inputs == "sequences"  # windows follow time order
    for name in names:
        try:
            data = load_dataset(name, data_dir=data_dir, download=False, progress=False)
        except DatasetNotFoundError:
            continue
        if not needs_time or data.timestamps is not None:
            return name
    return names[-1]


def _write_if_changed(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text`` (temp file in the same folder, then rename)."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    atomic_write(path, text.encode("utf-8"))


def _spec_text(spec: ExperimentSpec) -> str:
    header = f"# spec {spec.path or spec.name}" + (f", profiles: {', '.join(spec.profiles)}" if spec.profiles else "")
    return f"{header}\n{spec.source.rstrip()}\n"


def _fetch_once(name: str, data_dir: str | None, progress: bool) -> None:
    """Fetch a dataset the data directory lacks here, once, saying so, before trials in several workers
    would each try (MovieLens 100K comes through pip: tens of seconds on a fresh machine)."""
    from bloombench.data import available_datasets, load_dataset

    rows = {row["name"]: row for row in available_datasets(data_dir)}
    if name in rows and not rows[name]["present"]:
        tqdm.write(f"fetching {name} into {rows[name]['location']} (first use; source: {rows[name]['source']}) ...")
        load_dataset(name, data_dir=data_dir, progress=progress)
        tqdm.write(f"fetched {name}")


def _check_devices(spec: ExperimentSpec, data: Mapping[str, Any]) -> None:
    """Refuse, once and before any trial runs, a device of the spec that this machine lacks (CUDA), rather
    than recording every trial as failed. ``"auto"`` resolves to what is there."""
    from bloombench.experiments.config import resolve_config
    from bloombench.models import resolve_device

    for device in sorted({str(resolve_config(t.config)["training"]["device"]) for t in spec.planned_trials(data)}):
        try:
            resolve_device(device)
        except ValueError as error:
            raise ValueError(f"{spec.experiment}: {error}; no trial was run (set training.device, e.g. "
                             "'auto' or 'cpu', or run on a machine with CUDA)") from None


def _run_phase(store: ResultStore, trials: Sequence[TrialSpec], executor: Executor, outcome: SweepOutcome,
               max_concurrent: int | None, desc: str, progress: bool,
               on_trial: Callable[[int], None] | None = None) -> None:
    done = store.completed()
    todo: dict[str, TrialSpec] = {}
    for trial in trials:
        if trial.key not in done:
            todo.setdefault(trial.key, trial)  # a small finite search space can repeat a draw
    unique = len({t.key for t in trials})
    outcome.planned += unique
    outcome.skipped += unique - len(todo)
    if on_trial is not None and unique > len(todo):
        on_trial(unique - len(todo))
    if not todo:
        return
    tasks = [Task(key=key, payload=trial.task()) for key, trial in todo.items()]
    written: set[str] = set()
    with tqdm(total=unique, initial=unique - len(todo), desc=desc, unit="trial", disable=not progress,
              dynamic_ncols=True) as bar:
        results = executor.map_unordered(execute_trial, tasks, max_concurrent=max_concurrent,
                                         on_lost=lambda task, error: lost_trial_record(task.payload, error))
        for task, record in results:
            if task.key in written:  # an executor that reports a task twice must not duplicate a record
                continue
            store.append(record)
            written.add(task.key)
            outcome.ran += 1
            outcome.failed += record.get(STATUS) != OK
            bar.update(1)
            if on_trial is not None:
                on_trial(1)


def run_experiment(spec: ExperimentSpec, *, results_dir: str | os.PathLike[str] = "results",
                   executor: Executor | None = None, data_dir: str | None = None,
                   progress: bool = True, on_trial: Callable[[int], None] | None = None) -> SweepOutcome:
    """Run every trial of ``spec`` not yet recorded ``ok`` and append the records to the result store.

    Parameters
    ----------
    spec : ExperimentSpec
        From :func:`~bloombench.experiments.spec.load_spec`.
    results_dir : path
        Root of the results tree; records go to ``<results_dir>/<spec.experiment>/trials.jsonl`` and the
        spec text to ``spec.toml`` beside it.
    executor : Executor, optional
        Where trials run (default: in this process, one after the other).
    data_dir : str, optional
        Data directory (default ``$BLOOMBENCH_DATA`` or the cache). Not part of a trial's identity.
    progress : bool
        Show a progress bar per phase (done/total, ETA).
    on_trial : callable, optional
        ``on_trial(n)`` as ``n`` more trials are done (found recorded, or run now): an overall progress.

    Returns
    -------
    SweepOutcome

    Raises
    ------
    bloombench.results.StoreLockedError
        At once, when another driver runs the same experiment in the same results folder.
    bloombench.results.StoreWriteError
        When a record cannot be stored (disk full); the records stored before it stay, and a rerun resumes.
    """
    store = ResultStore(results_dir, spec.experiment)
    with store.driver_lock():  # a second driver refuses here, before it writes anything
        _write_if_changed(store.path.parent / "spec.toml", _spec_text(spec))
        data: Mapping[str, Any] = {"dataset.name": choose_dataset(spec, data_dir), "dataset.data_dir": data_dir}
        _check_devices(spec, data)
        _fetch_once(str(data["dataset.name"]), data_dir, progress)
        outcome = SweepOutcome(spec.experiment)
        own = executor is None
        executor = executor or SequentialExecutor()
        try:
            _run_phase(store, spec.search_trials(data), executor, outcome, spec.max_concurrent,
                       f"{spec.experiment} search", progress, on_trial)
            selected = spec.select(list(store.records()), data)
            outcome.selected = {group: draw for group, (draw, _) in selected.items()}
            _run_phase(store, spec.final_trials(selected, data), executor, outcome, spec.max_concurrent,
                       spec.experiment, progress, on_trial)
        finally:
            if own:
                executor.close()
    return outcome
