"""Spec rules for comparing methods fairly: search scopes (per-variant, per-point with ``at``, baseline), the
reference floors as variants of another model kind, the equal-memory full table (``scale``), and the
shipped specs' profiles."""

from __future__ import annotations

import collections
import json

import pytest

from bloombench.experiments.config import resolve_config
from bloombench.experiments.spec import SpecError, load_spec, parse_spec

TUNED = """
name = "tuned"
seeds = [0, 1]
diagnostics = true
[base]
dataset = { name = "synthetic", synthetic = { num_users = 60, num_items = 80, num_interactions = 3000, seed = 3 } }
model = { kind = "implicit", loss = "hinge", embedding_dim = 16 }
embedding = { tables = "both" }
training = { epochs = 4, patience = 2, batch_size = 256, lr = 0.02 }
[grid]
"embedding.params.hash" = ["murmur3", "xxh64"]
"embedding.params.compression_ratio" = [0.25, 0.5, 0.75]
[[variants]]
label = "full"
baseline = true
embedding = { method = "full" }
[[variants]]
label = "bloom"
embedding = { method = "bloom", params = { num_hashes = 2 } }
[[variants]]
label = "low dim"
embedding = { method = "full" }
grid = ["embedding.params.compression_ratio"]
scale = { "model.embedding_dim" = "embedding.params.compression_ratio" }
[[variants]]
label = "popularity"
model = { kind = "popularity" }
[[variants]]
label = "random"
model = { kind = "random" }
[search]
trials = 3
seed = 1
scope = "per-variant"
at = { "embedding.params.hash" = "murmur3" }
[search.space]
"training.lr" = [1e-3, 1e-2, 5e-2]
"training.l2" = [0.0, 1e-5]
[profiles.points]
search = { scope = "per-point" }
[profiles.anchors]
search = { scope = "baseline" }
[profiles.small]
grid = { "embedding.params.compression_ratio" = [0.5] }
"""


def _winners(spec, lr: float = 5e-2) -> dict:
    return {trial.group: ({"training.lr": lr}, "key") for trial in spec.search_trials()}


def test_per_variant_gives_every_tuned_variant_its_own_search_with_the_same_draws() -> None:
    spec = parse_spec(TUNED)
    search = spec.search_trials()
    by_variant = collections.defaultdict(list)
    for trial in search:
        by_variant[trial.variant].append(trial)
    assert set(by_variant) == {"full", "bloom", "low dim"}  # the floors are tuned by nothing
    draws = [t.draw for t in by_variant["full"]]
    assert len(draws) == 3 and all([t.draw for t in trials] == draws for trials in by_variant.values())
    # Each search runs at one grid point: `at` for the hash, the middle ratio for the rest.
    bloom = by_variant["bloom"][0].config["embedding"]["params"]
    assert (bloom["hash"], bloom["compression_ratio"]) == ("murmur3", 0.5)
    assert {t.group for t in search} == {"full", "bloom", "low dim"}
    final = spec.final_trials({"bloom": ({"training.lr": 5e-2}, "bloom-key")})
    # Only the variant with a winner and the floors (which need none) are planned.
    assert {t.variant for t in final} == {"bloom", "popularity", "random"}
    assert all(t.config["training"]["lr"] == 5e-2 and t.selected_from == "bloom-key" for t in final
               if t.variant == "bloom")
    assert len([t for t in final if t.variant == "bloom"]) == 2 * 3 * 2  # hashes x ratios x seeds


def test_per_point_searches_every_point_but_shares_the_at_paths_and_baseline_scope_the_anchors() -> None:
    points = parse_spec(TUNED, profiles=("points",))
    groups = collections.Counter(t.group for t in points.search_trials())
    # full: 1 group; bloom: one per ratio (both hashes share murmur3's search); low dim: one per ratio.
    assert len(groups) == 1 + 3 + 3 and set(groups.values()) == {3}
    assert {t.config["embedding"]["params"].get("hash") for t in points.search_trials() if t.variant == "bloom"} \
        == {"murmur3"}
    final = points.final_trials(_winners(points))
    assert {t.config["embedding"]["params"]["hash"] for t in final if t.variant == "bloom"} == {"murmur3", "xxh64"}
    anchors = parse_spec(TUNED, profiles=("anchors",))
    assert {t.variant for t in anchors.search_trials()} == {"full"}
    assert {t.group for t in anchors.final_trials(_winners(anchors)) if t.variant != "popularity"} <= {"full", ""}


