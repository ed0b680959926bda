"""The asv suite runs: every benchmark's setup and body once at its smallest parameters on the CPU (the
quick profile's), so a library change that breaks a benchmark fails here; the generated benchmarks cover
every registered layer method; the profiles keep the committed results' parameters; and asv.conf.json
installs what the package pins."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Every benchmark file; common.py holds the shared helpers and no benchmark.
MODULES = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem not in ("__init__", "common"))
PREFIXES = ("time_", "timeraw_", "track_", "peakmem_", "mem_")
PROFILE_ENV = "BLOOMBENCH_ASV_PROFILE"


def _import_suite() -> dict[str, ModuleType]:
    """Import ``benchmarks`` from the checkout as asv does (a package, so ``from .common`` works), under the
    quick profile unless the environment names one (the profile is read at import)."""
    if "benchmarks" not in sys.modules:
        spec = importlib.util.spec_from_file_location("benchmarks", ROOT / "benchmarks" / "__init__.py",
                                                      submodule_search_locations=[str(ROOT / "benchmarks")])
        package = importlib.util.module_from_spec(spec)
        sys.modules["benchmarks"] = package
        spec.loader.exec_module(package)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PROFILE_ENV, os.environ.get(PROFILE_ENV) or "quick")
        return {name: importlib.import_module(f"benchmarks.{name}") for name in [*MODULES, "common"]}


SUITE = _import_suite()
COMMON = SUITE.pop("common")


def _smallest(name: str, values: list) -> list:
    """CPU only, the smallest of numeric parameters, every value of the others (each method, family...)."""
    if name == "device":
        return ["cpu"]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [min(values)]
    return list(values)


def _asv_classes(mod: ModuleType) -> list[type]:
    """The classes asv collects from ``mod``: public names, not abstract, with a benchmark method."""
    return [value for name, value in vars(mod).items()
            if not name.startswith("_") and inspect.isclass(value) and not inspect.isabstract(value)
            and any(n.startswith(PREFIXES) for n in dir(value))]


def _classes() -> list[tuple[str, type]]:
    return [(module, cls) for module, mod in SUITE.items() for cls in _asv_classes(mod)]


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
        patch.setitem(SUITE["quality"].TRAINING, "epochs", 1)
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
    # asv collects every public class of a module: a benchmark class imported into another benchmark file
    # would run twice under two names, and a public mixin would run without parameters.
    assert all(cls.__module__ == f"benchmarks.{module}" for module, cls in classes)
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


def test_every_registered_layer_example_is_benchmarked() -> None:
    from bloombench.layers import available_methods, get_method

    examples = {COMMON.LABEL_ALIASES.get(label, label): method for method in available_methods()
                for label in get_method(method).examples}
    assert set(available_methods()) == set(examples.values())  # every method declares an example
    layers = SUITE["layers"]
    for cls in (layers.LayerPass, layers.LayerMemory):
        labels = cls.params[cls.param_names.index("method")]
        assert set(labels) == set(examples) | set(COMMON.DERIVED_VARIANTS), cls.__name__
    # The labels the committed results use are still generated (asv pairs results by parameter value).
    assert {"full", "full_sparse", "bloom_table", "bloom_on_the_fly"} <= set(COMMON.VARIANTS)
    assert COMMON.VARIANTS["full_sparse"] == ("full", {"sparse": True})


def test_a_newly_registered_method_is_benchmarked_without_an_edit(monkeypatch: pytest.MonkeyPatch) -> None:
    from bloombench.layers import HashingTrickEmbedding, make_embedding, registry

    class ToyEmbedding(HashingTrickEmbedding):
        examples = {"toy": {"compression_ratio": 0.5}, "toy_on_the_fly": {"compression_ratio": 0.5,
                                                                          "index": "on_the_fly"}}

    monkeypatch.setitem(registry._METHODS, "toy", ToyEmbedding)
    variants = COMMON.layer_variants()
    assert variants["toy"] == ("toy", {"compression_ratio": 0.5})
    assert variants["toy_on_the_fly"][0] == "toy"
    method, params = variants["toy_on_the_fly"]
    assert make_embedding(method, 100, 4, **params).memory_bytes() > 0


def test_layer_variants_refuse_duplicate_and_stale_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    from bloombench.layers import FullEmbedding, registry

    class Again(FullEmbedding):
        examples = {"full": {}}

    with monkeypatch.context() as patch:
        patch.setitem(registry._METHODS, "again", Again)
        with pytest.raises(ValueError, match="reuses the variant label 'full'"):
            COMMON.layer_variants()
    with monkeypatch.context() as patch:
        patch.setitem(COMMON.LABEL_ALIASES, "gone", "gone_label")
        with pytest.raises(ValueError, match="gone"):
            COMMON.layer_variants()


def test_profile_names_and_quick_values_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE_ENV, "fast")
    with pytest.raises(ValueError, match="quick"):
        COMMON.active_profile()
    monkeypatch.setenv(PROFILE_ENV, "")
    assert COMMON.active_profile() == "full"
    assert COMMON.by_profile([1, 2, 3], profile="quick") == [1]
    assert COMMON.by_profile([1, 2, 3], [1, 3], profile="quick") == [1, 3]
    assert COMMON.by_profile([1, 2, 3], profile="full") == [1, 2, 3]
    with pytest.raises(ValueError, match="subset"):
        COMMON.by_profile([1, 2], [5])


_DUMP = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
out = {}
for module in sys.argv[2:]:
    mod = importlib.import_module("benchmarks." + module)
    for name, cls in vars(mod).items():
        if isinstance(cls, type) and cls.__module__ == mod.__name__ and hasattr(cls, "param_names"):
            out[module + "." + name] = [cls.param_names, [[repr(v) for v in values] for values in cls.params]]
print(json.dumps(out))
"""


