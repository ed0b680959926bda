"""The open-vocabulary stream figures, from made-up stream records and from the committed quick results.

The made-up records (no training, no torch) have the shape of ``results/open-vocabulary-quick/trials.jsonl``:
two variants × three seeds × four windows with chosen per-window values, so the tests can state the means each
line must draw.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

import report_records
from bloombench.report import build_report
from bloombench.report.figures import FIGURES, FigureAbsent, render_figures
from bloombench.report.plotting import order, palette
from bloombench.report.prepare import prepare
from bloombench.report.tables import stream_table
from bloombench.report.stream_figures import (
    stream_memory_figure,
    stream_mrr_figure,
    stream_throughput_figure,
    stream_windows,
)
from bloombench.results import ResultStore, load_results

EXPERIMENT = "open-vocabulary"
SEEDS = (0, 1, 2)
DIM = 8
WINDOWS = 4
#: Seed noise summing to 0 over the seeds, so every mean is the chosen value.
NOISE = {0: -0.002, 1: 0.0, 2: 0.002}
GROWING, BLOOM = "growing full table", "bloom k=2, 2 KiB"
#: Chosen per-window mean MRR of (new, returning) users; returning users have nothing ranked in window 0.
MRR = {GROWING: ([0.010, 0.020, 0.030, 0.040], [None, 0.050, 0.060, 0.070]),
       BLOOM: ([0.015, 0.025, 0.035, 0.045], [None, 0.030, 0.040, 0.050])}
#: Training events per second over the whole stream, per seed.
THROUGHPUT = {GROWING: (1000.0, 1100.0, 1200.0), BLOOM: (2000.0, 2100.0, 2200.0)}
BLOOM_BYTES = 2048


def users_seen(seed: int) -> list[int]:
    """Users seen after each window: the stream depends on the seed, not on the method."""
    return [10 * (w + 1) + seed for w in range(WINDOWS)]


def stream_record(variant: str, seed: int) -> dict:
    """One final stream trial shaped like the open-vocabulary records (``stream.windows.*`` lists)."""
    growing = variant == GROWING
    embedding = ({"method": "growing", "params": {"initial_rows": 16}} if growing else
                 {"method": "bloom", "params": {"num_hashes": 2, "index": "on_the_fly", "num_buckets": 64,
                                                "seed": seed}})
    seen = users_seen(seed)
    new, returning = MRR[variant]
    memory = [u * DIM * 4 + 512 for u in seen] if growing else [BLOOM_BYTES] * WINDOWS
    windows = {
        "events": [100] * WINDOWS, "users_seen": seen, "memory_bytes": memory,
        "rows": [u + 6 for u in seen] if growing else [None] * WINDOWS,
        "loss": [0.5] * WINDOWS, "train_seconds": [0.1] * WINDOWS, "eval_seconds": [0.01] * WINDOWS,
        "generate_seconds": [0.01] * WINDOWS, "events_per_second": [THROUGHPUT[variant][seed]] * WINDOWS,
        "mrr_new": [v + NOISE[seed] for v in new],
        "mrr_returning": [None if v is None else v + NOISE[seed] for v in returning],
        "hit_rate@10_new": [0.1] * WINDOWS, "hit_rate@10_returning": [None] + [0.2] * (WINDOWS - 1),
        "events_new": [100] + [20] * (WINDOWS - 1), "events_returning": [0] + [80] * (WINDOWS - 1),
        "ranked_new": [50] + [20] * (WINDOWS - 1), "ranked_returning": [0] + [50] * (WINDOWS - 1),
    }
    config = {"dataset": {"name": "stream", "synthetic": {"num_users": 1000, "num_items": 50, "num_windows": WINDOWS,
                                                         "events_per_window": 100, "seed": 0}},
              "embedding": embedding, "model": {"kind": "stream", "embedding_dim": DIM, "eval_events": 50},
              "split": {"seed": seed}, "training": {"seed": seed, "epochs": 1, "optimizer": "adagrad"}}
    return {"experiment": EXPERIMENT, "variant": variant, "phase": "final", "status": "ok", "baseline": growing,
            "trial_key": json.dumps([EXPERIMENT, variant, seed]), "config": config,
            "environment": report_records.ENVIRONMENT, "seeds": {"split": seed, "training": seed},
            "table_rows": 50, "embedding_bytes": memory[-1] + 50 * DIM * 4,
            "test": {"mrr": 0.03, "mrr_new": 0.02, "mrr_returning": 0.04}, "validation": {"mrr": 0.03},
            "seconds_per_epoch": [0.4], "median_seconds_per_epoch": 0.4,
            "stream": {"events": 100 * WINDOWS, "events_per_second": THROUGHPUT[variant][seed],
                       "evicted": None, "users_seen": seen[-1], "user_memory_bytes_final": memory[-1],
                       "user_memory_bytes_peak": max(memory), "full_table_bytes_final": seen[-1] * DIM * 4,
                       "windows": windows}}


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The made-up stream records, written and read back as the report reads them."""
    root = tmp_path_factory.mktemp("stream-results")
    store = ResultStore(root, EXPERIMENT)
    for variant in (GROWING, BLOOM):
        for seed in SEEDS:
            store.append(stream_record(variant, seed))
    return load_results(root, EXPERIMENT).assign(experiment=EXPERIMENT)


