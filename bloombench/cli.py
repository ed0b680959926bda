"""Command line: ``bloombench train``, ``run``, ``reproduce``, ``report``, ``specs``, ``datasets``, ``asv-pages``.

A thin argparse front over :mod:`bloombench.experiments` and :mod:`bloombench.data`; every number it
prints comes from those modules. Heavy modules (torch, the experiments) are imported inside the
subcommand that needs them, so ``bloombench --help`` and ``bloombench report`` start fast. Every error
is one line naming what to change, with a non-zero exit status; ``--debug`` (or ``BLOOMBENCH_DEBUG=1``)
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from bloombench.cli_train import add_train_arguments, flag_hint, positive_int, train_config

__all__ = ["main"]


def _cmd_train(args: argparse.Namespace) -> int:
    from bloombench.experiments.trial import check_config, run_trial

    config = train_config(args)
    try:
        check_config(config)  # refuse a bad method argument before loading data
    except (TypeError, ValueError) as error:
        raise type(error)(flag_hint(str(error))) from None
    record = run_trial(config)
    json.dump(record, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from bloombench.data import available_datasets, dataset_statistics, load_dataset

    rows = available_datasets(args.data_dir)
    for row in rows:
        if args.stats and row.get("present"):
            row["statistics"] = dataset_statistics(load_dataset(str(row["name"]), data_dir=args.data_dir,
                                                                download=False, progress=False))
    json.dump(rows, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


def _executor(args: argparse.Namespace) -> Any:
    from bloombench.experiments.executors import make_executor

    return make_executor(workers=args.workers, scheduler=args.scheduler, dask_local=args.dask_local)


def _cmd_run(args: argparse.Namespace) -> int:
    from bloombench.experiments.spec import load_spec
    from bloombench.experiments.sweep import run_experiment

    spec = load_spec(args.spec, args.profile or ())
    args.interrupted_note = (f"the trials recorded so far are kept in {args.results_dir}/{spec.experiment}/"
                             "trials.jsonl; rerun the same command to resume")
    with _executor(args) as executor:
        outcome = run_experiment(spec, results_dir=args.results_dir, executor=executor, data_dir=args.data_dir,
                                 progress=not args.no_progress)
    print(f"{outcome.summary()}; records in {args.results_dir}/{outcome.experiment}/trials.jsonl")
    return 1 if outcome.failed else 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from bloombench.experiments.reproduce import reproduce

    args.interrupted_note = (f"the trials recorded so far are kept under {args.results_dir}/; rerun the same "
                             "command to resume")
    with _executor(args) as executor:
        return reproduce(profile=args.profile, results_dir=args.results_dir,
                         reports_dir=None if args.no_report else args.reports_dir, data_dir=args.data_dir,
                         executor=executor, progress=not args.no_progress)


def _cmd_report(args: argparse.Namespace) -> int:
    from bloombench.report import build_report

    print(build_report(results_dir=args.results_dir, out_dir=args.out, asv_html_dir=args.asv_html))
    return 0


def _cmd_asv_pages(args: argparse.Namespace) -> int:
    from bloombench.asv_pages import vendor_asv_assets

    rewrites = vendor_asv_assets(args.html, args.node_modules, manifest=args.manifest)
    pages = sorted({str(rewrite.page) for rewrite in rewrites})
    if rewrites:
        print(f"{len(rewrites)} remote assets in {', '.join(pages)} now load from {args.html}/vendor/")
    else:
        print(f"{args.html}: no remote script or stylesheet, nothing to do")
    return 0


def _cmd_specs(args: argparse.Namespace) -> int:
    import textwrap

    from bloombench.experiments.spec import available_specs, load_spec

    for name in available_specs():
        spec = load_spec(name)
        print(f"{name}  (profiles: {', '.join(spec.available_profiles) or 'none'})")
        print(textwrap.indent(textwrap.fill(" ".join(spec.description.split()), 100), "    "))
    return 0


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``run`` and ``reproduce``: where results go and where trials execute."""
    parser.add_argument("--results-dir", default="results", help="root of the results tree (default: %(default)s)")
    parser.add_argument("--data-dir", default=None, help="data directory (default: $BLOOMBENCH_DATA or the cache)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=1, metavar="N",
                       help="run trials in N local processes (default: 1, in this process)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="submit trials to the Dask scheduler at ADDRESS, e.g. tcp://127.0.0.1:8786 (default: none)")
    where.add_argument("--dask-local", type=positive_int, default=None, metavar="N",
                       help="start a local Dask cluster of N worker processes (default: none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown)")


class _Parser(argparse.ArgumentParser):
    """argparse, suggesting the closest flag for a mistyped one."""

    def suggest(self, extras: Sequence[str]) -> str:
        """``unrecognized arguments`` with a "did you mean" for each unknown flag that has a close match."""
        known = [o for action in self._actions for o in action.option_strings]
        hints = []
        for token in extras:
            name = token.split("=", 1)[0]
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6) if name.startswith("-") else []
            hints.append(f"{token} (did you mean {close[0]}?)" if close else token)
        return f"unrecognized arguments: {' '.join(hints)}"


