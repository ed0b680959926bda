"""The sweep driver: search → selection → final trials, failures recorded, resume after the driver dies."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bloombench.cli import main
from bloombench.experiments.executors import DaskExecutor, SequentialExecutor
from bloombench.experiments.spec import parse_spec
from bloombench.experiments.sweep import choose_dataset, run_experiment
from bloombench.results import ResultStore, load_results

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

SPEC = """
name = "tiny"
seeds = [0, 1, 2]
[base]
dataset = { name = "synthetic", synthetic = { num_users = 60, num_items = 80, num_interactions = 3000, seed = 3 } }
model = { embedding_dim = 8 }
training = { epochs = 2, batch_size = 512 }
[grid]
"embedding.params.compression_ratio" = [0.25]
[[variants]]
label = "full"
baseline = true
embedding = { method = "full" }
[[variants]]
label = "bloom"
embedding = { method = "bloom", params = { num_hashes = 2 } }
[search]
trials = 3
[search.space]
"training.lr" = [1e-3, 1e-2, 5e-2]
"""


def test_sweep_searches_selects_on_validation_and_reuses_the_winner(tmp_path: Path) -> None:
    spec = parse_spec(SPEC)
    outcome = run_experiment(spec, results_dir=tmp_path, progress=False)
    assert (outcome.planned, outcome.ran, outcome.failed, outcome.skipped) == (3 + 6, 9, 0, 0)
    records = list(ResultStore(tmp_path, "tiny").records())
    search = [r for r in records if r["phase"] == "search"]
    final = [r for r in records if r["phase"] == "final"]
    best = max(search, key=lambda r: r["validation"]["mrr"])
    assert outcome.selected == {"full": {"training.lr": best["config"]["training"]["lr"]}}
    assert all(r["selected_from"] == best["trial_key"] for r in final)
    assert all(r["config"]["training"]["lr"] == best["config"]["training"]["lr"] for r in final)
    assert collections.Counter(r["variant"] for r in final) == {"full": 3, "bloom": 3}
    assert all(r["baseline"] == (r["variant"] == "full") for r in records)
    assert (tmp_path / "tiny" / "spec.toml").read_text().endswith(SPEC.strip() + "\n")
    # A rerun finds everything recorded: nothing runs, nothing is written.
    again = run_experiment(spec, results_dir=tmp_path, executor=SequentialExecutor(), progress=False)
    assert (again.ran, again.skipped) == (0, 9) and len(list(ResultStore(tmp_path, "tiny").records())) == 9
    frame = load_results(tmp_path, "tiny")
    assert set(frame["phase"]) == {"search", "final"} and (frame["status"] == "ok").all()


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    # 30 hash functions pass the spec check (10,000 ids) but not 20 buckets of the 80 items: fails at run time.
    without_search = SPEC.split("[search]")[0]
    spec = parse_spec(without_search.replace("num_hashes = 2", "num_hashes = 30"))
    outcome = run_experiment(spec, results_dir=tmp_path, progress=False)
    assert (outcome.ran, outcome.failed) == (6, 3)
    records = list(ResultStore(tmp_path, "tiny").records())
    failed = [r for r in records if r["status"] == "failed"]
    assert {r["variant"] for r in failed} == {"bloom"} and all("num_hashes" in r["error"] for r in failed)
    # A rerun retries the failed trials only (they fail again) and never repeats an ok one.
    again = run_experiment(spec, results_dir=tmp_path, progress=False)
    assert (again.ran, again.failed, again.skipped) == (3, 3, 3)


def driver_command(tmp_path: Path, spec: str = SPEC) -> tuple[list[str], Path]:
    """``bloombench run`` of ``spec`` into ``tmp_path/results`` (no progress bars), and its trials file."""
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(spec, encoding="utf-8")
    results = tmp_path / "results"
    command = [sys.executable, "-m", "bloombench.cli", "run", str(spec_file), "--results-dir", str(results),
               "--no-progress"]
    return command, results / "tiny" / "trials.jsonl"


def test_killing_the_driver_mid_sweep_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    command, trials = driver_command(tmp_path)
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            if trials.exists() and trials.read_text().count("\n") >= 4:
                break
            time.sleep(0.05)
        assert driver.poll() is None, f"the driver ended before it could be killed: {driver.stderr.read()!r}"
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    written = trials.read_text().count("\n")
    assert 4 <= written < 9
    # The killed driver's lock died with it; only its note of who held it is left, and it blocks nothing.
    holder = trials.with_name("driver.lock.json")
    assert json.loads(holder.read_text())["pid"] == driver.pid
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{written} already recorded, {9 - written} run now" in rerun.stdout
    keys = [json.loads(line)["trial_key"] for line in trials.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 9
    assert not holder.exists()


def test_a_second_driver_on_the_same_results_refuses_at_once_naming_the_first(tmp_path: Path) -> None:
    # Both start together; trials of 4 epochs keep the winner busy long after the other reaches the lock.
    command, trials = driver_command(tmp_path, SPEC.replace("epochs = 2", "epochs = 4"))
    drivers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 120
        while all(d.poll() is None for d in drivers) and time.monotonic() < deadline:
            time.sleep(0.05)
        (loser,) = [d for d in drivers if d.poll() is not None]
        (winner,) = [d for d in drivers if d is not loser]
        assert winner.poll() is None, "the refused driver did not stop before the running one finished"
        out, err = winner.communicate(timeout=300)
    finally:
        for driver in drivers:
            if driver.poll() is None:
                driver.kill()
    refusal = loser.stderr.read()
    assert loser.returncode != 0 and loser.stdout.read() == ""
    assert f"is in use by another bloombench driver (pid {winner.pid} on " in refusal, refusal
    assert f"wait for it to finish or stop it (kill {winner.pid})" in refusal
    assert winner.returncode == 0, err
    assert "9 trials, 0 already recorded, 9 run now, 0 failed" in out
    keys = [json.loads(line)["trial_key"] for line in trials.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 9


def test_cli_run_refuses_conflicting_executors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "factorization", "--workers", "2", "--dask-local", "2"])
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.skipif(not (SHARED_DATA / "ml-1m" / "ratings_no_timestamps.dat.gz").exists(),
                    reason="needs ../shared/data")
def test_a_dataset_list_takes_the_first_usable_entry() -> None:
    text = SPEC.replace('dataset = { name = "synthetic", synthetic = { num_users = 60, num_items = 80, '
                        'num_interactions = 3000, seed = 3 } }',
                        'dataset = { name = ["movielens-1m", "movielens-100k"] }')
    implicit = parse_spec(text)
    assert choose_dataset(implicit, str(SHARED_DATA)) == "movielens-1m"
    # A sequence model needs timestamps; the shared ML-1M copy has none, so ML-100K is used.
    sequence = parse_spec(text.replace("model = { embedding_dim = 8 }", 'model = { kind = "sequence", embedding_dim = 8 }'))
    assert choose_dataset(sequence, str(SHARED_DATA)) == "movielens-100k"
    assert choose_dataset(sequence, os.devnull + "-absent") == "movielens-100k"  # nothing present: the last


def test_a_dask_worker_killed_mid_sweep_loses_and_duplicates_nothing(
        dask_cli_cluster: tuple[str, dict[int, subprocess.Popen]], tmp_path: Path) -> None:
    address, workers = dask_cli_cluster
    spec = parse_spec(SPEC.replace("epochs = 2", "epochs = 4"))
    trials = tmp_path / "tiny" / "trials.jsonl"
    killed: list[int] = []

    def kill_a_worker_once_trials_flow() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            # Both workers hold trials from the first submission on; after two records, kill one mid-trial.
            if trials.exists() and trials.read_text().count("\n") >= 2:
                victim = next(iter(workers.values()))
                victim.kill()
                killed.append(victim.pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_a_worker_once_trials_flow, daemon=True)
    killer.start()
    with DaskExecutor(address) as executor:
        outcome = run_experiment(spec, results_dir=tmp_path, executor=executor, progress=False)
    killer.join(timeout=10)
    assert killed and workers[killed[0]].wait(timeout=10) == -9
    records = list(ResultStore(tmp_path, "tiny").records())
    keys = [r["trial_key"] for r in records]
    assert (outcome.ran, outcome.failed) == (9, 0) and len(keys) == len(set(keys)) == 9
    assert all(r["status"] == "ok" for r in records)
    # Trials that finished after the kill all ran on the surviving worker.
    (survivor,) = set(workers) - set(killed)
    assert {r["worker"]["pid"] for r in records[3:]} == {survivor}


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="CUDA present: the device exists")
def test_a_missing_cuda_device_fails_the_sweep_once_before_any_trial(tmp_path: Path) -> None:
    spec = parse_spec(SPEC.replace("training = { epochs = 2, batch_size = 512 }",
                                   'training = { epochs = 2, batch_size = 512, device = "cuda" }'))
    with pytest.raises(ValueError, match=r"tiny: device='cuda' requested, but CUDA is not available; no trial was run"):
        run_experiment(spec, results_dir=tmp_path, progress=False)
    assert not list(ResultStore(tmp_path, "tiny").records())


TUNED_SPEC = (SPEC.replace("training = { epochs = 2, batch_size = 512 }",
                           "training = { epochs = 4, patience = 1, batch_size = 512 }")
              .replace("[search]\ntrials = 3\n", """[[variants]]
