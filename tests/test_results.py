"""The result store: whole lines or nothing, torn and bad lines, a full disk, the locks, and no torch.

The store's promise is that a record is never lost, duplicated or invented: a torn last line is moved
aside before the next append instead of fusing with it, a failed write leaves the file as it was, a
line that is not a record is skipped with a warning naming ``file:line`` (its trial reruns), and
writers are serialised by file locks. Two drivers in real processes are tested in ``test_sweep.py``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import bloombench.results as results
from bloombench.report import build_report
from bloombench.results import ResultStore, StoreLockedError, StoreWarning, StoreWriteError, load_results


def record(key: str, status: str = "ok") -> dict:
    """A minimal record the report can read (a final trial of the full table)."""
    return {"experiment": "exp", "variant": "full", "phase": "final", "trial_key": key, "status": status,
            "config": {"embedding": {"method": "full"}}}


def keys(store: ResultStore) -> list[str]:
    """The keys of the store's records, failing on any warning (the file must be clean)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return [r["trial_key"] for r in store.records()]


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
    with pytest.warns(StoreWarning, match=r"trials.jsonl:3: incomplete last line skipped"):
        records = list(store.records())
    assert [r["trial_key"] for r in records] == ["a", "b"]
    with pytest.warns(StoreWarning):
        assert store.completed() == {"a"}
    with pytest.raises(ValueError, match="experiment must be a plain directory name"):
        ResultStore(tmp_path, "../escape")


@pytest.mark.parametrize("before", [["a", "b"], []], ids=["after-records", "only-a-fragment"])
def test_a_torn_last_line_is_moved_aside_and_never_fuses_with_the_next_append(tmp_path: Path,
                                                                              before: list[str]) -> None:
    store = ResultStore(tmp_path, "exp")
    for key in [*before, "torn"]:
        store.append(record(key))
    whole = store.path.read_bytes()
    last = whole.rstrip(b"\n").rfind(b"\n") + 1  # where the last line starts
    cut = last + (len(whole) - last) // 2
    os.truncate(store.path, cut)  # power loss halfway through writing the last line
    with pytest.warns(StoreWarning, match=r"trials.jsonl: a torn last line \(\d+ bytes.*moved to .*trials.jsonl.torn"):
        store.append(record("c"))
    assert store.path.read_bytes() == whole[:last] + json.dumps(record("c"), sort_keys=True).encode() + b"\n"
    assert keys(store) == [*before, "c"]  # the earlier records untouched, nothing fused, no warning
    assert store.torn_path.read_bytes() == whole[last:cut] + b"\n"  # kept for forensics
    assert list(load_results(tmp_path, "exp")["trial_key"]) == [*before, "c"]


def short_write(fd: int, data: bytes) -> int:
    """A full disk: part of the line reaches the file, and ``write`` says so."""
    return os.write(fd, data[:10])


def failing_write(fd: int, data: bytes) -> int:
    """A write that fails after part of the line reached the file (the worst case for a reader)."""
    os.write(fd, data[:10])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("write", [short_write, failing_write], ids=["short-write", "ENOSPC"])
def test_a_full_disk_leaves_the_file_as_it_was_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            write: object) -> None:
    store = ResultStore(tmp_path, "exp")
    store.append(record("a"))
    before = store.path.read_bytes()
    needed = len(json.dumps(record("b"), sort_keys=True)) + 1
    with monkeypatch.context() as patch:
        patch.setattr(results, "_write", write)
        with pytest.raises(StoreWriteError) as caught:
            store.append(record("b"))
    error = caught.value
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    assert f"record not stored in {store.path}" in str(error) and f"10 of {needed} bytes written" in str(error)
    assert f"cut back to its {len(before)} bytes" in str(error)
    assert store.path.read_bytes() == before  # the partial bytes are gone
    store.append(record("c"))  # space again: the store goes on
    assert keys(store) == ["a", "c"]


def test_lines_that_are_not_records_are_skipped_naming_file_line_and_why(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, "exp")
    lines = [json.dumps(record("a")).encode(), b'{"trial_key": "x", "status": "ok"', b"[1, 2]",
             json.dumps(record("b")).encode(), b'"ok"', b"\xff\xfe{}", b"", json.dumps(record("c")).encode()]
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.warns(StoreWarning) as caught:
        assert [r["trial_key"] for r in store.records()] == ["a", "b", "c"]
    assert [str(w.message) for w in caught] == [
        f"{store.path}:2: line skipped, not valid JSON (Expecting ',' delimiter at column 34); "
        "its trial counts as not recorded",
        f"{store.path}:3: line skipped, an array, not a record object; its trial counts as not recorded",
        f"{store.path}:5: line skipped, a string, not a record object; its trial counts as not recorded",
        f"{store.path}:6: line skipped, not UTF-8 (invalid start byte at byte 0); its trial counts as not recorded",
    ]
    with pytest.warns(StoreWarning):
        assert store.completed() == {"a", "b", "c"}  # "x" reruns: its record is never invented
    with pytest.warns(StoreWarning):
        assert list(load_results(tmp_path)["trial_key"]) == ["a", "b", "c"]
    with pytest.warns(StoreWarning):
        html = build_report(tmp_path, tmp_path / "report").read_text(encoding="utf-8")
    assert "3 trial records" in html and "(3 final, 0 search, 0 failed)" in html


def test_an_append_waits_for_another_writers_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResultStore(tmp_path, "exp")
    store.append(record("a"))
    lock = store.path.with_name("trials.jsonl.lock")
    other = os.open(lock, os.O_RDWR)  # another writer, mid-append (flock: per open file, so threads contend)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        appending = threading.Thread(target=store.append, args=(record("b"),))
        appending.start()
        time.sleep(0.5)
        assert keys(store) == ["a"] and appending.is_alive()  # it waits for the lock
        fcntl.flock(other, fcntl.LOCK_UN)
        appending.join(timeout=30)
        assert keys(store) == ["a", "b"]
        fcntl.flock(other, fcntl.LOCK_EX)  # a writer that never lets go: the append gives up and says why
        monkeypatch.setattr(results, "APPEND_LOCK_TIMEOUT", 0.2)
        with pytest.raises(StoreLockedError, match=r"another process kept the append lock for 0 s"):
            store.append(record("c"))
    finally:
        os.close(other)
    assert keys(store) == ["a", "b"]


def test_the_driver_lock_refuses_a_second_driver_naming_the_holder(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, "exp")
    info = tmp_path / "exp" / "driver.lock.json"
    with store.driver_lock():
        holder = json.loads(info.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] and holder["since"]
        with pytest.raises(StoreLockedError, match=rf"exp is in use by another bloombench driver \(pid {os.getpid()} "
                                                   rf"on .*, since .*\); wait for it to finish or stop it") as caught:
            with ResultStore(tmp_path, "exp").driver_lock():
                pytest.fail("a second driver got the lock")
        assert caught.value.holder == holder and "\n" not in str(caught.value)
    assert not info.exists()
    with store.driver_lock():  # released: the next driver gets it
        pass