def test_a_floor_variant_keeps_only_the_base_fields_its_kind_uses_and_joins_no_search() -> None:
    spec = parse_spec(TUNED)
    floors = [t for t in spec.final_trials({}) if t.variant in ("popularity", "random")]
    assert len(floors) == 2 * 2 and all(t.group == "" and t.draw is None for t in floors)
    config = floors[0].config
    assert config["model"] == {"kind": "popularity"} and "embedding" not in config
    assert config["training"] == {"seed": 0}  # no lr, epochs or patience: nothing trains
    assert "diagnostics" not in config.get("evaluation", {})  # a spec-wide setting only where it applies
    assert config["dataset"] == spec.base["dataset"]
    seeds = sorted((t.config["split"]["seed"], t.config["training"]["seed"]) for t in floors)
    assert seeds == [(0, 0), (0, 0), (1, 1), (1, 1)]
    assert resolve_config(config)["model"]["kind"] == "popularity"
    assert all(t.compression is None for t in floors)


def test_scale_sets_the_dimension_of_the_equal_memory_table_and_the_grid_list_follows_profiles() -> None:
    spec = parse_spec(TUNED)
    low = [t for t in spec.final_trials(_winners(spec)) if t.variant == "low dim" and t.config["split"]["seed"] == 0]
    dims = sorted((t.compression, t.config["model"]["embedding_dim"]) for t in low)
    assert dims == [(0.25, 4), (0.5, 8), (0.75, 12)]
    assert all("params" not in t.config["embedding"] and t.task()["compression"] == t.compression for t in low)
    small = parse_spec(TUNED, profiles=("small",))
    assert {t.compression for t in small.final_trials(_winners(small)) if t.variant == "low dim"} == {0.5}
    trials = spec.final_trials(_winners(spec))
    assert {t.compression for t in trials if t.variant == "bloom"} == {0.25, 0.5, 0.75}
    assert {t.compression for t in trials if t.variant == "full"} == {1.0}


def test_grid_min_drops_the_points_a_method_cannot_be_built_at_in_every_profile() -> None:
    text = TUNED.replace('label = "bloom"\n', 'label = "bloom"\ngrid_min = { "embedding.params.compression_ratio" = 0.5 }\n')
    for profiles, expected in (((), {0.5, 0.75}), (("small",), {0.5})):
        trials = parse_spec(text, profiles=profiles).planned_trials()
        assert {t.compression for t in trials if t.variant == "bloom"} == expected
        assert {t.compression for t in trials if t.variant == "low dim"} >= expected  # the others keep theirs
    for floor, message in (("0.9", r"grid_min.embedding.params.compression_ratio: leaves none of the grid values"),
                           ('"x"', r"grid_min.embedding.params.compression_ratio: must be a number")):
        bad = TUNED.replace('label = "bloom"\n', f'label = "bloom"\ngrid_min = {{ "embedding.params.compression_ratio" = {floor} }}\n')
        with pytest.raises(SpecError, match=message):
            parse_spec(bad)
    bad = TUNED.replace('label = "bloom"\n', 'label = "bloom"\ngrid_min = { "embedding.params.num_hashes" = 2 }\n')
    with pytest.raises(SpecError, match=r"must name a grid path of the variant"):
        parse_spec(bad)


SCALE = 'scale = { "model.embedding_dim" = "embedding.params.compression_ratio" }'
POPULARITY = 'label = "popularity"\nmodel = { kind = "popularity" }'


