"""SAGExplorer at the Python level: toggling regions changes the shown probabilities, and
selecting a node, a root or a step sets the toggles. The browser side is in tests/browser/."""
import numpy as np
import pytest
import torch
from bokeh.models import Plot

import xviz
from xviz.views import SAGExplorer


@pytest.fixture(scope="module")
def digit_sag():
    clf = xviz.zoo.digits_cnn(device="cpu")
    return clf, xviz.sag(clf, xviz.zoo.image("digit-3"), grid=4, progress=False)


def fresh(clf, g, subset):
    """p(target) of the image shown with exactly these regions, evaluated anew."""
    m = g.mask(subset)[..., None]
    x, _ = clf.prepare(g.image * m)  # the SAG's baseline here is black
    return float(clf.probs(x)[0, g.target])


def test_toggling_a_region_rescores_the_shown_image(digit_sag):
    clf, g = digit_sag
    ex = SAGExplorer(g, clf=clf)
    assert ex.selected == tuple(range(g.regions)) and ex.probability == pytest.approx(g.p_full)
    root = g.diverse[0]
    ex.select(root)
    assert ex.probability == pytest.approx(fresh(clf, g, root), abs=1e-5)
    ex.toggle(root[0])
    assert ex.selected == root[1:]
    assert ex.probability == pytest.approx(fresh(clf, g, root[1:]), abs=1e-5)
    assert ex.probability != pytest.approx(g.graph.nodes[root]["p"], abs=1e-3)
    assert ex.top5[0][1] >= ex.top5[-1][1] and len(ex.top5) == 5
    assert ex.relative == pytest.approx(ex.probability / g.p_full)


def test_a_subset_nobody_scored_is_scored_once(digit_sag):
    clf, g = digit_sag
    ex = SAGExplorer(g, clf=clf)
    odd = tuple(r for r in range(g.regions) if r % 3 == 0)
    before = clf.images_scored
    ex.select(odd)
    ex.select(odd)
    assert clf.images_scored - before == 1
    assert ex.probability == pytest.approx(fresh(clf, g, odd), abs=1e-5)


def test_nodes_roots_reset_and_steps_set_the_toggles(digit_sag):
    clf, g = digit_sag
    ex = SAGExplorer(g, clf=clf)
    ex.show_root(0)
    assert ex.selected == g.diverse[0]
    node = next(n for n in g.graph if g.graph.nodes[n]["depth"] == 1)
    ex.select(node)
    assert ex.selected == node and ex.probability == pytest.approx(g.graph.nodes[node]["p"])
    ex.show_root(0)
    assert ex.step()
    child = ex.selected
    assert child in g.graph.successors(g.diverse[0])
    assert g.graph.nodes[child]["p"] == max(g.graph.nodes[c]["p"] for c in g.graph.successors(g.diverse[0]))
    ex.reset()
    assert ex.selected == tuple(range(g.regions))
    with pytest.raises(ValueError, match=r"root 9 does not exist; this SAG has \d+ diverse roots, 0\.\.\d+ \(the buttons count from 1"):
        ex.show_root(9)
    with pytest.raises(ValueError, match=r"regions \[99\] do not exist"):
        ex.select([99])


def test_without_a_classifier_only_scored_subsets_have_numbers(digit_sag):
    _, g = digit_sag
    ex = SAGExplorer(g)
    ex.show_root(0)
    assert ex.probability == pytest.approx(g.graph.nodes[g.diverse[0]]["p"])
    candidates = [tuple(r for r in range(g.regions) if r % k == j) for k in (2, 3, 4) for j in range(k)]
    never = next(c for c in candidates if ",".join(map(str, c)) not in ex.known.data["key"])
    ex.select(never)
    assert ex.probability is None and ex.top5 == []


