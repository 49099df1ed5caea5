"""The views live in marimo, driven by a user in headless Chromium.

`marimo run` serves ``notebooks/marimo_views.py`` (the tiny digits model: seconds); the page
shows the HeatmapView and the SAGExplorer that end its cells, with no JavaScript error. The
opacity slider drives the heatmap, and a region clicked in the explorer is scored by the
kernel, whose probability the page then shows (browser -> kernel -> browser).
"""
import os
import secrets
import sys
from pathlib import Path

import pytest

from .conftest import ARTIFACTS, drag, require
from .conftest import model as find
from .test_lab import free_port, new_page, root_then_region, start, stop, wait_http

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "marimo_views.py"


@pytest.fixture(scope="module")
def marimo(tmp_path_factory):
    """`marimo run` on 127.0.0.1 at a free port with a random token; yields its base URL and token."""
    require("marimo")
    root = tmp_path_factory.mktemp("marimo")
    port, token = free_port(), secrets.token_hex(16)
    # Its own config, cache and state: nothing from (or left in) the user's home.
    env = dict(os.environ, XDG_CONFIG_HOME=str(root / "config"), XDG_CACHE_HOME=str(root / "cache"),
               XDG_STATE_HOME=str(root / "state"), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc, log = start([sys.executable, "-m", "marimo", "run", str(NOTEBOOK), "--headless", "--host", "127.0.0.1",
                       "--port", str(port), "--token-password", token, "--no-sandbox"], root, env, "marimo")
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, log)
        yield f"http://127.0.0.1:{port}", token
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def app(browser, marimo):
    """The notebook open as an app: marimo runs every cell for the page's session."""
    base, token = marimo
    context, page = new_page(browser, base)
    page.goto(f"{base}/?access_token={token}")
    page.wait_for_function(f"() => window.Bokeh && {find('sag-info')} && {find('heatmap')}", timeout=150_000)
    page.locator("button:visible:has-text('root 1')").wait_for()
    page.locator(".noUi-handle:visible").first.wait_for()
    page.wait_for_timeout(500)
    yield page
    context.close()


def test_marimo_renders_the_views_without_errors(app):
    page = app
    assert page.evaluate(f"() => {find('main')}.title.text").startswith("gradcam: 3")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "marimo_views.png"), full_page=True)
    assert page.errors == []


def test_marimo_opacity_slider_drives_the_heatmap(app):
    page = app
    alpha = f"() => (a => typeof a == 'object' ? a.value : a)({find('heatmap')}.glyph.global_alpha)"
    before = page.evaluate(alpha)
    drag(page, page.locator(".noUi-handle:visible").first, 60)
    value = page.evaluate(f"() => {find('opacity')}.value")
    assert value > before
    assert page.evaluate(alpha) == value
    assert page.errors == []


def test_marimo_sag_region_click_is_scored_by_the_kernel(app, reference):
    page = app
    clf, g = reference
    root_then_region(page, clf, g)  # a subset the search never scored: only the kernel could
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "marimo_sag_scored.png"), full_page=True)
    assert page.errors == []
