"""The views live in JupyterLab (and Voila), driven by a user in headless Chromium.

A real Jupyter server runs a small notebook (the tiny digits model, so it takes seconds);
the tests drag, click and read the pages as a user would, and check the round trip
browser -> kernel -> browser: a region toggled in the SAGExplorer is scored in Python and
the page shows the kernel's probability. Screenshots go to ``test-artifacts/``.
"""
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ARTIFACTS, click_data, drag, require, selected
from .conftest import model as find

NOTEBOOK = "lab_widgets.ipynb"
CELLS = [
    'import xviz\nclf = xviz.zoo.digits_cnn()\nimg = xviz.zoo.image("digit-3")',
    "xviz.HeatmapView([xviz.gradcam(clf, img), xviz.integrated_gradients(clf, img)], clf=clf, grid=8)",
    "g = xviz.sag(clf, img, grid=4, progress=False)\nex = xviz.SAGExplorer(g, clf=clf)\nex",
    'xnn = xviz.xnn.fit(clf, xviz.zoo.digits("train"), classes=[3, 5, 8], epochs=150, progress=False)\n'
    "board = xviz.show(xnn)\nboard",
]
# Every page error and console error fails a test, except one kind of noise: "Failed to load
# resource" for a request to another host, which the tests block to stay offline (Voila's
# template links Font Awesome from cdn.jsdelivr.net). Those are kept in ``page.blocked``.


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc, log, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{Path(log).read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not up after {timeout} s:\n{Path(log).read_text()[-3000:]}")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)




@pytest.fixture(scope="session")
def root(tmp_path_factory):
    """A temp root with the notebook and isolated Jupyter config/settings/workspaces."""
    import nbformat

    root = tmp_path_factory.mktemp("lab")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / NOTEBOOK)
    config = root / ".config"
    (config / "labconfig").mkdir(parents=True)
    # what `jupyter labextension disable` writes, but in a private config dir: no news pop-up
    # jupyter_bokeh's extension off too, where it is installed: the views must not need it.
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True, "@bokeh/jupyter_bokeh": True}}))
    # Lab 4 renders only the cells near the viewport; a test reading every view needs them all.
    tracker = root / ".settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # No autosave: a page opened later must not get BokehJS from outputs saved by another page.
    docmanager = root / ".settings" / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTERLAB_SETTINGS_DIR=str(root / ".settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(root / ".workspaces"), JUPYTER_RUNTIME_DIR=str(root / ".runtime"),
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return root, env


def start(cmd, root, env, name):
    log = root / f"{name}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


@pytest.fixture(scope="session")
def lab(root):
    """JupyterLab on 127.0.0.1 at a free port with a random token; yields its base URL and token."""
    require("jupyterlab")
    root, env = root
    port, token = free_port(), secrets.token_hex(16)
    proc, log = start([sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
                       "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                       f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
                       "--LabApp.expose_app_in_browser=True"], root, env, "lab")
    try:
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc, log)
        yield f"http://127.0.0.1:{port}", token
    finally:
        stop(proc)


def new_page(browser, base):
    """A page that may only talk to our server (everything else is aborted) and records JS errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 1500})
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith((base, "data:", "blob:"))
                  else route.abort())
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.errors, page.blocked = [], []

    def console(message):
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if message.text.startswith("Failed to load resource") and url and not url.startswith(base):
            page.blocked.append(url)  # offline on purpose: another host
        else:
            page.errors.append(f"console.error: {message.text} ({url})")

    page.on("pageerror", lambda e: page.errors.append(f"pageerror: {e}"))
    page.on("console", console)
    return context, page


def errors(page):
    return page.errors


@pytest.fixture(scope="module")
def notebook(browser, lab):
    """The notebook open in Lab with every cell run and both views rendered."""
    base, token = lab
    context, page = new_page(browser, base)
    page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
    page.wait_for_function("""() => { const w = window.jupyterapp && jupyterapp.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
        return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }""", timeout=60_000)
    page.evaluate("() => jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(f"() => window.Bokeh && {find('sag-info')} && {find('heatmap')} && {find('concepts-info')}",
                           timeout=90_000)
    page.locator(".noUi-handle:visible").first.wait_for(timeout=30_000)
    page.wait_for_function("() => jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
                           timeout=30_000)
    page.wait_for_timeout(300)
    yield page
    context.close()


def info(page):
    return page.evaluate(f"() => {find('sag-info')}.text")


def wait_scored(page, timeout=20_000):
    """Wait (bounded) until 'sag-info' shows a probability, not 'scoring...'; return it."""
    page.wait_for_function(f"() => {{ const t = {find('sag-info')}.text;"
                           " return !t.includes('scoring') && /p\\(.*\\) = <b>[0-9.]+<\\/b>/.test(t); }",
                           timeout=timeout)
    return float(re.search(r"p\(.*?\) = <b>([0-9.]+)</b>", info(page)).group(1))


def kernel_p(clf, g, subset):
    """p(target) of the image with only ``subset`` shown on a black baseline, scored here."""
    m = g.mask(subset)[..., None]
    x, _ = clf.prepare(g.image * m)
    return float(clf.probs(x)[0][g.target])


def uncached_click(g, root):
    """A region to click on the root such that the new subset was never scored by the search:
    preferably one of the root's regions (removing it), else another one (adding it)."""
    for r in root:
        if tuple(x for x in root if x != r) not in g.cache:
            return r
    for r in range(g.regions):
        if r not in root and tuple(sorted(root + (r,))) not in g.cache:
            return r
    return root[0]


