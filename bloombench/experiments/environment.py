"""The environment probe: versions, git commit and hardware of the process that runs a trial.

It lives with the trial runner (it imports torch to name its version, threads and GPU); every record
carries its answer under ``environment``, and the report shows what the records name, never probing the
machine it runs on.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

import bloombench

__all__ = ["environment"]


@functools.lru_cache(maxsize=1)
def _git_commit() -> str | None:
    """HEAD of the checkout bloombench runs from: the package's folder (editable or inside the checkout,
    as in tox's env), else the working directory (a wheel installed elsewhere, run from the checkout)."""
    for folder in (Path(__file__).resolve().parent, Path.cwd()):
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                 cwd=folder, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.stdout.strip():
            return out.stdout.strip()
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Versions, git commit and hardware of this process (recorded with every trial)."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "bloombench": bloombench.__version__,
        "git_commit": _git_commit(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
