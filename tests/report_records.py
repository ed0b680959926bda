"""Made-up trial records for the report's floor, frontier and hash-family tests (no training, no torch).

The values are chosen, not measured, so the tests can state the numbers the report must print: the
shapes are the records of :mod:`bloombench.experiments.records` (identity, status, config, metrics, sizes,
times, environment), including the floor model kinds (``config.model.kind`` ``popularity`` / ``random``:
no ``config.embedding``, no epochs) and the full table at a smaller embedding dimension.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bloombench.results import ResultStore

SEEDS = (0, 1, 2)
#: Seed noise added to every accuracy (a different sign pattern per variant keeps the intervals honest).
NOISE = {0: -0.004, 1: 0.001, 2: 0.003}
ITEMS = 120
ENVIRONMENT = {"cpu": "Test CPU", "cpu_count": 2, "gpu": None, "torch": "0.0+test", "python": "3.11",
               "git_commit": "0123456789abcdef"}
FULL_BYTES = 15_360  # (100 users + 20 items... ) made up: what a dim-16 pair of full tables holds


def record(experiment: str, variant: str, seed: int, mrr: float, *, kind: str = "implicit",
           method: str | None = "full", params: dict | None = None, section: str = "embedding", dim: int | None = 16,
           embedding_bytes: int | None = FULL_BYTES, seconds: float | None = 1.0, baseline: bool = False,
           training_seed: bool = True, status: str = "ok", noise: float = 1.0) -> dict[str, Any]:
    """One final trial record with accuracy ``mrr + noise * NOISE[seed]``; ``method=None`` makes a floor (no
    compressible part, no epochs)."""
    model: dict[str, Any] = {"kind": kind}
    if dim is not None:
        model["embedding_dim"] = dim
    config: dict[str, Any] = {"dataset": {"name": "made-up"}, "split": {"kind": "random", "seed": seed},
                              "model": model}
    if training_seed:
        config["training"] = {"seed": seed, **({"epochs": 5, "optimizer": "adam"} if method else {})}
    if method is not None:
        config[section] = {"method": method, "params": params or {}}
    key = json.dumps([experiment, variant, seed, params], sort_keys=True)
    out: dict[str, Any] = {"experiment": experiment, "variant": variant, "phase": "final", "trial_key": key,
                           "baseline": baseline, "status": status, "config": config, "environment": ENVIRONMENT,
                           "table_rows": ITEMS, "embedding_bytes": embedding_bytes}
    if status != "ok":
        return {**out, "error": "RuntimeError: made up"}
    out["test"] = {"mrr": mrr + noise * NOISE[seed]}
    out["validation"] = {"mrr": mrr + noise * NOISE[seed]}
    out["seconds_per_epoch"] = [seconds] * 5 if seconds is not None else []
    out["median_seconds_per_epoch"] = seconds
    return out


def floors(experiment: str, popularity: float = 0.050, random: float = 0.005) -> list[dict]:
    """Popularity (split seed only: it trains nothing) and random floors, one trial a seed."""
    return [r for seed in SEEDS for r in (
        record(experiment, "popularity", seed, popularity, kind="popularity", method=None, dim=None,
               embedding_bytes=0, seconds=None, training_seed=False, noise=0.4),
        record(experiment, "random", seed, random, kind="random", method=None, dim=None, embedding_bytes=0,
               seconds=None, noise=0.1))]


def methods(experiment: str) -> list[dict]:
    """Full (baseline), full at dim 4, Bloom k=2 and the hashing trick at 0.25 and 0.5."""
    made = []
    for seed in SEEDS:
        made.append(record(experiment, "full", seed, 0.100, baseline=True))
        made.append(record(experiment, "full d=4", seed, 0.070, dim=4, embedding_bytes=FULL_BYTES // 4, seconds=0.5))
        for cr, bloom, trick in ((0.25, 0.080, 0.030), (0.5, 0.090, 0.060)):
            size = int(FULL_BYTES * cr)
            made.append(record(experiment, "bloom k=2", seed, bloom, method="bloom",
                               params={"compression_ratio": cr, "num_hashes": 2}, embedding_bytes=size + 960,
                               seconds=0.8))
            made.append(record(experiment, "hashing trick", seed, trick, method="hashing_trick",
                               params={"compression_ratio": cr}, embedding_bytes=size, seconds=0.6))
    return made


#: Hash families of :func:`hash_families`: the ideal random family, murmur3 (as good: zero mean difference)
#: and multiplicative (clearly worse), with the per-seed wobble each adds.
FAMILIES = {"random": (0.0, {0: 0.0, 1: 0.0, 2: 0.0}), "murmur3": (0.0, {0: 0.002, 1: -0.003, 2: 0.001}),
            "multiplicative": (-0.020, {0: 0.001, 1: -0.001, 2: 0.0005})}


def hash_families(experiment: str, families: dict[str, tuple[float, dict[int, float]]] | None = None) -> list[dict]:
    """Full (baseline), Bloom k=2 with each of ``families`` (default :data:`FAMILIES`) at 0.25 and 0.5, floors."""
    families = families or FAMILIES
    shift = {family: value[0] for family, value in families.items()}
    wobble = {family: value[1] for family, value in families.items()}
    made = [record(experiment, "full", seed, 0.100, baseline=True) for seed in SEEDS]
    for seed in SEEDS:
        for family in shift:
            for cr, mrr in ((0.25, 0.080), (0.5, 0.090)):
                made.append(record(experiment, "bloom k=2", seed, mrr + shift[family] + wobble[family][seed],
                                   method="bloom", params={"compression_ratio": cr, "num_hashes": 2, "hash": family},
                                   embedding_bytes=int(FULL_BYTES * cr) + 960, seconds=0.8))
    return made + floors(experiment)


def encodings(experiment: str) -> list[dict]:
    """The paper's setting: feed-forward model, identity encoding (m = d) as baseline, Bloom at m/d 0.1, 0.5."""
    made = []
    for seed in SEEDS:
        made.append(record(experiment, "identity (m = d)", seed, 0.100, kind="feedforward", method="identity",
                           section="encoding", dim=None, baseline=True))
        for ratio, mrr in ((0.1, 0.060), (0.5, 0.090)):
            made.append(record(experiment, "bloom k=4", seed, mrr, kind="feedforward", method="bloom",
                               section="encoding", dim=None, params={"compression_ratio": ratio, "num_hashes": 4},
                               embedding_bytes=int(FULL_BYTES * ratio), seconds=0.5))
    return made + floors(experiment)


