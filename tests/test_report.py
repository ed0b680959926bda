"""The report: prepared ratios, the t-interval, tables, figures and the static page, from real trial records.

The records are made by really running tiny trials on synthetic data (:func:`run_trial`) and written with
:class:`ResultStore`, with the fields the experiment driver adds (phase, variant, trial_key, seeds,
environment, table_rows, collision diagnostics).
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import report_records
from bloombench.experiments import config_hash, environment, resolve_config, run_trial
from bloombench.layers import collision_diagnostics, make_embedding
from bloombench.report import build_report
from bloombench.report.figures import (
    FigureAbsent,
    accuracy_ratio_figure,
    collision_figure,
    hash_family_figure,
    speed_figure,
)
from bloombench.report.prepare import prepare
from bloombench.report.stats import t_interval
from bloombench.report.tables import (
    accuracy_table,
    collision_table,
    failures_table,
    hash_table,
    search_table,
    speed_table,
)
from bloombench.results import ResultStore, load_results

SEEDS = (0, 1, 2)
USERS, ITEMS = 60, 80
ENVIRONMENT = environment()


def synthetic(items: int = ITEMS) -> dict:
    return {"name": "synthetic", "synthetic": {"num_users": USERS, "num_items": items, "num_interactions": 3000,
                                               "seed": 3}}


def tiny(method: str = "full", seed: int = 0, optimizer: str = "adam", lr: float = 1e-2, items: int = ITEMS,
         epochs: int = 2, **params: Any) -> dict:
    return {"dataset": synthetic(items), "split": {"seed": seed}, "model": {"embedding_dim": 8},
            "embedding": {"method": method, "params": params},
            "training": {"epochs": epochs, "batch_size": 256, "optimizer": optimizer, "seed": seed, "lr": lr}}


def diagnostics(overrides: dict) -> dict:
    """The hash experiment's ``diagnostics{items, users}``: collision diagnostics of each table's layer."""
    config = resolve_config(overrides)
    emb = config["embedding"]
    sizes = {"items": config["dataset"]["synthetic"]["num_items"], "users": USERS}
    return {table: collision_diagnostics(make_embedding(emb["method"], n, config["model"]["embedding_dim"],
                                                        **emb["params"])).to_dict()
            for table, n in sizes.items()}


def record(experiment: str, variant: str, overrides: dict, phase: str | None = "final",
           with_diagnostics: bool = False, evaluate: bool = True, **extra: Any) -> dict:
    """One trial record as the driver writes it (really trained; a failure recorded as failed)."""
    config = resolve_config(overrides)
    key = config_hash({"phase": phase or "final", "config": config})
    out: dict[str, Any] = {"experiment": experiment, "variant": variant, "trial_key": key, **extra,
                           "environment": ENVIRONMENT, "seeds": {"split": config["split"]["seed"],
                                                                 "training": config["training"]["seed"]}}
    if phase is not None:
        out["phase"] = phase
    try:
        out.update(run_trial(overrides), status="ok")
    except ValueError as error:
        return {**out, "status": "failed", "error": f"{type(error).__name__}: {error}", "config": config}
    out["table_rows"] = config["dataset"]["synthetic"]["num_items"]
    if with_diagnostics:
        out["diagnostics"] = diagnostics(overrides)
    if not evaluate:  # the speed experiment may skip the evaluation
        del out["test"], out["validation"]
    return out


SPEC = '''# factorization on synthetic data
description = "Methods x compression on a tiny synthetic set <b>not bold</b>"
seeds = [0, 1, 2]
'''


def write_results(root: Path) -> dict[str, list[dict]]:
    """Four experiments: factorization (+ search, + a failure), hash families, speed, failures only; and the
    made-up ones of :mod:`report_records` (floors, the equal-memory baseline, encodings, old results)."""
    made: dict[str, list[dict]] = {}
    fact = [record("factorization", "full", tiny(lr=lr), phase="search") for lr in (1e-2, 5e-2, 1e-3)]
    chosen = {"selected_from": fact[0]["trial_key"]}  # the final trials run with lr = 1e-2
    for seed in SEEDS:
        fact.append(record("factorization", "full", tiny(seed=seed), phase=None, **chosen))  # no phase: final
        fact.append(record("factorization", "full (sparse grads)", tiny(seed=seed, optimizer="adam-sparse")))
        for cr in (0.25, 0.5):
            fact.append(record("factorization", "bloom k=2", tiny("bloom", seed, compression_ratio=cr, num_hashes=2)))
            fact.append(record("factorization", "hashing trick", tiny("hashing_trick", seed, compression_ratio=cr)))
    fact.append(record("factorization", "bad <i>cr</i>", tiny("bloom", compression_ratio=5.0)))
    made["factorization"] = fact

    hashes = [record("hash-functions", "full", tiny(seed=seed)) for seed in SEEDS[:2]]
    for seed in SEEDS[:2]:
        for family in ("murmur3", "multiplicative"):
            for cr in (0.25, 0.5):
                hashes.append(record("hash-functions", "bloom k=2",
                                     tiny("bloom", seed, compression_ratio=cr, num_hashes=2, hash=family),
                                     with_diagnostics=True))
    made["hash-functions"] = hashes

    speed = [record("speed", method, tiny(method, seed, items=items, epochs=1, **params), evaluate=False)
             for seed in SEEDS[:2] for items in (80, 400)
             for method, params in (("full", {}), ("bloom", {"compression_ratio": 0.2, "num_hashes": 2}))]
    made["speed"] = speed
    made["broken"] = [record("broken", "bad", tiny("bloom", compression_ratio=5.0))]

    for experiment, records in made.items():
        store = ResultStore(root, experiment)
        for r in records:
            store.append(r)
    (root / "factorization" / "spec.toml").write_text(SPEC, encoding="utf-8")
    report_records.write(root)
    return made


ASV_PAGE = "<html><body>asv</body></html>"


@pytest.fixture(scope="session")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is ~10x faster on a shared 2-core machine
    try:
        write_results(root)
    finally:
        torch.set_num_threads(threads)
    return root


def with_asv(out: Path) -> Path:
    (out / "asv").mkdir(parents=True)
    (out / "asv" / "index.html").write_text(ASV_PAGE, encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def report(results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of every experiment, with asv pages beside it."""
    return build_report(results, with_asv(tmp_path_factory.mktemp("reports")))


