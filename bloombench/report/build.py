"""``build_report``: results files in, ``reports/index.html`` with its figures and tables out.

Reads ``<results_dir>/<experiment>/trials.jsonl`` (through :func:`bloombench.results.load_results`)
and the spec files beside it, nothing else: it never trains and never inspects the machine it runs on
(the machine and environment shown are those the records name). The page opens with the Findings of every
experiment (:mod:`bloombench.report.findings`), then each experiment's figures and tables. The same results
give the same files: experiments, rows and legends are sorted, figures carry no timestamp, and output files
a previous build left under ``figures/``, ``tables/`` and ``specs/`` that this build did not write are
removed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bloombench.report.figures import render_figures
from bloombench.report.findings import findings
from bloombench.report.html import TableView, anchor_ids, relative_href, render_page, table_view
from bloombench.report.prepare import phases, prepare
from bloombench.report.provenance import (
    config_table,
    context_description,
    environment_table,
    machine_description,
    spec_description,
    spec_explanations,
    spec_files,
)
from bloombench.report.stats import CONFIDENCE
from bloombench.report.tables import (
    BELOW_POPULARITY,
    accuracy_table,
    collision_table,
    failures_table,
    floors_table,
    frontier_table,
    hash_table,
    hash_test_table,
    search_table,
    speed_table,
    stream_table,
    write_table,
)
from bloombench.results import FINAL, OK, SEARCH, STATUS, TRIALS_FILE, load_results

__all__ = ["RESULT_TABLES", "build_report"]

_CI = f"{CONFIDENCE:.0%} Student-t interval over seeds"
_OUTPUTS = ("figures", "tables", "specs")  # the sub-folders of out_dir this module owns

#: Result tables of an experiment section: (file stem, title, what it holds, function of the records).
RESULT_TABLES: tuple[tuple[str, str, str, Callable[[pd.DataFrame], pd.DataFrame]], ...] = (
    ("accuracy", "Accuracy, bytes and time per method and compression",
     f"Final trials. Mean and {_CI} of the accuracy and of its per-seed ratios to the baseline (accuracy_ratio) "
     "and, where the records hold a popularity floor, to the floor (popularity_ratio; popularity_<metric>: the "
     f"floor's value). {BELOW_POPULARITY} (▼, the row highlighted): the mean accuracy is below the floor's, a "
     "result to explain before trusting it. Median embedding bytes and seconds per epoch; seed_matched and "
     "popularity_seed_matched count the trials divided by the trial with the same seeds (the others by the "
     "mean). A full table at a smaller embedding dimension sits at its bytes ratio.", accuracy_table),
    ("floors", "Popularity and random floors",
     f"Final trials of the floor models. Mean and {_CI} of the accuracy and of its per-seed ratio to the "
     "baseline: what a method must beat.", floors_table),
    ("frontier", "Pareto frontier of accuracy vs embedding bytes",
     f"Every method setting by its median embedding bytes, mean and {_CI} of the accuracy; on_frontier: no "
     "setting with as many or fewer bytes has a better mean.", frontier_table),
    ("speed", "Seconds per epoch per table size",
     f"Final trials. Mean and {_CI} of the median seconds per epoch, and of its ratio to the full table of "
     "the same size.", speed_table),
    ("stream", "Stream: memory, throughput and accuracy of new and returning users",
     f"Final trials of a stream. Medians of the user table's bytes at the end and at its peak, of the users seen, "
     "of one float row per user seen (full_table_bytes_final: what any growing table needs at least) and of the "
     f"ids evicted; mean and {_CI} of training events per second, of events per second of the whole pass "
     "(events_per_second_wall: generation and prequential ranking included) and of the test MRR over all, new "
     "and returning users.", stream_table),
    ("hash_families", "Accuracy ratio per hash family",
     f"Final compressed trials. Mean and {_CI}; best family first at each compression ratio.", hash_table),
    ("hash_tests", "Hash families against ideal hashing",
     "Paired t-test (scipy.stats.ttest_rel, per seed) of each family's accuracy against the random family's at "
     f"the same method and compression; difference: family minus random, mean and {_CI}; p_holm: Holm-adjusted "
     "over the families; differs: p_holm < 0.05.", hash_test_table),
    ("collisions", "Collision diagnostics",
     "Means over the trials of each group; expected_*: the value under uniform independent hashing.",
     collision_table),
)
#: Tables whose boolean column flags a row on the page.
_FLAGS = {"accuracy": BELOW_POPULARITY}


@dataclass(frozen=True)
class _Table:
    """A table on the page: where it is, what it says, and its files."""

    id: str
    title: str
    note: str
    view: TableView
    csv: str
    md: str


def _table(table: pd.DataFrame, name: str, title: str, note: str, folder: Path, page_dir: Path, anchor: str,
           written: set[Path]) -> _Table:
    paths = write_table(table, folder, name)
    written.update(paths.values())
    # The section names the experiment: its column stays in the files only.
    view = table_view(table.drop(columns="experiment", errors="ignore"), flag=_FLAGS.get(name))
    return _Table(f"{anchor}-{name}", title, note, view, relative_href(paths["csv"], page_dir),
                  relative_href(paths["md"], page_dir))


def _specs(results_dir: Path, experiment: str, folder: Path, page_dir: Path, written: set[Path]) -> list[dict]:
    """Copy the experiment's spec files beside the page; their text, shown verbatim."""
    shown = []
    for path in spec_files(results_dir, experiment):
        target = folder / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.add(target)
        shown.append({"name": path.name, "href": relative_href(target, page_dir),
                      "text": path.read_text(encoding="utf-8", errors="replace")})
    return shown


