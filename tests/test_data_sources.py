"""Tests of dataset sources: parsing, checksums, offline files, (fake) downloads.

No test touches the network: pip and the GroupLens downloader are replaced by
local fakes. Real MovieLens files are read from the project's shared data
directory when it exists (tests skip otherwise).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

import bloombench.data.datasets as datasets
from bloombench.data import (
    ChecksumError,
    DatasetNotFoundError,
    MalformedDataError,
    RatingsFormat,
    available_datasets,
    dataset_statistics,
    default_data_dir,
    load_dataset,
    parse_ratings,
    temporal_split,
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

# A tiny u.data-style file: raw users 5, 9, 7; raw items 10, 3, 42.
U_DATA = b"5\t10\t3\t881250949\n9\t3\t4\t891717742\n5\t3\t1\t878887116\n7\t42\t5\t880606923\n"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if any code path tries to reach pip or GroupLens."""
    attempts: list[tuple] = []

    def refuse(*args, **kwargs):
        attempts.append(args)  # recorded: the loader may swallow the exception below
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(datasets, "_pip_download", refuse)
    monkeypatch.setattr(datasets, "_downloader", refuse)
    yield
    assert attempts == [], "a test marked no_network tried to download"


@pytest.fixture
def offline(monkeypatch):
    """Both download routes fail as they would without a network."""

    def fail_pip(requirement, dest, progress):
        raise OSError("pip: no network")

    def fail_http(url, output_file, pooch_obj, check_only=False):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "_pip_download", fail_pip)
    monkeypatch.setattr(datasets, "_downloader", fail_http)


def _serve(monkeypatch, payload: bytes) -> list[str]:
    """Make GroupLens 'downloads' return ``payload``; returns the requested URLs."""
    urls: list[str] = []

    def fake_download(url, output_file, pooch_obj, check_only=False):
        urls.append(url)
        Path(output_file).write_bytes(payload)

    monkeypatch.setattr(datasets, "_downloader", fake_download)
    return urls


# --------------------------------------------------------------------------- parsing


class TestParsing:
    def test_parses_columns(self):
        fmt = RatingsFormat(",", ("user", "item", "rating", "timestamp"), header=True)
        out = parse_ratings(
            b"userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n", fmt
        )
        assert out["user"].tolist() == [1, 1] and out["item"].tolist() == [31, 1029]
        assert out["rating"].dtype == np.float32 and out["rating"].tolist() == [2.5, 3.0]
        assert out["timestamp"].tolist() == [1260759144, 1260759179]

    @pytest.mark.parametrize(
        "data, line, reason",
        [
            (b"1::2::3\n4::5::6\n7::8\n", 3, "expected 3 fields"),
            (b"1::2::3\n4::5::6::9\n", 2, "expected 3 fields .*got 4"),
            (b"1::2::3\n\n4::x::6\n", 3, "item must be an integer"),
            (b"1::2::3\n-4::5::6\n", 2, "user id must be non-negative"),
            (b"1::2::nan\n", 1, "rating must be finite"),
            (b"1::2::3\n4::5::high\n", 2, "rating must be a number"),
            (b"1::2.5::3\n", 1, "item must be an integer"),
        ],
    )
    def test_malformed_row_reports_line(self, data, line, reason):
        fmt = RatingsFormat("::", ("user", "item", "rating"))
        with pytest.raises(MalformedDataError, match=rf"src, line {line}: {reason}"):
            parse_ratings(data, fmt, source="src")

    def test_line_numbers_count_the_header(self):
        fmt = RatingsFormat(",", ("user", "item", "rating", "timestamp"), header=True)
        with pytest.raises(MalformedDataError, match="line 3: timestamp"):
            parse_ratings(b"u,i,r,t\n1,2,3,4\n1,2,3,\n", fmt)

    def test_empty_file(self):
        with pytest.raises(MalformedDataError, match="no data rows"):
            parse_ratings(b"", RatingsFormat("\t", ("user", "item")))

    def test_bad_format(self):
        with pytest.raises(ValueError, match="columns"):
            RatingsFormat("\t", ("user", "score"))