def frame(results: Path, experiment: str) -> pd.DataFrame:
    return load_results(results, experiment)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG, after checking its signature and every chunk's CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    offset, chunks = 8, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"{path}: bad CRC in {kind!r}"
        chunks.append(kind)
        offset += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and b"IDAT" in chunks
    return struct.unpack(">II", data[16:24])


# ------------------------------------------------------------------------------------------------ prepare


def test_ratios_divide_by_the_same_seed_dense_full_table(results: Path) -> None:
    raw = frame(results, "factorization")
    data = prepare(raw)
    assert set(data["phase"]) == {"final"} and len(data) == 3 * (2 + 4)  # search and failed trials dropped
    # Most compressed variants train with adam: the dense full table is the baseline, not the sparse one.
    assert set(data.loc[data["is_baseline"], "method"]) == {"full"}
    ok = raw[(raw["status"] == "ok") & (raw["phase"].fillna("final") == "final")]
    full = ok[(ok["config.embedding.method"] == "full") & (ok["config.training.optimizer"] == "adam")]
    for seed in SEEDS:
        base = full[full["config.training.seed"] == seed].iloc[0]
        trial = ok[(ok["config.embedding.method"] == "bloom") & (ok["config.training.seed"] == seed)
                   & (ok["config.embedding.params.compression_ratio"] == 0.25)].iloc[0]
        row = data[data["trial_key"] == trial["trial_key"]].iloc[0]
        assert row["accuracy_ratio"] == pytest.approx(trial["test.mrr"] / base["test.mrr"])
        assert row["time_ratio"] == pytest.approx(trial["median_seconds_per_epoch"] / base["median_seconds_per_epoch"])
        assert row["bytes_ratio"] == pytest.approx(trial["embedding_bytes"] / base["embedding_bytes"])
        assert row["baseline_seed_matched"] and row["compression"] == 0.25
    assert set(data["method"]) == {"full", "full (sparse grads)", "bloom k=2", "hashing trick"}
    assert (data.loc[data["method_id"] == "full", "compression"] == 1.0).all()


