"""The web page in a real headless browser: upload a catalog, query, click a result."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from index import content_id
from tests.api.server import Server
from tests.images import encode, jpeg, scene

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    # Uploads embedded by the server itself (--inline): the page, not the queue, is tested
    # here, and the server starts in half the time.
    srv = Server(tmp_path / "data", inline=True)
    yield srv
    srv.stop()


def _until(page: Any, predicate: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate):
        assert time.monotonic() < deadline, predicate
        time.sleep(0.1)


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
        # (waits go through locators and evaluate: wait_for_function compiles its
        # predicate in the page, which the page's CSP forbids, as it should)
        page.locator("#upload-list .file[data-status]").nth(5).wait_for(timeout=60_000)
        statuses = page.eval_on_selector_all(
            "#upload-list .file", "rows => rows.map(r => r.dataset.status)"
        )
        assert statuses == ["added"] * 6

        page.set_input_files("#query-input", str(query))
        page.wait_for_selector("#results .hit", timeout=60_000)
        first = page.get_attribute("#results .hit:first-child", "data-item-id")
        assert first == content_id(catalog[3].read_bytes())
        assert page.locator("#results .hit").count() == 6
        _until(
            page,
            "() => [...document.querySelectorAll('#results .hit img')]"
            ".every(i => i.complete && i.naturalWidth > 0)",
        )
        page.locator("#status", has_text="6 items").wait_for()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)
        # a phone-sized viewport: the results stay on screen, nothing scrolls sideways
        page.set_viewport_size({"width": 390, "height": 844})
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        right = page.evaluate(
            "() => Math.max(...[...document.querySelectorAll('#results .hit')]"
            ".map(h => h.getBoundingClientRect().right))"
        )
        assert wide <= 390 and right <= 390, (wide, right)
        page.screenshot(path=str(ARTIFACTS / "web-page-390.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 860})

        # clicking a result searches from that item; the item itself is left out
        second = page.get_attribute("#results .hit:nth-child(2)", "data-item-id")
        assert second is not None
        page.click("#results .hit:nth-child(2)")
        page.locator("#message", has_text=f"item {second[:12]}").wait_for()
        shown = page.eval_on_selector_all(
            "#results .hit", "cards => cards.map(c => c.dataset.itemId)"
        )
        assert len(shown) == 5 and second not in shown

        # a region: two catalog pictures side by side; dragging over the right one searches
        # for it, and a region typed into the field (the keyboard's way) for the left one
        both = Image.new("RGB", (320, 128))
        both.paste(scene(1), (0, 0))
        both.paste(scene(4), (160, 0))
        pair = tmp_path / "pair.png"
        pair.write_bytes(encode(both, "PNG"))
        page.set_input_files("#query-input", str(pair))
        page.locator("#message", has_text="for pair.png").wait_for()
        shot = page.locator("#query-preview .frame img").bounding_box()
        assert shot is not None
        x, y, w, h = shot["x"], shot["y"], shot["width"], shot["height"]
        page.mouse.move(x + 0.52 * w, y + 0.02 * h)
        page.mouse.down()
        page.mouse.move(x + 0.8 * w, y + 0.5 * h, steps=5)
        page.mouse.move(x + 0.98 * w, y + 0.98 * h, steps=5)
        page.mouse.up()
        page.locator("#message", has_text="a region of pair.png").wait_for()
        assert page.is_visible("#box-mark")
        assert page.get_attribute("#results .hit:first-child", "data-item-id") == content_id(
            catalog[4].read_bytes()
        )
        page.fill("#box", "0,0,0.5,1")
        page.press("#box", "Enter")
        _until(
            page,
            "() => document.querySelector('#results .hit')?.dataset.itemId === "
            f"'{content_id(catalog[1].read_bytes())}'",
        )

        # near duplicates: a smaller copy of a catalog picture is uploaded; the review shows
        # the pair with the larger one suggested; keeping it deletes the copy everywhere
        copy = tmp_path / "copy-of-2.jpg"
        copy.write_bytes(encode(scene(2).resize((120, 96)), "JPEG"))
        page.set_input_files("#upload-input", str(copy))
        page.locator("#upload-list .file[data-status]").nth(6).wait_for(timeout=60_000)
        page.click("#find-duplicates")
        page.locator("#results .group").first.wait_for()
        assert page.locator("#results .group").count() == 1
        original = content_id(catalog[2].read_bytes())
        suggested = page.locator("#results .group .hit.suggested")
        assert suggested.get_attribute("data-item-id") == original
        suggested.locator("button.keep").click()
        page.locator("#message", has_text="deleted 1").wait_for()
        assert page.locator("#results .group").count() == 0
        page.set_input_files("#query-input", str(copy))
        page.locator("#message", has_text="for copy-of-2.jpg").wait_for()
        shown = page.eval_on_selector_all(
            "#results .hit", "cards => cards.map(c => c.dataset.itemId)"
        )
        assert content_id(copy.read_bytes()) not in shown and original in shown
        browser.close()


@pytest.mark.slow
def test_the_page_works_behind_a_key_that_its_scripts_cannot_read(tmp_path: Path) -> None:
    """With keys on: the key typed into the page becomes the server's HttpOnly cookie, the
    page (under its CSP) uploads and searches with it, and document.cookie never shows it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (./run test installs it with apt-get)")
    from api.keys import KeyRing
    from index import Store

    data = tmp_path / "data"
    _, token = KeyRing(Store(data / "lancedb")).create(["write"], name="page")
    srv = Server(data, inline=True)
    try:
        picture = tmp_path / "one.jpg"
        picture.write_bytes(jpeg(1))
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(srv.url)
            page.fill("#api-key", token)
            page.press("#api-key", "Enter")
            page.wait_for_selector("#api-key[placeholder='key kept for this browser']")
            assert token not in page.evaluate("() => document.cookie")
            page.set_input_files("#upload-input", [str(picture)])
            page.locator("#upload-list .file[data-status]").first.wait_for(timeout=60_000)
            status = page.get_attribute("#upload-list .file", "data-status")
            assert status == "added", status
            assert not [e for e in errors if "Content Security Policy" in e], errors
            browser.close()
    finally:
        srv.stop()


