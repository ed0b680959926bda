"""The report: figures, tables and a static HTML page built from results files only.

``build_report(results_dir, out_dir)`` reads ``<results_dir>/<experiment>/trials.jsonl`` and writes
``<out_dir>/index.html``, ``figures/<experiment>/*.png`` and ``tables/<experiment>/*.csv|md``; the
modules behind it: :mod:`~bloombench.report.prepare` (records → analysis columns),
:mod:`~bloombench.report.stats` (the one interval estimator), :mod:`~bloombench.report.tables`,
:mod:`~bloombench.report.figures`, :mod:`~bloombench.report.provenance` and :mod:`~bloombench.report.html`.
It reads records through :mod:`bloombench.results` only and never imports torch or the trial runner.
"""

from bloombench.report.build import build_report

__all__ = ["build_report"]