def test_a_baseline_that_is_not_a_full_table_sits_at_compression_one(results: Path) -> None:
    # The paper's baseline is the identity encoding: no ratio in its config, baseline = true in its record.
    raw = frame(results, "factorization")
    dense_full = (raw["config.embedding.method"] == "full") & (raw["config.training.optimizer"] == "adam")
    raw = raw.assign(baseline=dense_full)
    raw.loc[dense_full, "config.embedding.method"] = "identity"
    data = prepare(raw)
    identity = data[data["method_id"] == "identity"]
    assert len(identity) == 3 and (identity["compression"] == 1.0).all() and identity["is_baseline"].all()
    assert set(data.loc[data["method_id"] == "bloom", "compression"]) == {0.25, 0.5}


def test_prepare_refuses_bad_input(results: Path) -> None:
    with pytest.raises(TypeError, match="frame must be a pandas DataFrame, got list"):
        prepare([])
    with pytest.raises(ValueError, match="phase must be 'final', 'search' or None, got 'test'"):
        prepare(frame(results, "factorization"), phase="test")
    with pytest.raises(ValueError, match=r"metric 'test.auc' is not a column"):
        prepare(frame(results, "factorization"), metric="test.auc")
    with pytest.raises(ValueError, match="confidence must be in"):
        t_interval([1.0, 2.0], confidence=95)


def test_t_interval_is_scipys_student_t() -> None:
    values = np.array([0.41, 0.44, 0.39, 0.47])
    expected = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert t_interval(values) == pytest.approx(expected)
    assert t_interval([0.5, np.nan, 0.7]) == pytest.approx(stats.t.interval(0.95, 1, loc=0.6, scale=0.1))
    assert all(math.isnan(v) for v in t_interval([0.5]))


# ------------------------------------------------------------------------------------------------ tables


def test_accuracy_table_means_and_intervals_equal_scipy_on_the_trials(results: Path) -> None:
    raw = frame(results, "factorization")
    data = prepare(raw)
    table = accuracy_table(raw)
    assert list(table["method"][:2]) == ["full", "full (sparse grads)"]
    row = table[(table["method"] == "bloom k=2") & (table["compression"] == 0.5)].iloc[0]
    ratios = data[(data["method"] == "bloom k=2") & (data["compression"] == 0.5)]["accuracy_ratio"].to_numpy()
    assert row["trials"] == 3 and row["seed_matched"] == 3
    assert row["accuracy_ratio_mean"] == pytest.approx(ratios.mean())
    low, high = stats.t.interval(0.95, 2, loc=ratios.mean(), scale=stats.sem(ratios))
    assert (row["accuracy_ratio_ci_low"], row["accuracy_ratio_ci_high"]) == pytest.approx((low, high))
    baseline = table[table["method"] == "full"].iloc[0]
    assert baseline["accuracy_ratio_mean"] == pytest.approx(1.0) and baseline["bytes_ratio"] == pytest.approx(1.0)
    assert row["embedding_bytes"] < baseline["embedding_bytes"]


def test_search_table_marks_the_configuration_the_final_trials_used(results: Path) -> None:
    raw = frame(results, "factorization")
    table = search_table(raw)
    assert len(table) == 3 and "training.lr" in table.columns and "validation.mrr" in table.columns
    assert list(table.loc[table["selected"], "training.lr"]) == ["0.01"]  # the final trials' lr
    assert set(table["selected_by"]) == {"selected_from of the final trials"}
    assert table["validation.mrr"].is_monotonic_decreasing  # best first
    # Without selected_from: the search trial whose lr the final trials have.
    by_settings = search_table(raw.drop(columns="selected_from"))
    assert list(by_settings.loc[by_settings["selected"], "training.lr"]) == ["0.01"]
    assert set(by_settings["selected_by"]) == {"final trials' settings"}
    # No final trial yet: the best validation MRR.
    search_only = search_table(raw[raw["phase"] == "search"])
    assert list(search_only["selected"]) == [True, False, False]
    assert set(search_only["selected_by"]) == {"best validation.mrr"}
    assert search_table(frame(results, "speed")).empty


