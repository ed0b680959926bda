"""``bloombench train``: its flags, and their mapping onto a trial config of any model kind.

Every flag that configures something defaults to None, meaning *the owner's default*: the model kind's
(:func:`bloombench.models.model_defaults`, ``fit_defaults``), the method's (its constructor) or the
config's (:mod:`bloombench.experiments.config`). A flag is only passed on when given, and a flag that does
not apply to the chosen model kind or method is refused, naming the flag. Registries are read lazily
(:class:`LazyChoices`), so building the parser imports no torch.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["LazyChoices", "add_train_arguments", "train_config"]

#: Flags that set an argument of the method (layer or encoding), by argument name.
PARAM_FLAGS = {"compression_ratio": "--compression", "num_hashes": "--hashes", "hash": "--hash",
               "seed": "--hash-seed", "mode": "--mode", "index": "--index"}
#: Flags that set a key of the trial config, by dotted path.
CONFIG_FLAGS = {
    "dataset.name": "--dataset", "dataset.data_dir": "--data-dir", "dataset.synthetic": "--synthetic",
    "split.kind": "--split", "split.seed": "--split-seed",
    "model.embedding_dim": "--dim", "model.loss": "--loss", "model.representation": "--representation",
    "model.hidden": "--hidden", "embedding.tables": "--tables",
    "training.epochs": "--epochs", "training.batch_size": "--batch-size", "training.lr": "--lr",
    "training.l2": "--l2", "training.optimizer": "--optimizer", "training.device": "--device",
    "training.seed": "--seed", "evaluation.legacy": "--legacy",
}


class LazyChoices(Sequence[str]):
    """``choices`` for argparse read from a registry on first use (parsing that flag, or its help)."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load
        self._names: list[str] | None = None

    @property
    def names(self) -> list[str]:
        if self._names is None:
            self._names = list(self._load())
        return self._names

    def __getitem__(self, index: Any) -> Any:
        return self.names[index]

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, value: object) -> bool:
        return value in self.names


def _names(module: str, function: str) -> Callable[[], Sequence[str]]:
    def load() -> Sequence[str]:
        import importlib

        return getattr(importlib.import_module(module), function)()

    return load


def _dataset_names() -> list[str]:
    from bloombench.data import GENERATORS, STREAMS, available_datasets

    return [str(row["name"]) for row in available_datasets()] + list(GENERATORS) + list(STREAMS)


def _optimizers() -> Sequence[str]:
    from bloombench.models import OPTIMIZERS

    return OPTIMIZERS


def _typed(convert: Callable[[str], Any], check: Callable[[Any], bool], allowed: str) -> Callable[[str], Any]:
    """An argparse ``type`` refusing values outside ``allowed`` (argparse then names the flag)."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value

    return parse


positive_int = _typed(int, lambda v: v >= 1, "a positive int")
non_negative_int = _typed(int, lambda v: v >= 0, "an int >= 0")
positive_float = _typed(float, lambda v: v > 0 and v != float("inf"), "a positive number")
non_negative_float = _typed(float, lambda v: 0 <= v < float("inf"), "a number >= 0")
ratio = _typed(float, lambda v: 0 < v <= 1, "a number in (0, 1]")


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)  # numbers, booleans, lists
    except json.JSONDecodeError:
        return key, value  # plain strings, e.g. combine=mult


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` flags (help texts say each default)."""
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default=None, choices=LazyChoices(_dataset_names),
                      help="dataset (default: the model kind's: movielens-100k, or 'stream' for --model stream); "
                           "'stream' is the open-vocabulary interaction stream; "
                           "'synthetic' (Zipf) and 'planted' (latent factors) generate one (see --synthetic)")
    data.add_argument("--synthetic", action="append", type=_key_value, metavar="KEY=VALUE",
                      help="argument of the generator, e.g. num_items=5000 (repeatable; default: the generator's)")
    data.add_argument("--data-dir", default=None, help="data directory (default: $BLOOMBENCH_DATA or the cache)")
    data.add_argument("--split", choices=["random", "user"], default=None,
                      help="random 80/10/10 split of the interactions, or whole users held out (default: random)")
    data.add_argument("--split-seed", type=non_negative_int, default=None, help="seed of the split (default: 0)")

    model = parser.add_argument_group("model")
    model.add_argument("--model", default="implicit", choices=LazyChoices(_names("bloombench.models", "available_models")),
                       help="model kind (default: %(default)s)")
    model.add_argument("--dim", type=positive_int, default=None, help="embedding dimension (default: the kind's, 32)")
    model.add_argument("--loss", default=None, help="pointwise, bpr, hinge or adaptive_hinge (default: bpr)")
    model.add_argument("--representation", default=None,
                       help="sequence encoder: lstm, pooling or cnn (--model sequence; default: lstm)")
    model.add_argument("--hidden", type=_typed(lambda t: [int(w) for w in t.split(",")], lambda v: all(w > 0 for w in v),
                                               "comma-separated positive widths"), default=None,
                       help="hidden widths of the feed-forward model, e.g. 256 or 512,256 (default: 256)")
    model.add_argument("--model-param", action="append", type=_key_value, metavar="KEY=VALUE",
                       help="any other setting of the model kind, e.g. dropout=0.2 (repeatable)")

    part = parser.add_argument_group("compressed part")
    part.add_argument("--embedding", default=None,
                      choices=LazyChoices(_names("bloombench.layers", "available_methods")),
                      help="embedding layer of the tables (models with embedding tables; default: full)")
    part.add_argument("--encoding", default=None,
                      choices=LazyChoices(_names("bloombench.encodings", "available_encodings")),
                      help="input/output encoding (--model feedforward; default: identity)")
    part.add_argument("--tables", choices=["both", "items", "users"], default=None,
                      help="which factorization tables use --embedding (default: both)")
    part.add_argument("--compression", type=ratio, default=None,
                      help="compression_ratio of the method (default: the method's, 0.2 for the hashed layers)")
    part.add_argument("--hashes", type=positive_int, default=None, help="num_hashes k (default: the method's)")
    part.add_argument("--hash", default=None, choices=LazyChoices(_names("bloombench.hashing", "available_hashes")),
                      help="hash family of a hashed method (default: murmur3)")
    part.add_argument("--hash-seed", type=non_negative_int, default=None, help="hash seed (default: 0)")
    part.add_argument("--mode", choices=["mean", "sum"], default=None, help="Bloom: how k rows combine (default: mean)")
    part.add_argument("--index", choices=["table", "on_the_fly"], default=None,
                      help="hashed layers: stored index table or hashing at every call (default: the method's)")
    part.add_argument("--param", action="append", type=_key_value, metavar="KEY=VALUE",
                      help="any other argument of the method, e.g. --param combine=mult (repeatable)")

    train = parser.add_argument_group("training and evaluation")
    train.add_argument("--epochs", type=positive_int, default=None, help="epochs (default: the kind's, 10; feedforward 30)")
    train.add_argument("--batch-size", type=positive_int, default=None,
                       help="minibatch size (default: the kind's, 1024; feedforward 64)")
    train.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: 1e-2; feedforward 1e-3)")
    train.add_argument("--l2", type=non_negative_float, default=None, help="weight decay (default: 1e-6; feedforward 0)")
    train.add_argument("--optimizer", default=None, choices=LazyChoices(_optimizers), help="optimizer (default: adam)")
    train.add_argument("--device", default=None, help="cpu, cuda[:i] or auto (default: cpu)")
    train.add_argument("--seed", type=non_negative_int, default=None, help="initialisation, shuffling, negatives (default: 0)")
    train.add_argument("--legacy", choices=["spotlight"], default=None,
                       help="evaluate with Spotlight's semantics: no exclusion, padding ranked (default: off)")


