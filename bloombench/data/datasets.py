"""MovieLens dataset sources: local files first, verified downloads second.

Sources are tried in this order for each dataset:

1. files already in the data directory: the extracted ratings file
   (e.g. ``<data_dir>/ml-1m/ratings.dat``), then the official zip
   (``<data_dir>/ml-1m.zip``), then dataset-specific alternatives
   (``ml-100k.inter`` from RecBole; ML-1M ``ratings_no_timestamps.dat.gz``);
2. with ``download=True``: for ML-100K the ``recbole==1.2.1`` wheel fetched by
   the ordinary pip client (it ships an exact copy of ``u.data``), then the
   official GroupLens zip through pooch.

Every file whose checksum is known is verified on every load; downloads go
to a temporary directory and only the verified file is moved into the cache,
so a failed or corrupt download leaves nothing behind.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from bloombench.data.interactions import Interactions
from bloombench.data.parsing import RatingsFormat, parse_ratings
from bloombench.files import atomic_write

__all__ = [
    "ChecksumError",
    "DatasetNotFoundError",
    "available_datasets",
    "default_data_dir",
    "load_dataset",
]

GROUPLENS_BASE_URL = "https://files.grouplens.org/datasets/movielens/"
RECBOLE_VERSION = "1.2.1"
_RECBOLE_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"

# Known checksums, "algorithm:hexdigest". "gitblob" is git's blob id (sha1 of
# "blob <size>\0" + content), the only public fingerprint of ML-1M ratings.dat.
# Zip MD5s are GroupLens' published values (their <archive>.md5 files, quoted
# identically by many independent projects). Extracted ratings of ML-10M/20M/25M
# have no published checksum: such local files are used with a warning.
# Keys are paths relative to the data directory; for compressed or headed
# files the hash covers the payload (decompressed, header line removed).
_U_DATA_SHA256 = "sha256:06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
KNOWN_HASHES: dict[str, str] = {
    "ml-100k.zip": "md5:0e33842e24a9c977be4e0107933c0723",
    "ml-1m.zip": "md5:c4d9eecfca2ab87c1945afe126590906",
    "ml-10m.zip": "md5:ce571fd55effeba0271552578f2648bd",
    "ml-20m.zip": "md5:cd245b17a1ae2cc31bb14903e1204af3",
    "ml-25m.zip": "md5:6b51fb2759a8657d3bfcbfc42b592ada",
    "ml-100k/u.data": _U_DATA_SHA256,
    # RecBole's copy is byte-identical to u.data after its header line.
    "ml-100k/ml-100k.inter": _U_DATA_SHA256,
    "ml-100k.inter": _U_DATA_SHA256,
    "ml-1m/ratings.dat": "gitblob:77a7c4b150f588c23bb9e1f068aa996c0b413695",
    "ml-1m/ratings_no_timestamps.dat.gz": (
        "sha256:2dad134c8b493373beed8d2a42e18ec2a93606fd957bd76c0bfbdef5c514b985"
    ),
    f"recbole-{RECBOLE_VERSION}-py3-none-any.whl": (
        "sha256:9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
    ),
}


class DatasetNotFoundError(FileNotFoundError):
    """No local copy of a dataset and no download succeeded."""


class ChecksumError(ValueError):
    """A file's checksum differs from the known value (corrupt or different version)."""


_TAB4 = RatingsFormat("\t", ("user", "item", "rating", "timestamp"))
_INTER = RatingsFormat("\t", ("user", "item", "rating", "timestamp"), header=True)
_COLON4 = RatingsFormat("::", ("user", "item", "rating", "timestamp"))
_COLON3 = RatingsFormat("::", ("user", "item", "rating"))
_CSV4 = RatingsFormat(",", ("user", "item", "rating", "timestamp"), header=True)


@dataclass(frozen=True)
class _LocalFile:
    """A file (relative to the data dir) holding a dataset's ratings."""

    path: str
    fmt: RatingsFormat
    gzipped: bool = False


