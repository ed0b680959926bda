"""Floors, the equal-memory baseline, the Pareto frontier, the hash-family tests and the Findings, on made-up
records (:mod:`report_records`: values chosen so the expected numbers can be stated; nothing is trained).

The floors are the ``popularity`` and ``random`` model kinds (no embedding, no epochs); the equal-memory
baseline is the full table at a smaller embedding dimension. Results without them (``old``) keep rendering.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle
from scipy import stats

import report_records
from bloombench.report import build_report
from bloombench.report.compare import family_overlap, hash_tests, holm, pareto_mask
from bloombench.report.figures import (
    FigureAbsent,
    accuracy_ratio_figure,
    accuracy_vs_bytes_figure,
    hash_family_figure,
    regime_fill_figure,
    regime_panels_figure,
)
from bloombench.report.findings import findings
from bloombench.report.html import FLAG_MARK, table_view
from bloombench.report.plotting import OTHER_COLOUR
from bloombench.report.prepare import prepare
from bloombench.report.tables import (
    BELOW_POPULARITY,
    accuracy_table,
    failures_table,
    floors_table,
    frontier_table,
    hash_test_table,
)
from bloombench.results import ResultStore, load_results

NOISE = report_records.NOISE
SEEDS = report_records.SEEDS


@pytest.fixture(scope="module")
def made_up(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report_records.write(tmp_path_factory.mktemp("made-up"))


@pytest.fixture(scope="module")
def page(made_up: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report(made_up, tmp_path_factory.mktemp("made-up-report"))


def records(root: Path, experiment: str) -> pd.DataFrame:
    return load_results(root, experiment)


def mrr(value: float, seed: int) -> float:
    return value + NOISE[seed]


def popularity(seed: int) -> float:
    return 0.050 + 0.4 * NOISE[seed]


def interval(values: list[float]) -> tuple[float, float]:
    values = np.asarray(values)
    return stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))


# ------------------------------------------------------------------------------------------------ prepare


def test_floors_are_not_methods_and_are_paired_on_the_seeds_they_carry(made_up: Path) -> None:
    data = prepare(records(made_up, "floors"))
    floors = data[data["is_floor"]]
    assert sorted(set(floors["floor"])) == ["popularity", "random"] and floors["compression"].isna().all()
    assert not floors["is_baseline"].any() and set(floors["method"]) == {"popularity", "random"}
    for seed in SEEDS:
        # Popularity records carry the split seed only: a method trial is divided by the same-split trial.
        trick = data[(data["method"] == "hashing trick") & (data["compression"] == 0.25)
                     & (data["config.split.seed"] == seed)].iloc[0]
        assert trick["popularity_seed_matched"]
        assert trick["popularity_ratio"] == pytest.approx(mrr(0.030, seed) / popularity(seed))
        assert trick["popularity_accuracy"] == pytest.approx(popularity(seed))
        # A floor's ratio to the baseline, per seed (its band on the ratio figures).
        floor = floors[(floors["floor"] == "popularity") & (floors["config.split.seed"] == seed)].iloc[0]
        assert floor["accuracy_ratio"] == pytest.approx(popularity(seed) / mrr(0.100, seed))
    assert data.loc[data["is_floor"], "popularity_ratio"].isna().all()


def test_a_full_table_at_a_smaller_dimension_sits_at_its_bytes_ratio(made_up: Path) -> None:
    data = prepare(records(made_up, "floors"))
    small = data[data["method"] == "full d=4"]
    assert len(small) == 3 and small["reduced_dim"].all() and not small["is_baseline"].any()
    assert (small["compression"] == 0.25).all()  # 3,840 of the baseline's 15,360 bytes: no compression ratio
    assert set(data.loc[data["is_baseline"], "method"]) == {"full"}  # the largest dimension is the baseline
    assert small["accuracy_ratio"].to_numpy() == pytest.approx([mrr(0.07, s) / mrr(0.1, s) for s in SEEDS])
    # Without variant labels both full tables are "full": the smaller one is named apart.
    unlabelled = prepare(records(made_up, "floors").drop(columns="variant"))
    assert set(unlabelled.loc[unlabelled["reduced_dim"], "method"]) == {"full (smaller dim)"}


# ------------------------------------------------------------------------------------------------ tables


def test_accuracy_table_carries_popularity_ratios_and_flags_what_is_below_it(made_up: Path) -> None:
    table = accuracy_table(records(made_up, "floors"))
    assert not set(table["method"]) & {"popularity", "random"}  # floors are not rows
    row = table[(table["method"] == "hashing trick") & (table["compression"] == 0.25)].iloc[0]
    ratios = [mrr(0.030, s) / popularity(s) for s in SEEDS]
    assert row["popularity_ratio_mean"] == pytest.approx(np.mean(ratios))
    assert (row["popularity_ratio_ci_low"], row["popularity_ratio_ci_high"]) == pytest.approx(interval(ratios))
    assert row["popularity_test.mrr"] == pytest.approx(0.050) and row["popularity_seed_matched"] == 3
    flagged = table[table[BELOW_POPULARITY]]
    assert list(zip(flagged["method"], flagged["compression"])) == [("hashing trick", 0.25)]
    # The page marks the row, and its flag cell.
    view = table_view(table, flag=BELOW_POPULARITY)
    assert view.flagged == list(table[BELOW_POPULARITY])
    position = view.columns.index(BELOW_POPULARITY)
    assert [row[position] for row in view.rows].count(FLAG_MARK) == 1


def test_results_without_floors_keep_their_table(made_up: Path) -> None:
    table = accuracy_table(records(made_up, "old"))
    assert not any("popularity" in c for c in table.columns) and len(table) == 5
    assert floors_table(records(made_up, "old")).empty


def test_floors_table_holds_both_floors_with_intervals(made_up: Path) -> None:
    table = floors_table(records(made_up, "floors"))
    assert list(table["floor"]) == ["popularity", "random"]
    values = [popularity(s) for s in SEEDS]
    row = table.iloc[0]
    assert row["test.mrr_mean"] == pytest.approx(np.mean(values)) and row["trials"] == 3
    assert (row["test.mrr_ci_low"], row["test.mrr_ci_high"]) == pytest.approx(interval(values))
    ratios = [popularity(s) / mrr(0.1, s) for s in SEEDS]
    assert (row["accuracy_ratio_ci_low"], row["accuracy_ratio_ci_high"]) == pytest.approx(interval(ratios))


def test_failures_table_lists_only_failed_trials(made_up: Path, tmp_path: Path) -> None:
    # All ok: no row (it used to list every trial as a blank row).
    assert failures_table(records(made_up, "old")).empty
    store = ResultStore(tmp_path, "mixed")
    for r in report_records.methods("mixed")[:3]:
        store.append(r)
    store.append(report_records.record("mixed", "broken", 0, 0.0, status="failed"))
    failed = failures_table(records(tmp_path, "mixed"))
    assert list(failed["variant"]) == ["broken"] and list(failed["phase"]) == ["final"]
    assert list(failed["error"]) == ["RuntimeError: made up"]


# ------------------------------------------------------------------------------------------------ frontier, hash tests


def test_pareto_mask_keeps_what_nothing_smaller_beats() -> None:
    size = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    value = np.array([0.1, 0.3, 0.2, 0.25, 0.4])
    assert list(pareto_mask(size, value)) == [True, True, False, False, True]
    assert list(pareto_mask(size, -value, higher=False)) == [True, True, False, False, True]  # an error metric
    assert list(pareto_mask(np.array([1.0, 2.0]), np.array([0.2, 0.2]))) == [True, False]  # a tie: the smaller


def test_frontier_table_marks_the_best_setting_per_budget(made_up: Path) -> None:
    table = frontier_table(records(made_up, "floors"))
    on = table[table["on_frontier"]]
    # The hashing trick at 0.25 has the bytes of full d=4 and less accuracy; at 0.5 Bloom at 0.25 beats it.
    assert list(zip(on["method"], on["compression"])) == [("full d=4", 0.25), ("bloom k=2", 0.25),
                                                            ("bloom k=2", 0.5), ("full", 1.0)]
    assert not table.loc[table["method"] == "hashing trick", "on_frontier"].any()


def test_hash_tests_are_scipys_paired_t_tests_holm_adjusted(made_up: Path) -> None:
    raw = records(made_up, "hashes")
    table = hash_test_table(raw)
    assert set(table["hash"]) == {"murmur3", "multiplicative"} and (table["pairs"] == 3).all()
    data = prepare(raw)
    for row in table.itertuples():
        trials = data[(data["compression"] == row.compression) & ~data["is_floor"]].set_index("seed_key")
        family = trials[trials["hash"] == row.hash]["accuracy"]
        ideal = trials[trials["hash"] == "random"]["accuracy"].reindex(family.index)
        result = stats.ttest_rel(family, ideal)
        assert row.p == pytest.approx(result.pvalue) and row.t == pytest.approx(result.statistic)
        assert row.difference_mean == pytest.approx((family - ideal).mean())
    for _, group in table.groupby("compression"):
        assert group["p_holm"].to_numpy() == pytest.approx(holm(group["p"].to_numpy()))
    assert list(table.loc[table["differs"], "hash"]) == ["multiplicative", "multiplicative"]
    assert holm(np.array([0.01, 0.04, np.nan, 0.03])) == pytest.approx([0.03, 0.06, np.nan, 0.06], nan_ok=True)
    overlap = family_overlap(data)
    assert not overlap["overlap"].any() and set(overlap["lowest_high"]) == {"multiplicative"}
    # Without the ideal family there is nothing to pair against.
    assert hash_tests(data[data["hash"] != "random"]).empty


# ------------------------------------------------------------------------------------------------ figures


def bands(ax) -> list[tuple[float, float]]:
    """(low, high) of the horizontal bands drawn with axhspan."""
    spans = [p for p in ax.patches if isinstance(p, Rectangle)]
    return sorted((p.get_y(), p.get_y() + p.get_height()) for p in spans)


def test_accuracy_figures_draw_the_floors_as_bands_not_as_series(made_up: Path) -> None:
    data = prepare(records(made_up, "floors"))
    table = floors_table(records(made_up, "floors")).set_index("floor")
    fig, how = accuracy_ratio_figure(data)
    ax = fig.axes[0]
    expected = sorted((table.at[f, "accuracy_ratio_ci_low"], table.at[f, "accuracy_ratio_ci_high"])
                      for f in ("popularity", "random"))
    assert np.ravel(bands(ax)) == pytest.approx(np.ravel(expected))
    assert "popularity floor" in [t.get_text() for t in ax.texts] and "Bands: the popularity and random" in how
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "popularity floor (mean, 95% CI)" in labels and "popularity" not in labels  # a band, not a method
    xs = {round(x, 6) for line in ax.lines for x in np.atleast_1d(line.get_xdata()) if np.isfinite(x)}
    assert xs <= {0.25, 0.5, 0.0, 1.0}  # series at the compressions; floors span the axes (0..1 in axes units)
    fig, how = accuracy_vs_bytes_figure(data)
    raw_bands = sorted((table.at[f, "test.mrr_ci_low"], table.at[f, "test.mrr_ci_high"]) for f in table.index)
    assert np.ravel(bands(fig.axes[0])) == pytest.approx(np.ravel(raw_bands))


def test_accuracy_vs_bytes_draws_the_pareto_frontier(made_up: Path) -> None:
    raw = records(made_up, "floors")
    fig, how = accuracy_vs_bytes_figure(prepare(raw))
    table = frontier_table(raw)
    on = table[table["on_frontier"]]
    steps = [line for line in fig.axes[0].lines if line.get_drawstyle() == "steps-post"]
    assert len(steps) == 1 and "Pareto frontier" in how
    np.testing.assert_allclose(steps[0].get_xdata(), on["embedding_bytes"])
    np.testing.assert_allclose(steps[0].get_ydata(), on["accuracy_mean"])


def test_axis_and_legend_follow_what_the_experiment_compresses(made_up: Path) -> None:
    fig, _ = accuracy_ratio_figure(prepare(records(made_up, "paper")))
    assert fig.axes[0].get_xlabel() == "m/d (bits of the code ÷ items)"
    assert "baseline: identity encoding (m = d)" in [t.get_text() for t in fig.legends[0].get_texts()]
    fig, _ = accuracy_ratio_figure(prepare(records(made_up, "floors")))
    assert fig.axes[0].get_xlabel().startswith("compression ratio\n(rows of the compressed table")
    assert "baseline: full table" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_many_hash_families_colour_the_ideal_best_and_worst_only(tmp_path: Path) -> None:
    families = {name: (shift, {0: 0.0, 1: 0.001 * i, 2: -0.001 * i}) for i, (name, shift) in
                enumerate({"random": 0.0, "a": 0.004, "b": 0.002, "c": -0.002, "d": -0.004, "e": -0.01}.items())}
    store = ResultStore(tmp_path, "many")
    for r in report_records.hash_families("many", families):
        store.append(r)
    data = prepare(records(tmp_path, "many"))
    fig, how = accuracy_ratio_figure(data)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:3] == ["random (ideal hashing)", "a (best mean)", "e (worst mean)"]
    assert "other families (3), no bars" in labels
    greys = [line for line in fig.axes[0].lines if line.get_color() == OTHER_COLOUR]
    assert len(greys) == 3 and "grey: the other 3 families" in how
    fig, how = accuracy_vs_bytes_figure(data)  # a series per family there too
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:4] == ["full", "bloom k=2 (hash=random) (ideal hashing)", "bloom k=2 (hash=a) (best mean)",
                          "bloom k=2 (hash=e) (worst mean)"]
    assert len([line for line in fig.axes[0].lines if line.get_color() == OTHER_COLOUR]) == 3


def test_hash_family_figure_bands_and_marks_the_ideal_family(made_up: Path) -> None:
    fig, how = hash_family_figure(prepare(records(made_up, "hashes")))
    bold = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_fontweight() == "bold"]
    assert bold == ["random"] and "In bold: random" in how and len(bands(fig.axes[0])) == 2


# ------------------------------------------------------------------------------------------------ findings, page


def png_text(path: Path) -> dict[str, str]:
    """The tEXt/iTXt chunks of a PNG."""
    data, offset, found = path.read_bytes(), 8, {}
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            found[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            flag, rest = rest[0], rest[2:]
            text = rest.split(b"\0", 2)[2]
            found[key.decode("latin-1")] = (zlib.decompress(text) if flag else text).decode("utf-8")
        offset += 12 + length
    return found


def test_findings_state_the_numbers_of_the_tables(made_up: Path) -> None:
    raw = records(made_up, "floors")
    found = {f.topic: f for f in findings(prepare(raw), {"fig-accuracy_ratio": "#r", "accuracy": "#t"})}
    assert list(found) == ["Floors", "Accuracy kept", "Below the popularity floor", "Best at each memory budget",
                           "Speed"]
    row = accuracy_table(raw).set_index(["method", "compression"]).loc[("hashing trick", 0.25)]
    below = found["Below the popularity floor"]
    assert below.flagged and below.href == "#t" and below.link_text == "table"
    assert below.items == [f"hashing trick at compression 0.25: test.mrr {row['test.mrr_mean']:.3g} "
                           f"[{row['test.mrr_ci_low']:.3g}, {row['test.mrr_ci_high']:.3g}] against popularity's "
                           f"{row['popularity_test.mrr']:.3g}, {row['popularity_ratio_mean']:.3g}× popularity "
                           f"[{row['popularity_ratio_ci_low']:.3g}, {row['popularity_ratio_ci_high']:.3g}]."]
    steps = found["Best at each memory budget"].items
    assert [s.split(":")[0] for s in steps] == ["From 3.84 kB", "From 4.8 kB", "From 8.64 kB", "From 15.4 kB"]
    assert steps[0].startswith("From 3.84 kB: full d=4 (bytes ratio 0.25), test.mrr 0.07 [")
    assert any(i.startswith("full d=4 — bytes ratio 0.25: 0.5× ") for i in found["Speed"].items)
    old = {f.topic: f for f in findings(prepare(records(made_up, "old")), {})}
    assert old["Floors"].lead.startswith("No popularity or random floor was recorded")
    assert "Below the popularity floor" not in old


def test_a_spec_explanation_turns_the_below_floor_flag_into_an_explained_finding(made_up: Path,
                                                                                 tmp_path: Path) -> None:
    from bloombench.experiments.spec import SpecError, parse_spec
    from bloombench.report.provenance import spec_explanations

    spec = tmp_path / "spec.toml"
    spec.write_text('name = "floors"\n[explanations]\nbelow_popularity = """The users share\n  rows."""\n')
    text = spec_explanations([tmp_path / "notes.md", spec])
    assert text == {"below_popularity": "The users share rows."}
    found = {f.topic: f for f in findings(prepare(records(made_up, "floors")), {}, text)}
    explained = found["Below the popularity floor (explained)"]
    assert not explained.flagged and explained.items[-1] == "Explanation (the spec's [explanations]): The users share rows."
    assert explained.items[0].startswith("hashing trick at compression 0.25")  # the settings are still listed
    assert spec_explanations([tmp_path / "missing.toml"]) == {}
    with pytest.raises(SpecError, match=r"explanations: must map findings \['below_popularity'\]"):
        parse_spec(TINY_SPEC.replace('name = "t"', 'name = "t"\n[explanations]\nabove = "x"'))


def test_a_method_without_a_compression_ratio_below_the_floor_is_listed(tmp_path: Path) -> None:
    made = report_records.methods("x") + report_records.floors("x") + [
        report_records.record("x", "int8 rows", seed, 0.040, method="int8", params={}, embedding_bytes=4000)
        for seed in SEEDS]
    store = ResultStore(tmp_path, "x")
    for r in made:
        store.append(r)
    found = {f.topic: f for f in findings(prepare(records(tmp_path, "x")), {})}
    assert any(item.startswith("int8 rows") for item in found["Below the popularity floor"].items)


def test_the_sequence_floors_are_the_same_two_floors(tmp_path: Path) -> None:
    made = report_records.methods("s") + report_records.floors("s")
    store = ResultStore(tmp_path, "s")
    for r in made:
        if r["config"]["model"]["kind"] in ("popularity", "random"):
            r["config"]["model"]["kind"] = "sequence-" + r["config"]["model"]["kind"]
        store.append(r)
    data = prepare(records(tmp_path, "s"))
    assert sorted(set(data.loc[data["is_floor"], "floor"])) == ["popularity", "random"]
    same = prepare(records(made_up_root(tmp_path), "floors"))
    assert np.allclose(data.loc[~data["is_floor"], "popularity_ratio"].astype(float).sort_values().to_numpy(),
                       same.loc[~same["is_floor"], "popularity_ratio"].astype(float).sort_values().to_numpy())


def made_up_root(tmp_path: Path) -> Path:
    return report_records.write(tmp_path / "made-up")


TINY_SPEC = """name = "t"
[base]
dataset = { name = "synthetic" }
[[variants]]
label = "full"
baseline = true
embedding = { method = "full" }
"""


def test_hash_findings_answer_with_the_paired_tests(made_up: Path) -> None:
    found = {f.topic: f for f in findings(prepare(records(made_up, "hashes")), {"fig-hash_families": "#h"})}
    answer = found["Does the hash family matter?"]
    assert answer.lead == ("Yes: a family differed from ideal hashing (paired t-test, Holm-adjusted) at "
                           "compression 0.25 (multiplicative); compression 0.5 (multiplicative).")
    assert answer.href == "#h" and answer.link_text == "figure"
    assert any("do not all overlap: murmur3's lies above multiplicative's" in i for i in answer.items)


def test_page_opens_with_findings_that_link_what_the_page_holds(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert html.index('id="findings"') < html.index('id="contents"') < html.index("<main>")
    ids = set(re.findall(r'id="([^"]+)"', html))
    findings_html = html[html.index('id="findings"'):html.index('id="contents"')]
    targets = re.findall(r'class="see" href="#([^"]+)"', findings_html)
    assert len(targets) >= 15 and set(targets) <= ids
    assert 'class="finding flagged"' in findings_html and "a result to explain before trusting" in findings_html
    assert html.count('<tr class="flagged">') == 1 and FLAG_MARK in html
    assert "No popularity or random floor was recorded for this experiment" in findings_html  # old results


def test_page_shows_each_caption_once_and_notes_absent_figures_neutrally(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    out = page.parent
    for png in out.glob("figures/*/*.png"):
        caption = png_text(png)["Description"]
        assert html.count(caption.replace("'", "&#39;")) == 1  # in the figcaption, not also drawn in the image
    assert "Other figures of the report, which this experiment's records do not call for:" in html
    assert 'class="absent"' not in html and "#7a4b00" not in html
    assert "m/d (bits of the code ÷ items)" not in html  # an axis label lives in the figure only
    assert (out / "tables" / "floors" / "floors.csv").is_file()
    assert (out / "tables" / "hashes" / "hash_tests.md").is_file()


# ------------------------------------------------------------------------------------------------ regimes


def test_the_regime_figures_keep_each_regime_apart_with_its_own_floors(made_up: Path) -> None:
    from bloombench.theory import bloom_fill

    data = prepare(records(made_up, "regime"))
    with pytest.raises(FigureAbsent, match=r"span 2 datasets"):  # one pooled curve would mix the regimes
        accuracy_ratio_figure(data)
    fig, _ = regime_panels_figure(data)
    shown = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in shown] == ["d = 1,000, c = 10", "d = 1,000, c = 50"]
    for ax, ((_, _), (means, popularity)) in zip(shown, report_records.REGIMES.items()):
        curve = [line for line in ax.get_lines() if len(line.get_xdata()) == 2]
        baseline = {s: mrr(0.100, s) for s in SEEDS}  # each trial is divided by its seed's baseline
        assert np.allclose(curve[0].get_ydata(), [np.mean([m / baseline[s] for s in SEEDS]) for m in means])
        # the regime's own popularity floor (mean over its seeds of the paired ratio) is drawn there
        floor = np.mean([(popularity + 0.4 * NOISE[s]) / baseline[s] for s in SEEDS])
        levels = [float(line.get_ydata()[0]) for line in ax.get_lines() if len(set(line.get_ydata())) == 1]
        assert any(abs(level - floor) < 1e-9 for level in levels)
    fig, _ = regime_fill_figure(data)
    fills = sorted({round(float(x), 9) for line in fig.axes[1].get_lines() for x in line.get_xdata()} - {0.0, 1.0})
    expected = sorted({round(bloom_fill(2, c * 0.5, ratio * d), 9) for d, c in report_records.REGIMES
                       for ratio in (0.1, 0.5)})
    assert fills == expected
    # The findings never pool the regimes either: each has its floors and its own below-floor list.
    topics = [f.topic for f in findings(data, {})]
    for history in (10, 50):
        assert f"Floors — mean_history {history}" in topics
    below = {f.topic: f for f in findings(data, {}) if f.topic.startswith("Below")}
    # c = 50: Bloom (0.020 at m/d 0.1, 0.040 at 0.5) against its regime's popularity 0.015 -> nothing below
    assert below["Below the popularity floor — mean_history 50"].lead.startswith("No method setting")


@pytest.mark.parametrize(("code_floor", "explained"), [(0.020, True), (0.045, False)])
def test_a_method_above_its_own_codes_popularity_is_explained_by_the_results(tmp_path: Path, code_floor: float,
                                                                             explained: bool) -> None:
    made = report_records.encodings("e")  # Bloom at m/d 0.1 scores 0.060; popularity 0.050 -> lift it below
    for r in made:
        if r["variant"] == "bloom k=4" and r["config"]["encoding"]["params"]["compression_ratio"] == 0.1:
            r["test"]["mrr"] -= 0.030
    made += [report_records.record("e", "bloom k=4 (coded popularity)", seed, code_floor, kind="coded-popularity",
                                   method="bloom", section="encoding", dim=None, embedding_bytes=0, seconds=None,
                                   params={"compression_ratio": ratio, "num_hashes": 4})
             for seed in SEEDS for ratio in (0.1, 0.5)]
    store = ResultStore(tmp_path, "e")
    for r in made:
        store.append(r)
    data = prepare(records(tmp_path, "e"))
    assert not data.loc[data["is_code_floor"], "method"].isin(accuracy_table(records(tmp_path, "e"))["method"]).any()
    bloom = data[data["method"].eq("bloom k=4") & data["compression"].eq(0.1)]
    paired = data[data["is_code_floor"] & data["compression"].eq(0.1)].set_index("seed_key")["accuracy"]
    np.testing.assert_allclose(bloom["code_floor_ratio"], bloom["accuracy"].to_numpy() / paired[bloom["seed_key"]])
    assert data.loc[data["method"].eq("identity (m = d)"), "code_floor_ratio"].isna().all()  # no identity floor
    found = {f.topic: f for f in findings(data, {})}
    topic = "Below the popularity floor" + (" (explained)" if explained else "")
    finding = found[topic]
    assert finding.flagged is not explained and len(finding.items) == 1
    assert f"Popularity decoded through its own code scores {code_floor:.3g}" in finding.items[0]
    assert finding.items[0].endswith("not the training's." if explained else "below what its code allows.")
