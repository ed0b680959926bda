"""The variants of an experiment spec: what each one changes, its grid, and how its trial configs are layered.

A ``[[variants]]`` table (see :mod:`bloombench.experiments.spec` for the whole format)::

    [[variants]]
    label = "bloom k=4"                       # unique; the records' ``variant``
    embedding = {method = "bloom", params = {num_hashes = 4}}   # config sections laid over ``base``
    # baseline = true                         # the reference of every ratio (exactly one; no grid)
    # grid = {"embedding.params.compression_ratio" = [0.1, 0.5]}  # its own grid, or
    # grid = ["embedding.params.compression_ratio"]  # only these paths of the spec's [grid], or
    # grid = {}                               # none: one configuration per seed
    # grid_min = {"embedding.params.bytes_ratio" = 0.1}  # drop the grid values below (cannot be built there)
    # scale = {"model.embedding_dim" = "embedding.params.compression_ratio"}

Rules every variant follows:

*A change of model kind starts from the base fields that kind uses.* A variant that sets ``model.kind`` to
another kind than the base's (a reference floor such as ``popularity`` in a factorization experiment)
inherits only the sections and keys of ``base`` that its kind's config has
(:func:`~bloombench.experiments.config.restrict_config`: no ``model.loss``, no ``embedding`` section, no
learning rate for a floor), and only the paths of the spec's default grid that its kind uses. What the
variant itself sets is never dropped: a key its kind does not use is refused.

*Only trained kinds are tuned.* A variant whose model kind trains nothing (``Model.trains`` false: the
floors) belongs to no search group: it gets no search trials and no drawn hyperparameters.

*A floor on the grid.* ``grid_min = {path = value}`` keeps only the variant's grid values at or above
``value`` on that path, whatever the profile's grid: a method that stores something per id (QR's quotient
table, CCE's pointers, int8 scales) cannot be built below some bytes per id, and its spec says so once
instead of failing at those points. A floor that leaves no value is refused.

*A scaled size.* ``scale = {target = source}`` sets the config value at ``target`` to the base's value
times the grid point's value at ``source`` (rounded half up, at least 1, for an int), and does not set
``source`` itself: the full table at the same bytes as a compressed one is ``embedding = {method =
"full"}`` with ``scale = {"model.embedding_dim" = "embedding.params.compression_ratio"}`` (dimension
``round(32 * ratio)``). The source value is the trial's place on the compression axis (its record's
``compression``).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from bloombench.experiments.config import (
    default_config,
    get_path,
    known_keys,
    model_kind,
    resolve_config,
    restrict_config,
)
from bloombench.experiments.search import _check_path, _fail, _set_path, _table, _unknown, _values
from bloombench.models.registry import DEFAULT_KIND, get_model

__all__ = ["Variant", "parse_grid", "parse_variant", "product"]

_VARIANT_KEYS = {"label", "baseline", "grid", "grid_min", "scale"} | set(known_keys())
#: Size parameters that place a trial on the compression axis: the byte ratio every method can be sized by
#: (:func:`bloombench.layers.make_embedding`), then a method's or encoding's own nominal ratio.
_RATIOS = ("bytes_ratio", "compression_ratio")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One variant: config overrides on top of ``base``, its grid (``{path: values}``) and its rules.

    Attributes
    ----------
    kind : str
        The model kind of its trials.
    base_kind : str
        The model kind of the spec's ``base``; where it differs, :meth:`layer_base` keeps only the base
        fields ``kind`` uses.
    tuned : bool
        Whether a hyperparameter search applies (the kind trains something).
    scale : dict
        ``{target path: source grid path}`` (see the module docstring).
    """

    label: str
    overrides: dict[str, Any]
    grid: dict[str, list[Any]]
    baseline: bool = False
    kind: str = DEFAULT_KIND
    base_kind: str = DEFAULT_KIND
    tuned: bool = True
    scale: dict[str, str] = dataclasses.field(default_factory=dict)

    def points(self) -> list[dict[str, Any]]:
        """Every grid assignment ``{path: value}`` (one empty assignment without a grid)."""
        return product(self.grid)

    def search_point(self, at: Mapping[str, Any], point: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The grid point a search runs at: ``at``'s value for the grid paths it names; for the others, the
        value of ``point`` (a per-point search) or, without one, the middle value (the upper one of an even
        count: a per-variant search)."""
        return {path: at[path] if path in at else point[path] if point is not None else values[len(values) // 2]
                for path, values in self.grid.items()}

    def layer_base(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """``base`` as this variant starts from it: whole, or, for a change of model kind, only the fields
        the variant's kind uses."""
        return copy.deepcopy(dict(base)) if self.kind == self.base_kind else restrict_config(base, self.kind)

    def apply_point(self, config: dict[str, Any], point: Mapping[str, Any]) -> None:
        """Set a grid point (and context) on ``config``: scaled targets first, then every other path."""
        for target, source in self.scale.items():
            current = get_path(resolve_config(config), target)
            value = current * point[source]
            _set_path(config, target, max(1, math.floor(value + 0.5)) if isinstance(current, int) else value)
        sources = set(self.scale.values())
        for path, value in point.items():
            if path not in sources:
                _set_path(config, path, value)

    def compression(self, point: Mapping[str, Any], config: Mapping[str, Any]) -> float | None:
        """The trial's place on the compression axis: a ratio the point scales by, else the ratio of its
        compressible part (``bytes_ratio``, else ``compression_ratio``), 1.0 for the baseline, else None
        (e.g. the floors)."""
        for source in self.scale.values():
            if source.rpartition(".")[2] in _RATIOS:
                return float(point[source])
        section = get_model(self.kind).config_section
        params = (config.get(section) or {}).get("params", {}) if section else {}
        for name in _RATIOS:
            if isinstance(params.get(name), numbers.Real):
                return float(params[name])
        return 1.0 if self.baseline else None


def product(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every assignment ``{path: value}`` of the cross product of ``grid`` (``[{}]`` for an empty grid)."""
    paths = list(grid)
    return [dict(zip(paths, values)) for values in itertools.product(*(grid[p] for p in paths))]


def _grid_values(where: str, path: str, values: Any) -> list[Any]:
    # "*" on a hash path: every registered family, so a new family joins the experiments by itself.
    if values == "*" and path.endswith(".hash"):
        from bloombench.hashing import available_hashes

        return list(available_hashes())
    return _values(f"{where}.{path}", values)


def parse_grid(where: str, value: Any) -> dict[str, list[Any]]:
    """A ``[grid]`` or ``[contexts]`` table: ``{dotted path: values}`` (``"*"`` on a ``.hash`` path: every family)."""
    table = _table(where, value)
    return {_check_path(where, path): _grid_values(where, path, values) for path, values in table.items()}


def _uses(kind: str, path: str) -> bool:
    """Whether a config of ``kind`` has the section and key a dotted path names."""
    section, key, *_ = path.split(".")
    return key in default_config(kind).get(section, {})


def _variant_grid(where: str, table: Mapping[str, Any], default_grid: dict[str, list[Any]],
                  kind: str, base_kind: str) -> dict[str, list[Any]]:
    if "grid" not in table:
        return {p: v for p, v in default_grid.items() if kind == base_kind or _uses(kind, p)}
    grid = table["grid"]
    if isinstance(grid, list):  # a selection of the spec's grid paths: their values follow the profiles
        unknown = [p for p in grid if p not in default_grid]
        if unknown or not all(isinstance(p, str) for p in grid):
            raise _fail(f"{where}.grid", f"a list names paths of the spec's [grid] {sorted(default_grid)}, "
                        f"got {grid!r}")
        return {p: default_grid[p] for p in grid}
    return parse_grid(f"{where}.grid", grid)


def _apply_grid_min(where: str, value: Any, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
    floors = _table(where, value)
    for path, low in floors.items():
        if path not in grid:
            raise _fail(f"{where}.{path}", f"must name a grid path of the variant {sorted(grid)}")
        if isinstance(low, bool) or not isinstance(low, numbers.Real):
            raise _fail(f"{where}.{path}", f"must be a number, got {low!r}")
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in grid[path]):
            raise _fail(f"{where}.{path}", f"needs a grid of numbers, got {grid[path]}")
        kept = [v for v in grid[path] if v >= low]
        if not kept:
            raise _fail(f"{where}.{path}", f"leaves none of the grid values {grid[path]} (all below {low})")
        grid = {**grid, path: kept}
    return grid


def _parse_scale(where: str, value: Any, grid: Mapping[str, list[Any]]) -> dict[str, str]:
    scale = {_check_path(where, target): source for target, source in _table(where, value).items()}
    for target, source in scale.items():
        if source not in grid:
            raise _fail(f"{where}.{target}", f"must name a grid path of the variant {sorted(grid)}, got {source!r}")
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and v > 0 for v in grid[source]):
            raise _fail(f"{where}.{target}", f"scales by {source!r}, whose grid values must be positive numbers")
    return scale


def parse_variant(where: str, value: Any, default_grid: dict[str, list[Any]], base: Mapping[str, Any]) -> Variant:
    """One ``[[variants]]`` table, checked (see the module docstring); ``base`` is the spec's ``[base]``."""
    table = _table(where, value)
    _unknown(where, table, _VARIANT_KEYS)
    label = table.get("label")
    if not isinstance(label, str) or not label.strip():
        raise _fail(f"{where}.label", f"must be a non-empty string, got {label!r}")
    baseline = table.get("baseline", False)
    if not isinstance(baseline, bool):
        raise _fail(f"{where}.baseline", f"must be true or false, got {baseline!r}")
    overrides = {key: copy.deepcopy(_table(f"{where}.{key}", table[key])) for key in known_keys() if key in table}
    try:
        base_kind = model_kind(base)
        kind = model_kind({"model": {"kind": overrides.get("model", {}).get("kind", base_kind)}})
    except ValueError as error:
        raise _fail(where, str(error)) from None
    if baseline:
        if table.get("grid") or table.get("scale"):
            raise _fail(f"{where}.grid", "the baseline variant is one configuration; it takes no grid")
        grid: dict[str, list[Any]] = {}
    else:
        grid = _variant_grid(where, table, default_grid, kind, base_kind)
    grid = _apply_grid_min(f"{where}.grid_min", table.get("grid_min", {}), grid)
    scale = _parse_scale(f"{where}.scale", table.get("scale", {}), grid)
    return Variant(label=label, overrides=overrides, grid=grid, baseline=baseline, kind=kind, base_kind=base_kind,
                   tuned=get_model(kind).trains, scale=scale)