def test_hash_speed_and_failure_tables(results: Path) -> None:
    hashes = hash_table(frame(results, "hash-functions"))
    assert set(hashes["hash"]) == {"murmur3", "multiplicative"} and set(hashes["method"]) == {"bloom k=2"}
    assert (hashes["trials"] == 2).all() and len(hashes) == 4
    assert hash_table(frame(results, "factorization")).empty  # one family only
    speed = speed_table(frame(results, "speed"))
    assert sorted(speed["table_rows"].unique()) == [80, 400] and (speed["trials"] == 2).all()
    assert speed_table(frame(results, "factorization")).empty
    assert accuracy_table(frame(results, "speed")).empty  # evaluation skipped: no accuracy
    failed = failures_table(frame(results, "factorization"))
    assert list(failed["variant"]) == ["bad <i>cr</i>"] and "compression_ratio" in failed.loc[0, "error"]


# ------------------------------------------------------------------------------------------------ figures


def test_figure_error_bars_are_the_tables_intervals(results: Path) -> None:
    raw = frame(results, "factorization")
    fig, how = accuracy_ratio_figure(prepare(raw))
    assert "same seeds" in how
    ax = fig.axes[0]
    bars = [segment for collection in ax.collections for segment in collection.get_segments()]
    table = accuracy_table(raw)
    plotted = table[table["method"] != "full"]  # the baseline is the dashed line at 1
    expected = sorted((r.compression, r.accuracy_ratio_ci_low, r.accuracy_ratio_ci_high)
                      for r in plotted.itertuples())
    drawn = sorted((s[0][0], s[0][1], s[1][1]) for s in bars)
    assert len(drawn) == len(expected) == 5
    np.testing.assert_allclose(np.array(drawn), np.array(expected))


def test_figures_are_absent_with_a_reason_when_the_records_lack_what_they_plot(results: Path) -> None:
    one_level = frame(results, "factorization")
    one_level = one_level[one_level["config.embedding.params.compression_ratio"].fillna(0.25) == 0.25]
    with pytest.raises(FigureAbsent, match=r"1 compression level\(s\) \(0.25\)"):
        accuracy_ratio_figure(prepare(one_level))
    with pytest.raises(FigureAbsent, match="1 table size"):
        speed_figure(prepare(frame(results, "factorization")))
    with pytest.raises(FigureAbsent, match="name 0 hash families"):
        hash_family_figure(prepare(frame(results, "factorization")))
    no_baseline = frame(results, "factorization")
    no_baseline = no_baseline[no_baseline["config.embedding.method"] != "full"]
    with pytest.raises(FigureAbsent, match="no baseline"):
        accuracy_ratio_figure(prepare(no_baseline))


def test_hash_figure_orders_families_best_first(results: Path) -> None:
    data = prepare(frame(results, "hash-functions"))
    fig, _ = hash_family_figure(data)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    means = data[~data["is_baseline"]].groupby("hash")["accuracy_ratio"].mean()
    assert labels == list(means.sort_values(ascending=False).index)


# ------------------------------------------------------------------------------------------------ the page


def test_report_writes_figures_tables_and_a_page(report: Path, results: Path) -> None:
    out = report.parent
    html = report.read_text(encoding="utf-8")
    figures = {p.relative_to(out).as_posix() for p in out.glob("figures/*/*.png")}
    assert figures == {
        "figures/factorization/accuracy_ratio.png", "figures/factorization/accuracy_bytes.png",
        "figures/factorization/time_ratio.png",
        "figures/hash-functions/accuracy_ratio.png", "figures/hash-functions/accuracy_bytes.png",
        "figures/hash-functions/time_ratio.png", "figures/hash-functions/hash_families.png",
        "figures/hash-functions/collisions.png",
        "figures/speed/speed.png",
        *(f"figures/{name}/{figure}.png" for name in ("floors", "hashes", "old", "paper")
          for figure in ("accuracy_ratio", "accuracy_bytes", "time_ratio")),
        "figures/hashes/hash_families.png",
        # the planted regimes: one curve would pool them, so no accuracy_ratio; the per-regime figures instead
        *(f"figures/regime/{figure}.png" for figure in ("accuracy_bytes", "time_ratio", "regime", "regime_fill")),
    }
    for name in figures:
        width, height = png_size(out / name)
        assert width >= 400 and height >= 300
        assert f'src="{name}"' in html
    # Absent figures are named with their reason.
    assert "Seconds per epoch vs table rows: the trials hold 1 table size(s)" in html
    assert "Collision diagnostics: measured vs ideal hashing: no trial records collision" in html
    # Tables: CSV equal to the table function, Markdown beside it, links on the page.
    csv = pd.read_csv(out / "tables" / "factorization" / "accuracy.csv")
    expected = accuracy_table(load_results(results, "factorization"))
    assert np.allclose(csv["accuracy_ratio_ci_low"], expected["accuracy_ratio_ci_low"], equal_nan=True)
    assert (out / "tables" / "factorization" / "accuracy.md").read_text().startswith("| experiment")
    assert 'href="tables/factorization/accuracy.csv"' in html and 'href="tables/speed/speed.md"' in html
    assert 'href="asv/index.html"' in html


