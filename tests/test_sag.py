"""Structured attention graphs against models whose sufficient regions are known."""
import hashlib
import importlib
import itertools

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

import xviz
from xviz.methods.sag import SAG, _diverse, _prune, region_footprints, sag

sag_module = importlib.import_module("xviz.methods.sag")  # xviz.methods.sag is also the function's name

WINDOW = 4
CORNERS = {0: (0, 0), 3: (0, 28), 12: (28, 0), 15: (28, 28)}  # 4 x 4 grid cell -> its corner window
# Known-answer models see the mean brightness of 4 x 4 windows in the image corners, and call
# a window "on" through a steep step at 0.5. With the grid's bilinear upsampling (align_corners
# =True) a corner cell's footprint is 1 at the corner pixel and fades out over 10 pixels, so
# its window is 0.73 bright when that cell alone is shown (white image, black baseline), while
# its three neighbours together leak only 0.27 into it: the step makes a window on exactly
# when its own cell is shown, whatever else is.
RULES = {"max": lambda on: on.max(1).values, "min": lambda on: on.min(1).values, "sum": lambda on: on.sum(1),
         "pairs": lambda on: torch.maximum(on[:, :2].min(1).values, on[:, 2:].min(1).values)}
# (rule, gain, bias): "either": p 0.95 when one window is on, 0.05 when none; "both": the same
# with min; "sum": p 0.99 with three on, 0.70 with two (below 0.9 * p_full yet above the graph's
# 0.4), 0.05 with one.
EITHER, BOTH, SUM = ("max", 5.89, -2.94), ("min", 5.89, -2.94), ("sum", 3.75, -6.65)
PAIRS = ("pairs", 5.89, -2.94)  # "yes" when both windows of the first pair, or of the second, are on
FAST = dict(grid=4, q=16, order_iterations=0, progress=False)


class Windows(nn.Module):
    """Class "yes" from whether small windows are bright: logit = gain * rule(on) + bias."""

    def __init__(self, windows, rule, gain, bias):
        super().__init__()
        self.windows, self.rule, self.gain, self.bias = list(windows), RULES[rule], gain, bias

    def forward(self, x):
        bright = torch.stack([x[:, :, t:t + WINDOW, c:c + WINDOW].mean((1, 2, 3)) for t, c in self.windows], 1)
        on = torch.sigmoid(40 * (bright - 0.5))
        logit = self.gain * self.rule(on) + self.bias
        return torch.stack([torch.zeros_like(logit), logit], 1)


def windows_clf(cells, model=EITHER):
    net = Windows([CORNERS[c] for c in cells], *model)
    return xviz.Classifier(net, mean=0.0, std=1.0, size=32, labels=["no", "yes"], device="cpu")


WHITE = np.ones((32, 32, 3), dtype=np.float32)


def limit(g):
    return g.threshold * g.p_full


def test_either_of_two_regions_gives_two_single_region_roots():
    g = sag(windows_clf([0, 15]), WHITE, target="yes", **FAST)
    assert g.p_full == pytest.approx(0.95, abs=0.01)
    assert set(g.roots) == {(0,), (15,)} and set(g.diverse) == {(0,), (15,)}
    # The restart may not give back a whole root (it would find it again): nothing to search.
    (restart,) = g.history["restarts"]
    assert restart["shared"] == [] and restart["steps"] == [] and restart["p_rest"] < limit(g)
    # Nothing smaller suffices, and no other single cell does (q = 16: every single was scored).
    assert all(g.cache[(r,)] < 0.1 for r in range(16) if r not in (0, 15))
    assert g.graph.number_of_nodes() == 2 and all(d["root"] for _, d in g.graph.nodes(data=True))


def test_needing_both_regions_gives_one_root_with_both():
    g = sag(windows_clf([0, 15], BOTH), WHITE, target="yes", **FAST)
    assert g.roots == [(0, 15)] and g.diverse == [(0, 15)]
    assert g.cache[(0,)] < limit(g) and g.cache[(15,)] < limit(g)


