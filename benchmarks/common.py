"""Helpers shared by the benchmark files: devices, throughput timing."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

DEVICES = ["cpu", "cuda"]


def require_device(device: str) -> torch.device:
    """Skip (asv: NotImplementedError in setup) a CUDA parameter on a machine without CUDA."""
    if device == "cuda" and not torch.cuda.is_available():
        raise NotImplementedError("CUDA not available")
    return torch.device(device)


def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def best_seconds(fn: Callable[[], object], *, device: str = "cpu", repeat: int = 5, warmup: int = 1) -> float:
    """Best wall time of ``repeat`` calls after ``warmup`` calls, GPU work synchronised on both ends."""
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
