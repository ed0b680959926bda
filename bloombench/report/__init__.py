"""The report: figures, tables and a static HTML page built from results files only.

``build_report(results_dir, out_dir)`` reads ``<results_dir>/<experiment>/trials.jsonl`` and writes
``<out_dir>/index.html``, ``figures/<experiment>/*.png`` and ``tables/<experiment>/*.csv|md``; the
modules behind it: :mod:`~bloombench.report.prepare` (records → analysis columns, floors, baselines),
:mod:`~bloombench.report.stats` (the one interval estimator), :mod:`~bloombench.report.compare` (floors,
Pareto frontier, hash-family tests), :mod:`~bloombench.report.tables`, :mod:`~bloombench.report.figures`
(drawn with :mod:`~bloombench.report.plotting`; the open-vocabulary stream's per-window figures in
:mod:`~bloombench.report.stream_figures`), :mod:`~bloombench.report.findings` (the page's sentences),
:mod:`~bloombench.report.provenance` and :mod:`~bloombench.report.html`.
It reads records through :mod:`bloombench.results` only and never imports torch or the trial runner.
"""

from bloombench.report.build import build_report

__all__ = ["build_report"]
