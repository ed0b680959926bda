"""Offline asv pages: the CDN scripts and stylesheets of ``asv publish``'s HTML, vendored from npm.

asv 0.6.6 writes pages that load jQuery, flot, bootstrap and a few plugins from CDNs, so they stay blank
on a machine without internet. :func:`vendor_asv_assets` points every remote ``<script src>`` and
``<link href>`` asset at a copy under ``<html_dir>/vendor/``, taken from the npm packages pinned by
``tools/asv-assets/package.json``. That file is the single source of truth: ``dependencies`` pins the
versions and its ``asvAssets`` field maps each remote URL path to the package file that replaces it
(``replaces``) and lists further files to copy (``extras``: fonts, licences). ``asv publish`` wipes
``html_dir``, so this runs after every publish (``tox -e bench``, ``bloombench asv-pages``).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from bloombench.files import atomic_write

__all__ = ["NPM_FLAGS", "AssetRef", "Manifest", "Rewrite", "asset_refs", "load_manifest",
           "missing_local_assets", "remote_assets", "vendor_asv_assets"]

VENDOR_DIR = "vendor"
# No lock file: it would record registry URLs; no install scripts: the packages are plain JS and CSS.
NPM_FLAGS = "--no-package-lock --ignore-scripts --no-audit --no-fund"

# A comment, or a <script> or <link> start tag (groups 1, 2: name, attributes); quoted values are matched
# whole, so a '>' inside onerror="..." or a URL does not end the tag early.
_TAG = re.compile(r"""<!--.*?-->|<(script|link)\b((?:[^>"']|"[^"]*"|'[^']*')*)>""", re.IGNORECASE | re.DOTALL)
_SCRIPT_END = re.compile(r"</script\s*>", re.IGNORECASE)
_ATTR = re.compile(r"""(\s+)([^\s=/>"']+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
# Only these rel values make the browser fetch the target; rel="alternate", "canonical", ... are links.
_ASSET_RELS = frozenset({"stylesheet", "icon", "preload", "modulepreload", "prefetch", "manifest",
                         "apple-touch-icon", "mask-icon"})
# Subresource-integrity hashes describe the CDN files (minified flot, stupidtable 1.0.1), not the npm
# files that replace them, and crossorigin would turn a same-origin or file:// load into a CORS fetch.
_DROPPED_ATTRS = frozenset({"integrity", "crossorigin", "referrerpolicy"})


@dataclass(frozen=True)
class AssetRef:
    """One script or stylesheet (icon, preload, ...) that an HTML page loads.

    Attributes
    ----------
    page : Path
        The HTML file.
    tag : str
        ``"script"`` or ``"link"``.
    url : str
        The ``src`` / ``href`` value, HTML entities decoded.
    """

    page: Path
    tag: str
    url: str

    @property
    def url_path(self) -> str:
        """The URL's path without its leading slash: the key of ``asvAssets.replaces``."""
        return urlsplit(self.url).path.lstrip("/")

    @property
    def remote(self) -> bool:
        """Whether the URL leaves the pages' folder: http(s) or protocol-relative (``//host/...``)."""
        parts = urlsplit(self.url)
        return parts.scheme.lower() in ("http", "https") or (not parts.scheme and bool(parts.netloc))


@dataclass(frozen=True)
class Rewrite:
    """A remote asset reference replaced by a vendored copy.

    Attributes
    ----------
    page : Path
        The HTML file that was rewritten.
    url : str
        The remote URL it used to load.
    local : str
        The relative URL it loads now, e.g. ``vendor/flot/jquery.flot.js``.
    """

    page: Path
    url: str
    local: str


@dataclass(frozen=True)
class Manifest:
    """The ``asvAssets`` field of ``tools/asv-assets/package.json``, checked against its pins.

    Attributes
    ----------
    path : Path
        The package.json it was read from.
    dependencies : dict of str to str
        npm package name to its pinned version.
    replaces : dict of str to str
        Remote URL path (no scheme, no host, no leading slash) to the file under ``node_modules``.
    extras : tuple of str
        Further files or folders under ``node_modules`` that are copied too.
    """

    path: Path
    dependencies: dict[str, str]
    replaces: dict[str, str]
    extras: tuple[str, ...]


def _package_of(path: str) -> str:
    """The npm package a ``node_modules``-relative path belongs to (``@scope/name`` or ``name``)."""
    parts = path.split("/")
    return "/".join(parts[:2]) if parts[0].startswith("@") else parts[0]


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and check the asset manifest.

    Parameters
    ----------
    path : path-like
        A package.json with ``dependencies`` and an ``asvAssets`` object holding ``replaces``
        (URL path -> package file) and optionally ``extras`` (list of package files or folders).

    Returns
    -------
    Manifest

    Raises
    ------
    TypeError
        If ``asvAssets.replaces`` is missing or not an object.
    ValueError
        If a path escapes ``node_modules``, or a path belongs to a
        package that ``dependencies`` does not pin (the pins and the mapping must not drift apart).
    """
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assets = data.get("asvAssets")
    if not isinstance(assets, dict) or not isinstance(assets.get("replaces"), dict):
        raise TypeError(f"{path}: no asvAssets.replaces object (remote URL path -> package file)")
    dependencies = dict(data.get("dependencies") or {})
    replaces = {str(key).lstrip("/"): str(value) for key, value in assets["replaces"].items()}
    extras = tuple(str(extra) for extra in assets.get("extras") or ())
    for target in (*replaces.values(), *extras):
        if target.startswith("/") or ".." in target.split("/"):
            raise ValueError(f"{path}: {target!r} is not a path inside node_modules")
        if _package_of(target) not in dependencies:
            raise ValueError(f"{path}: {target!r} belongs to {_package_of(target)!r}, which dependencies "
                             "does not pin")
    return Manifest(path=path, dependencies=dependencies, replaces=replaces, extras=extras)


def _read(page: Path) -> str:
    """A page's text, line endings as they are (a rewrite changes only the rewritten tags)."""
    return page.read_bytes().decode("utf-8")


def _pages(html_dir: Path) -> list[Path]:
    """The HTML files of the published pages, the vendored packages' own files left out."""
    vendor = html_dir / VENDOR_DIR
    return sorted(page for page in html_dir.rglob("*.html") if vendor not in page.parents)


def _asset_attr(tag: str, attrs: str) -> re.Match[str] | None:
    """The ``src`` (script) or ``href`` (fetched link) attribute of a start tag, None if it loads nothing."""
    found = {m.group(2).lower(): m for m in _ATTR.finditer(attrs)}
    if tag.lower() == "script":
        return found.get("src")
    rel = found.get("rel")
    rels = set(_value(rel).lower().split()) if rel else set()
    return found.get("href") if rels & _ASSET_RELS else None


def _value(attr: re.Match[str]) -> str:
    """An attribute's value, unquoted and with HTML entities decoded."""
    raw = attr.group(3) or ""
    if raw[:1] in ("'", '"'):
        raw = raw[1:-1]
    return html.unescape(raw)


def _scan(page: Path, text: str) -> list[tuple[re.Match[str], re.Match[str], AssetRef]]:
    """Every asset reference of a page, with the tag and attribute matches that locate it."""
    refs = []
    pos = 0
    while (tag := _TAG.search(text, pos)) is not None:
        pos = tag.end()
        if tag.group(1) is None:
            continue  # a comment: a tag inside it loads nothing
        attr = _asset_attr(tag.group(1), tag.group(2))
        if attr is not None and attr.group(3):
            refs.append((tag, attr, AssetRef(page=page, tag=tag.group(1).lower(), url=_value(attr))))
        if tag.group(1).lower() == "script":
            # A script's body is raw text: "<script src=...>" inside a JS string is not a tag.
            end = _SCRIPT_END.search(text, pos)
            pos = end.end() if end else len(text)
    return refs


def asset_refs(html_dir: str | os.PathLike[str]) -> list[AssetRef]:
    """Every script and fetched ``<link>`` (stylesheet, icon, ...) of the pages under ``html_dir``.

    Parameters
    ----------
    html_dir : path-like
        The published asv pages (``reports/asv``); ``vendor/`` inside it is not scanned.

    Returns
    -------
    list of AssetRef
        In page order, then document order. Inline scripts (no ``src``) and ``<a href>`` links are not
        assets and are not listed.
    """
    html_dir = Path(html_dir)
    return [ref for page in _pages(html_dir) for *_, ref in _scan(page, _read(page))]


def remote_assets(html_dir: str | os.PathLike[str]) -> list[AssetRef]:
    """The asset references under ``html_dir`` that still load from another host (see :func:`asset_refs`)."""
    return [ref for ref in asset_refs(html_dir) if ref.remote]


def missing_local_assets(html_dir: str | os.PathLike[str]) -> list[AssetRef]:
    """The local asset references under ``html_dir`` whose file does not exist.

    Parameters
    ----------
    html_dir : path-like
        The published asv pages.

    Returns
    -------
    list of AssetRef
        References with a relative or root-less path (no scheme such as ``data:``) that resolve, from
        their page's folder, to no file.
    """
    missing = []
    for ref in asset_refs(html_dir):
        parts = urlsplit(ref.url)
        if ref.remote or parts.scheme or not parts.path:
            continue
        if not (ref.page.parent / unquote(parts.path)).is_file():
            missing.append(ref)
    return missing


def _copy(source: Path, target: Path) -> None:
    """Copy a file or a folder, replacing what is there (contents only: reruns give identical trees)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True, copy_function=shutil.copyfile)
    else:
        shutil.copyfile(source, target)


def vendor_asv_assets(html_dir: str | os.PathLike[str], node_modules: str | os.PathLike[str],
                      manifest: str | os.PathLike[str] | None = None) -> list[Rewrite]:
    """Replace the pages' remote scripts and stylesheets with copies under ``<html_dir>/vendor/``.

    Every ``<script src>`` and fetched ``<link href>`` (stylesheet, icon, ...) with an http(s) or
    protocol-relative URL is looked up by its URL path in the manifest; the package file it maps to, and
    every extra, is copied to ``<html_dir>/vendor/<path under node_modules>`` (so a stylesheet's own
    relative URLs, such as bootstrap's ``../fonts/``, keep working) and the tag is pointed at it with a
    relative URL. ``integrity``, ``crossorigin`` and ``referrerpolicy`` are dropped from rewritten tags.
    Nothing is copied or written unless every remote asset is known and every file is present. A second
    run finds no remote asset and changes nothing.

    Parameters
    ----------
    html_dir : path-like
        The output of ``asv publish`` (``reports/asv``).
    node_modules : path-like
        The folder ``npm install --prefix tools/asv-assets`` filled (``tools/asv-assets/node_modules``).
    manifest : path-like, optional
        The package.json with the ``asvAssets`` field; default ``<node_modules>/../package.json``.

    Returns
    -------
    list of Rewrite
        One per rewritten reference; empty when there was nothing to do.

    Raises
    ------
    FileNotFoundError
        If ``html_dir`` does not exist, or a package file the pages need is not under ``node_modules``
        (the message names it and the npm command that installs it).
    ValueError
        If a page loads a remote asset the manifest does not map (the message names page and URL), for
        example after an asv upgrade adds a CDN asset, or if the manifest is inconsistent
        (:func:`load_manifest`).
    """
    html_dir = Path(html_dir)
    node_modules = Path(node_modules)
    spec = load_manifest(Path(manifest) if manifest is not None else node_modules.parent / "package.json")
    if not html_dir.is_dir():
        raise FileNotFoundError(f"{html_dir}: no such folder (run `asv publish` first)")

    # Scan every page before touching anything, so an unknown asset leaves the folder as it was.
    plans = []
    unknown = []
    for page in _pages(html_dir):
        text = _read(page)
        remote = [(tag, attr, ref) for tag, attr, ref in _scan(page, text) if ref.remote]
        unknown += [ref for *_, ref in remote if ref.url_path not in spec.replaces]
        if remote:
            plans.append((page, text, remote))
    if unknown:
        listed = "; ".join(f"{ref.page}: {ref.url}" for ref in unknown)
        raise ValueError(f"remote asset(s) not in {spec.path} (asvAssets.replaces): {listed}. Add the npm "
                         "package to dependencies and map the URL path to the file that replaces it.")
    if not plans:
        return []

    needed = sorted({spec.replaces[ref.url_path] for *_, remote in plans
                     for *_, ref in remote})
    missing = [path for path in (*needed, *spec.extras) if not (node_modules / path).exists()]
    if missing:
        install = f"npm install --prefix {node_modules.parent} {NPM_FLAGS}"
        raise FileNotFoundError(f"{node_modules / missing[0]} not found ({len(missing)} missing package "
                                f"file(s): {', '.join(missing)}); run `{install}` first")
    vendor = html_dir / VENDOR_DIR
    for path in (*needed, *spec.extras):
        _copy(node_modules / path, vendor / path)

    rewrites = []
    for page, text, remote in plans:
        done = []
        # Splice from the end of the page backwards so earlier offsets stay valid.
        for tag, attr, ref in reversed(remote):
            target = vendor / spec.replaces[ref.url_path]
            local = quote(Path(os.path.relpath(target, page.parent)).as_posix())
            inner = tag.group(2)  # the attribute matches' offsets are relative to it
            edits = [(attr.start(3), attr.end(3), f'"{local}"')]
            edits += [(m.start(), m.end(), "") for m in _ATTR.finditer(inner)
                      if m.group(2).lower() in _DROPPED_ATTRS]
            for start, end, new in sorted(edits, reverse=True):
                inner = inner[:start] + new + inner[end:]
            text = text[:tag.start(2)] + inner + text[tag.end(2):]
            done.append(Rewrite(page=page, url=ref.url, local=local))
        atomic_write(page, text.encode("utf-8"))  # line endings as read
        rewrites += done[::-1]
    return rewrites
