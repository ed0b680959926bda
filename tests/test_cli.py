"""The command line: ``train`` over every model kind and registered method, one-line errors naming the flag,
no traceback without ``--debug``, and a start-up that imports no torch."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bloombench.cli import main
from bloombench.encodings import available_encodings
from bloombench.layers import available_methods

DATA = ["--dataset", "synthetic", "--synthetic", "num_users=40", "--synthetic", "num_items=60",
        "--synthetic", "num_interactions=1500", "--epochs", "1"]
TINY = [*DATA, "--dim", "8"]


def _train(capsys: pytest.CaptureFixture[str], *flags: str) -> dict:
    assert main(["train", *flags]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("method", available_methods())
def test_train_runs_every_registered_embedding_method(method: str, capsys: pytest.CaptureFixture[str]) -> None:
    record = _train(capsys, *TINY, "--embedding", method)
    assert record["config"]["embedding"]["method"] == method and 0 < record["test"]["mrr"] <= 1


@pytest.mark.parametrize("encoding", available_encodings())
def test_train_runs_the_feedforward_model_with_every_encoding(encoding: str, capsys: pytest.CaptureFixture[str]) -> None:
    size = [] if encoding == "identity" else ["--compression", "0.3"]
    record = _train(capsys, *DATA, "--model", "feedforward", "--hidden", "8",
                    "--encoding", encoding, *size)
    assert record["config"]["encoding"]["method"] == encoding and "embedding" not in record["config"]
    assert 0 < record["test"]["mrr"] <= 1


def test_train_runs_the_sequence_model_and_the_issues_examples(capsys: pytest.CaptureFixture[str]) -> None:
    sequence = _train(capsys, *TINY, "--model", "sequence", "--representation", "pooling", "--split", "user",
                      "--embedding", "bloom", "--compression", "0.5")
    assert sequence["config"]["model"]["representation"] == "pooling" and "tables" not in sequence["config"]["embedding"]
    qr = _train(capsys, *TINY, "--embedding", "qr", "--param", "combine=mult")
    assert qr["config"]["embedding"]["params"] == {"combine": "mult"}
    default = _train(capsys, "--dataset", "synthetic", "--epochs", "1")  # MovieLens 100K's shape
    assert default["table_rows"] == 1682 and sum(default["sizes"].values()) == 100_000


def test_train_runs_the_stream_model_on_a_small_stream(capsys: pytest.CaptureFixture[str]) -> None:
    stream = ("--synthetic", "num_users=10000", "--synthetic", "num_items=200", "--synthetic", "num_windows=3",
              "--synthetic", "events_per_window=1000")
    record = _train(capsys, "--model", "stream", *stream, "--embedding", "hashing_trick", "--index", "on_the_fly",
                    "--param", "num_buckets=300")
    assert record["config"]["dataset"]["name"] == "stream"  # the stream kind's own default dataset
    assert len(record["stream"]["windows"]["mrr_new"]) == 3 and record["stream"]["events"] == 3000
    code, line = _error(capsys, "train", "--dataset", "stream")
    assert code == 1 and "--dataset stream is a stream: it needs --model stream, got --model implicit" in line
    code, line = _error(capsys, "train", "--model", "stream", "--dataset", "synthetic")
    assert code == 1 and "--dataset must be a stream (stream) for --model stream, got synthetic" in line


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as stop:  # argparse's own usage errors
        code = int(stop.code)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip().splitlines()[-1]


@pytest.mark.parametrize("argv, expected", [
    (["train", *TINY, "--embedding", "qr", "--hashes", "3"], r"'num_hashes' \(--hashes\)"),
    (["train", *TINY, "--model", "feedforward"], r"--dim does not apply to --model feedforward"),
    (["train", *DATA, "--model", "feedforward", "--embedding", "bloom"], r"--embedding does not apply"),
    (["train", *TINY, "--compression", "1.5"], r"argument --compression: must be a number in \(0, 1\], got '1.5'"),
    (["train", *TINY, "--epochs", "0"], r"argument --epochs: must be a positive int, got '0'"),
    (["train", *TINY, "--lr", "-1"], r"argument --lr: must be a positive number, got '-1'"),
    (["train", *TINY, "--embedding", "bloom", "--param", "compression_ratio=abc"], r"compression_ratio must be"),
    (["train", *TINY, "--device", "cuda:7"], r"CUDA|device"),
    (["train", "--dataset", "movielens-2k"], r"argument --dataset: invalid choice: 'movielens-2k'"),
    (["train", *TINY, "--epohcs", "3"], r"--epohcs \(did you mean --epochs\?\)"),
    (["run", "factorization", "--workers", "0"], r"argument --workers: must be a positive int, got '0'"),
    (["run", "factorization", "--dask-local", "0"], r"argument --dask-local: must be a positive int"),
    (["run", "no-such-spec"], r"unknown spec 'no-such-spec'; shipped specs"),
    (["run", "factorization", "--profile", "fast"], r"unknown profile 'fast'"),
    (["report", "--results-dir", "/nonexistent/results"], r"results_dir '/nonexistent/results' does not exist"),
])
def test_errors_are_one_line_naming_the_flag_with_a_nonzero_status(argv, expected, capsys) -> None:
    if "CUDA" in expected and torch.cuda.is_available():
        pytest.skip("CUDA present")
    code, line = _error(capsys, *argv)
    assert code != 0
    assert re.search(expected, line), line


def test_a_malformed_spec_file_is_one_line(tmp_path, capsys) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text("name = \n")
    code, line = _error(capsys, "run", str(spec))
    assert code == 1 and "invalid TOML" in line and str(spec) in line


def test_debug_shows_the_traceback(capsys) -> None:
    with pytest.raises(Exception, match="unknown spec"):
        main(["--debug", "run", "no-such-spec"])
    with pytest.raises(Exception, match="unknown spec"):
        main(["run", "no-such-spec", "--debug"])


def test_start_up_and_help_import_no_torch() -> None:
    code = ("import sys, bloombench.cli; from bloombench.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=dict(os.environ))
    assert time.perf_counter() - start < 5  # a generous bound: what matters is that torch is not imported


def test_an_output_path_that_is_a_file_and_an_unwritable_results_dir_are_one_line(tmp_path, capsys) -> None:
    results = tmp_path / "results"
    (results / "exp").mkdir(parents=True)
    (results / "exp" / "trials.jsonl").write_text("")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, line = _error(capsys, "report", "--results-dir", str(results), "--out", str(blocker))
    assert code == 1 and str(blocker) in line
    # /proc refuses new folders even to root (CI runs as root, so a chmod would not stop it)
    code, line = _error(capsys, "run", "factorization", "--profile", "quick", "--results-dir", "/proc/bloombench")
    assert code == 1 and "/proc/bloombench" in line


SPEC = """
name = "tiny"
seeds = [0, 1, 2]
[base]
dataset = { name = "synthetic", synthetic = { num_users = 200, num_items = 300, num_interactions = 20000, seed = 3 } }
model = { embedding_dim = 16 }
training = { epochs = 6, batch_size = 256 }
[grid]
"embedding.params.compression_ratio" = [0.2, 0.3, 0.5]
[[variants]]
label = "full"
baseline = true
embedding = { method = "full" }
[[variants]]
label = "bloom"
embedding = { method = "bloom", params = { num_hashes = 2 } }
"""


def _children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc: the pool's worker processes)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(("sent", "status", "word", "workers"), [(signal.SIGINT, 130, "interrupted", "1"),
                                                                 (signal.SIGTERM, 143, "terminated", "2")])
def test_ctrl_c_mid_sweep_says_what_was_kept_and_the_rerun_resumes(tmp_path, sent, status, word, workers) -> None:
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC)
    trials = tmp_path / "results" / "tiny" / "trials.jsonl"
    command = [sys.executable, "-m", "bloombench.cli", "run", str(spec), "--results-dir", str(tmp_path / "results"),
               "--no-progress", "--workers", workers]
    # A shell's background job starts with SIGINT ignored, and Python then keeps ignoring it: give the
    # driver the default disposition, as a terminal's foreground job has.
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    pool: list[int] = []
    while time.monotonic() < deadline and not (trials.exists() and trials.read_text().count("\n") >= 2):
        if workers != "1" and not pool and trials.exists():  # the pool is up once a trial is recorded
            pool = _children(process.pid)
        time.sleep(0.05)
    process.send_signal(sent)
    out, err = process.communicate(timeout=120)
    assert process.returncode == status, (out, err)
    assert "Traceback" not in err
    assert f"{word}; the trials recorded so far are kept in {tmp_path / 'results'}/tiny/trials.jsonl" in err
    if workers != "1":  # the pool's workers were stopped with the driver, not left running a trial
        assert len(pool) >= 2
        settle = time.monotonic() + 10  # multiprocessing's resource tracker exits once its pipe closes
        while time.monotonic() < settle and any(_alive(pid) for pid in pool):
            time.sleep(0.1)
        assert not [pid for pid in pool if _alive(pid)]
    kept = [json.loads(line)["trial_key"] for line in trials.read_text().splitlines()]
    assert 2 <= len(kept) < 12
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    assert f"{len(kept)} already recorded" in rerun.stdout
    keys = [json.loads(line)["trial_key"] for line in trials.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 12