def test_a_subset_reached_from_two_parents_is_one_node():
    g = sag(windows_clf([0, 3, 12], SUM), WHITE, target="yes", max_nodes=None, **FAST)
    assert g.roots == [(0, 3, 12)]
    pairs, singles = [(0, 3), (0, 12), (3, 12)], [(0,), (3,), (12,)]
    assert set(g.graph.nodes) == {(0, 3, 12), *pairs, *singles}
    assert len({tuple(d["regions"]) for _, d in g.graph.nodes(data=True)}) == g.graph.number_of_nodes() == 7
    assert all(g.graph.in_degree(s) == 2 for s in singles) and g.graph.number_of_edges() == 9
    assert nx.is_directed_acyclic_graph(g.graph)
    for parent, child, e in g.graph.edges(data=True):
        assert set(parent) - set(child) == {e["removed"]} and len(child) == len(parent) - 1
        assert e["drop"] == pytest.approx(g.cache[parent] - g.cache[child])
    node = g.graph.nodes
    assert [node[s]["depth"] for s in [(0, 3, 12), (0, 3), (0,)]] == [0, 1, 2]
    assert node[(0, 3)]["relative"] == pytest.approx(0.70 / 0.99, abs=0.02)  # expanded: above 0.4
    assert node[(0, 3)]["top5"][0][0] == "yes" and node[(0,)]["top5"][0][0] == "no"


def test_expand_threshold_and_max_nodes_stop_the_graph():
    g = sag(windows_clf([0, 3, 12], SUM), WHITE, target="yes", expand_threshold=0.8, **FAST)
    assert g.graph.number_of_nodes() == 4  # the pairs (0.71 of p_full) are not expanded
    for budget in (2, 4):  # the root is expanded with all its children; then the budget is spent
        g = sag(windows_clf([0, 3, 12], SUM), WHITE, target="yes", max_nodes=budget, **FAST)
        assert set(g.graph.nodes) == {(0, 3, 12), (0, 3), (0, 12), (3, 12)}


class WeightScorer:
    """A fake scorer for the graph: p(S) = the sum of its regions' weights."""

    def __init__(self, weights):
        self.weights, self.p, self.top5, self.calls = weights, {}, {}, 0

    def __call__(self, subsets, phase):
        self.calls += 1
        for s in subsets:
            self.p[s], self.top5[s] = sum(self.weights[r] for r in s), []
        return self.p


def test_max_children_keeps_the_removals_that_cost_most():
    weights = {0: 0.4, 1: 0.3, 2: 0.2, 3: 0.1}
    root = (0, 1, 2, 3)
    full = sag_module._graph([root], WeightScorer(weights), 1.0, 0.4, None)
    assert full.out_degree(root) == 4
    score = WeightScorer(weights)
    g = sag_module._graph([root], score, 1.0, 0.4, None, max_children=2)
    assert set(g.successors(root)) == {(1, 2, 3), (0, 2, 3)}  # without 0 (p 0.6) and without 1 (0.7)
    assert set(g.successors((1, 2, 3))) == {(2, 3), (1, 3)}  # 0.3 and 0.4 of the 0.6
    assert set(g.successors((0, 3))) == {(3,), (0,)}  # p 0.5 > 0.4: expanded, both its children
    assert g.out_degree((1, 3)) == 0  # p 0.4 is not above the 0.4 threshold
    for node in g:
        if g.out_degree(node):  # every removal was scored; the kept ones drop most
            removals = sorted(score.p[sag_module._without(node, r)] for r in node)
            assert sorted(g.nodes[c]["p"] for c in g.successors(node)) == removals[:2]
    assert g.number_of_nodes() < full.number_of_nodes() and nx.is_directed_acyclic_graph(g)