@dataclass(frozen=True)
class _Spec:
    name: str
    title: str
    archive: str  # official GroupLens zip
    member: str  # ratings file inside the zip
    fmt: RatingsFormat
    extracted: tuple[_LocalFile, ...]  # tried before the zip
    alternatives: tuple[_LocalFile, ...] = ()  # tried after the zip
    recbole: bool = False


_SPECS: dict[str, _Spec] = {
    spec.name: spec
    for spec in (
        _Spec(
            "movielens-100k",
            "MovieLens 100K",
            "ml-100k.zip",
            "ml-100k/u.data",
            _TAB4,
            (_LocalFile("ml-100k/u.data", _TAB4),),
            (_LocalFile("ml-100k/ml-100k.inter", _INTER), _LocalFile("ml-100k.inter", _INTER)),
            recbole=True,
        ),
        _Spec(
            "movielens-1m",
            "MovieLens 1M",
            "ml-1m.zip",
            "ml-1m/ratings.dat",
            _COLON4,
            (_LocalFile("ml-1m/ratings.dat", _COLON4),),
            (_LocalFile("ml-1m/ratings_no_timestamps.dat.gz", _COLON3, gzipped=True),),
        ),
        _Spec(
            "movielens-10m",
            "MovieLens 10M",
            "ml-10m.zip",
            "ml-10M100K/ratings.dat",
            _COLON4,
            (
                _LocalFile("ml-10M100K/ratings.dat", _COLON4),
                _LocalFile("ml-10m/ratings.dat", _COLON4),
            ),
        ),
        _Spec(
            "movielens-20m",
            "MovieLens 20M",
            "ml-20m.zip",
            "ml-20m/ratings.csv",
            _CSV4,
            (_LocalFile("ml-20m/ratings.csv", _CSV4),),
        ),
        _Spec(
            "movielens-25m",
            "MovieLens 25M",
            "ml-25m.zip",
            "ml-25m/ratings.csv",
            _CSV4,
            (_LocalFile("ml-25m/ratings.csv", _CSV4),),
        ),
    )
}


def default_data_dir() -> Path:
    """Data directory: ``$BLOOMBENCH_DATA`` if set, else the user cache dir."""
    env = os.environ.get("BLOOMBENCH_DATA")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("bloombench"))


def _resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    return default_data_dir() if data_dir is None else Path(data_dir).expanduser()


def _spec(name: str) -> _Spec:
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; available: {sorted(_SPECS)}") from None


# --------------------------------------------------------------------------- checksums


def _digest(data: bytes, algorithm: str) -> str:
    if algorithm == "gitblob":
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return hashlib.new(algorithm, data).hexdigest()


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(actual: str, expected: str, what: str, remedy: str) -> None:
    algorithm, _, value = expected.partition(":")
    if actual != value.lower():
        raise ChecksumError(
            f"{what} has {algorithm} {actual}, expected {value}: the file is corrupt, "
            f"truncated or a different version. {remedy}"
        )


def _verify_payload(payload: bytes, key: str, what: str, remedy: str) -> bool:
    """Check ``payload`` against ``KNOWN_HASHES[key]``; False if no hash is known."""
    expected = KNOWN_HASHES.get(key)
    if expected is None:
        return False
    _verify(_digest(payload, expected.partition(":")[0]), expected, what, remedy)
    return True


def _strip_header(data: bytes) -> bytes:
    newline = data.find(b"\n")
    return b"" if newline < 0 else data[newline + 1 :]


# --------------------------------------------------------------------------- reading


def _to_interactions(data: bytes, fmt: RatingsFormat, source: str) -> Interactions:
    columns = parse_ratings(data, fmt, source=source)
    return Interactions.from_raw_ids(
        columns["user"], columns["item"], columns.get("rating"), columns.get("timestamp")
    )


def _read_local_file(data_dir: Path, local: _LocalFile) -> Interactions:
    path = data_dir / local.path
    raw = path.read_bytes()
    try:
        data = gzip.decompress(raw) if local.gzipped else raw
    except (OSError, EOFError, zlib.error) as exc:  # a bad header, a cut-off file, corrupt deflate data
        raise ChecksumError(
            f"{path} is not a valid gzip file ({exc}); delete or replace it"
        ) from None
    payload = _strip_header(data) if local.fmt.header else data
    remedy = f"Delete or replace {path}."
    if not _verify_payload(payload, local.path, str(path), remedy):
        warnings.warn(
            f"no published checksum for {local.path}; using {path} unverified",
            UserWarning,
            stacklevel=3,
        )
    return _to_interactions(data, local.fmt, str(path))