#: The regime experiment's made-up regimes: (catalogue size d, mean history length c) -> Bloom k=2 MRR at m/d
#: 0.1 and 0.5, and the regime's popularity floor (one-hot input/output: 0.100 in every regime).
REGIMES = {(1000, 10): ((0.060, 0.090), 0.030), (1000, 50): ((0.020, 0.040), 0.015)}


def regimes(experiment: str) -> list[dict]:
    """The regime setting: per planted (d, c), identity (m = d) as baseline, Bloom k=2 at m/d 0.1 and 0.5,
    and the floors; ``config.model.target_fraction`` 0.5."""
    made = []
    for (items, history), ((low, high), popularity) in REGIMES.items():
        planted = {"num_items": items, "mean_history": history, "seed": 0}
        rows = encodings(experiment)
        rows = [r for r in rows if r["variant"] != "popularity"] + [
            r for r in floors(experiment, popularity=popularity) if r["variant"] == "popularity"]
        for r in rows:
            r["config"]["dataset"] = {"name": "planted", "synthetic": dict(planted)}
            r["trial_key"] += f"|{items}|{history}"
            if r["config"]["model"]["kind"] == "feedforward":
                r["config"]["model"]["target_fraction"] = 0.5
            ratio = r["config"].get("encoding", {}).get("params", {}).get("compression_ratio")
            if ratio is not None:
                r["config"]["encoding"]["params"]["num_hashes"] = 2
                r["test"]["mrr"] = r["validation"]["mrr"] = (low if ratio == 0.1 else high)
        made += rows
    return made


def write(root: Path) -> Path:
    """``floors`` (methods + floors), ``hashes``, ``paper`` (encodings), ``regime`` (encodings over two planted
    regimes) and ``old`` (no floor, no small dim)."""
    made = {"floors": methods("floors") + floors("floors"), "hashes": hash_families("hashes"),
            "paper": encodings("paper"), "regime": regimes("regime"),
            "old": [r for r in methods("old") if r["variant"] != "full d=4"]}
    for experiment, records in made.items():
        store = ResultStore(root, experiment)
        for r in records:
            store.append(r)
    return root