def test_max_children_counts_towards_the_node_budget():
    weights = {r: 0.1 for r in range(8)}
    weights[0] = 0.3
    root = tuple(range(8))  # p 1.0; its children keep 0.7 or 0.9, theirs 0.6 to 0.8
    g = sag_module._graph([root], WeightScorer(weights), 1.0, 0.4, 7, max_children=2)
    # The root and its 2 kept children make 3 nodes. Each child is then counted as 2 more
    # nodes, so both are expanded (counted as their 7 possible children, only the first would be).
    level1 = list(g.successors(root))
    assert len(level1) == 2 and all(g.out_degree(c) == 2 for c in level1)
    assert 7 <= g.number_of_nodes() <= 7 + 2  # the budget is passed by at most one node's children


def by_weights(weights):
    """A set function: p(S) = the sum of its regions' weights, scored by a fake scorer."""
    cache = {}

    def score(subsets, phase):
        cache.update({s: sum(weights[r] for r in s) for s in subsets})
        return cache

    return score


def test_minimality_does_not_depend_on_region_order():
    weights = {0: 0.3, 1: 0.25, 2: 0.5, 3: 0.1}
    # From {0, 1, 2, 3} (1.15) with the limit 0.6, a row-major scan that drops the first region it
    # can (the original) ends at {2, 3}; dropping the region that keeps the most ends at {0, 2}.
    assert _prune([(0, 1, 2, 3)], by_weights(weights), 0.6) == {(0, 2)}
    for perm in itertools.permutations(range(4)):
        renamed = {perm[r]: w for r, w in weights.items()}
        assert _prune([tuple(sorted(perm))], by_weights(renamed), 0.6) == {tuple(sorted((perm[0], perm[2])))}


@pytest.mark.parametrize("order", [list(range(16))[::-1], list(np.random.default_rng(0).permutation(16))])
def test_roots_do_not_depend_on_the_candidate_order(order, monkeypatch):
    clf = windows_clf([0, 3, 12], SUM)
    plain = sag(clf, WHITE, target="yes", **FAST)
    monkeypatch.setattr(sag_module, "_order", lambda *args: [int(r) for r in order])
    again = sag(clf, WHITE, target="yes", **FAST)
    assert again.history["order"] == [int(r) for r in order]
    assert again.roots == plain.roots and set(again.graph.nodes) == set(plain.graph.nodes)


def test_the_beam_keeps_beam_width_states_and_no_subset_is_scored_twice(monkeypatch):
    requests, scored = [], []  # (phase, subsets asked for) per scorer call; subsets shown to the model
    ask, show = sag_module._Scorer.__call__, sag_module.subset_masks

    def asking(self, subsets, phase):
        requests.append((phase, list(subsets)))
        return ask(self, subsets, phase)

    def showing(footprints, subsets):
        scored.extend(subsets)
        return show(footprints, subsets)

    monkeypatch.setattr(sag_module._Scorer, "__call__", asking)
    monkeypatch.setattr(sag_module, "subset_masks", showing)
    clf = windows_clf([0, 3, 12], SUM)
    before = clf.images_scored
    g = sag(clf, WHITE, target="yes", grid=4, beam_width=2, q=5, order_iterations=0, progress=False)
    assert len(scored) == len(set(scored)) == len(g.cache)  # every subset through the model once
    assert g.passes == clf.images_scored - before == len(scored)  # target given, no I-GOS: nothing else
    batches = [subsets for phase, subsets in requests if phase == "beam"]
    assert len(batches) == len(g.history["steps"]) > 3  # one batch per step
    beam = [()]
    for step, batch in zip(g.history["steps"], batches):
        order = g.history["order"]
        expected = {tuple(sorted(s + (r,))) for s in beam for r in [o for o in order if o not in s][:5]}
        assert sorted(batch) == sorted(expected) == sorted(set(batch))  # deduplicated, q per state
        best = sorted((c for c in expected if g.cache[c] < limit(g)), key=lambda c: (-g.cache[c], c))[:2]
        beam = [tuple(s) for s in step["beam"]]
        assert beam == best and len(beam) <= 2