label = "low dim"
embedding = { method = "full" }
scale = { "model.embedding_dim" = "embedding.params.compression_ratio" }
[[variants]]
label = "popularity"
model = { kind = "popularity" }
[search]
trials = 3
scope = "per-variant"
"""))


def test_a_per_variant_sweep_tunes_each_variant_and_runs_the_floors_untuned(tmp_path: Path) -> None:
    spec = parse_spec(TUNED_SPEC)
    assert spec.search.scope == "per-variant"
    outcome = run_experiment(spec, results_dir=tmp_path, progress=False)
    records = list(ResultStore(tmp_path, "tiny").records())
    assert outcome.failed == 0 and all(r["status"] == "ok" for r in records)
    search = collections.Counter(r["variant"] for r in records if r["phase"] == "search")
    assert search == {"full": 3, "bloom": 3, "low dim": 3}  # the same budget for every trained variant
    assert set(outcome.selected) == {"full", "bloom", "low dim"}
    final = [r for r in records if r["phase"] == "final"]
    for record in final:
        variant = record["variant"]
        if variant == "popularity":
            assert "selected_from" not in record and record["best_epoch"] is None
            assert record["seconds_per_epoch"] == [] and record["compression"] is None
            continue
        winner = max((r for r in records if r["phase"] == "search" and r["variant"] == variant),
                     key=lambda r: r["validation"]["mrr"])
        assert record["selected_from"] == winner["trial_key"]
        assert 1 <= record["best_epoch"] <= len(record["seconds_per_epoch"]) <= 4
    assert {r["compression"] for r in final if r["variant"] in ("bloom", "low dim")} == {0.25}
    assert {r["config"]["model"]["embedding_dim"] for r in final if r["variant"] == "low dim"} == {2}
    assert collections.Counter(r["variant"] for r in final) == {"full": 3, "bloom": 3, "low dim": 3, "popularity": 3}
