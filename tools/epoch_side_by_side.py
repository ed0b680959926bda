"""Seconds per training epoch of two checkouts of bloombench, interleaved in one run on one machine.

asv compares commits benchmark by benchmark, but the training benchmark's parameters were renamed since the
reference commit of issue 17 (93d8520), so ``asv compare`` cannot pair them. This script times the same
work through the public model API both checkouts share (``ImplicitFactorizationModel`` /
``ImplicitSequenceModel(...).fit(data, epochs=, batch_size=, optimizer=, lr=, l2=, seed=, device=)``) on
the same synthetic data of MovieLens 100K's shape, alternating the checkouts (A B A B ...) so that load on
a shared machine falls on both alike, and prints the median epoch of each with the ratio.

    python tools/epoch_side_by_side.py OLD_TREE NEW_TREE [--rounds 5] [--epochs 3]

Each tree is imported in its own subprocess (``PYTHONPATH=tree``), with the torch threads it finds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CASES = {  # name -> (model, embedding method, its parameters, optimizer, batch size)
    "mf full adam": ("implicit", "full", {}, "adam", 1024),
    "mf bloom k=4 cr0.2 adam": ("implicit", "bloom", {"compression_ratio": 0.2, "num_hashes": 4}, "adam", 1024),
    "mf full adam-sparse": ("implicit", "full", {}, "adam-sparse", 1024),
    "lstm full adam": ("lstm", "full", {}, "adam", 256),
}

_WORKER = r"""
import json, sys, statistics
import torch
from bloombench.data import synthetic
from bloombench.layers import embedding_factory
from bloombench.models import ImplicitFactorizationModel, ImplicitSequenceModel
cases, epochs = json.loads(sys.argv[1]), int(sys.argv[2])
data = synthetic(num_users=943, num_items=1682, num_interactions=100_000, sequential=True, seed=0)
out = {}
for name, (model, method, params, optimizer, batch) in cases.items():
    factory = embedding_factory(method, **params)
    if model == "implicit":
        net, train = ImplicitFactorizationModel(loss="bpr", embedding_dim=32, embedding_factory=factory), data
    else:
        net = ImplicitSequenceModel(representation="lstm", loss="bpr", embedding_dim=32, embedding_factory=factory)
        train = data.to_sequences(100, 20)
    history = net.fit(train, epochs=epochs, batch_size=batch, optimizer=optimizer, lr=1e-2, l2=1e-6, seed=0,
                      device="cpu")
    out[name] = statistics.median(history.seconds[1:] or history.seconds)  # the first epoch warms up
print(json.dumps(out))
"""


def _run(tree: Path, epochs: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _WORKER, json.dumps(CASES), str(epochs)], check=True,
                          capture_output=True, text=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          cwd=tree)  # python -c puts the working directory first on sys.path: the tree's own
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    seconds: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    for _ in range(args.rounds):
        for side in ("old", "new"):
            for name, value in _run(getattr(args, side), args.epochs).items():
                seconds[side].setdefault(name, []).append(value)
    print(f"{'case':28s} {'old s/epoch':>12s} {'new s/epoch':>12s} {'old/new':>8s}")
    for name in CASES:
        old, new = statistics.median(seconds["old"][name]), statistics.median(seconds["new"][name])
        print(f"{name:28s} {old:12.4f} {new:12.4f} {old / new:8.2f}")


if __name__ == "__main__":
    main()