@pytest.mark.parametrize(("old", "new", "message"), [
    (SCALE, SCALE.replace("compression_ratio", "num_hashes"), r"scale.model.embedding_dim: must name a grid path"),
    ('grid = ["embedding.params.compression_ratio"]', 'grid = ["embedding.params.k"]',
     r"a list names paths of the spec's \[grid\]"),
    ('"embedding.params.hash" = "murmur3" }', '"embedding.params.hash" = "md5" }',
     r"at.embedding.params.hash: must be a value"),
    ('scope = "per-variant"', 'scope = "per-seed"',
     r"scope: must be one of \('baseline', 'per-variant', 'per-point'\)"),
    (POPULARITY, POPULARITY + "\ntraining = { lr = 0.1 }",
     r"variant 'popularity'.*unknown key training.lr for model kind 'popularity'"),
])
def test_bad_tuning_rules_are_refused_naming_the_key(old: str, new: str, message: str) -> None:
    assert old in TUNED
    with pytest.raises(SpecError, match=message):
        parse_spec(TUNED.replace(old, new, 1), path="tuned.toml")


def test_a_baseline_that_trains_nothing_cannot_be_searched() -> None:
    text = TUNED.replace('label = "full"\nbaseline = true\nembedding = { method = "full" }',
                         'label = "full"\nbaseline = true\nmodel = { kind = "random" }')
    with pytest.raises(SpecError, match="the baseline 'full' trains nothing"):
        parse_spec(text)


ACCURACY = ("factorization", "hash-functions", "spotlight-sequence", "paper")


def trains(config: dict) -> bool:
    from bloombench.models import get_model

    return get_model(config["model"]["kind"]).trains


@pytest.mark.parametrize("name", ACCURACY)
def test_every_accuracy_experiment_runs_its_floors_in_every_profile_and_tunes_every_method_alike(name: str) -> None:
    scopes = {(): "per-variant", ("quick",): "per-variant", ("full",): "per-point", ("anchors",): "baseline"}
    for profiles, scope in scopes.items():
        spec = load_spec(name, profiles)
        assert spec.search.scope == scope
        trials = spec.planned_trials()
        floors = {t.variant: t for t in trials if t.variant in ("popularity", "random")}
        assert set(floors) == {"popularity", "random"}
        assert all(t.group == "" and t.phase == "final" for t in trials if t.variant in floors)
        kinds = {t.config["model"]["kind"] for t in trials if t.variant in floors}
        assert kinds <= {"popularity", "random", "sequence-popularity", "sequence-random"}
        # The floors run on the same data, splits (windows included) and seeds as the baseline.
        def data(trial) -> str:
            return json.dumps([trial.config["dataset"], trial.config["split"]], sort_keys=True)

        baseline = {data(t) for t in trials if t.baseline and t.phase == "final"}
        assert {data(t) for t in trials if t.variant == "popularity"} == baseline and len(baseline) == len(spec.seeds)
        # Every trained trial stops early on validation (the floors, coded popularity too, train nothing).
        assert all(resolve_config(t.config)["training"]["patience"] for t in trials if trains(t.config))
    quick = load_spec(name, ("quick",))
    per_variant = collections.Counter(t.variant for t in quick.search_trials())
    assert len(set(per_variant.values())) == 1 and set(per_variant) == {
        v.label for v in quick.variants if v.tuned}


@pytest.mark.parametrize("name", ["factorization", "hash-functions"])
def test_the_equal_memory_full_table_is_a_variant_at_every_compression_ratio(name: str) -> None:
    for profiles in ((), ("quick",), ("full",)):
        spec = load_spec(name, profiles)
        trials = [t for t in spec.planned_trials() if t.variant == "full (low dim)" and t.phase == "final"]
        ratios = {t.compression for t in spec.planned_trials() if t.variant == "bloom k=4"}
        assert {t.compression for t in trials} == ratios
        assert all(t.config["model"]["embedding_dim"] == max(1, int(32 * t.compression + 0.5)) for t in trials)
        assert all(t.config["embedding"] == {"tables": "both", "method": "full"} for t in trials)
