"""The published asv pages load nothing from the internet: CDN assets vendored from npm, checked in Chromium.

``bloombench.asv_pages`` rewrites ``asv publish``'s remote ``<script>``/``<link>`` tags to copies
under ``reports/asv/vendor/``. Unit tests run it on a made-up page and package folder; the committed pages
are checked statically; then they are served over HTTP (asv fetches its JSON with XHR, which Chromium
refuses on file://) and opened in headless Chromium with every request elsewhere aborted and recorded.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_report_browser import CHROMIUM_FLAGS, browser  # noqa: F401 (the session fixture)

from bloombench.asv_pages import (
    asset_refs,
    load_manifest,
    missing_local_assets,
    remote_assets,
    vendor_asv_assets,
)

ROOT = Path(__file__).resolve().parents[1]
ASV_HTML = ROOT / "reports" / "asv"
ASSETS = ROOT / "tools" / "asv-assets"
# A benchmark of the committed results (reports/asv/index.json) whose graph the browser test opens.
GRAPH = "hashing.HashIds.track_mids_per_second"

PAGE = """<!DOCTYPE html>
<html><head>
  <script src="https://cdn.example.org/ajax/libs/lib/1.0.0/lib.min.js" integrity="sha512-abc"
          crossorigin="anonymous" referrerpolicy="no-referrer" onerror="fail('>')"></script>
  <link rel="stylesheet" href="//cdn.example.org/npm/lib@1.0.0/css/lib.css" integrity="sha256-x"
        crossorigin>
  <link rel="alternate" type="application/atom+xml" href="https://example.org/feed.xml"/>
  <script src="app.js"></script>
  <script>var inline = "<script src='https://example.org/not-a-tag.js'>";</script>
