"""The result store (whole lines, a torn tail skipped) and the results layer loading no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bloombench.results import ResultStore


def record(key: str, status: str = "ok") -> dict:
    """A minimal record the report can read (a final trial of the full table)."""
    return {"experiment": "exp", "variant": "full", "phase": "final", "trial_key": key, "status": status,
            "config": {"embedding": {"method": "full"}}}


def test_importing_the_results_layer_loads_no_torch() -> None:
    code = "import sys, bloombench.results; assert 'torch' not in sys.modules, 'torch was imported'"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_store_appends_whole_lines_and_skips_a_torn_tail(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, "exp")
    store.append(record("a"))
    store.append(record("b", "failed"))
    with store.path.open("a") as handle:
        handle.write('{"trial_key": "c", "sta')  # a crash in the middle of a write
    with pytest.warns(UserWarning, match=r"trials.jsonl:3: incomplete last line skipped"):
        records = list(store.records())
    assert [r["trial_key"] for r in records] == ["a", "b"]
    with pytest.warns(UserWarning):
        assert store.completed() == {"a"}
    with pytest.raises(ValueError, match="experiment must be a plain directory name"):
        ResultStore(tmp_path, "../escape")
