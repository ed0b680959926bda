"""Random search of hyperparameters (a spec's ``[search]`` table), and the checks both spec parsers share.

``SearchSpec.draws()`` gives ``trials`` seeded configurations ``{dotted path: value}`` from a space of
choices and distributions (``uniform``, ``log_uniform``, ``int_uniform``); the first n draws of a larger
search are the n draws of a smaller one with the same seed. :class:`SpecError` is the one error of spec
parsing: its message names the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from bloombench.experiments.config import OPEN_KEYS, config_hash, known_keys

__all__ = ["Dimension", "SearchSpec", "SpecError"]

_SEARCH_KEYS = {"trials", "seed", "scope", "space", "at"}
#: Where searches run: on the baseline only (its winner reused by every variant: the anchors' protocol),
#: once per variant (and context), or once per variant and grid point. Every search draws the same
#: ``trials`` configurations from the same space (same seed), so every tuned method gets the same budget.
SCOPES = ("baseline", "per-variant", "per-point")
_DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform")


class SpecError(ValueError):
    """A spec that cannot be run: the message names the file, the key, the value and what is allowed."""


# ---------------------------------------------------------------------------------------------- helpers
def _fail(where: str, message: str) -> SpecError:
    return SpecError(f"{where}: {message}")


def _deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` on top: mappings merge recursively, every other value replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _set_path(config: dict[str, Any], path: str, value: Any) -> None:
    """Set ``config[a][b][c] = value`` for ``path = "a.b.c"``, creating the mappings on the way."""
    *parents, leaf = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = copy.deepcopy(value)


def _check_path(where: str, path: str) -> str:
    """A dotted path must name a config key of some model kind, or an entry of a free-form mapping under
    one (whether the trial's own kind uses it is checked when its config resolves)."""
    keys = known_keys()
    parts = path.split(".") if isinstance(path, str) else []
    if len(parts) < 2 or parts[0] not in keys or not all(parts):
        raise _fail(where, f"{path!r} is not a dotted config path like 'training.lr'; sections: {sorted(keys)}")
    section, key = parts[0], parts[1]
    if key not in keys[section]:
        raise _fail(where, f"unknown key {section}.{key} in {path!r}; allowed: {sorted(keys[section])}")
    if len(parts) > 2 and (section, key) not in OPEN_KEYS:
        raise _fail(where, f"{section}.{key} is not a mapping, so {path!r} cannot go deeper")
    return path


def _table(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"must be a table, got {value!r}")
    return value


def _unknown(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise _fail(where, f"unknown key(s) {extra}; allowed: {sorted(allowed)}")


def _int(where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise _fail(where, f"must be an int >= {minimum}, got {value!r}")
    return int(value)


def _values(where: str, value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _fail(where, f"must be a non-empty list of values, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------- search
@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: a list of ``choices``, or a ``distribution`` over ``[low, high]``."""

    path: str
    choices: tuple[Any, ...] | None = None
    distribution: str | None = None
    low: float | None = None
    high: float | None = None

    @classmethod
    def parse(cls, where: str, path: str, value: Any) -> Dimension:
        _check_path(where, path)
        if isinstance(value, list):
            return cls(path, choices=tuple(_values(f"{where}.{path}", value)))
        table = _table(f"{where}.{path}", value)
        if len(table) != 1 or next(iter(table)) not in _DISTRIBUTIONS:
            raise _fail(f"{where}.{path}", f"must be a list of choices or one of "
                        f"{{{', '.join(f'{d} = [low, high]' for d in _DISTRIBUTIONS)}}}, got {value!r}")
        distribution, bounds = next(iter(table.items()))
        if (not isinstance(bounds, list) or len(bounds) != 2
                or not all(isinstance(b, numbers.Real) and not isinstance(b, bool) for b in bounds)
                or not bounds[0] < bounds[1] or (distribution == "log_uniform" and bounds[0] <= 0)
                or (distribution == "int_uniform" and not all(float(b).is_integer() for b in bounds))):
            raise _fail(f"{where}.{path}.{distribution}", f"must be [low, high] with low < high"
                        f"{' and low > 0' if distribution == 'log_uniform' else ''}"
                        f"{' (integers)' if distribution == 'int_uniform' else ''}, got {bounds!r}")
        return cls(path, distribution=distribution, low=float(bounds[0]), high=float(bounds[1]))

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn with ``rng`` (choices keep their TOML type)."""
        if self.choices is not None:
            return copy.deepcopy(self.choices[int(rng.integers(len(self.choices)))])
        assert self.low is not None and self.high is not None
        if self.distribution == "int_uniform":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.distribution == "log_uniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    @property
    def size(self) -> float:
        """Number of distinct values (infinite for a continuous distribution)."""
        if self.choices is not None:
            return len(self.choices)
        if self.distribution == "int_uniform":
            return int(self.high) - int(self.low) + 1  # type: ignore[operator]
        return math.inf


@dataclasses.dataclass(frozen=True)
class SearchSpec:
    """Random search: ``trials`` seeded draws from ``space``, each trained once with the first seed.

    ``scope`` is one of :data:`SCOPES`; ``at`` (``{grid path: value}``) chooses the grid point a
    ``per-variant`` search runs at (a variant's grid paths it does not name take their middle value).
    """

    trials: int
    seed: int
    scope: str
    space: tuple[Dimension, ...]
    at: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def parse(cls, where: str, value: Any) -> SearchSpec:
        table = _table(where, value)
        _unknown(where, table, _SEARCH_KEYS)
        scope = table.get("scope", "baseline")
        if scope not in SCOPES:
            raise _fail(f"{where}.scope", f"must be one of {SCOPES}, got {scope!r}")
        space = _table(f"{where}.space", table.get("space"))
        if not space:
            raise _fail(f"{where}.space", "must name at least one hyperparameter")
        at = {_check_path(f"{where}.at", path): value
              for path, value in _table(f"{where}.at", table.get("at", {})).items()}
        return cls(trials=_int(f"{where}.trials", table.get("trials"), 1),
                   seed=_int(f"{where}.seed", table.get("seed", 0), 0), scope=scope,
                   space=tuple(Dimension.parse(f"{where}.space", p, v) for p, v in space.items()), at=at)

    def draws(self) -> list[dict[str, Any]]:
        """The ``trials`` configurations, ``{path: value}``; distinct while the space allows it.

        Draws come from ``numpy.random.default_rng(seed)`` in order, so the first n draws of a larger
        search are the n draws of a smaller one with the same seed.
        """
        rng = np.random.default_rng(self.seed)
        capacity = math.prod(d.size for d in self.space)
        draws: list[dict[str, Any]] = []
        seen: set[str] = set()
        attempts = 0
        while len(draws) < self.trials:
            draw = {d.path: d.sample(rng) for d in self.space}
            attempts += 1
            key = config_hash(draw)
            # Without replacement while distinct draws remain; a finite space smaller than `trials` repeats.
            if key in seen and len(seen) < capacity and attempts < 1000 * self.trials:
                continue
            seen.add(key)
            draws.append(draw)
        return draws