def _read_zip(spec: _Spec, path: Path) -> Interactions:
    """Verify an official archive and parse its ratings member."""
    remedy = f"Delete {path} and download it again."
    expected = KNOWN_HASHES.get(spec.archive)
    if expected is None:
        raise ChecksumError(
            f"no known checksum for {spec.archive}; refusing to use {path} unverified"
        )
    _verify(_file_digest(path, expected.partition(":")[0]), expected, str(path), remedy)
    data = _read_zip_member(path, spec.member)
    _verify_payload(data, spec.member, f"{spec.member} in {path}", remedy)
    return _to_interactions(data, spec.fmt, f"{path}:{spec.member}")


def _read_zip_member(path: Path, member: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(member)
    except KeyError:
        raise ChecksumError(
            f"{path} has no member {member!r}; it is not the expected archive"
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ChecksumError(f"{path} is not a valid zip file ({exc})") from None


# --------------------------------------------------------------------------- downloads


def _pip_download(requirement: str, dest: Path, progress: bool) -> None:
    """Fetch one wheel with the ordinary pip client (uses the configured index)."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        requirement, "-d", str(dest),
    ]  # fmt: skip
    if not progress:
        cmd.append("--quiet")
    result = subprocess.run(cmd, capture_output=not progress, text=True, timeout=900)
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-1:] if not progress else []
        raise OSError(f"pip download {requirement} failed (exit {result.returncode}) {detail}")


def _fetch_ml100k_from_recbole(data_dir: Path, progress: bool) -> Path:
    """Extract u.data from the recbole wheel into ``<data_dir>/ml-100k/u.data``."""
    wheel_name = f"recbole-{RECBOLE_VERSION}-py3-none-any.whl"
    with tempfile.TemporaryDirectory(prefix="bloombench-recbole-") as tmp:
        _pip_download(f"recbole=={RECBOLE_VERSION}", Path(tmp), progress)
        wheel = Path(tmp) / wheel_name
        if not wheel.exists():
            raise OSError(f"pip did not produce {wheel_name} (got {os.listdir(tmp)})")
        expected = KNOWN_HASHES[wheel_name]
        _verify(_file_digest(wheel, expected.partition(":")[0]), expected, wheel_name, "")
        payload = _strip_header(_read_zip_member(wheel, _RECBOLE_MEMBER))
    target = data_dir / "ml-100k" / "u.data"
    if not _verify_payload(payload, "ml-100k/u.data", f"{_RECBOLE_MEMBER} in {wheel_name}", ""):
        raise ChecksumError("no known checksum for ml-100k/u.data; refusing to store it")
    atomic_write(target, payload)
    return target


# Tests replace this with a local pooch downloader; None means pooch's HTTP one.
_downloader: Callable[..., object] | None = None


def _fetch_archive(spec: _Spec, data_dir: Path, progress: bool) -> Path:
    """Download the official zip; only a verified, readable archive reaches ``data_dir``."""
    import pooch  # imported lazily: only downloads need it

    expected = KNOWN_HASHES.get(spec.archive)
    if expected is None:
        raise ChecksumError(
            f"no known checksum for {spec.archive}; refusing to download it unverified"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / spec.archive
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".download-") as tmp:
        # pooch itself downloads to a temporary file and checks the hash before
        # renaming; the extra directory also covers the zip-structure check below.
        try:
            fetched = Path(
                pooch.retrieve(
                    GROUPLENS_BASE_URL + spec.archive,
                    known_hash=expected,
                    fname=spec.archive,
                    path=tmp,
                    progressbar=progress,
                    downloader=_downloader,
                )
            )
        except ValueError as exc:  # pooch reports a hash mismatch as ValueError
            raise ChecksumError(f"download of {spec.archive} refused: {exc}") from None
        _read_zip_member(fetched, spec.member)
        os.replace(fetched, target)
    return target


# --------------------------------------------------------------------------- public API


def _describe_missing(spec: _Spec, data_dir: Path, attempts: list[str]) -> str:
    local = ", ".join(f"'{f.path}'" for f in spec.extracted + spec.alternatives)
    tried = "; ".join(attempts) if attempts else "downloads disabled (download=False)"
    return (
        f"{spec.title} ({spec.name}) is not available. Put the official archive "
        f"'{spec.archive}' (from {GROUPLENS_BASE_URL}{spec.archive}) or one of {local} "
        f"into {data_dir} (or point $BLOOMBENCH_DATA / data_dir at a directory holding them). "
        f"Download attempts: {tried}."
    )


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: bool = True,
) -> Interactions:
    """Load a MovieLens dataset as :class:`Interactions`.

    Parameters
    ----------
    name : str
        One of ``movielens-100k``, ``movielens-1m``, ``movielens-10m``,
        ``movielens-20m``, ``movielens-25m``.
    data_dir : path, optional
        Where datasets are looked for and cached; default
        :func:`default_data_dir`.
    download : bool
        Allow network sources when no local copy exists.
    progress : bool
        Show download progress bars.

    Returns
    -------
    Interactions
        Ratings (float32) and timestamps (None when the source has none, e.g.
        ML-1M from ``ratings_no_timestamps.dat.gz``); ids are contiguous and
        0-based with the raw MovieLens ids in ``user_map``/``item_map``.

    Raises
    ------
    DatasetNotFoundError
        No local copy and no successful download; the message names the files
        to place and where.
    ChecksumError
        A local file or download fails its checksum or is not a valid archive.
    bloombench.data.parsing.MalformedDataError
        A ratings file has a malformed row (the line number is reported).
    """
    spec = _spec(name)
    root = _resolve_data_dir(data_dir)
    for local in spec.extracted:
        if (root / local.path).is_file():
            return _read_local_file(root, local)
    if (root / spec.archive).is_file():
        return _read_zip(spec, root / spec.archive)
    for local in spec.alternatives:
        if (root / local.path).is_file():
            return _read_local_file(root, local)

    attempts: list[str] = []
    if download:
        if spec.recbole:
            try:
                _fetch_ml100k_from_recbole(root, progress)
            except (OSError, subprocess.SubprocessError, ChecksumError) as exc:
                attempts.append(f"recbole=={RECBOLE_VERSION} wheel via pip: {exc}")
            else:
                return _read_local_file(root, spec.extracted[0])
        try:
            archive = _fetch_archive(spec, root, progress)
        except ChecksumError:
            raise
        except Exception as exc:  # network errors come in many types (requests, OSError, ...)
            attempts.append(f"{GROUPLENS_BASE_URL}{spec.archive}: {type(exc).__name__}: {exc}")
        else:
            return _read_zip(spec, archive)
    raise DatasetNotFoundError(_describe_missing(spec, root, attempts))


def available_datasets(data_dir: str | os.PathLike[str] | None = None) -> list[dict[str, object]]:
    """Describe every known dataset and whether a local copy exists.

    Returns
    -------
    list of dict
        Keys: ``name``, ``title``, ``source`` (where it comes from),
        ``location`` (the data directory searched), ``present`` (a local source
        file exists), ``local_file`` (the first one found, or None).
    """
    root = _resolve_data_dir(data_dir)
    rows: list[dict[str, object]] = []
    for spec in _SPECS.values():
        candidates = (
            [f.path for f in spec.extracted] + [spec.archive] + [f.path for f in spec.alternatives]
        )
        found = next((c for c in candidates if (root / c).is_file()), None)
        source = f"GroupLens {GROUPLENS_BASE_URL}{spec.archive}"
        if spec.recbole:
            source = f"recbole=={RECBOLE_VERSION} wheel (pip), else {source}"
        rows.append(
            {
                "name": spec.name,
                "title": spec.title,
                "source": source,
                "location": str(root),
                "present": found is not None,
                "local_file": None if found is None else str(root / found),
            }
        )
    return rows
