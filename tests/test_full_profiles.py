"""One trial of every shipped spec's ``full`` profile runs here, shrunk to a tiny synthetic dataset and one
epoch: the configuration paths the full reproduction takes (``device = "auto"``, ML-1M settings, windows,
inflated tables) cannot break without a test failing."""

from __future__ import annotations

import pytest

from bloombench.experiments.config import resolve_config
from bloombench.experiments.spec import _set_path, available_specs, load_spec
from bloombench.experiments.trial import run_trial
from bloombench.models import get_model

TINY_DATA = {"name": "synthetic", "synthetic": {"num_users": 300, "num_items": 400, "num_interactions": 8000,
                                                "seed": 1}, "min_user": 1, "min_item": 1}
# A model that takes a stream keeps its stream's settings, at a tiny size.
TINY_STREAM = {"num_users": 100_000, "num_items": 300, "num_windows": 2, "events_per_window": 1000}
WITH_FULL = [name for name in available_specs() if "full" in load_spec(name).available_profiles]


def _shrunk(config: dict) -> dict:
    from bloombench.experiments.config import model_kind
    from bloombench.models import get_model

    if get_model(model_kind(config)).inputs == "stream":
        for key, value in TINY_STREAM.items():
            _set_path(config, f"dataset.synthetic.{key}", value)
        return config
    for path, value in {f"dataset.{k}": v for k, v in TINY_DATA.items()}.items():
        _set_path(config, path, value)
    if "epochs" in resolve_config(config)["training"]:  # the floors train nothing: no epochs to set
        _set_path(config, "training.epochs", 1)
    rows = config["dataset"].get("table_rows")
    if rows is not None:
        _set_path(config, "dataset.table_rows", min(rows, 1000))  # the same path, a table that fits here
    return config


def _ratio(trial) -> float:
    return 1.0 if trial.compression is None else trial.compression


def test_every_spec_ships_a_full_profile() -> None:
    assert set(WITH_FULL) == set(available_specs())


@pytest.mark.parametrize("name", WITH_FULL)
def test_one_trial_of_each_variant_of_the_full_profile_runs(name: str) -> None:
    spec = load_spec(name, ("full",))
    first_draw = spec.search.draws()[0] if spec.search else {}
    selected = {trial.group: (first_draw, "search-key") for trial in spec.planned_trials()}
    # Per variant, its largest compression ratio: the point whose table a tiny dataset can still size.
    largest = {}
    for trial in spec.final_trials(selected):
        if trial.variant not in largest or _ratio(trial) > _ratio(largest[trial.variant]):
            largest[trial.variant] = trial
    seen = set(largest)
    for trial in largest.values():
        record = run_trial(_shrunk(trial.config))
        assert record["device"] in ("cpu", "cuda")
        model = get_model(record["config"]["model"]["kind"])
        if model.inputs == "stream":  # one entry per window of the tiny stream
            assert len(record["seconds_per_epoch"]) == TINY_STREAM["num_windows"]
        else:  # one epoch; none for the floors, which train nothing
            assert len(record["seconds_per_epoch"]) == (1 if model.trains else 0)
        if record["config"]["evaluation"]["enabled"]:
            assert 0 < (record["test"].get("mrr") or record["test"].get("rmse")) < 10
    assert seen == {v.label for v in spec.variants}
