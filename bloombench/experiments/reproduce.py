"""``bloombench reproduce``: run a profile's trials into the result store and summarise them.

The quick profile is implicit BPR factorization on MovieLens 100K (CPU): the full table with dense and
with sparse gradients against every compressed method at compression 0.2, three seeds each. Trials
already recorded ``ok`` are skipped, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import resource
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from bloombench.experiments.store import ResultStore, environment, load_results, now
from bloombench.experiments.trial import config_hash, resolve_config, run_trial

__all__ = ["PROFILES", "factorization_trials", "reproduce", "run_trials", "summarise"]

_BASE = {
    "model": {"kind": "implicit", "loss": "bpr", "embedding_dim": 32},
    "training": {"epochs": 10, "batch_size": 1024, "lr": 1e-2, "l2": 1e-6, "optimizer": "adam"},
}

# (label, embedding section, optimizer) of each variant compared in the factorization experiment.
_VARIANTS: list[tuple[str, dict[str, Any], str]] = [
    ("full", {"method": "full"}, "adam"),
    ("full (sparse grads)", {"method": "full"}, "adam-sparse"),
    ("bloom k4 table", {"method": "bloom", "params": {"compression_ratio": 0.2, "num_hashes": 4}}, "adam"),
    ("bloom k4 on-the-fly", {"method": "bloom", "params": {"compression_ratio": 0.2, "num_hashes": 4,
                                                            "index": "on_the_fly"}}, "adam"),
    ("hashing trick", {"method": "hashing_trick", "params": {"compression_ratio": 0.2}}, "adam"),
    ("hashcofi", {"method": "hashcofi", "params": {"compression_ratio": 0.2}}, "adam"),
    ("hash embedding", {"method": "hash_embedding", "params": {"compression_ratio": 0.2}}, "adam"),
    ("qr (mult)", {"method": "qr", "params": {"compression_ratio": 0.2}}, "adam"),
]

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"dataset": "movielens-100k", "seeds": [0, 1, 2], "device": "cpu"},
    "full": {"dataset": "movielens-1m", "seeds": [0, 1, 2, 3, 4],
             "device": "cuda" if torch.cuda.is_available() else "cpu"},
}


def factorization_trials(profile: str, data_dir: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """``(variant label, config overrides)`` of every trial of the factorization experiment."""
    spec = PROFILES[profile]
    trials = []
    for seed in spec["seeds"]:
        for label, embedding, optimizer in _VARIANTS:
            overrides = {
                "dataset": {"name": spec["dataset"], "data_dir": data_dir},
                "split": {"kind": "random", "seed": seed},
                "model": dict(_BASE["model"]),
                "embedding": {"tables": "both", **embedding},
                "training": {**_BASE["training"], "optimizer": optimizer, "seed": seed, "device": spec["device"]},
            }
            trials.append((label, overrides))
    return trials


def _trial_key(overrides: dict[str, Any]) -> str:
    # data_dir says where the data is, not what it is: keep it out of the identity of a trial.
    config = resolve_config(overrides)
    config["dataset"]["data_dir"] = None
    return config_hash(config)


def run_trials(store: ResultStore, trials: list[tuple[str, dict[str, Any]]], *, progress: bool = True) -> int:
    """Run every trial not yet recorded ``ok``; returns the number of failed trials."""
    done = store.completed()
    todo = [(label, o) for label, o in trials if _trial_key(o) not in done]
    failures = 0
    env = environment()
    with tqdm(total=len(trials), initial=len(trials) - len(todo), desc=store.experiment,
              disable=not progress) as bar:
        for label, overrides in todo:
            started, start = now(), time.perf_counter()
            record: dict[str, Any] = {"experiment": store.experiment, "variant": label,
                                      "trial_key": _trial_key(overrides), "started": started}
            try:
                record.update(run_trial(overrides))
                record["status"] = "ok"
            except Exception as error:  # a failed trial is recorded and the sweep goes on
                failures += 1
                record.update(status="failed", error=f"{type(error).__name__}: {error}",
                              traceback=traceback.format_exc(limit=5), config=resolve_config(overrides))
            record.update(ended=now(), wall_seconds=time.perf_counter() - start, environment=env,
                          seeds={"split": overrides["split"]["seed"], "training": overrides["training"]["seed"]},
                          peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
            store.append(record)
            bar.update(1)
    return failures


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of test MRR, seconds per epoch and bytes per variant."""
    ok = frame[frame["status"] == "ok"]
    grouped = ok.groupby("variant", sort=False)
    table = pd.DataFrame({
        "trials": grouped.size(),
        "test_mrr_mean": grouped["test.mrr"].mean(),
        "test_mrr_sd": grouped["test.mrr"].std(),
        "s_per_epoch_median": grouped["median_seconds_per_epoch"].median(),
        "embedding_bytes": grouped["embedding_bytes"].first(),
    })
    baseline = table.loc["full", "test_mrr_mean"] if "full" in table.index else float("nan")
    table["mrr_ratio_to_full"] = table["test_mrr_mean"] / baseline
    return table


def reproduce(profile: str = "quick", results_dir: str = "results", data_dir: str | None = None) -> int:
    """Run the profile's experiments; write ``<results_dir>/<experiment>/summary.md``.

    Returns a process exit code: 0 when every trial succeeded, 1 otherwise.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
    experiment = f"factorization-{profile}"
    store = ResultStore(results_dir, experiment)
    failures = run_trials(store, factorization_trials(profile, data_dir))
    table = summarise(load_results(results_dir, experiment))
    markdown = table.round(4).to_markdown()
    out = Path(results_dir) / experiment / "summary.md"
    out.write_text(f"# {experiment}\n\n{markdown}\n", encoding="utf-8")
    print(markdown)
    print(f"\nrecords: {store.path}\nsummary: {out}")
    return 1 if failures else 0