@pytest.fixture(scope="module")
def data(records: pd.DataFrame) -> pd.DataFrame:
    """The records, prepared."""
    return prepare(records)


def drawn_lines(ax, colour) -> list:
    """The solid mean lines of ``colour`` on ``ax`` (seaborn's error-bar artists have no line style)."""
    return [line for line in ax.lines if line.get_linestyle() == "-" and to_rgb(line.get_color()) == to_rgb(colour)
            and len(line.get_xdata()) > 1]


def colours(data: pd.DataFrame) -> dict:
    return palette(order(data["method"]))


def test_windows_are_exploded_to_one_row_per_trial_and_window(data: pd.DataFrame) -> None:
    long = stream_windows(data, "mrr_returning", "memory_bytes")
    assert len(long) == 2 * len(SEEDS) * WINDOWS
    assert sorted(set(long["window"])) == list(range(WINDOWS))
    # None (nothing ranked) becomes NaN, only where the record has None.
    assert long.loc[long["window"] == 0, "mrr_returning"].isna().all()
    assert long.loc[long["window"] > 0, "mrr_returning"].notna().all()
    assert set(long["dim"]) == {DIM}


def test_mrr_figure_draws_the_mean_over_seeds_per_window_and_drops_empty_windows(data: pd.DataFrame) -> None:
    fig, caption = stream_mrr_figure(data)
    new, returning = fig.axes[:2]
    palette_ = colours(data)
    assert set(palette_) == {GROWING, BLOOM}
    for variant, (new_means, returning_means) in MRR.items():
        (line,) = drawn_lines(new, palette_[variant])
        np.testing.assert_array_equal(line.get_xdata(), np.arange(WINDOWS))
        np.testing.assert_allclose(line.get_ydata(), new_means)
        (line,) = drawn_lines(returning, palette_[variant])
        # Window 0 has no returning user: no point there, not a 0.
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, WINDOWS))
        np.testing.assert_allclose(line.get_ydata(), returning_means[1:])
    # The error bars are the t-interval over the 3 seeds: non-zero width, centred on the mean.
    bars = [s for collection in new.collections for s in collection.get_segments()]
    assert len(bars) == 2 * WINDOWS and all(s[1][1] > s[0][1] for s in bars)
    assert "Each point" in caption and "left out" in caption