def click_region(page, g, region):
    rows, cols = (a.astype(float) for a in (g.segments == region).nonzero())
    H = g.segments.shape[0]
    click_data(page, "shown", cols.mean() + 0.5, H - rows.mean() - 0.5)


def root_then_region(page, clf, g):
    """Click 'root 1', then a region whose subset the search never scored (when there is one):
    the page must show the kernel's probability for it. Returns that subset."""
    root = g.diverse[0]
    page.locator("button:visible:has-text('root 1')").click()
    page.wait_for_timeout(400)
    assert selected(page) == root
    assert wait_scored(page) == pytest.approx(g.graph.nodes[root]["p"], abs=6e-4)
    region = uncached_click(g, root)
    subset = tuple(sorted(set(root) ^ {region}))
    click_region(page, g, region)
    assert selected(page) == subset
    shown, expected = wait_scored(page), kernel_p(clf, g, subset)
    assert shown == pytest.approx(expected, abs=6e-4), (info(page), expected)
    return subset


def test_lab_renders_the_views_without_errors(notebook):
    page = notebook
    ARTIFACTS.mkdir(exist_ok=True)
    cells = page.locator(".jp-Notebook .jp-CodeCell:visible")
    assert cells.count() == len(CELLS)
    cells.nth(1).screenshot(path=str(ARTIFACTS / "lab_heatmap_view.png"))
    cells.nth(2).screenshot(path=str(ARTIFACTS / "lab_sag_explorer.png"))
    cells.nth(3).screenshot(path=str(ARTIFACTS / "lab_concept_board.png"))
    assert page.evaluate(f"() => {find('main')}.title.text").startswith("gradcam: 3")
    # Three views rendering at once asked the kernel for BokehJS once (a promise shared in the page).
    assert page.evaluate(KERNEL_PRINTS, BOKEHJS_SENT) == "[('bokeh', 'bokeh-widgets')]"
    assert errors(page) == []


def test_lab_opacity_slider_drives_the_heatmap(notebook):
    page = notebook
    alpha = f"() => (a => typeof a == 'object' ? a.value : a)({find('heatmap')}.glyph.global_alpha)"
    before = page.evaluate(alpha)
    drag(page, page.locator(".noUi-handle:visible").first, 60)
    value = page.evaluate(f"() => {find('opacity')}.value")
    assert value > before
    assert page.evaluate(alpha) == value
    assert errors(page) == []


def test_lab_sag_region_click_is_scored_by_the_kernel(notebook, reference):
    page = notebook
    clf, g = reference
    subset = root_then_region(page, clf, g)
    if subset not in g.cache:  # nobody in the page knew it: only the kernel could have scored it
        assert page.evaluate(f"() => {find('sag-bars')}.data.p.length") > 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".jp-Notebook .jp-CodeCell:visible").nth(2).screenshot(path=str(ARTIFACTS / "lab_sag_scored.png"))
    assert errors(page) == []


def test_lab_a_click_runs_the_python_callback_once(notebook, reference):
    """jupyter_bokeh ran a model's ``on_change`` callbacks twice per browser change; the host once."""
    page = notebook
    clf, g = reference
    page.evaluate(KERNEL_PRINTS, "calls = []\nex.state.on_change('data', lambda attr, old, new: calls.append(new))")
    root = selected(page)
    region = uncached_click(g, root)
    click_region(page, g, region)
    wait_scored(page)
    assert page.evaluate(KERNEL_PRINTS, "print(len(calls))") == "1"
    assert selected(page) == tuple(sorted(set(root) ^ {region}))
    assert errors(page) == []


