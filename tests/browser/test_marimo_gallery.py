"""The Gallery live in marimo, driven in headless Chromium: a thumbnail clicked in the page
reaches the kernel, which opens that image's HeatmapView under the grid (browser -> kernel
-> browser), with the heatmaps of that image."""
import os
import secrets
import sys
from pathlib import Path

import pytest

from .conftest import ARTIFACTS, click_data, require
from .conftest import model as find
from .test_lab import free_port, new_page, start, stop, wait_http

pytest.importorskip("pyarrow", reason="xviz.dataset needs pyarrow (pip install -e '.[dataset]')")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "marimo_gallery.py"


@pytest.fixture(scope="module")
def app(browser, tmp_path_factory):
    require("marimo")
    root = tmp_path_factory.mktemp("marimo-gallery")
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, XDG_CONFIG_HOME=str(root / "config"), XDG_CACHE_HOME=str(root / "cache"),
               XDG_STATE_HOME=str(root / "state"), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc, log = start([sys.executable, "-m", "marimo", "run", str(NOTEBOOK), "--headless", "--host", "127.0.0.1",
                       "--port", str(port), "--token-password", token, "--no-sandbox"], root, env, "marimo")
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, log)
        base = f"http://127.0.0.1:{port}"
        context, page = new_page(browser, base)
        page.goto(f"{base}/?access_token={token}")
        page.wait_for_function(f"() => window.Bokeh && {find('gallery-grid')} && "
                               f"{find('gallery-cells')}.data.image_id.length == 8", timeout=150_000)
        page.wait_for_timeout(500)
        yield page
        context.close()
    finally:
        stop(proc)


def test_a_click_opens_the_images_heatmap_view_from_the_kernel(app):
    page = app
    assert page.evaluate(f"() => {find('main')} === undefined")  # no HeatmapView before a click
    click_data(page, "gallery-grid", 2.5, -0.5)  # the third thumbnail: image 000002
    page.wait_for_function(f"() => {find('main')} !== undefined", timeout=60_000)
    title = page.evaluate(f"() => {find('main')}.title.text")
    assert title.startswith("gradcam: ")  # the chosen method first, with its AUCs from the curves
    assert "deletion" in title
    assert page.evaluate(f"() => {find('gallery-state')}.data.image_id[0]") == "000002"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "marimo_gallery_opened.png"), full_page=True)
    assert page.errors == []