@pytest.mark.slow
def test_the_catalog_item_and_jobs_views(server: Server, tmp_path: Path) -> None:
    """Each view driven as a user would, keyboard and pointer: browse and filter the
    catalog, open an item, edit and delete it, see its similar products; run a reindex
    from the page, follow it, roll it back; and each view fits a phone's width."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (./run test installs it with apt-get)")
    import httpx

    files = [("files", (f"shoe{i}.jpg", jpeg(i), "image/jpeg")) for i in range(6)]
    data = {
        "products": [f"P{i // 2}" for i in range(6)],
        "metadata": [json.dumps({"colour": "red" if i < 2 else "blue"}) for i in range(6)],
        "client_keys": [f"shoe-{i}" for i in range(6)],
    }
    up = httpx.post(server.url + "/v1/items", files=files, data=data, timeout=60).json()
    ids = [r["item_id"] for r in up["results"]]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.on("dialog", lambda dialog: dialog.accept())  # "delete this item?"
        page.goto(server.url + "/#catalog")
        page.locator("#catalog-grid .hit").nth(5).wait_for()
        assert page.locator("#catalog-grid .hit").count() == 6
        page.screenshot(path=str(ARTIFACTS / "web-catalog.png"), full_page=True)
        page.fill("#catalog-filter", '{"colour": "red"}')
        page.focus("#catalog-apply")
        page.keyboard.press("Enter")  # the keyboard's way
        page.locator("#catalog-message", has_text="2 items shown").wait_for()
        shown = page.eval_on_selector_all(
            "#catalog-grid .hit", "cs => cs.map(c => c.dataset.itemId)"
        )
        assert sorted(shown) == sorted(ids[:2])

        page.click(f"#catalog-grid .hit[data-item-id='{ids[0]}']")
        page.locator("#item-facts", has_text=ids[0][:16]).wait_for()
        assert page.input_value("#item-product") == "P0"
        page.locator("#item-similar .hit").first.wait_for()
        products = page.eval_on_selector_all(
            "#item-similar .hit .product", "ps => ps.map(p => p.textContent)"
        )
        assert len(products) == len(set(products))  # one card per product
        page.fill("#item-metadata", '{"colour": "green", "size": 42}')
        page.fill("#item-product", "P9")
        page.click("#item-save")
        page.locator("#item-message", has_text="saved").wait_for()
        item = httpx.get(f"{server.url}/v1/items/{ids[0]}", timeout=30).json()
        assert item["metadata"] == {"colour": "green", "size": 42} and item["product"] == "P9"
        page.screenshot(path=str(ARTIFACTS / "web-item.png"), full_page=True)
        page.fill("#item-metadata", "{not json")
        page.click("#item-save")
        page.locator("#item-message", has_text="not valid JSON").wait_for()
        page.click("#item-delete")
        page.wait_for_url("**/#catalog")
        assert httpx.get(f"{server.url}/v1/items/{ids[0]}", timeout=30).status_code == 404

        # a job whose batch was written but never sent (as a crash would leave it), by
        # another process on the same tables: cancel it from the page, then resume it
        from index import Store
        from workers.jobs import create_job

        stuck = create_job(
            Store(tmp_path / "data" / "lancedb"), "upload", ids[4:], {}, 8, lambda *_: None
        )
        page.click("header nav a[data-view='ops']")
        row = page.locator(f"#ops-jobs .job[data-job-id='{stuck.id}']")
        row.locator("button.cancel").click()
        page.locator("#ops-message", has_text="cancel: done").wait_for()
        row.locator("text=cancelled").wait_for()
        row.locator("button.resume").click()
        page.locator("#ops-message", has_text="resume: done").wait_for()
        row.locator("text=: done, 2/2 done").wait_for(timeout=60_000)
        page.locator("#reindex-state", has_text="active resnet18").wait_for()
        before = httpx.get(server.url + "/v1/reindex", timeout=30).json()["active"]
        page.fill("#reindex-model", "resnet18")
        page.fill("#reindex-weights", "none")
        page.select_option("#reindex-pooling", "avg")
        page.click("#reindex-start")
        page.locator("#ops-message", has_text="reindex started").wait_for()
        page.locator("#reindex-state", has_text=".avg").wait_for(timeout=120_000)
        page.locator("#ops-jobs .job", has_text="reindex").first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "web-jobs.png"), full_page=True)
        page.click("#reindex-rollback")
        page.locator("#ops-message", has_text="rollback: done").wait_for()
        assert httpx.get(server.url + "/v1/reindex", timeout=30).json()["active"] == before

        page.set_viewport_size({"width": 390, "height": 844})
        for view in ("#catalog", f"#item/{ids[1]}", "#jobs", "#search"):
            page.goto(server.url + "/" + view)
            page.wait_for_timeout(300)
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            assert wide <= 390, (view, wide)
        browser.close()