# --------------------------------------------------------------------------- data dir


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("BLOOMBENCH_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("BLOOMBENCH_DATA")
    assert default_data_dir().name == "bloombench"


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'movielens-2k'"):
        load_dataset("movielens-2k", download=False)


# --------------------------------------------------------------------------- local sources


class TestLocalFiles:
    def test_extracted_file_verified_and_remapped(self, tmp_path, monkeypatch, no_network):
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-100k/u.data", _sha256(U_DATA))
        (tmp_path / "ml-100k").mkdir()
        (tmp_path / "ml-100k" / "u.data").write_bytes(U_DATA)
        data = load_dataset("movielens-100k", data_dir=tmp_path)
        assert data.user_map.tolist() == [5, 7, 9] and data.item_map.tolist() == [3, 10, 42]
        assert data.user_ids.tolist() == [0, 2, 0, 1] and data.item_ids.tolist() == [1, 0, 0, 2]
        assert data.ratings.tolist() == [3, 4, 1, 5]
        assert data.timestamps.tolist() == [881250949, 891717742, 878887116, 880606923]

    def test_env_var_is_the_default_dir(self, tmp_path, monkeypatch, no_network):
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-100k/u.data", _sha256(U_DATA))
        (tmp_path / "ml-100k").mkdir()
        (tmp_path / "ml-100k" / "u.data").write_bytes(U_DATA)
        monkeypatch.setenv("BLOOMBENCH_DATA", str(tmp_path))
        assert len(load_dataset("movielens-100k")) == 4

    def test_checksum_mismatch_refused(self, tmp_path, no_network):
        (tmp_path / "ml-100k").mkdir()
        (tmp_path / "ml-100k" / "u.data").write_bytes(U_DATA)  # not the real u.data
        with pytest.raises(ChecksumError, match="u.data has sha256"):
            load_dataset("movielens-100k", data_dir=tmp_path)

    def test_malformed_row_in_dataset_file(self, tmp_path, monkeypatch, no_network):
        bad = U_DATA + b"8\t1\t\t885000000\n"
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-100k/u.data", _sha256(bad))
        (tmp_path / "ml-100k").mkdir()
        (tmp_path / "ml-100k" / "u.data").write_bytes(bad)
        with pytest.raises(MalformedDataError, match=r"u.data, line 5: rating"):
            load_dataset("movielens-100k", data_dir=tmp_path)

    def test_unverifiable_file_warns(self, tmp_path, no_network):
        (tmp_path / "ml-20m").mkdir()
        (tmp_path / "ml-20m" / "ratings.csv").write_bytes(
            b"userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n3,2,4.0,1112484676\n"
        )
        with pytest.warns(UserWarning, match="no published checksum"):
            data = load_dataset("movielens-20m", data_dir=tmp_path)
        assert len(data) == 2 and data.ratings.tolist() == [3.5, 4.0] and data.num_items == 1

    def test_recbole_inter_file(self, tmp_path, monkeypatch, no_network):
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-100k.inter", _sha256(U_DATA))
        header = b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        (tmp_path / "ml-100k.inter").write_bytes(header + U_DATA)
        data = load_dataset("movielens-100k", data_dir=tmp_path)
        assert len(data) == 4 and data.timestamps[0] == 881250949

    def test_no_timestamp_gzip(self, tmp_path, monkeypatch, no_network):
        content = b"1::1193::5\n1::661::3\n2::1193::4\n"
        monkeypatch.setitem(
            datasets.KNOWN_HASHES, "ml-1m/ratings_no_timestamps.dat.gz", _sha256(content)
        )
        (tmp_path / "ml-1m").mkdir()
        (tmp_path / "ml-1m" / "ratings_no_timestamps.dat.gz").write_bytes(gzip.compress(content))
        data = load_dataset("movielens-1m", data_dir=tmp_path)
        assert data.timestamps is None and data.item_map.tolist() == [661, 1193]
        with pytest.raises(ValueError, match="timestamps"):
            temporal_split(data)

    def test_corrupt_gzip_names_the_file(self, tmp_path, no_network):
        packed = bytearray(gzip.compress(b"1::1193::5\n" * 200))
        packed[10:12] = b"\xff\xff"  # the first deflate block, past the valid header: zlib.error inside gzip
        (tmp_path / "ml-1m").mkdir()
        path = tmp_path / "ml-1m" / "ratings_no_timestamps.dat.gz"
        path.write_bytes(bytes(packed))
        with pytest.raises(ChecksumError, match=r"ratings_no_timestamps.dat.gz is not a valid gzip file"):
            load_dataset("movielens-1m", data_dir=tmp_path)

    def test_zip_in_data_dir(self, tmp_path, monkeypatch, no_network):
        payload = _zip_bytes({"ml-100k/u.data": U_DATA, "ml-100k/README": b"x"})
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-100k.zip", _md5(payload))
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-100k/u.data", _sha256(U_DATA))
        (tmp_path / "ml-100k.zip").write_bytes(payload)
        assert len(load_dataset("movielens-100k", data_dir=tmp_path)) == 4
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-100k.zip", _md5(b"other"))
        with pytest.raises(ChecksumError, match="ml-100k.zip has md5"):
            load_dataset("movielens-100k", data_dir=tmp_path)

    def test_corrupt_zip_in_data_dir(self, tmp_path, monkeypatch, no_network):
        payload = _zip_bytes({"ml-1m/ratings.dat": b"1::2::3::4\n"})[:-30]  # truncated
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-1m.zip", _md5(payload))
        (tmp_path / "ml-1m.zip").write_bytes(payload)
        with pytest.raises(ChecksumError, match="not a valid zip"):
            load_dataset("movielens-1m", data_dir=tmp_path)

    def test_available_datasets(self, tmp_path):
        (tmp_path / "ml-25m.zip").write_bytes(b"")
        rows = {row["name"]: row for row in available_datasets(tmp_path)}
        assert set(rows) == {f"movielens-{s}" for s in ("100k", "1m", "10m", "20m", "25m")}
        assert rows["movielens-25m"]["present"] and rows["movielens-25m"]["local_file"].endswith(
            "ml-25m.zip"
        )
        assert not rows["movielens-1m"]["present"] and rows["movielens-1m"]["location"] == str(
            tmp_path
        )
        assert "recbole" in rows["movielens-100k"]["source"]


# --------------------------------------------------------------------------- downloads


class TestDownloads:
    def test_missing_everywhere_names_file_and_place(self, tmp_path, no_network):
        with pytest.raises(DatasetNotFoundError) as info:
            load_dataset("movielens-1m", data_dir=tmp_path, download=False)
        message = str(info.value)
        assert "ml-1m.zip" in message and str(tmp_path) in message
        assert "files.grouplens.org/datasets/movielens/ml-1m.zip" in message

    def test_offline_download_fails_cleanly(self, tmp_path, offline):
        with pytest.raises(DatasetNotFoundError, match="ml-100k.zip.*no network"):
            load_dataset("movielens-100k", data_dir=tmp_path, progress=False)
        assert _listing(tmp_path) == []

    def test_grouplens_download(self, tmp_path, monkeypatch):
        ratings = b"1::1193::5::978300760\n1::661::3::978302109\n"
        payload = _zip_bytes({"ml-1m/ratings.dat": ratings})
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-1m.zip", _md5(payload))
        monkeypatch.setitem(
            datasets.KNOWN_HASHES,
            "ml-1m/ratings.dat",
            "sha256:" + hashlib.sha256(ratings).hexdigest(),
        )
        urls = _serve(monkeypatch, payload)
        data = load_dataset("movielens-1m", data_dir=tmp_path, progress=False)
        assert urls == ["https://files.grouplens.org/datasets/movielens/ml-1m.zip"]
        assert data.timestamps.tolist() == [978300760, 978302109]
        assert _listing(tmp_path) == ["ml-1m.zip"]  # cached, no temporary leftovers
        load_dataset("movielens-1m", data_dir=tmp_path, download=False)  # now offline works

    def test_bad_checksum_download_leaves_nothing(self, tmp_path, monkeypatch):
        _serve(monkeypatch, _zip_bytes({"ml-1m/ratings.dat": b"1::2::3::4\n"}))
        with pytest.raises(ChecksumError, match="ml-1m.zip"):
            load_dataset("movielens-1m", data_dir=tmp_path, progress=False)
        assert _listing(tmp_path) == []

    def test_corrupt_zip_download_leaves_nothing(self, tmp_path, monkeypatch):
        payload = b"PK\x03\x04 this is not really a zip archive"
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-10m.zip", _md5(payload))
        _serve(monkeypatch, payload)
        with pytest.raises(ChecksumError, match="not a valid zip"):
            load_dataset("movielens-10m", data_dir=tmp_path, progress=False)
        assert _listing(tmp_path) == []

    def test_zip_without_ratings_member_leaves_nothing(self, tmp_path, monkeypatch):
        payload = _zip_bytes({"ml-25m/movies.csv": b"movieId,title\n"})
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-25m.zip", _md5(payload))
        _serve(monkeypatch, payload)
        with pytest.raises(ChecksumError, match="ml-25m/ratings.csv"):
            load_dataset("movielens-25m", data_dir=tmp_path, progress=False)
        assert _listing(tmp_path) == []

    def test_refuses_without_known_checksum(self, tmp_path, monkeypatch):
        monkeypatch.delitem(datasets.KNOWN_HASHES, "ml-20m.zip")
        _serve(monkeypatch, b"anything")
        with pytest.raises(ChecksumError, match="no known checksum for ml-20m.zip"):
            load_dataset("movielens-20m", data_dir=tmp_path, progress=False)
        assert _listing(tmp_path) == []


class TestRecboleRoute:
    WHEEL = f"recbole-{datasets.RECBOLE_VERSION}-py3-none-any.whl"
    HEADER = b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n"

    def _fake_pip(self, monkeypatch, wheel: bytes) -> list[str]:
        calls: list[str] = []

        def fake_pip_download(requirement, dest, progress):
            calls.append(requirement)
            (Path(dest) / self.WHEEL).write_bytes(wheel)

        monkeypatch.setattr(datasets, "_pip_download", fake_pip_download)
        return calls

    def _wheel(self, inter: bytes) -> bytes:
        return _zip_bytes({"recbole/__init__.py": b"", datasets._RECBOLE_MEMBER: inter})

    def test_extracts_u_data(self, tmp_path, monkeypatch):
        wheel = self._wheel(self.HEADER + U_DATA)
        monkeypatch.setitem(datasets.KNOWN_HASHES, self.WHEEL, _sha256(wheel))
        monkeypatch.setitem(datasets.KNOWN_HASHES, "ml-100k/u.data", _sha256(U_DATA))
        calls = self._fake_pip(monkeypatch, wheel)
        monkeypatch.setattr(datasets, "_downloader", None)  # GroupLens must not be needed
        data = load_dataset("movielens-100k", data_dir=tmp_path, progress=False)
        assert calls == ["recbole==1.2.1"]
        assert (tmp_path / "ml-100k" / "u.data").read_bytes() == U_DATA
        assert _listing(tmp_path) == ["ml-100k", "ml-100k/u.data"]
        assert len(data) == 4 and data.user_map.tolist() == [5, 7, 9]

    @pytest.mark.parametrize("broken", ["wheel", "payload", "member"])
    def test_bad_wheel_leaves_nothing(self, tmp_path, monkeypatch, offline, broken):
        inter = self.HEADER + U_DATA
        wheel = self._wheel(inter) if broken != "member" else _zip_bytes({"recbole/x.py": b""})
        monkeypatch.setitem(
            datasets.KNOWN_HASHES, self.WHEEL, _sha256(b"x" if broken == "wheel" else wheel)
        )
        monkeypatch.setitem(
            datasets.KNOWN_HASHES,
            "ml-100k/u.data",
            _sha256(b"x" if broken == "payload" else U_DATA),
        )
        self._fake_pip(monkeypatch, wheel)
        with pytest.raises(DatasetNotFoundError, match="recbole==1.2.1 wheel via pip"):
            load_dataset("movielens-100k", data_dir=tmp_path, progress=False)
        assert _listing(tmp_path) == []


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def shared_dir() -> Path:
    if not (SHARED / "ml-100k" / "u.data").is_file():
        pytest.skip("shared MovieLens data not present")
    return SHARED


def test_real_movielens_100k(shared_dir, no_network):
    data = load_dataset("movielens-100k", data_dir=shared_dir)
    assert (data.num_users, data.num_items, len(data)) == (943, 1682, 100_000)
    values, counts = np.unique(data.ratings, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == {
        1.0: 6110,
        2.0: 11370,
        3.0: 27145,
        4.0: 34174,
        5.0: 21201,
    }
    assert data.user_map.tolist() == list(range(1, 944)) and data.item_map.tolist() == list(
        range(1, 1683)
    )
    # First line of u.data: "196	242	3	881250949".
    assert data.user_map[data.user_ids[0]] == 196 and data.item_map[data.item_ids[0]] == 242
    assert data.timestamps[0] == 881250949


def test_real_movielens_1m(shared_dir, no_network):
    if not (shared_dir / "ml-1m" / "ratings_no_timestamps.dat.gz").is_file():
        pytest.skip("shared ML-1M ratings not present")
    data = load_dataset("movielens-1m", data_dir=shared_dir)
    assert (data.num_users, data.num_items, len(data)) == (6040, 3706, 1_000_209)
    assert data.timestamps is None
    values, counts = np.unique(data.ratings, return_counts=True)
    assert counts.tolist() == [56_174, 107_557, 261_197, 348_971, 226_310]
    stats = dataset_statistics(data)
    assert stats["min_per_user"] == 20 and stats["max_per_user"] == 2314
    assert data.user_map[np.argmax(np.bincount(data.user_ids))] == 4169
    assert data.item_map[np.argmax(np.bincount(data.item_ids))] == 2858
    # First documented rows: 1::1193::5, 1::661::3 (row order is kept).
    assert data.item_map[data.item_ids[:2]].tolist() == [1193, 661]
    with pytest.raises(ValueError, match="timestamps"):
        temporal_split(data)
