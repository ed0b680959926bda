"""The built report opened from disk in headless Chromium: no broken image, no broken link, nothing fetched.

Chromium is Debian's (``apt-get install chromium``), driven by the ``playwright`` package through
``executable_path`` (no browser download). Without either the test skips, unless
``BLOOMBENCH_REQUIRE_BROWSER=1`` (CI) makes their absence a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from test_report import report, results  # noqa: F401 (session fixtures: the same records and report)

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REQUIRED = os.environ.get("BLOOMBENCH_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="session")
def browser() -> str:
    """Path of Debian's chromium; skips (or fails, when required) without it or without playwright.

    Session-scoped and first in the tests' arguments, so a skip comes before the report is built.
    """
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = [] if path else ["chromium (apt-get install chromium)"]
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package")
    if missing:
        needs = "needs " + " and ".join(missing)
        if REQUIRED:
            pytest.fail(f"BLOOMBENCH_REQUIRE_BROWSER=1, but the browser test {needs}")
        pytest.skip(f"{needs} (BLOOMBENCH_REQUIRE_BROWSER=1 makes this a failure)")
    return path


# Every image with its natural size, every link target and every element id, after the load event.
_INSPECT = """() => ({
  images: Array.from(document.images).map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
})"""


def problems(page_path: Path, browser_path: str, user_data: Path) -> tuple[list[str], dict]:
    """Open ``page_path`` from disk; return what is broken and what the page holds."""
    from playwright.sync_api import sync_playwright

    broken: list[str] = []
    page_url = page_path.resolve().as_uri()
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(str(user_data), executable_path=browser_path,
                                                            headless=True, args=CHROMIUM_FLAGS)
        try:
            page = context.new_page()
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.on("requestfailed", lambda request: broken.append(f"request failed: {request.url}"))
            page.goto(page_url, wait_until="load")
            found = page.evaluate(_INSPECT)
        finally:
            context.close()
    broken += [f"request outside the folder: {url}" for url in requests if urlsplit(url).scheme not in ("file", "data")]
    broken += [f"broken image: {image['src']}" for image in found["images"] if not image["ok"]]
    ids = set(found["ids"])
    for href in found["links"]:
        url = urlsplit(href)
        if url.scheme != "file":
            broken.append(f"link leaves the folder: {href}")
            continue
        target = Path(unquote(url.path))
        if not target.is_file():
            broken.append(f"broken link: {href}")
        elif url.fragment and target == page_path.resolve() and url.fragment not in ids:
            broken.append(f"anchor without target: #{url.fragment}")
    return broken, found


def test_report_opens_from_disk_with_no_broken_image_or_link(browser: str, report: Path,  # noqa: F811
                                                             tmp_path: Path) -> None:
    broken, found = problems(report, browser, tmp_path / "profile")
    assert broken == []
    # The checks had something to check: every figure drawn, table files, anchors and the asv link.
    assert len(found["images"]) == len(list(report.parent.glob("figures/*/*.png"))) >= 9
    assert sum(href.endswith(".csv") for href in found["links"]) >= 10
    assert sum("#" in href for href in found["links"]) >= 20
    assert any(href.endswith("asv/index.html") for href in found["links"])


def test_the_check_finds_broken_images_links_and_anchors(browser: str, report: Path,  # noqa: F811
                                                         tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(report.parent, copy)
    html = (copy / "index.html").read_text(encoding="utf-8")
    (copy / "figures" / "speed" / "speed.png").unlink()
    (copy / "tables" / "factorization" / "accuracy.md").unlink()
    (copy / "index.html").write_text(html.replace('href="#exp-speed"', 'href="#exp-nowhere"', 1), encoding="utf-8")
    broken, _ = problems(copy / "index.html", browser, tmp_path / "profile")
    assert any(p.startswith("broken image:") and p.endswith("figures/speed/speed.png") for p in broken)
    assert any(p.startswith("broken link:") and p.endswith("tables/factorization/accuracy.md") for p in broken)
    assert "anchor without target: #exp-nowhere" in broken