@functools.cache
def _params_under(profile: str) -> dict[str, list]:
    """``{module.Class: [param_names, [[repr(value)...]...]]}`` of the suite imported under ``profile`` (in a
    fresh interpreter: the profile is read at import), values as asv records them."""
    env = {**os.environ, PROFILE_ENV: profile,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _DUMP, str(ROOT), *MODULES], env=env, capture_output=True,
                          text=True, check=True, timeout=300)
    return json.loads(done.stdout)


def test_quick_profile_only_drops_size_values() -> None:
    quick, full = _params_under("quick"), _params_under("full")
    assert quick.keys() == full.keys()
    shrunk = set()
    for name, (names, values) in full.items():
        assert quick[name][0] == names, name
        for param, full_values, quick_values in zip(names, values, quick[name][1]):
            assert quick_values and set(quick_values) <= set(full_values), (name, param)
            if quick_values != full_values:
                shrunk.add(f"{name}.{param}")
    # Labels (methods, hashes, optimizers) and devices are never dropped: only sizes are.
    assert all(name.rsplit(".", 1)[1] in {"rows", "batch", "n_ids", "table_rows"} for name in shrunk), shrunk
    assert {"layers.LayerPass.rows", "layers.LayerMemory.rows", "hashing.HashIds.n_ids",
            "training.Epoch.table_rows", "optim.OptimizerStep.rows"} <= shrunk
    assert full["layers.LayerPass"][1][1:3] == [["10000", "1000000", "10000000"], ["256", "4096"]]


def test_full_profile_keeps_the_parameters_of_the_committed_results() -> None:
    """``asv compare`` pairs results by benchmark name and parameter values: every committed benchmark still
    exists with every committed value, except the epoch benchmark, which now runs the speed experiment's
    protocol (``dataset.table_rows`` inflates both tables) and was re-keyed on purpose."""
    committed = json.loads((ROOT / "results" / "asv" / "benchmarks.json").read_text(encoding="utf-8"))
    full = _params_under("full")
    rekeyed = set()
    for key, bench in committed.items():
        if key == "version":
            continue
        cls = key.rsplit(".", 1)[0]
        assert cls in full, f"{key} is no longer generated"
        names, values = full[cls]
        if names != bench["param_names"]:
            rekeyed.add(key)
            continue
        for param, old, new in zip(names, bench["params"], values):
            assert set(old) <= set(new), f"{key}: {param} lost {sorted(set(old) - set(new))}"
    assert rekeyed <= {"training.Epoch.track_seconds_per_epoch"}  # empty once benchmarks.json is regenerated


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


def test_reference_benchmarks_use_only_the_api_the_reference_commit_has() -> None:
    """``benchmarks/reference.py`` must import at 93d8520 (issue 17's ``asv compare`` baseline): nothing from the
    rest of the suite, and from the package only names whose signatures that commit already had."""
    source = (ROOT / "benchmarks" / "reference.py").read_text(encoding="utf-8")
    assert not re.search(r"^from \.|^import benchmarks|^from benchmarks", source, re.M)
    imports = re.findall(r"^from (bloombench[\w.]*) import (.+)$", source, re.M)
    assert imports == [("bloombench.data", "synthetic"), ("bloombench.layers", "embedding_factory"),
                       ("bloombench.models", "ImplicitFactorizationModel, ImplicitSequenceModel")]


@pytest.mark.parametrize(("value", "devices"), [(None, ["cpu", "cuda"]), ("", ["cpu", "cuda"]), ("cuda", ["cuda"]),
                                                (" cuda , cpu ", ["cpu", "cuda"])])
def test_the_devices_variable_only_drops_device_values(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                                       devices: list[str]) -> None:
    if value is None:
        monkeypatch.delenv(COMMON.DEVICES_ENV, raising=False)
    else:
        monkeypatch.setenv(COMMON.DEVICES_ENV, value)
    assert COMMON.active_devices() == devices


def test_the_devices_variable_rejects_an_unknown_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COMMON.DEVICES_ENV, "cuda,tpu")
    with pytest.raises(ValueError, match=r"BLOOMBENCH_ASV_DEVICES must name devices among \['cpu', 'cuda'\], "
                                         r"got 'cuda,tpu'"):
        COMMON.active_devices()


def test_gpu_check_scripts_parse_and_every_wheel_they_fetch_is_pinned() -> None:
    for script in ("gpu-check.sh", "gpu-wheels.sh"):
        subprocess.run(["bash", "-n", str(ROOT / "tools" / script)], check=True)
    constraints = _pins((ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines())
    names = [line.strip() for line in (ROOT / "tools" / "gpu-wheels.txt").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert names and all(name.lower() in constraints for name in names), \
        sorted(n for n in names if n.lower() not in constraints)
    # The packages of the project that the device image lacks must all travel (the image's list: KINDS.md).
    assert {"mmh3", "metrohash", "cityhash", "pooch", "platformdirs", "pebble", "dask", "distributed", "asv"} <= \
        {name.lower() for name in names}
