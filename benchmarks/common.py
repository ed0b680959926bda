"""Helpers shared by the benchmark files: devices, seeded ids, timing, memoised set-up, data location.

Timing conventions of the whole suite
-------------------------------------
* CUDA work is synchronised before the clock is read, and every measured callable is called once in
  ``setup`` (or by :func:`best_seconds`) before it is timed, so CUDA context creation, kernel
  compilation, lazy optimizer state and the allocator's first growth are never measured.
* CUDA parameters raise ``NotImplementedError`` in ``setup`` on a machine without CUDA: asv records them
  as skipped.
* asv (0.6, asv_runner 0.3) re-runs ``setup`` before every timed sample. Objects that are expensive to
  build and are not changed by the measured call (embedding tables of 10^7 rows take seconds to
  initialise) are memoised per process with :func:`memoised`, so only the first sample pays for them.
  ``setup_cache`` is used where the object pickles cheaply (data sets, fitted small models, metrics).
* asv runs benchmarks with ``OMP_NUM_THREADS=1`` and glibc's ``MALLOC_MMAP_THRESHOLD_`` and
  ``MALLOC_TRIM_THRESHOLD_`` raised to 4 GiB (``matrix.env_nobuild`` in ``asv.conf.json``): otherwise
  every temporary above glibc's mmap threshold (at most 32 MiB) is returned to the OS when freed and
  page-faulted again on the next call, which dominates vectorised kernels over ~10^6 elements and the
  dense gradients of large tables. ``hashing.MallocEffect`` measures what the setting changes.

Organisation
------------
* **Profile.** ``BLOOMBENCH_ASV_PROFILE`` (``full``, the default, or ``quick``) chooses the sizes:
  :func:`by_profile` gives a size parameter its ``full`` values, or under ``quick`` only the small end.
  A profile only drops parameter values, never changes what a value measures, so a benchmark key means
  the same under both profiles and quick results pair with full ones in ``asv compare``. Sizes that
  define what a benchmark measures (a table far larger than the caches, an issue target's size) are kept
  in both.
* **Registry-driven variants.** :data:`VARIANTS` holds every ``examples`` entry of every method in
  :func:`bloombench.layers.available_methods`, plus the derived variants of :data:`DERIVED_VARIANTS`;
  the layer benchmarks are generated over it, so a newly registered method with its ``examples`` is
  benchmarked without an edit here. :data:`LABEL_ALIASES` keeps the labels the committed results use.
* **The library's own runner.** Benchmarks of models build their config with :func:`trial_config` and
  run it with ``bloombench.experiments`` (``run_trial``, or ``build_model`` + ``split_data`` +
  ``FitOptions``): data loading, splitting, table inflation (``dataset.table_rows``) and model building
  are the library's, never restated here.
* **Versions.** asv hashes the source of each benchmark's method, ``setup`` and ``setup_cache`` into its
  version, and ``asv compare`` marks pairs of different versions as incomparable. Where a measurement is
  unchanged, those methods keep their source; what changes lives in module-level helpers.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from bloombench.layers import available_methods, get_method

__all__ = [
    "BLOOM",
    "DERIVED_VARIANTS",
    "ALL_DEVICES",
    "DEVICES",
    "DEVICES_ENV",
    "DIM",
    "LABEL_ALIASES",
    "MALLOC_ENV",
    "MODELS",
    "PROFILE",
    "PROFILES",
    "PROFILE_ENV",
    "REPO_ROOT",
    "VARIANTS",
    "active_devices",
    "active_profile",
    "best_seconds",
    "by_profile",
    "layer_variants",
    "memoised",
    "movielens_dirs",
    "random_ids",
    "require_device",
    "synchronize",
    "trial_config",
]

#: Names the devices to benchmark, comma-separated (default both); like the profile it only drops parameter
#: values: ``cuda`` alone is the GPU check's run (``tools/gpu-check.sh``), whose CPU figures would only repeat.
DEVICES_ENV = "BLOOMBENCH_ASV_DEVICES"
ALL_DEVICES = ("cpu", "cuda")


def active_devices() -> list[str]:
    """The devices named by ``$BLOOMBENCH_ASV_DEVICES`` (all of :data:`ALL_DEVICES` when unset or empty).

    Raises
    ------
    ValueError
        For a name that is not a device of the suite.
    """
    names = [n.strip() for n in (os.environ.get(DEVICES_ENV) or ",".join(ALL_DEVICES)).split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL_DEVICES]
    if unknown or not names:
        raise ValueError(f"{DEVICES_ENV} must name devices among {list(ALL_DEVICES)}, got "
                         f"{os.environ.get(DEVICES_ENV)!r}")
    return [d for d in ALL_DEVICES if d in names]


DEVICES = active_devices()
#: Embedding width of every benchmark (the quick reproduction profile's).
DIM = 32
#: What asv.conf.json sets for benchmark processes (``hashing.MallocEffect`` compares with glibc's defaults).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(4 * 2**30), "MALLOC_TRIM_THRESHOLD_": str(4 * 2**30)}
#: The checkout the benchmark files live in (asv imports them from there, whatever its working directory).
REPO_ROOT = Path(__file__).resolve().parents[1]

T = TypeVar("T")

PROFILE_ENV = "BLOOMBENCH_ASV_PROFILE"
PROFILES = ("quick", "full")


def active_profile() -> str:
    """The size profile named by ``$BLOOMBENCH_ASV_PROFILE`` (``full`` when unset or empty).

    Raises
    ------
    ValueError
        For a name outside :data:`PROFILES` (a typo must not silently run the full suite).
    """
    profile = os.environ.get(PROFILE_ENV) or "full"
    if profile not in PROFILES:
        raise ValueError(f"{PROFILE_ENV} must be one of {list(PROFILES)}, got {profile!r}")
    return profile


#: The profile of this process; asv passes the environment on to discovery and to every benchmark
#: process, so all of them read the same one.
PROFILE = active_profile()


def by_profile(full: Sequence[T], quick: Sequence[T] | None = None, *, profile: str | None = None) -> list[T]:
    """The values of a size parameter under ``profile`` (default: :data:`PROFILE`).

    Parameters
    ----------
    full : sequence
        The values of the full profile, smallest first (today's sizes: the committed results pair with
        them).
    quick : sequence, optional
        The values of the quick profile; default the first (smallest) value of ``full``.
    profile : str, optional
        ``"quick"`` or ``"full"``.

    Raises
    ------
    ValueError
        When ``quick`` holds a value ``full`` does not: quick runs only drop values, so their results
        pair with full ones.
    """
    quick = list(full[:1] if quick is None else quick)
    if not quick or any(value not in full for value in quick):
        raise ValueError(f"quick values {quick} must be a non-empty subset of the full values {list(full)}")
    return list(full) if (profile or PROFILE) == "full" else quick


#: Registry example labels -> the labels the committed results use (asv pairs results by parameter
#: value, so renaming a variant would orphan its history). Only the renamed ones are listed.
LABEL_ALIASES: dict[str, str] = {"bloom": "bloom_table"}
#: Variants the suite adds to the registry's examples: label -> (variant it derives from, arguments added).
DERIVED_VARIANTS: dict[str, tuple[str, dict[str, object]]] = {"full_sparse": ("full", {"sparse": True})}


def layer_variants() -> dict[str, tuple[str, dict[str, object]]]:
    """Every layer variant the suite benchmarks: label -> (registered method, arguments).

    Each ``examples`` entry of each method of :func:`bloombench.layers.available_methods`, in registry
    order, labelled by its example name (renamed by :data:`LABEL_ALIASES`), each derived variant of
    :data:`DERIVED_VARIANTS` right after the variant it derives from.

    Raises
    ------
    ValueError
        When two examples share a label, or an alias or derived variant names no example (a stale entry
        here would silently drop a benchmark series).
    """
    variants: dict[str, tuple[str, dict[str, object]]] = {}
    for method in available_methods():
        for example, params in get_method(method).examples.items():
            label = LABEL_ALIASES.get(example, example)
            if label in variants:
                raise ValueError(f"example {example!r} of layer method {method!r} reuses the variant label "
                                 f"{label!r}; example names must be unique over the registry")
            variants[label] = (method, dict(params))
            for derived, (base, extra) in DERIVED_VARIANTS.items():
                if base == label:
                    variants[derived] = (method, {**params, **extra})
    examples = {example for method in available_methods() for example in get_method(method).examples}
    stale = sorted({a for a in LABEL_ALIASES if a not in examples}
                   | {d for d, (base, _) in DERIVED_VARIANTS.items() if base not in variants})
    if stale:
        raise ValueError(f"benchmarks/common.py names layer examples the registry no longer has: {stale}")
    return variants


#: label -> (registered method, arguments) of every layer variant (see :func:`layer_variants`).
VARIANTS = layer_variants()
#: The Bloom configuration benchmarked everywhere: the registry's ``bloom`` example (compression 0.2, k = 4).
BLOOM: dict[str, object] = VARIANTS["bloom_table"][1]

#: The suite's reference models by label: the quick reproduction profile's (dim 32, BPR loss).
MODELS: dict[str, dict[str, object]] = {
    "implicit": {"kind": "implicit", "loss": "bpr", "embedding_dim": DIM},
    "lstm": {"kind": "sequence", "representation": "lstm", "loss": "bpr", "embedding_dim": DIM},
}


def trial_config(model: str, variant: str, *, dataset: Mapping[str, Any], training: Mapping[str, Any],
                 evaluate: bool = True) -> dict[str, Any]:
    """The resolved trial config of ``MODELS[model]`` with layer variant ``variant`` on all its tables.

    Parameters
    ----------
    model : str
        A key of :data:`MODELS`.
    variant : str
        A key of :data:`VARIANTS` (not a ``sparse`` one: a trial takes sparse gradients from its
        optimizer, ``adam-sparse``).
    dataset, training : mapping
        The config's ``dataset`` and ``training`` sections (the rest keep the library's defaults: random
        80/10/10 split with seed 0, the kind's sequence windows, every table of the variant).
    evaluate : bool
        ``evaluation.enabled``: false for timing-only trials.
    """
    # Imported on use: hashing's probe interpreter imports this module and needs no experiment machinery.
    from bloombench.experiments.config import resolve_config

    method, params = VARIANTS[variant]
    return resolve_config({"dataset": dict(dataset), "model": dict(MODELS[model]),
                           "embedding": {"method": method, "params": params},
                           "training": dict(training), "evaluation": {"enabled": evaluate}})


def require_device(device: str) -> torch.device:
    """``torch.device(device)``; skip (asv: ``NotImplementedError`` in setup) CUDA without a CUDA device."""
    if device not in ALL_DEVICES:
        raise ValueError(f"device must be one of {list(ALL_DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise NotImplementedError("CUDA not available")
    return torch.device(device)


def synchronize(device: torch.device | str) -> None:
    """Wait for queued work on ``device`` (a no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def best_seconds(fn: Callable[[], object], *, device: torch.device | str = "cpu", repeat: int = 5,
                 warmup: int = 1) -> float:
    """Best wall time of ``repeat`` calls of ``fn`` after ``warmup`` untimed calls.

    The minimum is the estimate least disturbed by other processes on a shared machine; queued GPU
    work is synchronised before every clock read.
    """
    if repeat < 1 or warmup < 0:
        raise ValueError(f"need repeat >= 1 and warmup >= 0, got repeat={repeat}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def random_ids(n: int, high: int, device: torch.device | str = "cpu", seed: int = 0) -> torch.Tensor:
    """``n`` uniform int64 ids in ``[0, high)`` drawn from a seeded CPU generator, then moved to ``device``.

    Drawing on the CPU makes the ids identical on every device.
    """
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, (n,), generator=generator).to(device)


def memoised(fn: Callable[..., T]) -> Callable[..., T]:
    """Cache the last result of ``fn`` (per process): asv re-runs ``setup`` before every sample, and one
    benchmark process only ever asks for one parameter combination."""
    return functools.lru_cache(maxsize=1)(fn)


def movielens_dirs() -> list[Path]:
    """Directories that may hold MovieLens, in order: ``$BLOOMBENCH_DATA``, the project's shared data
    (``../shared/data`` next to the checkout) and bloombench's default data directory.

    Benchmarks never download: callers load with ``download=False`` and skip when nothing is found.
    """
    from bloombench.data import default_data_dir

    candidates = [os.environ.get("BLOOMBENCH_DATA"), REPO_ROOT.parent / "shared" / "data", default_data_dir()]
    return [Path(c) for c in candidates if c]
