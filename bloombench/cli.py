"""Command line: ``bloombench train``, ``bloombench datasets``, ``bloombench reproduce``.

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


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from bloombench.experiments.reproduce import reproduce

    return reproduce(profile=args.profile, results_dir=args.results_dir, data_dir=args.data_dir)


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

    repro = sub.add_parser("reproduce", help="run the reproduction experiments and write results")
    repro.add_argument("--profile", choices=["quick", "full"], default="quick")
    repro.add_argument("--results-dir", default="results")
    repro.add_argument("--data-dir", default=None)
    repro.set_defaults(func=_cmd_reproduce)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bloombench`` console script."""
    args = _parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