class Recording(nn.Module):
    """Passes images through and keeps a fingerprint of each."""

    def __init__(self, net):
        super().__init__()
        self.net, self.seen = net, []

    def forward(self, x):
        self.seen += [hashlib.sha1(row.numpy().tobytes()).hexdigest() for row in x]
        return self.net(x)


def test_no_image_goes_through_the_model_twice():
    model = Recording(Windows([CORNERS[0], CORNERS[15]], *EITHER))
    clf = xviz.Classifier(model, mean=0.0, std=1.0, size=32, labels=["no", "yes"], device="cpu")
    g = sag(clf, WHITE, target="yes", **FAST)
    assert len(model.seen) == len(set(model.seen)) == g.passes


def test_roots_are_sufficient_minimal_and_their_scores_reproduce(spot_clf, rng):
    image = rng.random((32, 32, 3))
    g = sag(spot_clf, image, target="on", grid=4, seed=1, progress=False)  # with the I-GOS ordering
    assert g.history["passes"]["order"] > 0 and g.roots
    for root in g.roots:
        assert g.cache[root] >= limit(g)
        drops = [tuple(r for r in root if r != x) for x in root] if len(root) > 1 else []
        assert all(g.cache[d] < limit(g) for d in drops)
    subsets = g.roots + list(g.graph.nodes)
    x = torch.as_tensor(g.image).permute(2, 0, 1)[None]
    masks = torch.stack([torch.as_tensor(g.mask(s)) for s in subsets])[:, None]
    fresh = spot_clf.scores(x * masks, g.target)
    assert np.allclose(fresh.numpy(), [g.cache[s] for s in subsets], atol=1e-5)
    assert all(g.graph.nodes[n]["p"] == g.cache[n] for n in g.graph.nodes)
    again = sag(spot_clf, image, target="on", grid=4, seed=1, progress=False)
    assert again.roots == g.roots and again.history["order"] == g.history["order"]


def two_blobs():
    image = np.empty((32, 32, 3), dtype=np.float32)
    image[:] = (0.2, 0.2, 0.3)
    image[4:16, 4:16] = (1.0, 0.9, 0.8)
    image[18:30, 18:30] = (0.8, 0.9, 1.0)
    return image


def test_slic_regions_follow_the_blobs():
    image = two_blobs()
    net = Windows([(8, 8), (22, 22)], *EITHER)  # windows well inside each blob
    clf = xviz.Classifier(net, mean=0.0, std=1.0, size=32, labels=["no", "yes"], device="cpu")
    g = sag(clf, image, target="yes", regions="slic", n_segments=16, grid=4, q=32, order_iterations=1,
            progress=False)
    assert 8 <= g.regions <= 24
    footprints = g.footprints().numpy()
    assert set(np.unique(footprints)) == {0.0, 1.0} and (footprints.sum(0) == 1).all()  # a partition
    assert (footprints.argmax(0) == g.segments).all()
    assert len(g.roots) == 2 and set(g.diverse) == set(g.roots)
    blobs = [np.zeros((32, 32), bool) for _ in range(2)]
    blobs[0][4:16, 4:16], blobs[1][18:30, 18:30] = True, True
    for root in g.roots:  # each root shows one blob's window and nothing outside that blob
        shown = g.mask(root) > 0
        assert any(shown[t:t + WINDOW, c:c + WINDOW].all() and not (shown & ~blob).any()
                   for (t, c), blob in zip([(8, 8), (22, 22)], blobs))


def test_grid_footprints_are_a_partition_of_unity():
    f = region_footprints("grid", (32, 32), grid=4)
    assert torch.allclose(f.sum(0), torch.ones(32, 32)) and f.min() >= 0
    assert divmod(int(f[5].argmax()), 32) == (10, 10)  # cell (1, 1): centre at 31 / 3 = 10.3 px


