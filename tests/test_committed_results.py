"""The committed results match the shipped specs: rerunning a profile (``tox -e reproduce``) resumes from them
and has nothing left to run, and every record's key is the one its config gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bloombench.experiments.config import config_hash, identity_config
from bloombench.experiments.spec import load_spec

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _folders() -> list[Path]:
    return sorted(p.parent for p in RESULTS.glob("*/trials.jsonl"))


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "trials.jsonl").read_text(encoding="utf-8").splitlines() if line]


def _spec(folder: Path):
    header = (folder / "spec.toml").read_text(encoding="utf-8").splitlines()[0]
    source, _, profiles = header.removeprefix("# spec ").partition(", profiles: ")
    return load_spec(Path(source).stem, tuple(p.strip() for p in profiles.split(",") if p.strip()))


@pytest.mark.parametrize("folder", _folders(), ids=lambda p: p.name)
def test_every_trial_of_the_spec_is_recorded_ok_under_its_current_key(folder: Path) -> None:
    records = _records(folder)
    spec = _spec(folder)
    assert spec.experiment == folder.name
    # Where the data lives is not part of a trial's identity; the dataset is the one the records used.
    data = {"dataset.name": records[0]["config"]["dataset"]["name"], "dataset.data_dir": None}
    done = {r["trial_key"] for r in records if r.get("status") == "ok"}
    search = spec.search_trials(data)
    assert {t.key for t in search} <= done
    final = spec.final_trials(spec.select(records, data), data)
    assert final and {t.key for t in final} <= done


@pytest.mark.parametrize("folder", _folders(), ids=lambda p: p.name)
def test_recorded_keys_and_hashes_follow_the_recorded_configs(folder: Path) -> None:
    for record in _records(folder):
        if record.get("status") != "ok":
            continue
        assert record["config_hash"] == config_hash(record["config"])
        expected = config_hash({"phase": record["phase"], "config": identity_config(record["config"])})
        assert record["trial_key"] == expected
