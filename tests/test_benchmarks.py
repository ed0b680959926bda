"""The asv suite runs: every benchmark's setup and body once at its smallest parameters on the CPU, so a
library change that breaks a benchmark fails here; and asv.conf.json installs what the package pins."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import math
import re
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["hashing", "layers", "optim", "training", "evaluation", "quality"]
PREFIXES = ("time_", "track_", "peakmem_", "mem_")


def _import_suite() -> dict[str, ModuleType]:
    """Import ``benchmarks`` from the checkout as asv does (a package, so ``from .common`` works)."""
    if "benchmarks" not in sys.modules:
        spec = importlib.util.spec_from_file_location("benchmarks", ROOT / "benchmarks" / "__init__.py",
                                                      submodule_search_locations=[str(ROOT / "benchmarks")])
        package = importlib.util.module_from_spec(spec)
        sys.modules["benchmarks"] = package
        spec.loader.exec_module(package)
    return {name: importlib.import_module(f"benchmarks.{name}") for name in MODULES}


SUITE = _import_suite()


def _smallest(name: str, values: list) -> list:
    """CPU only, the smallest of numeric parameters, every value of the others (each method, family...)."""
    if name == "device":
        return ["cpu"]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [min(values)]
    return list(values)


def _classes() -> list[tuple[str, type]]:
    return [(module, cls) for module, mod in SUITE.items() for _, cls in inspect.getmembers(mod, inspect.isclass)
            if cls.__module__ == mod.__name__ and any(n.startswith(PREFIXES) for n in dir(cls))]


def _cases() -> list:
    cases = []
    for module, cls in _classes():
        grids = [_smallest(n, list(v)) for n, v in zip(cls.param_names, cls.params)] if hasattr(cls, "params") else []
        combos = [()]
        for grid in grids:
            combos = [(*c, v) for c in combos for v in grid]
        # Parameters outermost: consecutive cases share the memoised set-up (tables, fitted models).
        for combo in combos:
            for method in sorted(n for n in dir(cls) if n.startswith(PREFIXES)):
                label = f"{module}.{cls.__name__}.{method}[{'-'.join(map(str, combo))}]"
                cases.append(pytest.param(cls, method, combo, id=label))
    return cases


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread, as asv runs the suite (OMP_NUM_THREADS=1): tiny ops on a shared 2-core machine
    are several times slower with two threads."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="module")
def _short_quality_fit():
    """One epoch instead of ten for the MovieLens benchmark: the same code path, a tenth of the time."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(SUITE["quality"].FIT, "epochs", 1)
        yield


@functools.cache
def _setup_cache(cls: type) -> object:
    return cls().setup_cache()


def run_benchmark(cls: type, method: str, params: tuple) -> object:
    """What asv does for one sample: setup_cache (once per class), setup, the body, teardown (which asv
    calls after a skipped set-up too)."""
    bench = cls()
    cache = _setup_cache(cls) if hasattr(cls, "setup_cache") else None
    args = (() if cache is None else (cache,)) + tuple(params)  # asv passes no argument for None
    try:
        try:
            if hasattr(bench, "setup"):
                bench.setup(*args)
        except NotImplementedError as skip:
            pytest.skip(f"asv would skip: {skip}")
        return getattr(bench, method)(*args)
    finally:
        if hasattr(bench, "teardown"):
            bench.teardown(*args)


def test_every_benchmark_class_declares_consistent_parameters() -> None:
    classes = _classes()
    assert {module for module, _ in classes} == set(MODULES)
    for _, cls in classes:
        if hasattr(cls, "params"):
            params = cls.params if isinstance(cls.params, tuple) else (cls.params,)
            assert len(params) == len(cls.param_names), cls.__name__
            assert all(len(values) >= 1 for values in params), cls.__name__
            if "device" in cls.param_names:
                assert list(params[cls.param_names.index("device")]) == ["cpu", "cuda"], cls.__name__
        for name in dir(cls):
            if name.startswith("track_"):
                assert getattr(getattr(cls, name), "unit", None), f"{cls.__name__}.{name} has no unit"


@pytest.mark.parametrize(("cls", "method", "params"), _cases())
def test_benchmark_runs_once(cls: type, method: str, params: tuple) -> None:
    result = run_benchmark(cls, method, params)
    if method.startswith("track_"):
        assert isinstance(result, (int, float)) and not isinstance(result, bool)
        assert math.isfinite(result) and result >= 0
        if getattr(cls, method).unit in ("M ids/s", "GB/s", "seconds", "MRR"):
            assert result > 0
    else:
        assert result is None


def test_cuda_parameters_skip_cleanly_without_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present: the CUDA parameters run instead")
    for _, cls in _classes():
        if "device" not in getattr(cls, "param_names", []):
            continue
        combo = [_smallest(n, list(v))[0] if n != "device" else "cuda" for n, v in zip(cls.param_names, cls.params)]
        method = next(n for n in sorted(dir(cls)) if n.startswith(PREFIXES))
        with pytest.raises(pytest.skip.Exception, match="CUDA not available"):
            run_benchmark(cls, method, tuple(combo))


def test_index_bytes_are_zero_on_the_fly_and_counted_for_the_table() -> None:
    memory = SUITE["layers"].LayerMemory
    assert run_benchmark(memory, "track_index_bytes", ("bloom_on_the_fly", 10_000, "cpu")) == 0
    # k = 4 int32 entries per id
    assert run_benchmark(memory, "track_index_bytes", ("bloom_table", 10_000, "cpu")) == 10_000 * 4 * 4
    assert run_benchmark(memory, "track_memory_bytes", ("full", 10_000, "cpu")) == 10_000 * 32 * 4


def test_quality_is_skipped_without_movielens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    quality = SUITE["quality"]
    monkeypatch.setattr(quality, "movielens_dirs", lambda: [tmp_path])
    bench = quality.MovieLens100K()
    metrics = bench.setup_cache()
    assert metrics == {}
    with pytest.raises(NotImplementedError, match="MovieLens 100K not found"):
        bench.setup(metrics, "full")


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==([^\s#]+)\s*(#.*)?", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_asv_environment_installs_exactly_the_pinned_dependencies() -> None:
    conf = json.loads((ROOT / "asv.conf.json").read_text(encoding="utf-8"))
    constraints = _pins((ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines())
    matrix = {name.lower(): versions for name, versions in conf["matrix"]["req"].items()}
    # The wheel is installed with --no-deps: every runtime dependency must come from the matrix.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    needed = {re.match(r"[A-Za-z0-9_.-]+", dep).group(0).lower() for dep in project["dependencies"]}
    assert needed <= set(matrix), f"missing from asv matrix: {sorted(needed - set(matrix))}"
    for name, versions in matrix.items():
        assert versions == [constraints[name]], f"{name}: asv {versions} vs constraints {constraints.get(name)}"
    assert matrix["torch"] == ["2.13.0"]
    assert "--no-deps" in " ".join(conf["install_command"])
    env = conf["matrix"]["env_nobuild"]
    malloc = importlib.import_module("benchmarks.common").MALLOC_ENV
    assert {k: env[k] for k in malloc} == malloc
    assert env["OMP_NUM_THREADS"] == "1"
    assert (conf["results_dir"], conf["html_dir"]) == ("results/asv", "reports/asv")
