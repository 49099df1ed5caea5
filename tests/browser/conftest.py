"""Headless Chromium (Debian's package) driven by Playwright. Without either the tests skip,
except in CI (CI=true), where they fail: a CI run must not pass with no browser test run.
XVIZ_BROWSER_OPTIONAL=1 lets them skip there too."""
import importlib
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # a screenshot per view, for people to look at
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def unavailable(reason):
    """Skip a browser test that cannot run here; in CI, fail it."""
    if os.environ.get("CI", "").lower() in ("1", "true") and not os.environ.get("XVIZ_BROWSER_OPTIONAL"):
        pytest.fail(f"browser tests cannot run in CI: {reason} (XVIZ_BROWSER_OPTIONAL=1 allows skipping)")
    pytest.skip(reason)


def require(module):
    """Import a module the browser tests need, and check Chromium is there."""
    if CHROMIUM is None:
        unavailable("no chromium on PATH (Debian: apt-get install chromium)")
    try:
        return importlib.import_module(module)
    except ImportError:
        unavailable(f"{module} is not installed (pip install -e '.[test]'; never `playwright install`)")


@pytest.fixture(scope="session")
def browser():
    sync_api = require("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page that refuses every request to the network and records JavaScript errors."""
    context = browser.new_context(viewport={"width": 1200, "height": 1200})
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                  else route.abort())
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()


@pytest.fixture(scope="session")
def reference():
    """The same SAG built in the test process: same model, image, settings and seed, same result."""
    import xviz

    clf = xviz.zoo.digits_cnn(device="cpu")
    g = xviz.sag(clf, xviz.zoo.image("digit-3"), grid=4, progress=False)
    return clf, g


def model(name):
    """JavaScript for the BokehJS model of that name, in whichever Bokeh document holds it
    (an exported file has one document; in JupyterLab each widget output is its own)."""
    # Searched in all_models: in Lab, get_model_by_name misses some models of a widget's
    # document (a data source only a callback refers to, in the LayerExplorer).
    return f"(Bokeh.documents.map(d => Array.from(d.all_models).find(m => m.name === '{name}')).find(m => m))"


def shot(page, name, locator=None):
    """Save a screenshot of the page (or of one element) as test-artifacts/NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    (locator or page).screenshot(path=str(ARTIFACTS / f"{name}.png"), **({} if locator else {"full_page": True}))


def open_html(page, path, ready):
    """Open an exported view and wait until BokehJS has built the model named ``ready``."""
    page.goto(path.as_uri())
    page.wait_for_function(f"() => window.Bokeh && !!{model(ready)}")
    page.wait_for_timeout(500)


def drag(page, locator, dx):
    """Drag a noUiSlider handle by dx pixels, as a user would."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


def click_data(page, figure, x, y):
    """Click the point (x, y), in data coordinates, of the bokeh figure named ``figure``."""
    find = f"Bokeh.index.find_one({model(figure)})"
    page.evaluate(f"() => {find}.canvas_view.el.scrollIntoView({{block: 'center'}})")
    page.wait_for_timeout(100)
    px, py = page.evaluate(f"""() => {{ const v = {find}, r = v.canvas_view.el.getBoundingClientRect();
        return [r.left + v.frame.x_scale.compute({x}), r.top + v.frame.y_scale.compute({y})]; }}""")
    page.mouse.click(px, py)
    page.wait_for_timeout(400)  # two clicks within 300 ms would be one double tap


def selected(page):
    """The regions the SAGExplorer's ``state`` source shows, read in the browser."""
    flags = page.evaluate("""() => { const doc = Bokeh.documents.find(d => d.get_model_by_name('sag-info'));
        return Array.from([...doc.all_models].find(m => m.data && m.data.selected).data.selected[0]); }""")
    return tuple(i for i, f in enumerate(flags) if f)