def test_lab_sag_graph_node_click_sets_the_regions(notebook):
    page = notebook
    nodes = page.evaluate(f"() => {{ const d = {find('sag-nodes')}.data;"
                          " return {x: Array.from(d.x), y: Array.from(d.y), regions: d.regions, p: Array.from(d.p)}; }")
    i = next(k for k, y in enumerate(nodes["y"]) if y == -1)  # depth 1: one region fewer than a root
    click_data(page, "sag-graph", nodes["x"][i], nodes["y"][i])
    assert selected(page) == tuple(nodes["regions"][i])
    assert f"<b>{nodes['p'][i]:.3f}</b>" in info(page)
    assert errors(page) == []


def test_lab_concept_board_switches_concept_on_click(notebook):
    """Tap the third concept's column: the board's state, the large heatmap and the outline follow."""
    page = notebook
    state = f"{find('concepts-state')}.data"
    heat = f"() => Array.from({find('concepts-heat')}.data.image[0])"
    assert page.evaluate(f"() => {state}.concept[0]") == 0
    before = page.evaluate(heat)
    heads = page.evaluate(f"() => {{ const d = {find('concepts-heads')}.data;"
                          " return {left: Array.from(d.left), right: Array.from(d.right)}; }")
    top = page.evaluate(f"() => {find('concepts-board')}.y_range.end")
    click_data(page, "concepts-board", (heads["left"][2] + heads["right"][2]) / 2, top / 2)
    assert page.evaluate(f"() => {state}.concept[0]") == 2
    assert page.evaluate(heat) != before
    assert page.evaluate(f"() => {find('concepts-mark')}.data.left[0]") == heads["left"][2]
    assert page.evaluate(f"() => {find('concepts-picture')}.title.text").startswith("image 0: concept 3")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".jp-Notebook .jp-CodeCell:visible").nth(3).screenshot(
        path=str(ARTIFACTS / "lab_concept_board_clicked.png"))
    assert errors(page) == []


def states(page):
    """The regions each SAGExplorer on the page shows, one tuple per bokeh document."""
    flags = page.evaluate("""() => Bokeh.documents.filter(d => d.get_model_by_name('sag-info')).map(doc =>
        Array.from([...doc.all_models].find(m => m.data && m.data.selected).data.selected[0]))""")
    return [tuple(i for i, f in enumerate(f) if f) for f in flags]


def test_lab_the_explorer_shown_again_opens_as_left_and_both_stay_in_step(notebook, reference):
    """`ex` in a new cell after clicks in the first: it opens with the regions the first shows,
    and a region clicked in the first is shown in the second too (each display is a widget of
    its own on the one document, and the host passes a page's change to the others)."""
    page = notebook
    clf, g = reference
    page.locator("button:visible:has-text('root 1')").first.click()
    page.wait_for_timeout(400)
    left = selected(page)
    page.evaluate("""() => { const nb = jupyterapp.shell.currentWidget.content, n = nb.model.cells.length;
        nb.model.sharedModel.insertCell(n, {cell_type: 'code', source: 'ex'}); nb.activeCellIndex = n;
        return jupyterapp.commands.execute('notebook:run-cell'); }""")
    page.wait_for_function("() => Bokeh.documents.filter(d => d.get_model_by_name('sag-info')).length == 2",
                           timeout=60_000)
    assert states(page) == [left, left]
    click_region(page, g, uncached_click(g, left))  # in the first explorer (the first document)
    page.wait_for_function("""() => { const s = Bokeh.documents.filter(d => d.get_model_by_name('sag-info'))
        .map(d => [...d.all_models].find(m => m.data && m.data.selected).data.selected[0].join());
        return s[0] == s[1]; }""", timeout=20_000)
    first, second = states(page)
    assert first == second != left
    assert errors(page) == []


KERNEL_PRINTS = """async code => { const k = jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const f = k.requestExecute({code, store_history: false}); let out = '';
    f.onIOPub = m => { if (m.header.msg_type === 'stream') out += m.content.text; };
    await f.done; return out.trim(); }"""
