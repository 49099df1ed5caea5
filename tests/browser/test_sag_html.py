"""The SAGExplorer's standalone HTML in a real browser, offline: roots, graph nodes, region
clicks and steps all change what is shown, without a kernel."""
import numpy as np
import pytest

import xviz
from xviz.views import SAGExplorer

from .conftest import click_data, model, open_html, selected, shot


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    clf = xviz.zoo.digits_cnn(device="cpu")
    g = xviz.sag(clf, xviz.zoo.image("digit-3"), grid=4, progress=False)
    ex = SAGExplorer(g, clf=clf)
    return ex.to_html(tmp_path_factory.mktemp("html") / "sag.html"), g, ex


def open_view(page, path):
    open_html(page, path, "sag-info")


def press(page, label):
    """Click the button with this text and let the page redraw."""
    page.locator(f"button:has-text('{label}')").click()
    page.wait_for_timeout(300)


def info(page):
    return page.evaluate(f"() => {model('sag-info')}.text")


def test_root_button_shows_the_root_and_its_confidence(page, exported):
    path, g, _ = exported
    open_view(page, path)
    press(page, "root 1")
    assert selected(page) == g.diverse[0]
    p = g.graph.nodes[g.diverse[0]]["p"]
    assert f"p({g.label}) = <b>{p:.3f}</b>" in info(page) and "(sufficient)" in info(page)
    # The root's edges to its children are drawn in red, each marked with the region it removes,
    # and the info says what each removal leaves, the costliest first.
    root, graph = g.diverse[0], g.graph
    near = page.evaluate(f"() => {model('sag-near')}.data.color")
    marks = page.evaluate(f"() => {model('sag-near-marks')}.data.text")
    children = sorted(graph.successors(root), key=lambda c: graph.nodes[c]["p"])
    assert near == ["#e45756"] * len(children) and sorted(marks) == sorted(f"-{graph.edges[root, c]['removed']}"
                                                                           for c in children)
    first = children[0]
    assert (f"Without one more region (red edges): <b>{graph.edges[root, first]['removed']}</b> leaves "
            f"{100 * graph.nodes[first]['relative']:.0f}%") in info(page)
    shot(page, "html_sag_explorer")
    assert page.errors == []


def click_first_child(page, g, ex):
    """Click the graph's first node one level below a root; return its index in the nodes."""
    nodes = ex.nodes.data
    i = next(k for k, r in enumerate(nodes["regions"]) if g.graph.nodes[tuple(r)]["depth"] == 1)
    click_data(page, "sag-graph", nodes["x"][i], nodes["y"][i])
    return i


def test_clicking_a_graph_node_loads_its_regions(page, exported):
    path, g, ex = exported
    open_view(page, path)
    i = click_first_child(page, g, ex)
    assert selected(page) == tuple(ex.nodes.data["regions"][i])
    assert f"<b>{ex.nodes.data['p'][i]:.3f}</b>" in info(page)
    assert page.errors == []


def test_clicking_a_region_toggles_it_and_changes_the_shown_image(page, exported):
    path, g, _ = exported
    open_view(page, path)
    press(page, "root 1")
    before = np.array(page.evaluate(f"() => Array.from({model('shown-image')}.data.image[0])"), dtype=np.uint32)
    region = g.diverse[0][0]
    rows, cols = np.nonzero(g.segments == region)
    H = g.segments.shape[0]
    click_data(page, "shown", cols.mean() + 0.5, H - rows.mean() - 0.5)
    assert selected(page) == g.diverse[0][1:]
    after = np.array(page.evaluate(f"() => Array.from({model('shown-image')}.data.image[0])"), dtype=np.uint32)
    assert (before != after).any()
    # Hidden regions are hatched on a layer of their own, at a finer scale: every hidden region
    # gets lines, no shown pixel does.
    hatch = np.array(page.evaluate(f"() => Array.from({model('sag-hatch')}.data.image[0])"), dtype=np.uint32)
    scale = int(np.sqrt(hatch.size / g.segments.size))
    hatched = hatch.reshape(H * scale, -1)[::-1] != 0
    hidden = ~np.isin(g.segments, g.diverse[0][1:]).repeat(scale, 0).repeat(scale, 1)
    assert not (hatched & ~hidden).any()
    fine = g.segments.repeat(scale, 0).repeat(scale, 1)
    assert all(hatched[fine == r].any() for r in np.unique(fine[hidden]))
    key = tuple(g.diverse[0][1:])
    text = info(page)
    if key in g.cache:  # every child of a root is in the graph, so its probability is known
        assert f"<b>{g.cache[key]:.3f}</b>" in text
    else:
        assert "not scored during the search" in text
    assert page.errors == []