def test_diverse_roots_are_an_exact_maximum_set():
    a, b, c, d = (0, 1, 2), (2, 3, 4), (0, 4, 5, 6), (7, 8)
    p = {a: 0.99, b: 0.95, c: 0.94, d: 0.91}
    assert _diverse([a, b, c, d], p, max_overlap=1) == [a, b, c, d]
    # Disjoint only: a overlaps b and c; the best is 2 roots, and of the three pairs with d,
    # the one with the highest summed p.
    assert _diverse([a, b, c, d], p, max_overlap=0) == [a, d]
    # Greedy by p would take e alone; the maximum set is {f, g}.
    e, f, g = (0, 1, 2, 3), (0, 1, 9), (2, 3, 8)
    assert _diverse([e, f, g], {e: 0.99, f: 0.9, g: 0.9}, max_overlap=1) == [f, g]


def test_diverse_roots_among_many_maximal_sets():
    # 12 groups of 3 roots; the roots of a group share region 100 + group, others are disjoint:
    # 3 ** 12 maximal disjoint sets of one root per group. The best holds each group's most
    # confident root (the one with the largest offset below).
    roots = [(100 + g, 3 * g + k) for g in range(12) for k in range(3)]
    p = {r: 0.9 + 0.001 * ((r[1] * 7) % 3) + 0.0001 * (r[0] - 100) for r in roots}
    best = _diverse(roots, p, max_overlap=0)
    assert len(best) == 12 and len({r[0] for r in best}) == 12
    assert all(p[r] == max(p[s] for s in roots if s[0] == r[0]) for r in best)
    assert [p[r] for r in best] == sorted((p[r] for r in best), reverse=True)
    a, b, c, d = (0, 1), (0, 2), (3, 4), (3, 5)  # equal p: two best pairs; the answer must not depend on order
    same = {r: 0.95 for r in (a, b, c, d)}
    assert _diverse([a, b, c, d], same, 0) == _diverse([d, c, b, a], same, 0)


def test_a_restart_finds_the_explanation_the_beam_passed_by():
    # Windows 0 and 3 together, or 12 and 15 together. Regions are ranked by id, so the beam
    # grows from the low ids, finds (0, 3) at its second step and then only supersets of it,
    # which spend the max_roots budget: the paper's single search sees one explanation.
    clf = windows_clf([0, 3, 12, 15], PAIRS)
    plain = sag(clf, WHITE, target="yes", restarts=0, **FAST)
    assert plain.roots == [(0, 3)] and plain.history["restarts"] == []
    g = sag(clf, WHITE, target="yes", restarts=1, **FAST)
    assert set(g.roots) == set(g.diverse) == {(0, 3), (12, 15)}
    (restart,) = g.history["restarts"]
    assert restart["forbidden"] == [0, 3] and restart["shared"] == [] and restart["p_rest"] >= limit(g)
    assert restart["roots"] == [[12, 15]]
    assert all(not {0, 3} & set(state) for step in restart["steps"] for state in step["beam"])
    assert g.history["steps"] == plain.history["steps"]  # the first search is the paper's
    # A second restart may not use 0, 3, 12 or 15: the rest is not sufficient, so it is not searched.
    g2 = sag(clf, WHITE, target="yes", restarts=2, **FAST)
    assert g2.roots == g.roots and g2.history["passes"]["beam"] == g.history["passes"]["beam"]
    last = g2.history["restarts"][-1]
    assert last["forbidden"] == [0, 3, 12, 15] and last["p_rest"] < limit(g2) and last["steps"] == []