def test_the_graph_is_drawn_as_a_dag_with_roots_on_top(digit_sag):
    _, g = digit_sag
    ex = SAGExplorer(g)
    assert len(ex.nodes.data["key"]) == g.graph.number_of_nodes() == len(set(ex.nodes.data["key"]))
    depth = {tuple(r): -y for r, y in zip(ex.nodes.data["regions"], ex.nodes.data["y"])}
    assert all(depth[root] == 0 for root in g.diverse)
    assert len(ex.edges.data["removed"]) == g.graph.number_of_edges()
    for parent, removed, child in zip(ex.edges.data["parent"], ex.edges.data["removed"], ex.edges.data["child_regions"]):
        assert sorted(child + [removed]) == [int(r) for r in parent.split(",")]


def test_html_export(digit_sag, tmp_path):
    clf, g = digit_sag
    ex = xviz.show(g, clf=clf)
    assert isinstance(ex, SAGExplorer)
    text = ex.to_html(tmp_path / "sag.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and "not scored during the search" in text
    assert ex.render.args["live"] is True  # exporting does not change the notebook view


def test_the_full_image_shows_its_top_classes_from_the_start(digits_clf):
    g = xviz.sag(digits_clf, xviz.zoo.image("digit-3"), grid=4, progress=False)
    ex = SAGExplorer(g, clf=digits_clf)
    assert ex.top5[0][0] == "3" and ex.bars.data["label"][-1] == "3"  # best on top (last)
    # Without the model the search's scores serve: every subset it scored has its top classes,
    # graph node or not (the exported HTML shows them too).
    bare = SAGExplorer(g)
    assert bare.top5 == [list(t) for t in g.top5[tuple(range(g.regions))]] and bare.top5[0][0] == "3"
    other = next(k for k in g.cache if k not in g.graph and len(k) > 1)
    bare.select(other)
    assert bare.top5 == [list(t) for t in g.top5[other]] and bare.probability == g.cache[other]


def test_the_roots_note_says_why_there_are_no_more_explanations(digit_sag):
    _, g = digit_sag
    last = g.history["restarts"][-1]
    assert last["p_rest"] < g.threshold * g.p_full  # digit-3: hiding its one diverse root leaves no "3"
    ex = SAGExplorer(g)
    note = ex._layout.select_one({"name": "sag-roots-note"}).text
    hidden = ", ".join(str(r) for r in last["forbidden"] if r not in last["shared"])
    assert len(g.diverse) == 1 and f"{len(g.roots)} minimal sufficient region sets found; no two of them" in note
    assert f"With regions {hidden} hidden" in note and "the rest of the image keeps" in note
    assert bool(last["shared"]) == ("as diverse roots may share them" in note) and "none was searched for" in note
    assert "an explanation avoiding them is unlikely" in ex.to_html()
    plain = xviz.sag(xviz.zoo.digits_cnn(device="cpu"), xviz.zoo.image("digit-3"), grid=4, restarts=0,
                     progress=False)
    assert "none was searched for" not in SAGExplorer(plain).to_html()


def test_layout_gathers_each_roots_descendants_under_it():
    import networkx as nx

    from xviz.views.sag import _levels, _node_size

    g = nx.DiGraph()
    nodes = {(0, 1, 2): (0, 0.9), (3, 4, 5): (0, 0.8), (0, 1): (1, 0.2), (1, 2): (1, 0.3),
             (3, 4): (1, 0.7), (4, 5): (1, 0.6)}
    for n, (depth, p) in nodes.items():
        g.add_node(n, depth=depth, p=p)
    g.add_edges_from([((0, 1, 2), (0, 1)), ((0, 1, 2), (1, 2)), ((3, 4, 5), (3, 4)), ((3, 4, 5), (4, 5))])
    pos = _levels(g)
    assert pos[(0, 1, 2)][0] < pos[(3, 4, 5)][0]  # roots by probability
    # The second root's children are more confident, yet they sit under their own root.
    assert max(pos[(0, 1)][0], pos[(1, 2)][0]) < min(pos[(3, 4)][0], pos[(4, 5)][0])
    assert all(pos[n][1] == -d for n, (d, _) in nodes.items())
    assert _node_size(pos, 400) == 16 and _node_size({i: (i / 100, -1.0) for i in range(100)}, 400) == 6


def test_a_tensor_baseline_is_kept_and_shown(digits_clf, tmp_path):
    import torch

    grey = torch.full((3, 32, 32), 0.5)
    g = xviz.sag(digits_clf, xviz.zoo.image("digit-3"), grid=4, baseline=grey, progress=False)
    assert g.settings["baseline"] == "tensor" and np.allclose(g.baseline_image(), 0.5)
    ex = SAGExplorer(g, clf=digits_clf)  # the explorer shows hidden regions as they were scored
    ex.select([])
    assert np.allclose(ex.base_image, 0.5) and ex.probability == pytest.approx(g.cache[()])
    g.save(tmp_path / "g.json")
    assert np.array_equal(xviz.load(tmp_path / "g.json").baseline_image(), g.baseline_image())


def test_the_page_is_drawn_from_the_state_when_it_opens(digit_sag):
    _, g = digit_sag
    ex = SAGExplorer(g)
    assert ex._on_load is ex.render  # so a state set from Python before showing or exporting is drawn
    g.label = "3 <i>or</i> 8"
    try:
        assert SAGExplorer(g).render.args["label"] == "3 &lt;i&gt;or&lt;/i&gt; 8"  # the page writes it as HTML
    finally:
        g.label = "3"


def test_graph_taps_keep_the_colours_and_class_names_sit_on_the_bars(digit_sag):
    _, g = digit_sag
    ex = SAGExplorer(g)
    fig = ex.layout.select_one({"name": "sag-graph"})
    (dots,) = [r for r in fig.renderers if r.name == "nodes"]
    assert dots.nonselection_glyph.fill_alpha == 1.0 and dots.nonselection_glyph.line_alpha == 1.0
    bars = next(f for f in ex.layout.select({"type": Plot}) if f.title.text.startswith("top classes"))
    assert not bars.yaxis[0].visible  # an axis as wide as the longest name would shift the graph
    assert ex.bars.data["text"][-1].startswith("3  ") and ex.bars.data["text"][-1].endswith("%")


def test_region_ids_are_written_inside_their_regions():
    from xviz.views.sag import _label_points

    seg = np.zeros((40, 40), np.int32)
    seg[:, 20:] = 1
    seg[10:30, 5:15] = 2  # region 0 is a ring round region 2: its centroid lies in region 2
    rows, cols = _label_points(seg, 3)
    assert [seg[int(r), int(c)] for r, c in zip(rows, cols)] == [0, 1, 2]
    assert abs(rows[1] - 19.5) <= 1 and abs(cols[1] - 29.5) <= 1  # a rectangle's: its centre


def test_a_classifier_other_than_the_sags_is_refused(digit_sag, tmp_path):
    """A loaded SAG shown with another model scored its clicks with that model, against the
    first one's full-image probability."""
    _, g = digit_sag
    g.save(tmp_path / "g.json")
    loaded = xviz.load(tmp_path / "g.json")
    other = xviz.Classifier(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.AdaptiveAvgPool2d(1),
                                                torch.nn.Flatten()), size=32, name="other", device="cpu")
    with pytest.raises(ValueError, match="made with 'digits CNN', not 'other': pass that model as clf, or clf=None"):
        SAGExplorer(loaded, clf=other)
    assert SAGExplorer(loaded).clf is None
    retrained = xviz.zoo.digits_cnn(device="cpu")  # the same name, other weights
    with torch.no_grad():
        next(retrained.model.parameters()).add_(0.1)
    with pytest.raises(ValueError, match="made with other weights of 'digits CNN'"):
        SAGExplorer(loaded, clf=retrained)
    assert SAGExplorer(loaded, clf=xviz.zoo.digits_cnn(device="cpu")).clf is not None  # the same weights, anew