def test_step_moves_to_the_child_that_keeps_most(page, exported):
    path, g, _ = exported
    open_view(page, path)
    press(page, "root 1")
    press(page, "step")
    children = list(g.graph.successors(g.diverse[0]))
    child = max(children, key=lambda c: g.graph.nodes[c]["p"])
    assert selected(page) == child
    colors = page.evaluate(f"() => {model('sag-near')}.data.color")  # orange from its parents, red below
    assert colors.count("#f58518") == g.graph.in_degree(child)
    assert colors.count("#e45756") == g.graph.out_degree(child)
    assert page.errors == []


def test_a_state_set_before_export_is_what_the_page_shows(page, exported, tmp_path):
    _, g, _ = exported
    ex = SAGExplorer(g)
    ex.show_root(0)
    ex.toggle(g.diverse[0][0])
    path = ex.to_html(tmp_path / "state.html")
    open_view(page, path)
    assert selected(page) == g.diverse[0][1:]
    assert f"<b>{len(g.diverse[0]) - 1}</b> of {g.regions} regions shown" in info(page)
    full = SAGExplorer(g).to_html(tmp_path / "full.html")
    shown = page.evaluate(f"() => Array.from({model('shown-image')}.data.image[0])")
    open_view(page, full)
    assert shown != page.evaluate(f"() => Array.from({model('shown-image')}.data.image[0])")  # masked at load
    assert page.errors == []


def test_a_node_tapped_again_loads_again_and_others_keep_their_colours(page, exported):
    path, g, ex = exported
    open_view(page, path)
    node = tuple(ex.nodes.data["regions"][click_first_child(page, g, ex)])
    assert selected(page) == node
    assert page.evaluate(f"() => {model('sag-nodes')}.selected.indices.length") == 0  # nothing fades
    press(page, "full image")
    click_first_child(page, g, ex)  # the same node again
    assert selected(page) == node
    assert page.errors == []


def placed_marks(page):
    """The removal marks on the graph, and whether each lies in view and clear of the others."""
    marks = page.evaluate(f"() => {model('sag-near-marks')}.data")
    start, end, width = page.evaluate(f"() => {{ const g = {model('sag-graph')};"
                                      " return [g.x_range.start, g.x_range.end, g.inner_width]; }")
    at = [(x - start) / (end - start) * width for x in marks["x"]]
    half = [4 * (len(t) - 1) + 6 for t in marks["text"]]
    clear = all(abs(at[a] - at[b]) >= half[a] + half[b] for a in range(len(at)) for b in range(a))
    return marks["text"], clear and all(start <= x <= end for x in marks["x"])


def test_removal_marks_never_cover_each_other(page, exported):
    path, g, _ = exported
    open_view(page, path)
    press(page, "root 1")
    root = g.diverse[0]
    costliest = min(g.graph.successors(root), key=lambda c: g.graph.nodes[c]["p"])
    texts, ok = placed_marks(page)
    assert ok and f"-{g.graph.edges[root, costliest]['removed']}" in texts
    children = g.graph.out_degree(root)
    # Zoomed in (as a box zoom sets the range), then reset: the marks are placed again each time.
    page.evaluate(f"() => {{ const r = {model('sag-graph')}.x_range; r.start = 0.0; r.end = 0.5; }}")
    page.wait_for_timeout(300)
    zoomed, ok = placed_marks(page)
    assert ok and len(zoomed) <= children
    page.evaluate(f"() => {{ const r = {model('sag-graph')}.x_range; r.start = 0; r.end = 1; }}")
    page.wait_for_timeout(300)
    assert placed_marks(page) == (texts, True)
    assert page.errors == []