def test_a_restart_may_share_max_overlap_regions_with_a_diverse_root():
    # Windows 0 and 3 together, or 3 and 15: every explanation needs region 3. Without the
    # first root's regions nothing suffices; given back the region that helps most (3), the
    # restart finds (3, 15), which shares one region with (0, 3), as diverse roots may.
    clf = windows_clf([0, 3, 3, 15], PAIRS)
    assert sag(clf, WHITE, target="yes", restarts=0, **FAST).roots == [(0, 3)]
    g = sag(clf, WHITE, target="yes", **FAST)
    (restart,) = g.history["restarts"][:1]
    assert restart["forbidden"] == [0, 3] and restart["shared"] == [3] and restart["roots"] == [[3, 15]]
    assert g.cache[tuple(r for r in range(16) if r not in (0, 3))] < limit(g)  # the rest alone: not enough
    assert set(g.diverse) == {(0, 3), (3, 15)}
    # A second restart may give back 0 or 3 or 15 but none raises p enough alone: no search.
    again = sag(clf, WHITE, target="yes", restarts=2, **FAST)
    assert again.roots == g.roots and again.history["passes"]["beam"] == g.history["passes"]["beam"]
    assert again.history["restarts"][1]["steps"] == [] and not {0, 3} <= set(again.history["restarts"][1]["shared"])
    assert sag(clf, WHITE, target="yes", max_overlap=0, **FAST).diverse == [(0, 3)]  # disjoint only: none


def test_restarts_survive_json_and_files_from_before_restarts_still_load(tmp_path):
    import json

    from xviz.views.sag import SAGExplorer

    g = sag(windows_clf([0, 3, 3, 15], PAIRS), WHITE, target="yes", **FAST)
    g.save(tmp_path / "g.json")
    assert xviz.load(tmp_path / "g.json").history["restarts"] == g.history["restarts"]
    data = json.loads((tmp_path / "g.json").read_text())
    del data["history"]["restarts"]  # as written before restarts existed
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = xviz.load(tmp_path / "old.json")
    assert "restarts" not in old.history and "root buttons" in SAGExplorer(old).to_html()


def test_no_restart_search_when_the_rest_of_the_image_is_not_enough():
    g = sag(windows_clf([0, 15], BOTH), WHITE, target="yes", restarts=3, **FAST)
    (restart,) = g.history["restarts"]
    assert restart["forbidden"] == [0, 15] and restart["p_rest"] < 0.1 and restart["roots"] == []
    assert len(restart["shared"]) <= 1 and restart["steps"] == []  # one region back is not enough either
    # the rest, then the rest with either region of the root: three passes, no search
    assert g.history["passes"]["restarts"] == 3 and g.roots == [(0, 15)]


def test_json_round_trip(tmp_path):
    g = sag(windows_clf([0, 3, 12], SUM), WHITE, target="yes", **FAST)
    g.save(tmp_path / "g.json")
    h = xviz.load(tmp_path / "g.json")
    assert h.roots == g.roots and h.diverse == g.diverse and h.cache == g.cache
    assert list(h.graph.nodes(data=True)) == list(g.graph.nodes(data=True))
    assert list(h.graph.edges(data=True)) == list(g.graph.edges(data=True))
    assert np.array_equal(h.segments, g.segments) and h.segments.dtype == np.int32
    assert np.array_equal(h.image, g.image) and h.image.dtype == np.float32
    assert (h.settings, h.history, h.p_full, h.label) == (g.settings, g.history, g.p_full, g.label)
    assert np.array_equal(h.mask(h.roots[0]), g.mask(g.roots[0]))
    assert h.relative((0, 3)) == pytest.approx(0.70 / 0.99, abs=0.02)
    assert repr(h).startswith("SAG(target=1 ('yes'") and "1 roots" in repr(h) and "7 nodes" in repr(h)
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not an xviz result file .format .something else., expected one of"):
        xviz.load(tmp_path / "other.json")


