"""The committed results match their specs under the current trial keys.

Each results folder holds ``spec.toml``, a copy of the spec its records were produced with. Parsed by the
current code, that spec must plan exactly trials recorded ``ok`` under their current keys: rerunning it
resumes with nothing left to run (``tools/rekey_results.py`` keeps records and keys in step with the config
schema). Where the shipped spec is still the copy (every quick folder today), ``tox -e reproduce`` resumes
from the folder. Where the shipped spec has changed since (new variants, search scopes, early stopping),
the folder no longer covers it until the results are regenerated: the trials the shipped spec still plans
and the folder holds are resumed, and the rest run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bloombench.experiments.config import config_hash, identity_config
from bloombench.experiments.spec import load_spec, parse_spec

RESULTS = Path(__file__).resolve().parents[1] / "results"
#: Folders whose shipped spec (and profiles) is still the one their records were produced with.
UNCHANGED = {"factorization-quick", "factorization-quick-long", "factorization-quick-ml-1m",
             "factorization-quick-ml-1m-patient", "factorization-quick-anchors", "spotlight-sequence-quick",
             "spotlight-sequence-quick-long", "hash-functions-quick", "speed-quick", "paper-quick", "paper-quick-ml-1m",
             "paper-quick-anchors", "regime-quick", "open-vocabulary-quick", "open-vocabulary-full", "regime"}


def _folders() -> list[Path]:
    return sorted(p.parent for p in RESULTS.glob("*/trials.jsonl"))


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "trials.jsonl").read_text(encoding="utf-8").splitlines() if line]


def _copy(folder: Path) -> tuple[str, tuple[str, ...], str]:
    """(shipped spec name, profiles, spec text) of the folder's ``spec.toml`` copy."""
    header, _, text = (folder / "spec.toml").read_text(encoding="utf-8").partition("\n")
    source, _, profiles = header.removeprefix("# spec ").partition(", profiles: ")
    return Path(source).stem, tuple(p.strip() for p in profiles.split(",") if p.strip()), text


def _data(records: list[dict]) -> dict:
    # Where the data lives is not part of a trial's identity; the dataset is the one the records used.
    return {"dataset.name": records[0]["config"]["dataset"]["name"], "dataset.data_dir": None}


def _planned(spec, records: list[dict]) -> set[str]:
    data = _data(records)
    final = spec.final_trials(spec.select(records, data), data)
    return {t.key for t in spec.search_trials(data)} | {t.key for t in final}


@pytest.mark.parametrize("folder", _folders(), ids=lambda p: p.name)
def test_the_recorded_spec_plans_only_trials_recorded_ok_under_their_current_keys(folder: Path) -> None:
    records = _records(folder)
    name, profiles, text = _copy(folder)
    spec = parse_spec(text, profiles=profiles, path=f"{folder.name}/spec.toml")
    assert spec.experiment == folder.name
    done = {r["trial_key"] for r in records if r.get("status") == "ok"}
    planned = _planned(spec, records)
    assert planned and planned <= done


@pytest.mark.parametrize("folder", _folders(), ids=lambda p: p.name)
def test_the_shipped_spec_resumes_what_the_folder_still_covers(folder: Path) -> None:
    records = _records(folder)
    name, profiles, text = _copy(folder)
    shipped = load_spec(name, profiles)
    assert shipped.experiment == folder.name
    done = {r["trial_key"] for r in records if r.get("status") == "ok"}
    planned = _planned(shipped, records)
    if folder.name in UNCHANGED:
        assert shipped.source.rstrip() == text.rstrip()
        assert planned <= done  # tox -e reproduce has nothing left to run here
    else:
        assert shipped.source.rstrip() != text.rstrip(), f"{folder.name}: spec unchanged; list it in UNCHANGED"
        assert planned - done  # the changed spec plans trials the folder lacks: they run on the next reproduce


@pytest.mark.parametrize("folder", _folders(), ids=lambda p: p.name)
def test_recorded_keys_and_hashes_follow_the_recorded_configs(folder: Path) -> None:
    for record in _records(folder):
        if record.get("status") != "ok":
            continue
        assert record["config_hash"] == config_hash(record["config"])
        expected = config_hash({"phase": record["phase"], "config": identity_config(record["config"])})
        assert record["trial_key"] == expected


def test_the_rekey_tool_brings_an_old_record_to_the_current_schema_once() -> None:
    import importlib.util

    from bloombench.experiments.spec import _trial_key

    path = RESULTS.parent / "tools" / "rekey_results.py"
    module_spec = importlib.util.spec_from_file_location("rekey_results", path)
    rekey = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(rekey)
    old_training = {"epochs": 3, "batch_size": 64, "lr": 0.01, "l2": 0.0, "optimizer": "adam", "device": "cpu",
                    "seed": 1}
    search = {"phase": "search", "trial_key": "old-search", "status": "ok", "seconds_per_epoch": [0.1, 0.1, 0.1],
              "config": {"model": {"kind": "implicit", "representation": "lstm"}, "training": old_training}}
    final = {**search, "phase": "final", "trial_key": "old-final", "selected_from": "old-search"}
    migrated = rekey.migrate_records([search, final])
    config = migrated[1]["config"]
    assert config["training"] == {**old_training, "patience": None} and "representation" not in config["model"]
    assert migrated[1]["trial_key"] == _trial_key(config, "final") and migrated[1]["config_hash"] == config_hash(config)
    assert migrated[1]["selected_from"] == migrated[0]["trial_key"] == _trial_key(migrated[0]["config"], "search")
    assert migrated[1]["best_epoch"] == 3 and migrated[1]["validation_per_epoch"] == []
    assert rekey.migrate_records(migrated) == migrated
