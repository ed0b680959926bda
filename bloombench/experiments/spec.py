"""Experiment specs: TOML files that say which trials an experiment runs and how the winner is chosen.

A spec (the shipped ones live in ``bloombench/configs/``) has these top-level keys; anything else is
refused::

    name = "factorization"            # results go to results/<name>[-<profile>...]/
    description = "..."
    seeds = [0, 1, 2]                 # repeats: each seed sets split.seed, training.seed and the hash seed
    selection = "validation"          # or "legacy": select on the test metric, as the anchors did
    metric = "mrr"                    # selection metric: a key of the validation/test metrics
    diagnostics = false               # record collision diagnostics of the hashed tables
    max_concurrent = 1                # optional cap on trials in flight (timing experiments: 1)
    [explanations]                    # optional: what the report prints under a finding it flags, with
    below_popularity = "..."          # the evidence (e.g. an ablation variant) the explanation rests on

    [base]                            # trial config shared by every trial (see experiments.config)
    model = {kind = "implicit", loss = "bpr", embedding_dim = 32}

    [contexts]                        # optional: settings every variant, the baseline too, runs under;
    "dataset.table_rows" = [10_000, 1_000_000]   # each context has its own baseline (and search)

    [grid]                            # default grid of every variant without a grid of its own
    "embedding.params.compression_ratio" = [0.1, 0.2, 0.5]

    [[variants]]
    label = "full"
    baseline = true                   # the uncompressed reference (exactly one; never gridded)
    embedding = {method = "full"}

    [[variants]]
    label = "bloom"
    embedding = {method = "bloom", params = {num_hashes = 4}}
    # grid = {}                       # an empty grid: this variant runs once per seed

    [[variants]]
    label = "popularity"              # a reference floor: another model kind (see below)
    model = {kind = "popularity"}

    [search]                          # optional random search of hyperparameters
    trials = 20                       # draws per search: the same draws (same seed) in every search
    seed = 0
    scope = "per-variant"             # "baseline": tune the baseline, reuse for all (the anchors);
                                      # "per-variant": each variant (and context) its own search;
                                      # "per-point": each variant, context and grid point its own
    at = {"embedding.params.hash" = "murmur3"}   # grid values searched at: their winner serves every
                                      # value of those paths (per-variant: other paths at their middle value)
    [search.space]                    # dotted config path -> list of choices, or a distribution
    "training.lr" = [1e-3, 1e-2, 5e-2]
    "training.l2" = {log_uniform = [1e-7, 1e-3]}
    "training.batch_size" = [256, 1024]

    [profiles.quick]                  # overlays: tables merge, other values replace; a list of
    seeds = [0, 1, 2]                 # strings under "variants" keeps only those variants
    base.training.epochs = 5

Grid and space paths are dotted config paths (``training.lr``, ``embedding.params.hash``,
``dataset.table_rows``); a grid of ``"*"`` on a ``.hash`` path means every registered hash family.
``base.dataset.name`` may be a list: the first dataset present in the data directory (with timestamps,
for sequence models) is used. A trial's config is layered, later wins:
``base`` < selected hyperparameters < variant < context and grid point < seed.

What a variant may say and the rules it follows (:mod:`bloombench.experiments.variants`): a variant that
changes ``model.kind`` (the reference floors ``popularity`` and ``random``, or ``sequence-popularity`` and
``sequence-random`` next to a sequence model) starts from the base fields and grid paths its kind uses;
a variant whose kind trains nothing joins no search; ``grid = [paths]`` keeps only those paths of the
default grid; ``scale`` sets a size from a grid value (the full table at the same bytes). Each final and
search trial carries ``compression``, its place on the compression axis, into its record.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import numbers
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bloombench.experiments.config import config_hash, default_config, identity_config, model_kind, resolve_config
from bloombench.experiments.search import (
    Dimension,
    SearchSpec,
    SpecError,
    _deep_merge,
    _fail,
    _int,
    _set_path,
    _table,
    _unknown,
)
from bloombench.experiments.variants import Variant, parse_grid, parse_variant, product

__all__ = ["Dimension", "ExperimentSpec", "SearchSpec", "SpecError", "TrialSpec", "Variant", "available_specs",
           "load_spec", "parse_spec"]

_TOP_KEYS = {"name", "description", "seeds", "selection", "metric", "diagnostics", "max_concurrent", "base",
             "contexts", "grid", "variants", "search", "profiles", "explanations"}
#: The findings a spec may explain (``[explanations]``), read by :mod:`bloombench.report.findings`.
EXPLAINABLE = ("below_popularity",)
_SELECTIONS = ("validation", "legacy")
_LOWER_IS_BETTER = ("rmse",)
_METRIC = re.compile(r"^(mrr|rmse|(precision|recall|ndcg|hit_rate)@\d+)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# ---------------------------------------------------------------------------------------------- parts
@dataclasses.dataclass(frozen=True)
class TrialSpec:
    """One trial to run: what the executor gets (:meth:`task`) and how the store knows it (``key``)."""

    experiment: str
    variant: str
    phase: str
    group: str
    config: dict[str, Any]
    key: str
    draw: dict[str, Any] | None = None
    selected_from: str | None = None
    baseline: bool = False
    compression: float | None = None

    def task(self) -> dict[str, Any]:
        """The picklable payload of :func:`bloombench.experiments.records.execute_trial`."""
        return {"experiment": self.experiment, "variant": self.variant, "phase": self.phase,
                "baseline": self.baseline, "trial_key": self.key, "config": self.config,
                "selected_from": self.selected_from, "compression": self.compression}


def _trial_key(config: Mapping[str, Any], phase: str) -> str:
    return config_hash({"phase": phase, "config": identity_config(config)})


# ---------------------------------------------------------------------------------------------- the spec
@dataclasses.dataclass(frozen=True)
class ExperimentSpec:
    """A parsed, validated experiment spec (see the module docstring for the format)."""

    name: str
    description: str
    profiles: tuple[str, ...]
    seeds: tuple[int, ...]
    selection: str
    metric: str
    diagnostics: bool
    max_concurrent: int | None
    base: dict[str, Any]
    variants: tuple[Variant, ...]
    search: SearchSpec | None
    contexts: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    available_profiles: tuple[str, ...] = ()
    source: str = ""
    path: str | None = None

    @property
    def experiment(self) -> str:
        """Name of the results folder: the spec name, then each applied profile."""
        return "-".join([self.name, *self.profiles])

    @property
    def baseline(self) -> Variant:
        return next(v for v in self.variants if v.baseline)

    @property
    def lower_is_better(self) -> bool:
        return self.metric in _LOWER_IS_BETTER

    @property
    def selection_split(self) -> str:
        """Which metrics select the search winner: ``validation``, or ``test`` for the legacy protocol."""
        return "test" if self.selection == "legacy" else "validation"

    # ------------------------------------------------------------------ expansion
    def _config(self, variant: Variant, point: Mapping[str, Any], seed: int,
                selected: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        config = variant.layer_base(self.base)
        for path, value in (selected or {}).items():
            _set_path(config, path, value)
        config = _deep_merge(config, variant.overrides)
        variant.apply_point(config, point)
        for path, value in (data or {}).items():
            _set_path(config, path, value)
        if self.diagnostics and "diagnostics" in default_config(variant.kind)["evaluation"]:
            _set_path(config, "evaluation.diagnostics", True)
        _set_path(config, "split.seed", seed)
        _set_path(config, "training.seed", seed)
        # Hashed layers take the seed's hash functions; the paper's encodings keep theirs fixed
        # (data-dependent ones are fitted once per split and reused across seeds).
        if _takes_hash_seed(config):
            _set_path(config, "embedding.params.seed", seed)
        return config

    def _trial(self, phase: str, group: str | None, variant: Variant, point: Mapping[str, Any], seed: int,
               draw: dict[str, Any] | None, data: Mapping[str, Any] | None, source: str | None = None) -> TrialSpec:
        config = self._config(variant, point, seed, draw, data)
        return TrialSpec(self.experiment, variant.label, phase, group or "", config, _trial_key(config, phase),
                         draw=draw, selected_from=source, baseline=variant.baseline,
                         compression=variant.compression(point, config))

    def _contexts(self) -> list[dict[str, Any]]:
        return product(self.contexts)

    def _groups(self) -> list[tuple[str | None, Variant, dict[str, Any]]]:
        """``(group, variant, point)`` of every trial point (context and grid assignment merged); the group
        names the search whose winner the point uses (None: a variant nothing tunes)."""
        scope = self.search.scope if self.search is not None else "baseline"
        at = self.search.at if self.search is not None else {}
        out = []
        for context in self._contexts():
            for variant in self.variants:
                for point in variant.points():
                    tuned = {p: v for p, v in point.items() if p not in at}  # `at` paths share one search
                    owner, where = {"baseline": (self.baseline, context), "per-variant": (variant, context),
                                    "per-point": (variant, {**context, **tuned})}[scope]
                    out.append((_group_name(owner, where) if variant.tuned else None, variant, {**context, **point}))
        return out

    def _search_groups(self) -> list[tuple[str, Variant, dict[str, Any]]]:
        """Where searches run: the baseline of each context (scope ``baseline``), each tuned variant of each
        context at its search point (``per-variant``), or each tuned point (``per-point``; grid paths that
        ``search.at`` names are searched at its value only, their winner serving every value)."""
        if self.search is None:
            return []
        if self.search.scope == "baseline":
            return [(_group_name(self.baseline, c), self.baseline, c) for c in self._contexts()]
        if self.search.scope == "per-variant":
            return [(_group_name(v, c), v, {**c, **v.search_point(self.search.at)})
                    for c in self._contexts() for v in self.variants if v.tuned]
        groups: dict[str, tuple[str, Variant, dict[str, Any]]] = {}
        for group, variant, point in self._groups():
            if group is not None and group not in groups:
                groups[group] = (group, variant, {**point, **variant.search_point(self.search.at, point)})
        return list(groups.values())

    def search_trials(self, data: Mapping[str, Any] | None = None) -> list[TrialSpec]:
        """The search trials (empty without ``[search]``), each trained with the first seed.

        Parameters
        ----------
        data : mapping, optional
            ``{path: value}`` set on every trial last (where the data is: ``dataset.data_dir``,
            the dataset chosen from a list).
        """
        if self.search is None:
            return []
        draws = self.search.draws()
        return [self._trial("search", group, variant, point, self.seeds[0], draw, data)
                for group, variant, point in self._search_groups() for draw in draws]

    def select(self, records: Sequence[Mapping[str, Any]], data: Mapping[str, Any] | None = None,
               ) -> dict[str, tuple[dict[str, Any], str]]:
        """The winning search draw of each group: ``{group: ({path: value}, trial_key)}``.

        ``records`` are the experiment's stored records; the winner has the best selection metric
        (validation, or test for ``selection = "legacy"``; ties go to the earlier draw). A group whose
        search trials have no ``ok`` record with a finite metric is missing from the result.
        """
        scores = {r["trial_key"]: (r.get(self.selection_split) or {}).get(self.metric)
                  for r in records if r.get("status") == "ok" and r.get("phase") == "search"}
        best: dict[str, tuple[float, TrialSpec]] = {}
        for trial in self.search_trials(data):
            value = scores.get(trial.key)
            if not isinstance(value, numbers.Real) or not math.isfinite(value):
                continue
            score = -value if self.lower_is_better else value
            if trial.group not in best or score > best[trial.group][0]:
                best[trial.group] = (score, trial)
        return {group: (dict(trial.draw or {}), trial.key) for group, (_, trial) in best.items()}

    def planned_trials(self, data: Mapping[str, Any] | None = None) -> list[TrialSpec]:
        """Every search trial, and every final trial as if each group had its winner (with no draw): what a
        run will execute, for checks and progress before the search has picked anything."""
        every_group = {group: ({}, "") for group, *_ in self._search_groups()}
        return [*self.search_trials(data), *self.final_trials(every_group, data)]

    def final_trials(self, selected: Mapping[str, tuple[dict[str, Any], str]] | None = None,
                     data: Mapping[str, Any] | None = None) -> list[TrialSpec]:
        """Every variant × grid point × seed, with the selected hyperparameters of its group.

        Without ``[search]`` ``selected`` is ignored; with it, groups missing from ``selected`` (no search
        winner yet) are left out. Variants nothing tunes (the floors) need no winner.
        """
        trials = []
        for group, variant, point in self._groups():
            draw, source = None, None
            if self.search is not None and group is not None:
                if not selected or group not in selected:
                    continue
                draw, source = selected[group]
            trials += [self._trial("final", group, variant, point, seed, draw, data, source) for seed in self.seeds]
        return trials


def _group_name(variant: Variant, point: Mapping[str, Any]) -> str:
    settings = ", ".join(f"{path}={value}" for path, value in point.items())
    return f"{variant.label} ({settings})" if settings else variant.label


def _takes_hash_seed(config: Mapping[str, Any]) -> bool:
    """Whether the trial's embedding layer draws hash functions from its ``seed`` (the method declares it).

    False where the config cannot tell (an unknown model kind or method): validation then names the error.
    """
    from bloombench.layers import get_method

    try:
        embedding = resolve_config({"model": {"kind": model_kind(config)}}).get("embedding")
        if embedding is None:
            return False
        return get_method(config.get("embedding", {}).get("method", embedding["method"])).hashed
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------- parsing
def _check_trial(where: str, config: Mapping[str, Any]) -> None:
    """Refuse a trial config that cannot run (see :func:`~bloombench.experiments.trial.check_config`)."""
    from bloombench.experiments.trial import check_config

    try:
        check_config(config)
    except (TypeError, ValueError) as error:
        raise _fail(where, str(error)) from None


def parse_spec(text: str, *, profiles: Sequence[str] = (), path: str | None = None) -> ExperimentSpec:
    """Parse and validate a spec from TOML text, with ``profiles`` overlaid in order.

    Raises
    ------
    SpecError
        For invalid TOML, unknown keys, wrong types, impossible values or an unknown profile; the
        message names the file and the key.
    """
    where = path or "<spec>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _fail(where, f"invalid TOML: {error}") from None
    _unknown(where, raw, _TOP_KEYS)
    available = _table(f"{where}: profiles", raw.get("profiles", {}))
    for profile in profiles:
        if profile not in available:
            raise _fail(where, f"unknown profile {profile!r}; this spec has {sorted(available)}")
        overlay = dict(_table(f"{where}: profiles.{profile}", available[profile]))
        _unknown(f"{where}: profiles.{profile}", overlay, _TOP_KEYS - {"profiles", "name"})
        keep = overlay.pop("variants", None)
        raw = _deep_merge(raw, overlay)
        if keep is not None:
            if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
                raise _fail(f"{where}: profiles.{profile}.variants", f"must be a list of variant labels, got {keep!r}")
            labels = [v.get("label") for v in raw.get("variants", []) if isinstance(v, Mapping)]
            unknown = sorted(set(keep) - set(labels))
            if unknown:
                raise _fail(f"{where}: profiles.{profile}.variants", f"unknown labels {unknown}; known: {labels}")
            raw["variants"] = [v for v in raw["variants"] if v.get("label") in keep]

    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(f"{where}: name", f"must be a plain name (letters, digits, '-', '_', '.'), got {name!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _fail(f"{where}: description", f"must be a string, got {description!r}")
    explanations = raw.get("explanations", {})
    if not isinstance(explanations, dict) or not all(
            k in EXPLAINABLE and isinstance(v, str) and v.strip() for k, v in explanations.items()):
        raise _fail(f"{where}: explanations", f"must map findings {list(EXPLAINABLE)} to non-empty text, "
                    f"got {explanations!r}")
    seeds = raw.get("seeds", [0, 1, 2])
    if (not isinstance(seeds, list) or not seeds or len(set(map(str, seeds))) != len(seeds)
            or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**32 for x in seeds)):
        raise _fail(f"{where}: seeds", f"must be a non-empty list of distinct ints in [0, 2**32), got {seeds!r}")
    selection = raw.get("selection", "validation")
    if selection not in _SELECTIONS:
        raise _fail(f"{where}: selection", f"must be one of {_SELECTIONS}, got {selection!r}")
    metric = raw.get("metric", "mrr")
    if not isinstance(metric, str) or not _METRIC.match(metric):
        raise _fail(f"{where}: metric", f"must be mrr, rmse or precision/recall/ndcg/hit_rate@k, got {metric!r}")
    diagnostics = raw.get("diagnostics", False)
    if not isinstance(diagnostics, bool):
        raise _fail(f"{where}: diagnostics", f"must be true or false, got {diagnostics!r}")
    max_concurrent = raw.get("max_concurrent")
    if max_concurrent is not None:
        max_concurrent = _int(f"{where}: max_concurrent", max_concurrent, 1)
    base = dict(_table(f"{where}: base", raw.get("base", {})))
    default_grid = parse_grid(f"{where}: grid", raw.get("grid", {}))
    contexts = parse_grid(f"{where}: contexts", raw.get("contexts", {}))
    clash = sorted(set(contexts) & {p for v in raw.get("variants", []) if isinstance(v, Mapping)
                                    for p in (v.get("grid") or default_grid)})
    if clash:
        raise _fail(f"{where}: contexts", f"{clash} are both contexts and grid paths; give each path one role")
    entries = raw.get("variants")
    if not isinstance(entries, list) or not entries:
        raise _fail(f"{where}: variants", "must be a non-empty array of tables ([[variants]])")
    variants = tuple(parse_variant(f"{where}: variants[{i}]", v, default_grid, base) for i, v in enumerate(entries))
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise _fail(f"{where}: variants", f"labels must be unique, got {labels}")
    baselines = [v.label for v in variants if v.baseline]
    if len(baselines) != 1:
        raise _fail(f"{where}: variants", f"exactly one variant must have baseline = true, got {baselines}")
    search = SearchSpec.parse(f"{where}: search", raw["search"]) if "search" in raw else None
    if search is not None:
        _check_search(f"{where}: search", search, variants)

    spec = ExperimentSpec(name=name, description=description.strip(), profiles=tuple(profiles),
                          seeds=tuple(seeds), selection=selection, metric=metric, diagnostics=diagnostics,
                          max_concurrent=max_concurrent, base=base, variants=variants, search=search,
                          contexts=contexts, available_profiles=tuple(sorted(available)),
                          source=text, path=path)
    _validate_trials(where, spec)
    return spec


def _check_search(where: str, search: SearchSpec, variants: Sequence[Variant]) -> None:
    """The baseline must be tunable, and ``at`` must name values of the grids it applies to."""
    baseline = next((v for v in variants if v.baseline), None)
    if baseline is not None and not baseline.tuned:
        raise _fail(where, f"the baseline {baseline.label!r} trains nothing, so there is nothing to search")
    for variant in variants:
        for path, value in search.at.items():
            if path in variant.grid and value not in variant.grid[path]:
                raise _fail(f"{where}.at.{path}", f"must be a value of variant {variant.label!r}'s grid "
                            f"{variant.grid[path]}, got {value!r}")


def _validate_trials(where: str, spec: ExperimentSpec) -> None:
    """Every trial the spec can produce must resolve; two variants must not produce the same trial."""
    names = spec.base.get("dataset", {}).get("name")
    base = spec
    if isinstance(names, list):  # validate with the first candidate; the choice is made at run time
        if not names or not all(isinstance(n, str) for n in names):
            raise _fail(f"{where}: base.dataset.name", f"must be a name or a non-empty list of names, got {names!r}")
        base = dataclasses.replace(spec, base=_deep_merge(spec.base, {"dataset": {"name": names[0]}}))
    draws = base.search.draws() if base.search is not None else [None]
    # Every draw on the baseline, every point with the first draw: each setting is checked once.
    for draw in draws[1:]:
        _check_trial(f"{where}: search draw {draw}", base._config(base.baseline, {}, base.seeds[0], draw))
    owner: dict[str, str] = {}
    for group, variant, point in base._groups():
        config = base._config(variant, point, base.seeds[0], draws[0] if group is not None else None)
        _check_trial(f"{where}: variant {variant.label!r}" + (f" at {point}" if point else ""), config)
        key = _trial_key(config, "final")
        if key in owner:
            raise _fail(where, f"variants {owner[key]!r} and {variant.label!r} produce the same trial at {point}")
        owner[key] = variant.label


def available_specs() -> list[str]:
    """Names of the specs shipped in ``bloombench/configs/``."""
    folder = importlib.resources.files("bloombench") / "configs"
    return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".toml"))


def load_spec(name_or_path: str | Path, profiles: Sequence[str] = ()) -> ExperimentSpec:
    """Load a shipped spec by name (``"factorization"``) or a TOML file by path, with ``profiles``.

    Raises
    ------
    SpecError
        For an unknown name (the message lists the shipped specs), an unreadable file, or an invalid spec.
    """
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        try:
            text = candidate.read_text(encoding="utf-8")
        except OSError as error:
            raise SpecError(f"cannot read spec file {str(candidate)!r}: {error}") from None
        return parse_spec(text, profiles=profiles, path=str(candidate))
    name = str(name_or_path)
    if name not in available_specs():
        raise SpecError(f"unknown spec {name!r}; shipped specs: {available_specs()} (or give a path to a .toml file)")
    resource = importlib.resources.files("bloombench") / "configs" / f"{name}.toml"
    return parse_spec(resource.read_text(encoding="utf-8"), profiles=profiles, path=f"bloombench/configs/{name}.toml")