def test_memory_figure_draws_bytes_per_window_and_the_full_table_for_the_users_seen(data: pd.DataFrame) -> None:
    fig, caption = stream_memory_figure(data)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    palette_ = colours(data)
    mean_seen = np.mean([users_seen(seed) for seed in SEEDS], axis=0)
    (growing,) = drawn_lines(ax, palette_[GROWING])
    np.testing.assert_allclose(growing.get_ydata(), mean_seen * DIM * 4 + 512)
    (bloom,) = drawn_lines(ax, palette_[BLOOM])
    np.testing.assert_allclose(bloom.get_ydata(), [BLOOM_BYTES] * WINDOWS)
    (dashed,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    np.testing.assert_array_equal(dashed.get_xdata(), np.arange(WINDOWS))
    np.testing.assert_allclose(dashed.get_ydata(), mean_seen * DIM * 4)
    assert "users seen × embedding dim × 4 bytes" in caption


def test_throughput_figure_draws_the_mean_events_per_second_per_variant(data: pd.DataFrame) -> None:
    fig, caption = stream_throughput_figure(data)
    whole, per_window = fig.axes[:2]
    # pointplot: a marker-only line per variant at (mean, category).
    marks = [(x, y) for line in whole.lines if line.get_linestyle() == "None" and line.get_marker() == "o"
             for x, y in zip(line.get_xdata(), line.get_ydata()) if np.isfinite(x)]
    labels = [t.get_text() for t in whole.get_yticklabels()]
    means = {labels[int(y)]: x for x, y in marks}
    assert means == pytest.approx({v: float(np.mean(s)) for v, s in THROUGHPUT.items()})
    (bloom,) = drawn_lines(per_window, colours(data)[BLOOM])
    np.testing.assert_allclose(bloom.get_ydata(), [np.mean(THROUGHPUT[BLOOM])] * WINDOWS)
    assert "stream.events_per_second" in caption


def test_stream_table_gives_memory_throughput_and_mrr_per_group_per_method(records: pd.DataFrame) -> None:
    table = stream_table(records).set_index("method")
    assert list(table.index) == [GROWING, BLOOM]  # the full table first
    assert (table["trials"] == len(SEEDS)).all()
    last_seen = float(np.median([users_seen(seed)[-1] for seed in SEEDS]))
    assert table.loc[GROWING, "users_seen"] == last_seen
    assert table.loc[GROWING, "user_memory_bytes"] == last_seen * DIM * 4 + 512
    assert table.loc[BLOOM, "user_memory_bytes"] == table.loc[BLOOM, "user_memory_bytes_peak"] == BLOOM_BYTES
    assert table.loc[BLOOM, "full_table_bytes_final"] == last_seen * DIM * 4
    for variant, throughput in THROUGHPUT.items():
        assert table.loc[variant, "events_per_second_mean"] == pytest.approx(np.mean(throughput))
        low, high = table.loc[variant, ["events_per_second_ci_low", "events_per_second_ci_high"]]
        assert low < np.mean(throughput) < high
    assert table["mrr_new_mean"].tolist() == pytest.approx([0.02, 0.02])
    assert table["mrr_returning_mean"].tolist() == pytest.approx([0.04, 0.04])


def test_stream_table_is_empty_without_stream_trials() -> None:
    floors = pd.json_normalize(report_records.methods("floors") + report_records.floors("floors"))
    assert stream_table(floors).empty


def test_stream_figures_are_absent_for_records_without_stream_series(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results", "floors")
    for record in report_records.methods("floors") + report_records.floors("floors"):
        store.append(record)
    prepared = prepare(load_results(tmp_path / "results", "floors").assign(experiment="floors"))
    for draw in (stream_mrr_figure, stream_memory_figure, stream_throughput_figure):
        with pytest.raises(FigureAbsent, match="only stream trials"):
            draw(prepared)
    results = {r.name: r for r in render_figures(prepared, tmp_path / "figures")}
    for name in ("stream_mrr", "stream_memory", "stream_throughput"):
        assert results[name].path is None and "only stream trials" in results[name].reason
    assert not list((tmp_path / "figures").glob("stream_*"))


def test_stream_figures_are_in_the_report_figures_and_rendered(data: pd.DataFrame, tmp_path: Path) -> None:
    names = [spec.name for spec in FIGURES]
    assert names[-3:] == ["stream_mrr", "stream_memory", "stream_throughput"]
    results = {r.name: r for r in render_figures(data, tmp_path)}
    for name in ("stream_mrr", "stream_memory", "stream_throughput"):
        assert results[name].path == tmp_path / f"{name}.png" and results[name].path.is_file()
        assert "95% Student-t" in results[name].caption


def test_report_of_the_committed_quick_results_writes_the_stream_figures(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[1] / "results" / "open-vocabulary-quick"
    if not (source / "trials.jsonl").is_file():
        pytest.skip("results/open-vocabulary-quick is not in this checkout")
    shutil.copytree(source, tmp_path / "results" / "open-vocabulary-quick")
    page = build_report(tmp_path / "results", tmp_path / "reports")
    folder = tmp_path / "reports" / "figures" / "open-vocabulary-quick"
    html = page.read_text(encoding="utf-8")
    for name in ("stream_mrr", "stream_memory", "stream_throughput"):
        png = folder / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="figures/open-vocabulary-quick/{name}.png"' in html
    table = pd.read_csv(tmp_path / "reports" / "tables" / "open-vocabulary-quick" / "stream.csv")
    assert set(table["method"]) == set(load_results(source.parent, "open-vocabulary-quick")["variant"])
    assert table["events_per_second_mean"].gt(0).all() and table["mrr_returning_mean"].gt(0).all()