</head><body><a href="https://example.org/docs">docs</a> <a href="#x">x</a></body></html>
"""
SUBPAGE = '<script src="https://cdn.example.org/ajax/libs/lib/1.0.0/lib.min.js"></script>\n'
MANIFEST = {
    "private": True,
    "dependencies": {"lib": "1.0.0"},
    "asvAssets": {
        "replaces": {"ajax/libs/lib/1.0.0/lib.min.js": "lib/dist/lib.min.js",
                     "npm/lib@1.0.0/css/lib.css": "lib/css/lib.css"},
        "extras": ["lib/fonts", "lib/LICENSE"],
    },
}
PACKAGE_FILES = {"lib/dist/lib.min.js": "window.lib = 1;\n", "lib/css/lib.css": "b{src:url(../fonts/a.woff)}",
                 "lib/fonts/a.woff": "font", "lib/LICENSE": "MIT\n"}


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path]:
    """A published folder (two pages, one in a subfolder) and an npm folder with a made-up package."""
    html = tmp_path / "asv"
    (html / "sub").mkdir(parents=True)
    (html / "index.html").write_text(PAGE, encoding="utf-8")
    (html / "sub" / "page.html").write_text(SUBPAGE, encoding="utf-8")
    (html / "app.js").write_text("app();\n", encoding="utf-8")
    npm = tmp_path / "assets"
    for path, text in PACKAGE_FILES.items():
        (npm / "node_modules" / path).parent.mkdir(parents=True, exist_ok=True)
        (npm / "node_modules" / path).write_text(text, encoding="utf-8")
    (npm / "package.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
    return html, npm / "node_modules"


def test_remote_assets_are_rewritten_to_vendored_copies(site: tuple[Path, Path]) -> None:
    html, node_modules = site
    assert [ref.url for ref in remote_assets(html)] == [
        "https://cdn.example.org/ajax/libs/lib/1.0.0/lib.min.js",
        "//cdn.example.org/npm/lib@1.0.0/css/lib.css",
        "https://cdn.example.org/ajax/libs/lib/1.0.0/lib.min.js"]

    rewrites = vendor_asv_assets(html, node_modules)

    assert [(r.page.relative_to(html).as_posix(), r.local) for r in rewrites] == [
        ("index.html", "vendor/lib/dist/lib.min.js"), ("index.html", "vendor/lib/css/lib.css"),
        ("sub/page.html", "../vendor/lib/dist/lib.min.js")]
    page = (html / "index.html").read_text(encoding="utf-8")
    assert ('<script src="vendor/lib/dist/lib.min.js" onerror="fail(\'>\')"></script>' in page)
    assert '<link rel="stylesheet" href="vendor/lib/css/lib.css">' in page
    assert "integrity" not in page and "crossorigin" not in page and "referrerpolicy" not in page
    # Links, feeds, inline script text and local scripts are left exactly as they were.
    for kept in ('<a href="https://example.org/docs">', 'href="https://example.org/feed.xml"',
                 "<script src='https://example.org/not-a-tag.js'>", '<script src="app.js">'):
        assert kept in page
    subpage = (html / "sub" / "page.html").read_text(encoding="utf-8")
    assert subpage == '<script src="../vendor/lib/dist/lib.min.js"></script>\n'
    # The package files and the extras are copied with their layout (the stylesheet's ../fonts/ resolves).
    for path, text in PACKAGE_FILES.items():
        assert (html / "vendor" / path).read_text(encoding="utf-8") == text
    assert remote_assets(html) == [] and missing_local_assets(html) == []


def test_second_run_changes_nothing_and_needs_no_npm_folder(site: tuple[Path, Path]) -> None:
    html, node_modules = site
    assert vendor_asv_assets(html, node_modules)
    before = tree(html)
    shutil.rmtree(node_modules)
    assert vendor_asv_assets(html, node_modules) == []
    assert tree(html) == before


def test_unknown_remote_asset_fails_naming_page_and_url(site: tuple[Path, Path]) -> None:
    html, node_modules = site
    url = "https://cdn.example.org/ajax/libs/new-plugin/2.0/new.min.js"
    (html / "sub" / "page.html").write_text(f'<script src="{url}"></script>', encoding="utf-8")
    before = tree(html)
    with pytest.raises(ValueError, match="asvAssets.replaces") as raised:
        vendor_asv_assets(html, node_modules)
    assert f"{html / 'sub' / 'page.html'}: {url}" in str(raised.value)
    assert tree(html) == before  # nothing copied, no page half-rewritten


def test_missing_package_file_fails_naming_it_and_npm_install(site: tuple[Path, Path]) -> None:
    html, node_modules = site
    (node_modules / "lib" / "css" / "lib.css").unlink()
    before = tree(html)
    with pytest.raises(FileNotFoundError, match="npm install --prefix") as raised:
        vendor_asv_assets(html, node_modules)
    assert str(node_modules / "lib" / "css" / "lib.css") in str(raised.value)
    assert tree(html) == before


def test_manifest_paths_must_belong_to_pinned_packages(site: tuple[Path, Path], tmp_path: Path) -> None:
    html, node_modules = site
    manifest = json.loads(json.dumps(MANIFEST))
    manifest["asvAssets"]["extras"].append("other/LICENSE")
    (tmp_path / "bad.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ValueError, match="'other'.*does not pin"):
        vendor_asv_assets(html, node_modules, manifest=tmp_path / "bad.json")


def test_cli_vendors_then_reports_nothing_to_do_and_fails_clearly(site: tuple[Path, Path], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from bloombench.cli import main

    html, node_modules = site
    args = ["asv-pages", "--html", str(html), "--node-modules", str(node_modules)]
    assert main(args) == 0
    assert "3 remote assets" in capsys.readouterr().out
    assert remote_assets(html) == []
    assert main(args) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["asv-pages", "--html", str(tmp_path / "absent"), "--node-modules", str(node_modules)]) == 1
    assert "run `asv publish` first" in capsys.readouterr().err


def test_shipped_manifest_pins_exact_versions_and_maps_url_paths() -> None:
    manifest = load_manifest(ASSETS / "package.json")
    assert manifest.dependencies == {"jquery": "3.3.1", "flot": "0.8.3", "flot-orderbars": "1.0.0",
                                     "stupid-table-plugin": "1.1.3", "blueimp-md5": "2.19.0",
                                     "bootstrap": "3.1.1"}
    assert len(manifest.replaces) == 10
    assert all("://" not in key and not key.startswith("/") for key in manifest.replaces)
    assert "bootstrap/dist/fonts" in manifest.extras
    # A lock file would record registry URLs; npm runs with --no-package-lock.
    assert not (ASSETS / "package-lock.json").exists()


def test_committed_pages_load_no_remote_asset_and_every_local_one_exists() -> None:
    assert remote_assets(ASV_HTML) == []
    assert missing_local_assets(ASV_HTML) == []
    vendored = [ref.url for ref in asset_refs(ASV_HTML) if ref.url.startswith("vendor/")]
    assert len(vendored) == len(load_manifest(ASSETS / "package.json").replaces)
    for extra in load_manifest(ASSETS / "package.json").extras:
        assert (ASV_HTML / "vendor" / extra).exists(), extra


def test_committed_vendor_files_are_the_pinned_packages_files() -> None:
    node_modules = ASSETS / "node_modules"
    if not node_modules.is_dir():
        pytest.skip(f"needs `npm install --prefix {ASSETS.relative_to(ROOT)}` (see tox.ini, testenv:bench)")
    manifest = load_manifest(ASSETS / "package.json")
    for path in (*manifest.replaces.values(), *manifest.extras):
        source = node_modules / path
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        for file in files:
            vendored = ASV_HTML / "vendor" / file.relative_to(node_modules)
            assert vendored.read_bytes() == file.read_bytes(), vendored


def broken_copy(tmp_path: Path) -> Path:
    """A copy of the committed pages with flot's vendored file deleted and md5 loaded from a CDN again."""
    copy = tmp_path / "asv"
    shutil.copytree(ASV_HTML, copy)
    (copy / "vendor" / "flot" / "jquery.flot.js").unlink()
    page = (copy / "index.html").read_text(encoding="utf-8")
    remote = page.replace('src="vendor/blueimp-md5/js/md5.min.js"',
                          'src="https://cdn.example.org/md5.min.js"')
    assert remote != page
    (copy / "index.html").write_text(remote, encoding="utf-8")
    return copy


