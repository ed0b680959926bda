"""Trial runner, result store (atomic append, resume) and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bloombench.cli import main
from bloombench.experiments import ResultStore, config_hash, load_results, resolve_config, run_trial
from bloombench.experiments.reproduce import run_trials

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SYNTHETIC = {"name": "synthetic",
             "synthetic": {"num_users": 60, "num_items": 80, "num_interactions": 3000, "seed": 3}}


def tiny(method: str = "full", optimizer: str = "adam", seed: int = 0, **params: object) -> dict:
    return {
        "dataset": SYNTHETIC,
        "split": {"seed": seed},
        "model": {"embedding_dim": 8},
        "embedding": {"method": method, "params": params},
        "training": {"epochs": 2, "batch_size": 256, "optimizer": optimizer, "seed": seed},
    }


def test_resolve_config_fills_defaults_and_refuses_unknown_keys_and_choices() -> None:
    config = resolve_config({"training": {"epochs": 3}})
    assert config["training"]["epochs"] == 3 and config["training"]["optimizer"] == "adam"
    assert config["dataset"]["name"] == "movielens-100k"
    with pytest.raises(ValueError, match=r"unknown config section 'trainin'"):
        resolve_config({"trainin": {}})
    with pytest.raises(ValueError, match=r"unknown key training.epoch; allowed: \["):
        resolve_config({"training": {"epoch": 3}})
    with pytest.raises(ValueError, match=r"model.kind must be one of .*got 'deep'"):
        resolve_config({"model": {"kind": "deep"}})
    with pytest.raises(ValueError, match=r"embedding.params must be a mapping"):
        resolve_config({"embedding": {"params": 3}})


def test_config_hash_is_stable_across_key_order_and_processes() -> None:
    a = resolve_config({"training": {"epochs": 3, "lr": 0.1}})
    b = resolve_config({"training": {"lr": 0.1, "epochs": 3}})
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(resolve_config({"training": {"epochs": 4}}))
    code = ("from bloombench.experiments import config_hash, resolve_config;"
            "print(config_hash(resolve_config({'training': {'epochs': 3, 'lr': 0.1}})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONHASHSEED="123")).stdout.strip()
    assert out == config_hash(a)


def test_run_trial_records_metrics_timings_and_bytes() -> None:
    full = run_trial(tiny())
    bloom = run_trial(tiny("bloom", compression_ratio=0.25, num_hashes=2))
    for record in (full, bloom):
        assert 0 < record["test"]["mrr"] <= 1 and 0 < record["validation"]["mrr"] <= 1
        assert len(record["seconds_per_epoch"]) == 2 and record["median_seconds_per_epoch"] > 0
        assert record["sizes"]["train"] + record["sizes"]["validation"] + record["sizes"]["test"] == 3000
    # Bloom at 0.25 with k=2 (no padding row) on 60 users and 80 items: 15 rows * 8 * 4 bytes + an int32
    # (60, 2) index table for users, 20 rows + a (80, 2) table for items; full tables hold (60 + 80) * 8 * 4.
    assert full["embedding_bytes"] == (60 + 80) * 8 * 4
    assert bloom["embedding_bytes"] == (15 * 32 + 60 * 2 * 4) + (20 * 32 + 80 * 2 * 4)
    assert full["config"]["embedding"]["method"] == "full"


def test_run_trial_is_reproducible_for_a_seed() -> None:
    a, b = run_trial(tiny(seed=1)), run_trial(tiny(seed=1))
    assert a["loss"] == b["loss"] and a["test"] == b["test"]
    assert run_trial(tiny(seed=2))["loss"] != a["loss"]


def test_store_appends_whole_lines_and_skips_a_torn_tail(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, "exp")
    store.append({"trial_key": "a", "status": "ok", "x": 1})
    store.append({"trial_key": "b", "status": "failed"})
    with store.path.open("a") as handle:
        handle.write('{"trial_key": "c", "sta')  # a crash in the middle of a write
    with pytest.warns(UserWarning, match="incomplete last line"):
        records = list(store.records())
    assert [r["trial_key"] for r in records] == ["a", "b"]
    with pytest.warns(UserWarning):
        assert store.completed() == {"a"}
    with pytest.raises(ValueError, match="experiment must be a plain directory name"):
        ResultStore(tmp_path, "../escape")


def test_sweep_records_failures_goes_on_and_resumes_without_duplicates(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, "sweep")
    trials = [("full", tiny()), ("bad", tiny("bloom", compression_ratio=5.0)), ("bloom", tiny("bloom"))]
    assert run_trials(store, trials, progress=False) == 1
    records = list(store.records())
    assert [r["status"] for r in records] == ["ok", "failed", "ok"]
    assert "compression_ratio" in records[1]["error"]
    for record in records:
        assert record["environment"]["torch"] and record["started"] and record["ended"]
        assert record["seeds"] == {"split": 0, "training": 0}
    # A rerun skips the trials recorded ok and retries only the failed one.
    assert run_trials(store, trials, progress=False) == 1
    keys = [r["trial_key"] for r in store.records() if r["status"] == "ok"]
    assert len(keys) == len(set(keys)) == 2
    frame = load_results(tmp_path, "sweep")
    assert {"test.mrr", "config.embedding.method", "status"} <= set(frame.columns)
    assert len(frame) == 4


@pytest.mark.skipif(not (SHARED_DATA / "ml-100k" / "u.data").exists(), reason="needs ../shared/data")
def test_cli_train_prints_a_json_record(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--data-dir", str(SHARED_DATA), "--epochs", "1", "--embedding", "bloom",
                 "--compression", "0.2", "--hashes", "4", "--hash", "xxh64", "--dim", "8"])
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["config"]["embedding"] == {
        "method": "bloom", "tables": "both",
        "params": {"compression_ratio": 0.2, "seed": 0, "hash": "xxh64", "num_hashes": 4, "mode": "mean",
                   "index": "table"}}
    assert record["sizes"] == {"train": 80000, "validation": 10000, "test": 10000}
    assert 0 < record["test"]["mrr"] < 1


def test_cli_datasets_lists_every_movielens(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [f"movielens-{s}" for s in ("100k", "1m", "10m", "20m", "25m")]
    assert not any(r["present"] for r in rows)


def test_cli_refuses_unknown_choices() -> None:
    with pytest.raises(SystemExit):
        main(["train", "--hash", "crc32"])