def _parser() -> tuple[_Parser, dict[str, _Parser]]:
    parser = _Parser(prog="bloombench", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (also BLOOMBENCH_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands: dict[str, _Parser] = {}

    def command(name: str, help: str) -> _Parser:
        commands[name] = sub.add_parser(name, help=help, description=help)
        # --debug after the command too (SUPPRESS: an absent one keeps the top-level value)
        commands[name].add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                    help="show the traceback of an error")
        return commands[name]

    train = command("train", "train and evaluate one model of any kind; prints metrics and timings as JSON")
    add_train_arguments(train)
    train.set_defaults(func=_cmd_train)

    datasets = command("datasets", "list datasets, their source, cache location and statistics")
    datasets.add_argument("--data-dir", default=None, help="data directory (default: $BLOOMBENCH_DATA or the cache)")
    datasets.add_argument("--stats", action="store_true", help="load the datasets present and add statistics")
    datasets.set_defaults(func=_cmd_datasets)

    run = command("run", "run an experiment spec (resumable): search, selection, final trials")
    run.add_argument("spec", help="a shipped spec name (see `bloombench specs`) or a path to a .toml file")
    run.add_argument("--profile", action="append", metavar="NAME",
                     help="apply a profile of the spec (repeatable, in order), e.g. quick, full, legacy (default: none)")
    _add_run_options(run)
    run.set_defaults(func=_cmd_run)

    repro = command("reproduce", "run every shipped experiment of a profile and build the report")
    repro.add_argument("--profile", choices=["quick", "full"], default="quick", help="profile (default: %(default)s)")
    repro.add_argument("--reports-dir", default="reports", help="where the report goes (default: %(default)s)")
    repro.add_argument("--no-report", action="store_true", help="run the experiments only")
    _add_run_options(repro)
    repro.set_defaults(func=_cmd_reproduce)

    report = command("report", "render figures, tables and index.html from results files")
    report.add_argument("--results-dir", default="results", help="root of the results tree (default: %(default)s)")
    report.add_argument("--out", default="reports", help="output folder (default: %(default)s)")
    report.add_argument("--asv-html", default=None,
                        help="published asv pages to link (default: <out>/asv when present)")
    report.set_defaults(func=_cmd_report)

    specs = command("specs", "list the shipped experiment specs and their profiles")
    specs.set_defaults(func=_cmd_specs)

    asv_pages = command("asv-pages", "after `asv publish`: load the pages' CDN scripts and stylesheets from npm "
                        "copies under <html>/vendor/ (offline pages)")
    asv_pages.add_argument("--html", default="reports/asv", help="the published asv pages (default: %(default)s)")
    asv_pages.add_argument("--node-modules", default="tools/asv-assets/node_modules",
                           help="where `npm install --prefix tools/asv-assets` put the packages (default: %(default)s)")
    asv_pages.add_argument("--manifest", default=None,
                           help="package.json with the asvAssets mapping (default: <node-modules>/../package.json)")
    asv_pages.set_defaults(func=_cmd_asv_pages)
    return parser, commands


def _error_line(error: BaseException) -> str:
    """One line for an error: what is wrong (the library's message names the argument and what is allowed);
    the exception's type too where it is not a plain bad-input error."""
    from bloombench.results import StoreError

    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, (ValueError, TypeError, LookupError, OSError, StoreError)):
        return text
    return f"{type(error).__name__}: {text}"


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler's stop) handled as Ctrl-C, so that the cleanup runs: pool workers
    are stopped rather than left running a trial nobody will record, and the store's lock is released."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bloombench`` console script; returns the exit status."""
    parser, commands = _parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        chosen = commands[args.command]
        chosen.error(chosen.suggest(extras))
    debug = args.debug or os.environ.get("BLOOMBENCH_DEBUG", "") not in ("", "0")
    main_thread = threading.current_thread() is threading.main_thread()  # signal handlers live there only
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        return int(args.func(args))
    except KeyboardInterrupt as stop:
        if debug:
            raise
        note = getattr(args, "interrupted_note", "nothing was written")
        terminated = isinstance(stop, _Terminated)
        print(f"bloombench {args.command}: {'terminated' if terminated else 'interrupted'}; {note}", file=sys.stderr)
        return 143 if terminated else 130
    except Exception as error:  # every error is one line unless --debug asks for the traceback
        if debug:
            raise
        print(f"bloombench {args.command}: error: {_error_line(error)} (--debug shows the traceback)",
              file=sys.stderr)
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


if __name__ == "__main__":
    raise SystemExit(main())