def test_the_static_check_finds_a_deleted_vendor_file_and_a_remote_tag(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path)
    assert [ref.url for ref in missing_local_assets(copy)] == ["vendor/flot/jquery.flot.js"]
    assert [ref.url for ref in remote_assets(copy)] == ["https://cdn.example.org/md5.min.js"]


# --- in the browser -------------------------------------------------------------------------------------


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (an ephemeral port) from a thread; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # the test reports what matters
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# What asv drew: benchmark entries of the summary grid, their flot plots, and canvases in the main graph.
_DRAWN = """() => ({
  entries: document.querySelectorAll('#summarygrid-display a.benchmark-container').length,
  summary_plots: document.querySelectorAll('#summarygrid-display .benchmark-plot canvas.flot-base').length,
  graph_plots: document.querySelectorAll('#main-graph canvas.flot-base').length,
})"""


def open_asv(folder: Path, browser_path: str, wait_ms: int = 5000) -> tuple[list[str], dict, dict]:
    """Open the summary grid, then one benchmark's graph; return the problems and what each view drew.

    Each view gets up to ``wait_ms`` to draw its first flot canvas.
    """
    from playwright.sync_api import Error, Route, sync_playwright

    problems: list[str] = []
    with serve(folder) as base, sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=browser_path, headless=True, args=CHROMIUM_FLAGS)
        try:
            context = chromium.new_context()

            def only_local(route: Route) -> None:
                if route.request.url.startswith(base):
                    route.continue_()
                else:
                    problems.append(f"request outside the server: {route.request.url}")
                    route.abort()

            context.route("**/*", only_local)
            page = context.new_page()
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
                    if msg.type == "error" else None)
            page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}")
                    if request.url.startswith(base) else None)  # outside ones are already recorded
            page.on("response", lambda response: problems.append(f"HTTP {response.status}: {response.url}")
                    if response.status >= 400 else None)
            page.goto(base + "index.html", wait_until="load")
            try:
                page.wait_for_selector(".benchmark-plot canvas.flot-base", timeout=wait_ms)
            except Error:
                pass  # reported through what was drawn
            page.wait_for_load_state("networkidle")
            summary = page.evaluate(_DRAWN)
            page.evaluate(f"() => {{ window.location.hash = {json.dumps(GRAPH)}; }}")
            try:
                page.wait_for_selector("#main-graph canvas.flot-base", timeout=wait_ms)
            except Error:
                pass
            page.wait_for_load_state("networkidle")
            graph = page.evaluate(_DRAWN)
        finally:
            chromium.close()
    return problems, summary, graph


def test_committed_pages_render_offline_in_chromium(browser: str) -> None:  # noqa: F811
    benchmarks = json.loads((ASV_HTML / "index.json").read_text(encoding="utf-8"))["benchmarks"]
    assert GRAPH in benchmarks
    problems, summary, graph = open_asv(ASV_HTML, browser)
    assert problems == []
    assert summary["entries"] == len(benchmarks)
    assert summary["summary_plots"] >= 1  # the entries in view fetched their JSON and flot drew them
    assert graph["graph_plots"] >= 1


def test_the_browser_check_finds_a_missing_vendor_file_and_a_remote_request(browser: str,  # noqa: F811
                                                                            tmp_path: Path) -> None:
    problems, summary, graph = open_asv(broken_copy(tmp_path), browser, wait_ms=1000)
    assert any(p.startswith("HTTP 404:") and p.endswith("/vendor/flot/jquery.flot.js") for p in problems)
    assert "request outside the server: https://cdn.example.org/md5.min.js" in problems
    # asv's onerror handler sends the page to error.html: nothing is drawn.
    assert summary["entries"] == graph["graph_plots"] == 0