BOKEHJS_SENT = "from xviz.views import host\nprint(host.bokehjs_sent)"
OPEN_VIEWS = "import ipywidgets.widgets.widget as W\nprint(sum(type(w).__name__ == 'BokehWidget' for w in W._instances.values()))"


def test_lab_a_cell_run_again_closes_the_widget_it_showed(notebook):
    """Lab names the cell in each run: the SAGExplorer cell run twice more leaves as many
    views open in the kernel as before (ipywidgets alone would keep every one)."""
    page = notebook
    before = int(page.evaluate(KERNEL_PRINTS, OPEN_VIEWS))
    for _ in range(2):
        page.evaluate("() => { const nb = jupyterapp.shell.currentWidget.content; nb.activeCellIndex = 2;"
                      " return jupyterapp.commands.execute('notebook:run-cell'); }")
        page.wait_for_function("() => jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
                               timeout=60_000)
    page.wait_for_function(f"() => !!(window.Bokeh && {find('sag-info')})", timeout=60_000)
    assert int(page.evaluate(KERNEL_PRINTS, OPEN_VIEWS)) == before
    page.locator("button:visible:has-text('root 1')").first.wait_for(timeout=30_000)  # the new one renders
    assert errors(page) == []


def test_lab_a_second_page_on_the_same_kernel_shows_views(browser, lab, notebook):
    """A reloaded tab, or a second one, on a running kernel has no BokehJS: showing a view
    there must bring it (once per page), or every view fails to render."""
    base, token = lab
    context, page = new_page(browser, base)
    try:
        page.goto(f"{base}/lab/tree/{NOTEBOOK}?reset&token={token}")
        page.wait_for_function("""() => { const w = window.jupyterapp && jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }""", timeout=60_000)
        assert page.evaluate("() => !window.Bokeh")  # nothing was saved with the notebook
        sent = page.evaluate(KERNEL_PRINTS, BOKEHJS_SENT).count("bokeh-widgets")
        page.evaluate("() => { const nb = jupyterapp.shell.currentWidget.content; nb.activeCellIndex = 2;"
                      " return jupyterapp.commands.execute('notebook:run-cell'); }")  # the SAGExplorer cell
        page.wait_for_function(f"() => !!(window.Bokeh && {find('sag-info')})", timeout=60_000)
        page.locator(".jp-Notebook .jp-CodeCell:visible .bk-Canvas").first.wait_for(timeout=30_000)
        assert page.evaluate(KERNEL_PRINTS, BOKEHJS_SENT).count("bokeh-widgets") == sent + 1  # once for this page
        assert errors(page) == []
    finally:
        context.close()


def test_lab_a_view_widget_nests_in_a_box(notebook):
    """`view.widget` is an ipywidget: it renders inside a VBox, beside another widget."""
    page = notebook
    page.evaluate("""() => { const nb = jupyterapp.shell.currentWidget.content, n = nb.model.cells.length;
        nb.model.sharedModel.insertCell(n, {cell_type: 'code',
          source: 'import ipywidgets\\nipywidgets.VBox([ipywidgets.Label("beside the board"), board.widget])'});
        nb.activeCellIndex = n; return jupyterapp.commands.execute('notebook:run-cell'); }""")
    box = page.locator(".jp-Notebook .jp-CodeCell:visible").last.locator(".widget-vbox")
    box.locator(".bk-Canvas").first.wait_for(timeout=60_000)
    assert box.locator(".widget-label").inner_text() == "beside the board"
    page.wait_for_function("() => Bokeh.documents.filter(d => d.get_model_by_name('concepts-info')).length == 2")
    assert errors(page) == []


@pytest.fixture(scope="module")
def voila(root):
    require("voila")
    root, env = root
    port, token = free_port(), secrets.token_hex(16)
    proc, log = start([sys.executable, "-m", "voila", NOTEBOOK, "--no-browser", f"--port={port}",
                       "--Voila.ip=127.0.0.1", f"--token={token}"], root, env, "voila")
    try:
        # A static file, not the page: each request of the page starts a kernel that runs the
        # whole notebook, and that one would still be running beside the test's own.
        wait_http(f"http://127.0.0.1:{port}/voila/static/voila.js", proc, log, timeout=60)
        yield f"http://127.0.0.1:{port}", token
    finally:
        stop(proc)