def test_report_page_lists_failures_search_spec_and_escapes_record_text(report: Path) -> None:
    out = report.parent
    html = report.read_text(encoding="utf-8")
    assert "ArgumentError: " in html and "compression_ratio" in html  # the failed trial's error
    assert 'id="exp-broken-failures"' in html and "no successful final trial" in html
    failures = pd.read_csv(out / "tables" / "broken" / "failures.csv")
    assert list(failures["variant"]) == ["bad"]
    assert 'id="exp-factorization-search"' in html
    assert "Methods x compression on a tiny synthetic set &lt;b&gt;not bold&lt;/b&gt;" in html
    assert "bad &lt;i&gt;cr&lt;/i&gt;" in html and "<i>cr</i>" not in html
    assert (out / "specs" / "factorization" / "spec.toml").read_text() == SPEC
    assert "# factorization on synthetic data" in html  # shown verbatim
    assert "http://" not in html and "https://" not in html  # nothing fetched from outside


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_report_is_deterministic_and_prunes_stale_outputs(results: Path, report: Path, tmp_path: Path) -> None:
    out = with_asv(tmp_path / "again")
    stale = out / "figures" / "factorization" / "old.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    page = build_report(results, out)
    assert page == out / "index.html" and not stale.exists()
    assert files(out) == files(report.parent)  # the same records, byte for byte the same report


def test_report_of_a_subset_from_results_only_never_loads_torch(results: Path, tmp_path: Path) -> None:
    # The report neither trains nor probes the machine: in a fresh process, neither `import bloombench.report`
    # nor building a report loads torch (which training and the environment probe need) or the trial runner.
    subset = tmp_path / "results"
    (subset / "speed").mkdir(parents=True)
    (subset / "speed" / "trials.jsonl").write_bytes((results / "speed" / "trials.jsonl").read_bytes())
    code = """if True:
        import sys
        def loaded():
            return sorted(m for m in sys.modules if m.split(".")[0] == "torch" or m == "bloombench.experiments")
        import bloombench.report
        assert not loaded(), f"import bloombench.report loaded {loaded()}"
        bloombench.report.build_report(sys.argv[1], sys.argv[2], asv_html_dir=sys.argv[3])
        assert not loaded(), f"building the report loaded {loaded()}"
    """
    run = subprocess.run([sys.executable, "-c", code, str(subset), str(tmp_path / "one"), str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    html = (tmp_path / "one" / "index.html").read_text()
    assert "figures/speed/speed.png" in html and "Accuracy ratio to the baseline vs compression: " in html
    assert "asv/index.html" not in html and "nowhere" not in html  # no asv pages: no link
    assert "Hyperparameter search" not in html


def test_report_of_nothing_and_of_a_missing_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "No experiment found" in build_report(empty, tmp_path / "none").read_text()
    with pytest.raises(FileNotFoundError, match="results_dir .*missing.* does not exist"):
        build_report(tmp_path / "missing", tmp_path / "x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        build_report(tmp_path / "file", tmp_path / "x")


def test_collision_figure_draws_the_measured_shares_against_the_ideal_expectation(results: Path) -> None:
    raw = frame(results, "hash-functions")
    fig, _ = collision_figure(prepare(raw))
    table = collision_table(raw)
    assert len(fig.axes) == 4  # (items, users) x (repeat share, signature collisions)
    for ax in fig.axes:
        method, _, table_name = ax.get_title().partition(" · ")
        rows = table[(table["method"] == method) & (table["table"] == table_name.removesuffix(" table"))]
        column = "expected_repeat_share" if "repeated" in ax.get_ylabel() else "expected_signature_collision_share"
        dashed = sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--")
        assert dashed == pytest.approx(sorted(rows.groupby("compression")[column].mean()))
