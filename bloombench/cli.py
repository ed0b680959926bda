"""Command line: ``bloombench train``, ``run``, ``reproduce``, ``report``, ``specs``, ``datasets``, ``asv-pages``.

A thin argparse front over :mod:`bloombench.experiments` and :mod:`bloombench.data`; every number it
prints comes from those modules.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Map the ``train`` flags onto a trial config (see ``bloombench.experiments.trial.DEFAULTS``)."""
    params: dict[str, Any] = {}
    if args.embedding != "full":
        params = {"compression_ratio": args.compression, "seed": args.hash_seed}
        if args.embedding in ("bloom", "hashing_trick", "hashcofi", "hash_embedding"):
            params["hash"] = args.hash
        if args.embedding == "bloom":
            params.update(num_hashes=args.hashes, mode=args.mode, index=args.index)
        if args.embedding == "hash_embedding":
            params["num_hashes"] = args.hashes
    for item in args.param or []:
        key, _, value = item.partition("=")
        try:
            params[key] = json.loads(value)  # numbers, booleans, lists
        except json.JSONDecodeError:
            params[key] = value  # plain strings, e.g. combine=mult
    return {
        "dataset": {"name": args.dataset, "data_dir": args.data_dir},
        "split": {"kind": args.split, "seed": args.split_seed},
        "model": {"kind": args.model, "loss": args.loss, "embedding_dim": args.dim,
                  "representation": args.representation},
        "embedding": {"method": args.embedding, "tables": args.tables, "params": params},
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "l2": args.l2,
                     "optimizer": args.optimizer, "device": args.device, "seed": args.seed},
        "evaluation": {"legacy": args.legacy},
    }


def _cmd_train(args: argparse.Namespace) -> int:
    from bloombench.experiments.trial import run_trial

    record = run_trial(_train_overrides(args))
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
    with _executor(args) as executor:
        outcome = run_experiment(spec, results_dir=args.results_dir, executor=executor, data_dir=args.data_dir,
                                 progress=not args.no_progress)
    print(f"{outcome.summary()}; records in {args.results_dir}/{outcome.experiment}/trials.jsonl")
    return 1 if outcome.failed else 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from bloombench.experiments.reproduce import reproduce

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

    try:
        rewrites = vendor_asv_assets(args.html, args.node_modules, manifest=args.manifest)
    except (FileNotFoundError, ValueError) as error:  # what to fix, without a traceback
        print(f"bloombench asv-pages: {error}", file=sys.stderr)
        return 1
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
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--data-dir", default=None, help="data directory (default $BLOOMBENCH_DATA or the cache)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, help="run trials in N local processes (default 1: "
                       "in this process)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="submit trials to the Dask scheduler at ADDRESS (e.g. tcp://127.0.0.1:8786)")
    where.add_argument("--dask-local", type=int, default=None, metavar="N",
                       help="start a local Dask cluster of N worker processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _parser() -> argparse.ArgumentParser:
    from bloombench.hashing import available_hashes
    from bloombench.layers import available_methods

    parser = argparse.ArgumentParser(prog="bloombench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train and evaluate one model; prints metrics and timings as JSON")
    train.add_argument("--dataset", default="movielens-100k")
    train.add_argument("--data-dir", default=None, help="data directory (default $BLOOMBENCH_DATA or the cache)")
    train.add_argument("--split", choices=["random", "user"], default="random")
    train.add_argument("--split-seed", type=int, default=0)
    train.add_argument("--model", choices=["implicit", "explicit", "sequence"], default="implicit")
    train.add_argument("--representation", choices=["lstm", "pooling", "cnn"], default="lstm")
    train.add_argument("--loss", default="bpr", help="pointwise, bpr, hinge or adaptive_hinge")
    train.add_argument("--dim", type=int, default=32)
    train.add_argument("--embedding", choices=available_methods(), default="full")
    train.add_argument("--tables", choices=["both", "items", "users"], default="both",
                       help="which tables of a factorization model use --embedding (sequences: items)")
    train.add_argument("--compression", type=float, default=0.2)
    train.add_argument("--hashes", type=int, default=4)
    train.add_argument("--hash", choices=available_hashes(), default="murmur3")
    train.add_argument("--hash-seed", type=int, default=0)
    train.add_argument("--mode", choices=["mean", "sum"], default="mean")
    train.add_argument("--index", choices=["table", "on_the_fly"], default="table")
    train.add_argument("--param", action="append", metavar="KEY=VALUE",
                       help="extra embedding parameter (repeatable), e.g. --param combine=mult")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=1024)
    train.add_argument("--lr", type=float, default=1e-2)
    train.add_argument("--l2", type=float, default=1e-6)
    train.add_argument("--optimizer", choices=["adam", "adam-sparse", "adagrad", "sgd"], default="adam")
    train.add_argument("--device", default="cpu")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--legacy", choices=["spotlight"], default=None,
                       help="evaluate with Spotlight's semantics (no exclusion, padding ranked)")
    train.set_defaults(func=_cmd_train)

    datasets = sub.add_parser("datasets", help="list datasets, their source, cache location and statistics")
    datasets.add_argument("--data-dir", default=None)
    datasets.add_argument("--stats", action="store_true", help="load the datasets present and add statistics")
    datasets.set_defaults(func=_cmd_datasets)

    run = sub.add_parser("run", help="run an experiment spec (resumable): search, selection, final trials")
    run.add_argument("spec", help="a shipped spec name (see `bloombench specs`) or a path to a .toml file")
    run.add_argument("--profile", action="append", metavar="NAME",
                     help="apply a profile of the spec (repeatable, in order), e.g. quick, full, legacy")
    _add_run_options(run)
    run.set_defaults(func=_cmd_run)

    repro = sub.add_parser("reproduce", help="run every shipped experiment of a profile and build the report")
    repro.add_argument("--profile", choices=["quick", "full"], default="quick")
    repro.add_argument("--reports-dir", default="reports")
    repro.add_argument("--no-report", action="store_true", help="run the experiments only")
    _add_run_options(repro)
    repro.set_defaults(func=_cmd_reproduce)

    report = sub.add_parser("report", help="render figures, tables and index.html from results files")
    report.add_argument("--results-dir", default="results")
    report.add_argument("--out", default="reports")
    report.add_argument("--asv-html", default=None,
                        help="published asv pages to link (default: <out>/asv when present)")
    report.set_defaults(func=_cmd_report)

    specs = sub.add_parser("specs", help="list the shipped experiment specs and their profiles")
    specs.set_defaults(func=_cmd_specs)

    asv_pages = sub.add_parser("asv-pages", help="after `asv publish`: load the pages' CDN scripts and "
                               "stylesheets from npm copies under <html>/vendor/ (offline pages)")
    asv_pages.add_argument("--html", default="reports/asv", help="the published asv pages")
    asv_pages.add_argument("--node-modules", default="tools/asv-assets/node_modules",
                           help="where `npm install --prefix tools/asv-assets` put the packages")
    asv_pages.add_argument("--manifest", default=None,
                           help="package.json with the asvAssets mapping (default: <node-modules>/../"
                           "package.json)")
    asv_pages.set_defaults(func=_cmd_asv_pages)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bloombench`` console script."""
    args = _parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