def test_voila_sag_explorer_is_live(browser, voila, reference):
    base, token = voila
    clf, g = reference
    context, page = new_page(browser, base)
    try:
        # Voila runs every cell (an XNN fit among them) before it sends the page: slow on a loaded CPU.
        page.goto(f"{base}/?token={token}", timeout=150_000)
        page.wait_for_function(f"() => window.Bokeh && {find('sag-info')}", timeout=150_000)
        page.locator("button:visible:has-text('root 1')").wait_for()
        page.wait_for_timeout(300)
        root_then_region(page, clf, g)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "voila_sag_explorer.png"), full_page=True)
        assert errors(page) == []
    finally:
        context.close()


# -- the project's own notebooks, run in Lab as a user would ----------------------------------
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# Each notebook with the models its views name, and how many cells show a view.
REAL = {"03_structured_attention_graphs.ipynb": (["sag-info", "sag-graph"], 2),
        "05_summaries_and_layers.ipynb": (["layer-state", "summary-info"], 4)}
CELLS_JS = """() => { const cells = jupyterapp.shell.currentWidget.content.model.cells, out = [];
    for (let i = 0; i < cells.length; i++) { const c = cells.get(i);
      if (c.type === 'code') out.push({count: c.executionCount,
        errors: c.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)}); }
    return out; }"""


@pytest.fixture(scope="module", params=sorted(REAL))
def real_notebook(request, browser, lab, root):
    """One of notebooks/ opened in Lab with every cell run, as a reader of the notebook would."""
    base, token = lab
    folder, _ = root
    (folder / request.param).write_bytes((NOTEBOOKS / request.param).read_bytes())
    context, page = new_page(browser, base)
    page.goto(f"{base}/lab/tree/{request.param}?reset&token={token}")  # reset: no tabs restored from other tests
    page.wait_for_function("""() => { const w = window.jupyterapp && jupyterapp.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
        return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }""", timeout=60_000)
    page.evaluate("() => jupyterapp.commands.execute('notebook:run-all-cells')")
    done = f"() => ({CELLS_JS})().every(c => c.count !== null) && " \
           "jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"
    page.wait_for_function(done, timeout=240_000, polling=500)
    page.wait_for_timeout(500)
    yield request.param, page
    context.close()


def test_lab_runs_each_notebook_and_shows_its_views(real_notebook):
    name, page = real_notebook
    cells = page.evaluate(CELLS_JS)
    assert [c["errors"] for c in cells if c["errors"]] == []
    models, views = REAL[name]
    for view in models:  # widget views render after the kernel is idle: wait for each, bounded
        page.wait_for_function(f"() => !!(window.Bokeh && {find(view)})", timeout=30_000)
    shown = page.locator(".jp-Notebook .jp-CodeCell:visible:has(.bk-Canvas)")  # the cells that show a view
    require("playwright.sync_api").expect(shown).to_have_count(views, timeout=30_000)  # canvases come last
    ARTIFACTS.mkdir(exist_ok=True)
    for i in range(shown.count()):
        shown.nth(i).scroll_into_view_if_needed()
        shown.nth(i).screenshot(path=str(ARTIFACTS / f"lab_{name[:2]}_view{i + 1}.png"))
    assert errors(page) == []


def test_lab_layer_explorer_names_a_cluster_through_the_kernel(real_notebook):
    """Type a name in notebook 05's LayerExplorer: the kernel stores it and the page shows it.
    (The exported HTML hides the box: naming needs the kernel.)"""
    name, page = real_notebook
    if "layer-state" not in REAL[name][0]:
        pytest.skip(f"{name} shows no LayerExplorer")
    box = page.locator(".jp-Notebook .jp-CodeCell:visible input[type=text]:visible").first
    box.scroll_into_view_if_needed()
    cells = page.locator(".jp-Notebook .jp-Cell").count()
    box.click()
    box.press_sequentially("whiskers", delay=20)  # typed as a user types, then Enter, as the box says
    box.press("Enter")
    infos = "Bokeh.documents.map(d => Array.from(d.all_models).find(m => m.name === 'cluster-info')).filter(m => m)"
    page.wait_for_function(f"() => {infos}.some(m => m.text.includes('<b>whiskers</b>'))", timeout=20_000)
    # The kernel names the cluster first, then clears this very box: its clearing arrives just after.
    require("playwright.sync_api").expect(box).to_have_value("", timeout=10_000)
    assert page.locator(".jp-Notebook .jp-Cell").count() == cells  # no key reached Lab's notebook shortcuts
    assert errors(page) == []
