"""Headless Chromium (Debian's package) driven by Playwright; the tests skip when either is absent."""
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")
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


def model(name):
    """JavaScript for the BokehJS model of that name, in whichever Bokeh document holds it
    (an exported file has one document; in JupyterLab each widget output is its own)."""
    return f"(Bokeh.documents.map(d => d.get_model_by_name('{name}')).find(m => m))"


def open_html(page, path, ready):
    """Open an exported view and wait until BokehJS has built the model named ``ready``."""
    page.goto(path.as_uri())
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                           f"Bokeh.documents[0].get_model_by_name('{ready}') !== null")
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
