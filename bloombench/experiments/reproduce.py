"""``bloombench reproduce``: run a profile's experiments into ``results/`` and build the report.

The ``quick`` profile runs the seven shipped experiments at reduced scale (MovieLens 100K, small planted
and streamed data) on the CPU (what ``tox -e reproduce`` runs); ``full`` runs them at paper scale (MovieLens 1M where present, more
seeds, the GPU when there is one). Trials already recorded ``ok`` are skipped, so an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm

from bloombench.experiments.executors import Executor
from bloombench.experiments.spec import load_spec
from bloombench.experiments.sweep import run_experiment

__all__ = ["PROFILES", "reproduce"]

#: The shipped specs each profile runs, in order; each spec is loaded with the profile of the same name.
PROFILES: dict[str, tuple[str, ...]] = {
    "quick": ("factorization", "spotlight-sequence", "hash-functions", "speed", "paper", "regime",
              "open-vocabulary"),
    "full": ("factorization", "spotlight-sequence", "hash-functions", "speed", "paper", "regime",
             "open-vocabulary"),
}


def reproduce(profile: str = "quick", results_dir: str | os.PathLike[str] = "results",
              reports_dir: str | os.PathLike[str] | None = "reports", data_dir: str | None = None,
              executor: Executor | None = None, progress: bool = True) -> int:
    """Run every experiment of ``profile``, then build the report from the results files.

    Parameters
    ----------
    profile : {"quick", "full"}
    results_dir : path
        Root of the results tree.
    reports_dir : path or None
        Where the report goes (``index.html``, figures, tables); None skips it.
    data_dir : str, optional
        Data directory (default ``$BLOOMBENCH_DATA`` or the cache).
    executor : Executor, optional
        Where trials run (default: this process).
    progress : bool
        Progress bars.

    Returns
    -------
    int
        Process exit code: 0 when every trial is recorded ``ok``, 1 otherwise.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
    specs = [load_spec(name, (profile,)) for name in PROFILES[profile]]
    outcomes = []
    # One overall bar (experiment i of n, trials done of all, ETA); the summaries print above it.
    total = sum(len({t.key for t in spec.planned_trials()}) for spec in specs)
    with tqdm(total=total, unit="trial", disable=not progress, dynamic_ncols=True) as bar:
        for number, spec in enumerate(specs, start=1):
            bar.set_description(f"reproduce {profile} [{number}/{len(specs)} {spec.name}]")
            outcome = run_experiment(spec, results_dir=results_dir, executor=executor, data_dir=data_dir,
                                     progress=False, on_trial=bar.update)
            outcomes.append(outcome)
            tqdm.write(outcome.summary())
    if reports_dir is not None:
        from bloombench.report import build_report

        index = build_report(results_dir=results_dir, out_dir=reports_dir)  # links <reports>/asv if present
        print(f"report: {index}")
    return 1 if any(o.failed for o in outcomes) else 0