def _section(results_dir: Path, experiment: str, anchor: str, out: Path, written: set[Path]) -> dict:
    """Everything the page shows for one experiment (writing its figures, tables and spec copies)."""
    records = load_results(results_dir, experiment)
    if not records.empty:
        records = records.assign(experiment=experiment)  # the folder names the experiment
    tables_dir = out / "tables" / experiment
    final = prepare(records)
    figures = []
    for result in render_figures(final, out / "figures" / experiment):
        if result.path is not None:
            written.add(result.path)
        figures.append({"name": result.name, "title": result.title, "reason": result.reason,
                        "caption": result.caption, "id": f"{anchor}-fig-{result.name}",
                        "src": relative_href(result.path, out) if result.path else None})
    # What the findings may link: the drawn figures and the tables with rows.
    links = {f"fig-{f['name']}": f"#{f['id']}" for f in figures if f["src"]}
    tables, absent = [], []
    for name, title, note, make in RESULT_TABLES:
        table = make(records)
        if table.empty:
            absent.append(title)
        else:
            tables.append(_table(table, name, title, note, tables_dir, out, anchor, written))
            links[name] = f"#{tables[-1].id}"
    search, failures = search_table(records), failures_table(records)
    phase = phases(records) if not records.empty else pd.Series(dtype=object)
    status = records[STATUS] if STATUS in records.columns else pd.Series(OK, index=records.index)
    specs = _specs(results_dir, experiment, out / "specs" / experiment, out, written)
    return {
        "name": experiment, "id": anchor,
        "description": spec_description([results_dir / experiment / s["name"] for s in specs]),
        "context": context_description(final) if not final.empty else "no successful final trial",
        "machine": machine_description(records),
        "counts": {"final": int(((phase == FINAL) & (status == OK)).sum()),
                   "search": int(((phase == SEARCH) & (status == OK)).sum()),
                   "failed": int((status != OK).sum())},
        "figures": figures, "tables": tables, "absent_tables": absent,
        "findings": findings(final, links, spec_explanations([results_dir / experiment / s["name"] for s in specs])),
        "search": _table(search, "search", "Hyperparameter search", "Search trials (ok): the settings that vary, "
                         "the validation metric, and the configuration carried into the final trials.",
                         tables_dir, out, anchor, written) if not search.empty else None,
        "failures": _table(failures, "failures", "Failed trials", "Every trial not recorded ok, in file order.",
                           tables_dir, out, anchor, written) if not failures.empty else None,
        "specs": specs,
        "config": _table(config_table(records), "config", "Configuration",
                         "Every config setting of the records: its value, or the values it takes.",
                         tables_dir, out, anchor, written),
        "environment": _table(environment_table(records), "environment", "Environment",
                              "Machine, device, versions and commit as the records name them, with trial counts.",
                              tables_dir, out, anchor, written),
    }


def _prune(out: Path, written: set[Path]) -> None:
    """Remove files under the owned sub-folders that this build did not write (a stale figure or table)."""
    keep = {p.resolve() for p in written}
    for sub in _OUTPUTS:
        root = out / sub
        if not root.is_dir():
            continue
        for folder, _, files in sorted(os.walk(root, topdown=False)):
            for name in files:
                path = Path(folder) / name
                if path.resolve() not in keep:
                    path.unlink()
            if not any(Path(folder).iterdir()):
                Path(folder).rmdir()


def build_report(results_dir: str | os.PathLike[str] = "results", out_dir: str | os.PathLike[str] = "reports",
                 asv_html_dir: str | os.PathLike[str] | None = None) -> Path:
    """Render the report of every experiment under ``results_dir`` into ``out_dir``.

    Parameters
    ----------
    results_dir : path, default "results"
        Root of the results tree: ``<results_dir>/<experiment>/trials.jsonl`` (+ spec files).
    out_dir : path, default "reports"
        Receives ``index.html``, ``figures/<experiment>/*.png``, ``tables/<experiment>/*.csv|md`` and
        ``specs/<experiment>/*``. Other content (``asv/``) is left alone.
    asv_html_dir : path, optional
        The asv HTML (``asv publish``); default ``<out_dir>/asv``. The page links its ``index.html`` only
        when that file exists.

    Returns
    -------
    Path
        The written ``index.html``.

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        When ``results_dir`` does not exist or is not a folder.
    """
    results = Path(results_dir)
    if not results.exists():
        raise FileNotFoundError(f"results_dir {str(results)!r} does not exist: run the experiments first "
                                "(bloombench reproduce) or pass the folder that holds <experiment>/trials.jsonl")
    if not results.is_dir():
        raise NotADirectoryError(f"results_dir {str(results)!r} is not a folder")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    asv_index = (Path(asv_html_dir) if asv_html_dir is not None else out / "asv") / "index.html"
    experiments = sorted(p.parent.name for p in results.glob(f"*/{TRIALS_FILE}"))
    anchors = anchor_ids(experiments)
    written: set[Path] = set()
    sections = [_section(results, name, anchors[name], out, written) for name in experiments]
    _prune(out, written)
    page = out / "index.html"
    html = render_page({
        "title": "bloombench report",
        "sections": sections,
        "asv_href": relative_href(asv_index, out) if asv_index.is_file() else None,
        "trials": sum(sum(s["counts"].values()) for s in sections),
    })
    page.write_text(html, encoding="utf-8")
    return page