@pytest.mark.parametrize("kwargs, message", [
    ({"grid": 0}, r"grid must be an int in 1\.\.32.*got 0"),
    ({"grid": 33}, r"grid must be an int in 1\.\.32.*got 33"),
    ({"regions": "squares"}, "unknown regions 'squares'; accepted: 'grid', 'slic'"),
    ({"threshold": 0}, r"threshold must be in \(0, 1\]"),
    ({"threshold": 1.5}, r"threshold must be in \(0, 1\]"),
    ({"expand_threshold": 1.0}, r"expand_threshold must be in \[0, 1\)"),
    ({"beam_width": 0}, "beam_width must be at least 1, got 0"),
    ({"q": 0}, "q must be at least 1"),
    ({"max_roots": 0}, "max_roots must be at least 1"),
    ({"max_overlap": -1}, "max_overlap must be at least 0"),
    ({"restarts": -1}, "restarts must be at least 0, got -1"),
    ({"max_nodes": 0}, "max_nodes must be at least 1, or None for no limit, got 0"),
    ({"max_children": 0}, "max_children must be at least 1, or None for no limit, got 0"),
    ({"baseline": "noise"}, "unknown baseline 'noise'"),
    ({"baseline": 7}, r"a number baseline is a grey level in \[0, 1\].*got 7"),
    ({"beam_width": 2.0}, "beam_width must be an int, got 2.0"),  # would fail deep in the search
    ({"q": "15"}, "q must be an int, got '15'"),
    ({"grid": True}, "grid must be an int in 1..32"),
    ({"max_children": 2.5}, "max_children must be an int, or None for no limit, got 2.5"),
    ({"seed": None}, "seed must be an int in 0..4294967295, got None"),
    ({"threshold": "0.9"}, "threshold must be a finite number, got '0.9'"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sag(windows_clf([0, 15]), WHITE, target="yes", **{**FAST, **kwargs})


def test_a_batch_is_refused():
    with pytest.raises(ValueError, match="one image at a time, got a batch of 2; call sag once per image"):
        sag(windows_clf([0, 15]), [WHITE, WHITE], **FAST)


def test_a_target_the_model_does_not_predict_is_refused():
    clf = windows_clf([0, 15], ("max", 0.0, -12.0))  # p("yes") = 6e-6 whatever the image
    with pytest.raises(ValueError, match=r"target 1 \('yes'\) has probability 6.1e-06.*gives weight to"):
        sag(clf, WHITE, target="yes", **FAST)


def test_numpy_settings_are_stored_as_plain_json_values(tmp_path):
    g = sag(windows_clf([0, 15]), WHITE, target="yes", **{**FAST, "grid": np.int64(4)}, threshold=np.float32(0.9),
            max_nodes=np.int64(50), baseline=np.float32(0.0), seed=np.int64(7))  # numpy ints pass, as Python ints
    assert type(g.settings["grid"]) is int and type(g.settings["threshold"]) is float and type(g.threshold) is float
    assert g.settings["seed"] == 7 and type(g.settings["seed"]) is int
    assert g.settings["baseline"] == 0.0 and set(g.roots) == {(0,), (15,)}
    g.save(tmp_path / "g.json")  # numpy values are not JSON serialisable: they must not get there
    assert xviz.load(tmp_path / "g.json").settings == g.settings


def test_a_baseline_that_alone_keeps_the_class_is_refused():
    clf = windows_clf([0, 15], ("max", 0.0, 5.0))  # p("yes") = 0.993 whatever is shown
    with pytest.raises(ValueError, match=r"the baseline alone \('black', no region shown\) keeps p\('yes'\) = 0.993"
                                         r".*no region of the image is needed"):
        sag(clf, WHITE, target="yes", **FAST)


def test_passes_by_phase_add_up_and_p_rest_is_a_scored_subset():
    clf = windows_clf([0])
    g = sag(clf, WHITE, **{**FAST, "grid": 1})  # target None: a top-1 pass first
    assert g.roots == [(0,)] and sum(g.history["passes"].values()) == g.passes
    (restart,) = g.history["restarts"]  # nothing is left to show: p_rest is the baseline's p
    assert restart["p_rest"] == g.cache[()] == pytest.approx(0.05, abs=0.01)
