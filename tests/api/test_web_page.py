"""The web page in a real headless browser: upload a catalog, query, click a result."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from index import content_id
from tests.api.server import Server
from tests.images import encode, jpeg, scene

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data")
    yield srv
    srv.stop()


@pytest.mark.slow
def test_upload_query_and_click_through(server: Server, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (./run test installs it with apt-get)")
    catalog = []
    for i in range(6):
        path = tmp_path / f"catalog-{i}.jpg"
        path.write_bytes(jpeg(i))
        catalog.append(path)
    query = tmp_path / "query.png"
    query.write_bytes(encode(scene(3).resize((320, 256)), "PNG"))

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(server.url)
        page.set_input_files("#upload-input", [str(p) for p in catalog])
        page.wait_for_function(
            "document.querySelectorAll('#upload-list .file[data-status]').length === 6",
            timeout=60_000,
        )
        statuses = page.eval_on_selector_all(
            "#upload-list .file", "rows => rows.map(r => r.dataset.status)"
        )
        assert statuses == ["added"] * 6

        page.set_input_files("#query-input", str(query))
        page.wait_for_selector("#results .hit", timeout=60_000)
        first = page.get_attribute("#results .hit:first-child", "data-item-id")
        assert first == content_id(catalog[3].read_bytes())
        assert page.locator("#results .hit").count() == 6
        page.wait_for_function(
            "[...document.querySelectorAll('#results .hit img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        page.wait_for_function("document.querySelector('#status').textContent.includes('6 items')")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)

        # clicking a result searches from that item; the item itself is left out
        second = page.get_attribute("#results .hit:nth-child(2)", "data-item-id")
        assert second is not None
        page.click("#results .hit:nth-child(2)")
        page.wait_for_function(
            f"document.querySelector('#message').textContent.includes('item {second[:12]}')"
        )
        shown = page.eval_on_selector_all(
            "#results .hit", "cards => cards.map(c => c.dataset.itemId)"
        )
        assert len(shown) == 5 and second not in shown
        browser.close()