def _refuse(flag: str, reason: str) -> None:
    from bloombench.checks import ArgumentError

    raise ArgumentError(f"{flag} {reason}")


def train_config(args: argparse.Namespace) -> dict[str, Any]:
    """The trial config of parsed ``train`` flags: only what was given, each flag checked to apply.

    Raises
    ------
    ArgumentError
        A flag that does not apply to the model kind or method (the message names it).
    """
    from bloombench.experiments.config import default_config
    from bloombench.models import get_model

    kind = args.model
    defaults = default_config(kind)
    config: dict[str, Any] = {"model": {"kind": kind}}

    def put(path: str, value: Any) -> None:
        if value is None:
            return
        section, key = path.split(".")
        if key not in defaults.get(section, {}):
            _refuse(CONFIG_FLAGS.get(path, path), f"does not apply to --model {kind}")
        config.setdefault(section, {})[key] = value

    from bloombench.data import GENERATORS, STREAMS

    synthetic = dict(args.synthetic or [])
    dataset = args.dataset or defaults["dataset"]["name"]
    generated = [*GENERATORS, *STREAMS]
    streamed = get_model(kind).inputs == "stream"
    if streamed != (dataset in STREAMS):
        _refuse("--dataset", f"must be a stream ({', '.join(STREAMS)}) for --model {kind}, got {dataset}"
                if streamed else f"{dataset} is a stream: it needs --model stream, got --model {kind}")
    if synthetic and dataset not in generated:
        _refuse("--synthetic", f"needs a generated --dataset ({', '.join(generated)}), got --dataset {dataset}")
    for path, flag in CONFIG_FLAGS.items():
        if path == "dataset.synthetic":
            put(path, synthetic or None)
        else:
            put(path, getattr(args, flag[2:].replace("-", "_")))
    for key, value in args.model_param or []:
        if key == "kind" or key not in defaults["model"]:
            _refuse("--model-param", f"{key}=... is not a setting of --model {kind}; its settings: "
                    f"{sorted(k for k in defaults['model'] if k != 'kind')}")
        config["model"][key] = value

    section = get_model(kind).config_section
    for flag, given in (("--embedding", args.embedding), ("--encoding", args.encoding)):
        if given is not None and flag[2:] != section:
            _refuse(flag, f"does not apply to --model {kind} (its compressible part: "
                    f"{'--' + section if section else 'none'})")
    params = {name: getattr(args, flag[2:].replace("-", "_")) for name, flag in PARAM_FLAGS.items()}
    params = {name: value for name, value in params.items() if value is not None}
    params.update(dict(args.param or []))
    if section is not None:
        method = args.embedding if section == "embedding" else args.encoding
        config[section] = {**config.get(section, {}), "method": method or defaults[section]["method"],
                           "params": params}
    elif params:
        _refuse(PARAM_FLAGS.get(next(iter(params)), "--param"), f"does not apply to --model {kind} (nothing to compress)")
    return config


def flag_hint(message: str) -> str:
    """A method's "unknown argument(s) [...]" message with the flag that set each of them, e.g.
    ``'num_hashes' (--hashes)``."""
    def annotate(match: re.Match[str]) -> str:
        names = match.group(1)
        for name, flag in PARAM_FLAGS.items():
            names = names.replace(f"'{name}'", f"'{name}' ({flag})")
        return f"unknown argument(s) [{names}]"

    return re.sub(r"unknown argument\(s\) \[([^\]]*)\]", annotate, message)
