"""Experiment specs: the shipped TOML files, validation messages, grid expansion, search and selection."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bloombench.experiments.spec import SpecError, available_specs, load_spec, parse_spec
from bloombench.hashing import available_hashes

TINY = """
name = "tiny"
seeds = [0, 1, 2]
[base]
dataset = { name = "synthetic", synthetic = { num_users = 60, num_items = 80, num_interactions = 3000, seed = 3 } }
model = { embedding_dim = 8 }
training = { epochs = 2, batch_size = 256 }
[grid]
"embedding.params.compression_ratio" = [0.25, 0.5]
[[variants]]
label = "full"
baseline = true
embedding = { method = "full" }
[[variants]]
label = "full sparse"
grid = {}
embedding = { method = "full" }
training = { optimizer = "adam-sparse", lr = 0.5 }
[[variants]]
label = "bloom"
embedding = { method = "bloom", params = { num_hashes = 2 } }
[search]
trials = 3
seed = 7
[search.space]
"training.lr" = [1e-3, 1e-2, 5e-2]
[profiles.small]
seeds = [4, 5, 6]
variants = ["full", "bloom"]
grid = { "embedding.params.compression_ratio" = [0.25] }
"""


def record(trial, split: str = "validation", **metrics: float) -> dict:
    return {"trial_key": trial.key, "phase": trial.phase, "status": "ok", split: metrics}


@pytest.mark.parametrize("name", available_specs())
def test_every_shipped_spec_and_profile_parses_with_three_or_more_seeds(name: str) -> None:
    spec = load_spec(name)
    assert spec.description and len(spec.seeds) >= 3
    for profile in spec.available_profiles:
        profiled = load_spec(name, (profile,))
        assert profiled.experiment == f"{name}-{profile}" and len(profiled.seeds) >= 3
        assert profiled.final_trials({g: ({}, "x") for g, *_ in profiled._search_groups()})


def _final(spec) -> list:
    """Every final trial of a spec, as if each search had its winner."""
    return [t for t in spec.planned_trials() if t.phase == "final"]


def test_the_four_experiments_of_the_issue_are_shipped_with_their_protocols() -> None:
    assert {"factorization", "spotlight-sequence", "hash-functions", "speed", "paper"} <= set(available_specs())
    sequence = load_spec("spotlight-sequence")
    bloom = next(v for v in sequence.variants if not v.baseline)
    assert bloom.grid["embedding.params.compression_ratio"] == pytest.approx([i / 10 for i in range(1, 10)])
    assert bloom.overrides["embedding"]["params"]["num_hashes"] == 4
    assert sequence.search.scope == "per-variant" and sequence.search.trials == 50
    assert load_spec("spotlight-sequence", ("anchors",)).search.scope == "baseline"  # Spotlight's own search
    assert load_spec("spotlight-sequence", ("legacy",)).selection_split == "test"
    hashes = load_spec("hash-functions")
    assert hashes.diagnostics
    # Identical hyperparameters for every family: one search per variant (per ratio in full), at murmur3.
    assert hashes.search.at == {"embedding.params.hash": "murmur3"}
    assert {t.config["embedding"].get("params", {}).get("hash") for t in hashes.search_trials()} <= {"murmur3", None}
    families = {t.config.get("embedding", {}).get("params", {}).get("hash") for t in _final(hashes)} - {None}
    assert families == set(available_hashes())
    assert all(t.config["evaluation"]["diagnostics"] for t in _final(hashes) if "embedding" in t.config)
    paper = load_spec("paper")
    paper_trials = [t for t in _final(paper) if "encoding" in t.config]  # the floors have none
    ratios = {t.config["encoding"].get("params", {}).get("compression_ratio") for t in paper_trials}
    assert min(ratios - {None}) == 0.02 and max(ratios - {None}) == 1.0
    methods = {t.config["encoding"]["method"] for t in paper_trials}
    assert {"identity", "bloom", "hashing_trick", "ecoc", "pmi", "cca", "cbe"} <= methods
    assert {t.config["encoding"]["params"].get("num_hashes") for t in paper_trials
            if t.config["encoding"]["method"] == "bloom"} == {2, 3, 4}
    assert all("embedding" not in t.config for t in _final(paper))
    speed = load_spec("speed")
    assert speed.max_concurrent == 1 and speed.contexts["dataset.table_rows"] == [10_000, 100_000, 1_000_000, 5_000_000]


def test_expansion_layers_base_selection_variant_grid_and_seed() -> None:
    spec = parse_spec(TINY)
    search = spec.search_trials()
    assert [t.phase for t in search] == ["search"] * 3 and {t.variant for t in search} == {"full"}
    assert all(t.config["split"]["seed"] == t.config["training"]["seed"] == 0 for t in search)
    final = spec.final_trials({"full": ({"training.lr": 5e-2}, "winner")})
    # full: 1 point, full sparse: 1 (own empty grid), bloom: 2 ratios; x 3 seeds.
    assert len(final) == (1 + 1 + 2) * 3 and len({t.key for t in final}) == len(final)
    sparse = [t for t in final if t.variant == "full sparse"]
    assert all(t.config["training"]["lr"] == 0.5 for t in sparse)  # the variant beats the selected value
    bloom = [t for t in final if t.variant == "bloom"]
    assert all(t.config["training"]["lr"] == 5e-2 and t.selected_from == "winner" for t in bloom)
    assert [t.task()["baseline"] for t in final] == [t.variant == "full" for t in final]
    assert "diagnostics" not in final[0].config.get("evaluation", {})  # only where the spec asks
    assert sorted({t.config["embedding"]["params"]["compression_ratio"] for t in bloom}) == [0.25, 0.5]
    # Each seed sets the split, the training and the hash functions; the full table has no hash seed.
    assert sorted((t.config["split"]["seed"], t.config["embedding"]["params"]["seed"]) for t in bloom) == \
        [(s, s) for s in (0, 0, 1, 1, 2, 2)]
    assert all("seed" not in t.config["embedding"].get("params", {}) for t in final if t.variant == "full")
    # Without a winner, nothing final is planned.
    assert spec.final_trials({}) == []


def test_profiles_overlay_and_filter_variants() -> None:
    spec = parse_spec(TINY, profiles=("small",))
    assert spec.experiment == "tiny-small" and spec.seeds == (4, 5, 6)
    assert [v.label for v in spec.variants] == ["full", "bloom"]
    assert spec.variants[1].grid == {"embedding.params.compression_ratio": [0.25]}
    with pytest.raises(SpecError, match=r"unknown profile 'huge'; this spec has \['small'\]"):
        parse_spec(TINY, profiles=("huge",))


def test_search_draws_are_seeded_distinct_and_prefix_stable() -> None:
    text = TINY.replace('"training.lr" = [1e-3, 1e-2, 5e-2]',
                        '"training.lr" = { log_uniform = [1e-4, 1e-1] }\n"training.epochs" = { int_uniform = [1, 4] }')
    spec = parse_spec(text)
    draws = spec.search.draws()
    assert draws == parse_spec(text).search.draws()
    assert all(1e-4 <= d["training.lr"] <= 1e-1 and d["training.epochs"] in range(1, 5) for d in draws)
    more = parse_spec(text.replace("trials = 3", "trials = 6")).search.draws()
    assert more[:3] == draws
    assert draws != parse_spec(text.replace("seed = 7", "seed = 8")).search.draws()
    # A finite space: distinct draws until it is exhausted.
    finite = parse_spec(TINY.replace("trials = 3", "trials = 3")).search.draws()
    assert sorted(d["training.lr"] for d in finite) == [1e-3, 1e-2, 5e-2]


def test_selection_on_validation_legacy_on_test_and_rmse_lower_is_better() -> None:
    spec = parse_spec(TINY)
    trials = spec.search_trials()
    records = [{**record(t, mrr=v), "test": {"mrr": m}} for t, v, m in zip(trials, [0.1, 0.3, 0.2], [0.5, 0.1, 0.1])]
    draw, key = spec.select(records)["full"]
    assert key == trials[1].key and draw == trials[1].draw
    legacy = parse_spec(TINY.replace('seeds = [0, 1, 2]', 'seeds = [0, 1, 2]\nselection = "legacy"'))
    assert legacy.select(records)["full"][1] == trials[0].key
    rmse = parse_spec(TINY.replace('seeds = [0, 1, 2]', 'seeds = [0, 1, 2]\nmetric = "rmse"'))
    rmse_records = [record(t, rmse=v) for t, v in zip(trials, [1.2, 0.9, math.nan])]
    assert rmse.select(rmse_records)["full"][1] == trials[1].key
    # Failed or search-less records never win; no usable record means no winner.
    failed = [{**r, "status": "failed"} for r in records]
    assert spec.select(failed) == {}


def test_contexts_give_each_setting_its_own_baseline_and_search() -> None:
    text = TINY.replace("[grid]", '[contexts]\n"dataset.table_rows" = [100, 200]\n[grid]')
    spec = parse_spec(text)
    groups = sorted({t.group for t in spec.search_trials()})
    assert len(groups) == 2 and len(spec.search_trials()) == 6
    final = spec.final_trials({g: ({}, "x") for g in groups})
    baselines = [t for t in final if t.variant == "full"]
    assert sorted({t.config["dataset"]["table_rows"] for t in baselines}) == [100, 200]
    clash = TINY.replace("[grid]", '[contexts]\n"embedding.params.compression_ratio" = [0.1]\n[grid]')
    with pytest.raises(SpecError, match="both contexts and grid paths"):
        parse_spec(clash)


@pytest.mark.parametrize(("change", "message"), [
    (("seeds = [0, 1, 2]", "seeds = [0, 1, 2]\ncolour = 3"), r"unknown key\(s\) \['colour'\]"),
    (("seeds = [0, 1, 2]", 'seeds = "three"'), r"seeds: must be a non-empty list of distinct ints"),
    (("seeds = [0, 1, 2]", "seeds = [1, 1]"), r"seeds: must be a non-empty list of distinct ints"),
    (("[0.25, 0.5]", "[0.25, 1.5]"), r"variant 'bloom' at .*compression_ratio.*1.5"),
    (("num_hashes = 2", 'num_hashes = 2, hash = "crc32"'), r"variant 'bloom'.*crc32"),
    (("num_hashes = 2", "num_hashs = 2"), r"variant 'bloom'.*num_hashs"),
    (('"training.lr" = [', '"training.rate" = ['), r"unknown key training.rate"),
    (('"training.lr" = [1e-3, 1e-2, 5e-2]', '"training.lr" = { log_uniform = [0, 1] }'), r"low > 0"),
    (('"training.lr" = [1e-3, 1e-2, 5e-2]', '"training.lr" = [-1.0]'), r"search draw|lr must be > 0"),
    (("trials = 3", "trials = 0"), r"search.trials: must be an int >= 1"),
    (("label = \"full sparse\"", "label = \"full\""), r"labels must be unique"),
    (("label = \"bloom\"", "label = \"bloom\"\nbaseline = true"), r"exactly one variant must have baseline"),
    (("optimizer = \"adam-sparse\"", "optimizer = \"lbfgs\""), r"optimizer"),
    (("[[variants]]\nlabel = \"bloom\"", "[[variants]]\nlabel = \"bloom\"\ncolour = 1"), r"variants\[2\]: unknown key"),
    (("name = \"tiny\"", "name = \"../escape\""), r"name: must be a plain name"),
    (("model = { embedding_dim = 8 }", "model = { kind = \"deep\" }"), r"model.kind must be one of"),
    (("[search]", "[search]\nscope = \"everywhere\""), r"scope: must be one of"),
    (("trials = 3", "trials = 3 ="), r"invalid TOML"),
])
def test_bad_specs_are_refused_naming_key_value_and_what_is_allowed(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in TINY
    with pytest.raises(SpecError, match=message):
        parse_spec(TINY.replace(old, new, 1), path="tiny.toml")


def test_two_variants_with_the_same_trial_are_refused() -> None:
    text = TINY.replace('label = "full sparse"\ngrid = {}\nembedding = { method = "full" }\n'
                        'training = { optimizer = "adam-sparse", lr = 0.5 }',
                        'label = "full again"\ngrid = {}\nembedding = { method = "full" }')
    with pytest.raises(SpecError, match="'full' and 'full again' produce the same trial"):
        parse_spec(text)


def test_load_spec_by_name_and_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(TINY, encoding="utf-8")
    assert load_spec(path).name == "tiny" and load_spec(str(path)).path == str(path)
    with pytest.raises(SpecError, match=r"unknown spec 'nope'; shipped specs: \["):
        load_spec("nope")
    with pytest.raises(SpecError, match="cannot read spec file"):
        load_spec(tmp_path / "missing.toml")


def test_the_speed_cuda_profile_runs_every_trial_on_the_device_on_synthetic_data() -> None:
    """``tools/gpu-check.sh`` runs this profile on a machine without the MovieLens files or a network."""
    spec = load_spec("speed", ("cuda",))
    trials = spec.final_trials()
    assert spec.experiment == "speed-cuda" and trials
    assert {t.config["training"]["device"] for t in trials} == {"cuda"}
    assert {t.config["dataset"]["name"] for t in trials} == {"synthetic"}
    assert {t.config["dataset"]["table_rows"] for t in trials} == {10_000, 100_000, 1_000_000}
    assert {t.variant for t in trials} >= {"full", "bloom k=4 table", "bloom k=4 on the fly"}
