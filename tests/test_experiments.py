"""Trial runner (configs, records, failures) and the command line; the result store is tested in test_results.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bloombench.cli import main
from bloombench.experiments import config_hash, resolve_config, run_trial
from bloombench.experiments.config import default_config
from bloombench.experiments.records import execute_trial
from bloombench.experiments.spec import _trial_key
from bloombench.results import ResultStore, load_results

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
    with pytest.raises(ValueError, match=r"unknown key training.epoch for model kind 'implicit'; allowed: \["):
        resolve_config({"training": {"epoch": 3}})
    with pytest.raises(ValueError, match=r"model.kind must be one of .*got 'deep'"):
        resolve_config({"model": {"kind": "deep"}})
    with pytest.raises(ValueError, match=r"embedding.params must be a mapping"):
        resolve_config({"embedding": {"params": 3}})


def test_each_model_kind_has_only_the_fields_it_uses() -> None:
    implicit = resolve_config({})
    assert implicit["model"] == {"kind": "implicit", "loss": "bpr", "embedding_dim": 32, "n_negatives": 5}
    assert set(implicit["split"]) == {"kind", "fractions", "seed"} and "encoding" not in implicit
    assert set(implicit["embedding"]) == {"method", "tables", "params"}
    sequence = resolve_config({"model": {"kind": "sequence"}})
    assert {"max_length", "min_length", "step"} <= set(sequence["split"]) and "tables" not in sequence["embedding"]
    assert "exclude_preceding" in sequence["evaluation"] and "exclude_train" not in sequence["evaluation"]
    paper = resolve_config({"model": {"kind": "feedforward"}})
    assert "embedding" not in paper and paper["encoding"] == {"method": "identity", "params": {}}
    assert "loss" not in paper["model"] and "embedding_dim" not in paper["model"]
    # The paper's training defaults are the feed-forward model's own, not the factorization's.
    assert (paper["training"]["batch_size"], paper["training"]["lr"]) == (64, 1e-3)
    assert (implicit["training"]["batch_size"], implicit["training"]["lr"]) == (1024, 1e-2)
    with pytest.raises(ValueError, match=r"unknown key model.hidden for model kind 'implicit'"):
        resolve_config({"model": {"hidden": [8]}})
    with pytest.raises(ValueError, match=r"unknown config section 'embedding' for model kind 'feedforward'"):
        resolve_config({"model": {"kind": "feedforward"}, "embedding": {"method": "bloom"}})


def test_a_new_default_for_one_kind_leaves_the_keys_of_the_others_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    from bloombench.models import FeedForwardModel, registry

    configs = {kind: {"model": {"kind": kind}} for kind in registry.available_models()}
    before = {kind: _trial_key(config, "final") for kind, config in configs.items()}

    class WithNewOption(FeedForwardModel):
        __init__ = _with_signature(FeedForwardModel.__init__, "new_option", 3)

    monkeypatch.setitem(registry._MODELS, "feedforward", WithNewOption)
    assert default_config("feedforward")["model"]["new_option"] == 3
    after = {kind: _trial_key(config, "final") for kind, config in configs.items()}
    assert after["feedforward"] != before["feedforward"]
    assert {k: v for k, v in after.items() if k != "feedforward"} == {
        k: v for k, v in before.items() if k != "feedforward"}


def _with_signature(function, name: str, default: object):
    """``function`` whose signature has one more keyword-only argument ``name=default``."""
    import inspect

    signature = inspect.signature(function)
    extra = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)

    def wrapper(*args: object, **kwargs: object) -> None:
        kwargs.pop(name, None)
        function(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), extra])
    return wrapper


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


def _task(config: dict, key: str = "k") -> dict:
    return {"experiment": "exp", "variant": "v", "phase": "final", "trial_key": key, "config": config}


def test_execute_trial_records_identity_and_turns_failures_into_records(tmp_path: Path) -> None:
    ok = execute_trial(_task(tiny("bloom", compression_ratio=0.25, num_hashes=2)))
    assert ok["status"] == "ok" and ok["trial_key"] == "k" and ok["phase"] == "final"
    assert ok["environment"]["torch"] and ok["started"] <= ok["ended"] and ok["wall_seconds"] > 0
    assert ok["worker"]["pid"] == os.getpid() and ok["peak_rss_bytes"] > 0
    assert ok["seeds"] == {"split": 0, "training": 0, "embedding": None}
    # A compression ratio above 1 fails inside the trial: recorded, not raised.
    bad = execute_trial(_task(tiny("bloom", compression_ratio=5.0)))
    assert bad["status"] == "failed" and "compression_ratio" in bad["error"] and "Traceback" in bad["traceback"]
    assert bad["config"]["embedding"]["params"] == {"compression_ratio": 5.0}
    unknown = execute_trial(_task({"trainin": {}}))
    assert unknown["status"] == "failed" and "unknown config section" in unknown["error"]
    store = ResultStore(tmp_path, "exp")
    for record in (ok, bad, unknown):
        store.append(record)
    frame = load_results(tmp_path, "exp")
    assert list(frame["status"]) == ["ok", "failed", "failed"] and "test.mrr" in frame.columns


def test_inflated_tables_skip_evaluation_and_time_the_index() -> None:
    rows = 5000
    table = run_trial({**tiny("bloom", compression_ratio=0.2, num_hashes=3),
                       "dataset": {**SYNTHETIC, "table_rows": rows}, "evaluation": {"enabled": False}})
    assert table["table_rows"] == rows and table["validation"] == {} and table["test"] == {}
    # 1000 rows of 8 floats per table plus an int32 (5000, 3) index per table, users and items alike.
    assert table["embedding_bytes"] == 2 * (1000 * 8 * 4 + rows * 3 * 4)
    assert table["index_build_seconds"] > 0
    otf = run_trial({**tiny("bloom", compression_ratio=0.2, num_hashes=3, index="on_the_fly"),
                     "dataset": {**SYNTHETIC, "table_rows": rows}, "evaluation": {"enabled": False}})
    assert otf["index_build_seconds"] == 0.0 and otf["embedding_bytes"] == 2 * 1000 * 8 * 4
    with pytest.raises(ValueError, match="dataset.table_rows must be a positive int"):
        run_trial({**tiny(), "dataset": {**SYNTHETIC, "table_rows": -3}})


def test_diagnostics_are_recorded_per_hashed_table() -> None:
    record = run_trial({**tiny("bloom", compression_ratio=0.25, num_hashes=2), "evaluation": {"diagnostics": True},
                        "embedding": {"method": "bloom", "tables": "items",
                                      "params": {"compression_ratio": 0.25, "num_hashes": 2}}})
    assert set(record["diagnostics"]) == {"items"}  # the user table is full: nothing hashed
    items = record["diagnostics"]["items"]
    assert items["num_ids"] == 80 and items["num_buckets"] == 20 and items["num_hashes"] == 2
    assert 0 <= items["repeat_share"] <= 1 and items["load_mean"] == pytest.approx(80 * 2 / 20)


def test_sequence_windows_follow_a_percentile_of_user_counts() -> None:
    base = {"dataset": {"name": "synthetic", "synthetic": {"num_users": 40, "num_items": 50,
                                                              "num_interactions": 2000, "seed": 1}},
            "split": {"kind": "user", "max_length": "p50", "min_length": 2},
            "model": {"kind": "sequence", "representation": "pooling", "embedding_dim": 8},
            "embedding": {"method": "full"}, "training": {"epochs": 1, "batch_size": 64}}
    record = run_trial(base)
    assert record["sizes"]["train"] > 0 and 0 < record["test"]["mrr"] <= 1
    with pytest.raises(ValueError, match=r"split.max_length must be an int or 'pNN'"):
        run_trial({**base, "split": {**base["split"], "max_length": "p200"}})


@pytest.mark.skipif(not (SHARED_DATA / "ml-100k" / "u.data").exists(), reason="needs ../shared/data")
def test_cli_train_prints_a_json_record(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--data-dir", str(SHARED_DATA), "--epochs", "1", "--embedding", "bloom",
                 "--compression", "0.2", "--hashes", "4", "--hash", "xxh64", "--dim", "8"])
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    # Only the flags given reach the method; the rest are its own defaults.
    assert record["config"]["embedding"] == {
        "method": "bloom", "tables": "both", "params": {"compression_ratio": 0.2, "hash": "xxh64", "num_hashes": 4}}
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


def test_the_papers_feedforward_model_runs_as_a_trial() -> None:
    config = {"dataset": SYNTHETIC, "model": {"kind": "feedforward", "hidden": [16]},
              "encoding": {"method": "bloom", "params": {"compression_ratio": 0.25, "num_hashes": 2}},
              "training": {"epochs": 2, "batch_size": 16, "lr": 1e-3}}
    record = run_trial(config)
    parts = record["byte_breakdown"]
    # 80 items -> m = 20 bits: a 20 x 16 input layer (+ bias) and a 16 -> 20 output layer.
    assert parts["input_layer"] == (20 * 16 + 16) * 4 and parts["output_layer"] == (16 * 20 + 20) * 4
    assert record["embedding_bytes"] == parts["encoding"] + parts["input_layer"] + parts["output_layer"]
    assert 0 < record["test"]["mrr"] <= 1
    identity = run_trial({**config, "encoding": {"method": "identity"}})
    assert identity["byte_breakdown"]["output_layer"] == (16 * 80 + 80) * 4
