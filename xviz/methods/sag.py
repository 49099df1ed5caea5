"""Structured attention graphs (Shitole et al., NeurIPS 2021).

A SAG answers "which parts of the image are enough?" with several answers at once: a beam
search finds minimal sets of regions that each keep the prediction on their own (the
roots), a diverse few of them are kept, and a graph below each shows how the confidence
falls as its regions are taken away one at a time.

Every subset of regions is shown the same way: a per-region footprint (R x H x W, see
:func:`region_footprints`) is summed over the subset and clamped to [0, 1], and the image is
kept where that mask is 1 and replaced by the baseline where it is 0. For the grid a
footprint is the cell's one-hot mask bilinearly upsampled (as in the paper); for SLIC it is
the superpixel's exact pixels.

Differences from the authors' code (github viv92/structured-attention-graphs), each
deliberate:

- the beam keeps exactly ``beam_width`` states, deduplicated (the original keeps one more
  and may keep the same subset twice);
- every subset is scored once: all candidates of a step in one batch, through a cache that
  also serves the minimality pruning and the graph; a sufficient candidate that holds a root
  already found is not pruned again (pruning is where most passes go);
- minimality does not depend on the order the regions are scanned in: a root is shrunk by
  dropping the regions whose removal keeps the highest probability (as many at once as
  stay sufficient together), until no single removal stays sufficient (the original scans
  row-major and drops the first region it can, one pass per region tried);
- identical subsets reached from different parents are one node, so the graph is a DAG
  (the original draws a forest with repeated nodes), and every region of a node can be
  removed (the original only tries the first three, which bounds the graph but depends on
  the order the regions are listed in); the graph is bounded by a node budget instead
  (``max_nodes``), spent on the most confident nodes first, and, when asked
  (``max_children``), each node keeps the children whose removal costs the most;
- the diverse roots are an exact maximum set of roots overlapping pairwise in at most
  ``max_overlap`` regions, ties broken by the higher summed probability;
- restarts (an addition of xviz): a beam of width 3 tends to extend one family of
  subsets, so its roots share a core of regions and one diverse root comes out (5 of the 6
  bundled photos with EfficientNet-Lite0). Each restart searches again without the regions
  of the diverse roots found so far, so what it finds is diverse from them; when the rest
  of the image, all shown at once, is not sufficient, up to ``max_overlap`` regions of each
  diverse root (never all of one) are given back, those that raise p the most, as diverse
  roots may share that many. It runs only when what it may use, all shown at once, is
  sufficient (the search already assumes that showing more keeps more), else the SAG
  records how much confidence was left, and that no diverse explanation was searched for.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import torch

from ..core.checks import checked_float, checked_int, checked_seed, is_int
from ..core.classifier import Classifier
from ..core.files import DamagedFile, FileParts, valid, valid_number
from ..core.images import baseline as make_baseline
from ..core.images import baseline_setting, compose, to_numpy, to_tensor, upsample_mask
from ..core.progress import progress as progress_bar
from ..core.result import OldJson, Result
from ..core.types import Image

KINDS = ("grid", "slic")
MIN_P_FULL = 1e-4
BLOCK = 256  # subsets composed per model call: bounds the memory of one batch of shown images
TOP = 5


# -- regions ---------------------------------------------------------------------------------
def region_footprints(kind, size, grid=7, segments=None):
    """The footprint of every region: an R x H x W float tensor in [0, 1].

    A subset of regions is shown through the clamped sum of its regions' footprints
    (:func:`subset_masks`); the search and :meth:`SAG.mask` both use this, so what a widget
    shows is what was scored.

    Parameters
    ----------
    kind : {"grid", "slic"}
        ``"grid"``: the one-hot mask of each of the grid x grid cells (row-major), bilinearly
        upsampled to ``size`` with ``align_corners=True`` (:func:`xviz.images.upsample_mask`),
        so neighbouring cells blend as in the paper. ``"slic"``: the exact pixels of each
        label of ``segments``.
    size : (int, int)
        Image height and width.
    grid : int
        Cells per side (``"grid"`` only).
    segments : array, H x W ints 0..R-1
        The superpixel label map (``"slic"`` only).

    Examples
    --------
    >>> f = region_footprints("grid", (32, 32), grid=4)
    >>> tuple(f.shape), round(float(f.sum(0).min()), 4), round(float(f.sum(0).max()), 4)
    ((16, 32, 32), 1.0, 1.0)
    """
    if kind == "grid":
        cells = torch.eye(grid * grid).view(-1, 1, grid, grid)
        return upsample_mask(cells, tuple(size))[:, 0]
    labels = torch.as_tensor(np.asarray(segments), dtype=torch.long)
    return (labels[None] == torch.arange(int(labels.max()) + 1).view(-1, 1, 1)).float()


def subset_masks(footprints, subsets):
    """N x 1 x H x W masks of subsets (iterables of region ids): clamped sums of footprints."""
    pick = torch.zeros(len(subsets), len(footprints), dtype=footprints.dtype)  # filled here, sent at once
    for i, subset in enumerate(subsets):
        pick[i, list(subset)] = 1.0
    masks = (pick.to(footprints.device) @ footprints.flatten(1)).clamp(0, 1)
    return masks.view(len(subsets), 1, *footprints.shape[1:])


def slic_segments(image, n_segments):
    """SLIC superpixels of an H x W x 3 image in [0, 1], relabelled 0..R-1 (int32)."""
    from skimage.segmentation import slic

    labels = slic(image, n_segments=n_segments, compactness=10, start_label=0, channel_axis=-1)
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape).astype(np.int32)


MIN_SEGMENT = 16  # pixels: SLIC regions smaller than 4 x 4 are noise, not parts of an object


def _regions(kind, image, grid, n_segments):
    """(segments H x W int32, footprints R x H x W) of an H x W x 3 image."""
    size = image.shape[:2]
    if kind == "slic" and n_segments > size[0] * size[1] // MIN_SEGMENT:
        raise ValueError(f"n_segments={n_segments} asks for regions of {size[0] * size[1] / n_segments:.2g} pixels "
                         f"on the {size[0]} x {size[1]} input: at most {size[0] * size[1] // MIN_SEGMENT} (regions of "
                         f"{MIN_SEGMENT} pixels or more)")
    if kind == "slic":
        segments = slic_segments(image, n_segments)
        return segments, region_footprints(kind, size, segments=segments)
    footprints = region_footprints(kind, size, grid=grid)
    # The pixel's region is the cell that weighs most there: with align_corners=True the
    # cell centres sit on the image corners, so the edge cells are half as wide.
    return footprints.argmax(0).numpy().astype(np.int32), footprints


def _key(regions):
    return tuple(sorted(int(r) for r in regions))


def _without(subset, region):
    return tuple(r for r in subset if r != region)


# -- scoring ---------------------------------------------------------------------------------
class _Scorer:
    """p(target) and the top-5 classes of each shown subset, every subset through the model once."""

    def __init__(self, clf, x, base, footprints, target):
        self.clf, self.x, self.base, self.target = clf, x, base, target
        self.footprints = footprints.to(x.device)
        self.p, self.top5, self.passes, self.seconds = {}, {}, Counter(), Counter()

    def __call__(self, subsets, phase):
        """Score the subsets (sorted tuples) not seen before, in one batch; return the cache.

        ``phase`` names what the passes and seconds are counted towards.
        """
        start = time.perf_counter()
        new = [s for s in dict.fromkeys(subsets) if s not in self.p]
        for first in range(0, len(new), BLOCK):
            block = new[first:first + BLOCK]
            m = subset_masks(self.footprints, block)
            probs = self.clf.probs(compose(self.x, self.base, m))
            for s, p, top in zip(block, probs[:, self.target].tolist(), self.clf.top_classes(probs, TOP)):
                self.p[s], self.top5[s] = p, top
        self.passes[phase] += len(new)
        self.seconds[phase] += time.perf_counter() - start
        return self.p


# -- search ----------------------------------------------------------------------------------
def _order(clf, x, target, kind, segments, grid, iterations, seed):
    """Region ids, most important first, by a short I-GOS run on a grid x grid mask."""
    count = int(segments.max()) + 1
    if iterations == 0 or grid < 2:  # no ordering information (a 1 x 1 mask has no TV): by id
        return list(range(count))
    from .igos import PRESETS, igos

    # The "fast" preset (8 integration steps) everywhere: only the ranking is used, and the
    # same seed then gives the same SAG on a CPU and a GPU ("auto" would pick by device).
    with warnings.catch_warnings():
        # A mask that did not move only leaves the regions in id order: the search still checks
        # every set it keeps with the model, so the SAG is right, if found with more passes.
        warnings.filterwarnings("ignore", message=".*did not move the mask", category=UserWarning)
        # steps given: no retry with more steps where the mask does not move (the order of
        # regions only speeds the search up; it stays as it was and costs no more).
        sal = igos(clf, x[0], target=target, preset="fast", size=grid, iterations=iterations, baseline="blur",
                   steps=PRESETS["igos"]["fast"]["steps"], progress=False, seed=seed)
    heat = 1 - torch.as_tensor(sal.raw, dtype=torch.float32)
    if kind == "grid":
        importance = heat.flatten().numpy()
    else:  # the mean importance of the I-GOS mask, upsampled as it was applied, over each superpixel
        up = upsample_mask(heat[None, None], segments.shape)[0, 0].numpy()
        importance = np.bincount(segments.ravel(), up.ravel(), count) / np.bincount(segments.ravel(), None, count)
    return [int(r) for r in np.argsort(-importance, kind="stable")]


def _expand(beam, order, q):
    """Every state plus each of its q most important unused regions, deduplicated."""
    out = {}
    for state in beam:
        for r in [r for r in order if r not in state][:q]:
            out[_key(state + (r,))] = None
    return list(out)


def _prune(subsets, score, limit):
    """Shrink sufficient subsets to minimal ones, all of them in lockstep (one batch a round).

    A subset is minimal when no single region can be dropped while keeping p >= limit.
    Each round scores every single removal; the droppable regions are ranked by the p their
    removal keeps (ties: the smallest id), and the longest prefix of that ranking whose
    joint removal still keeps p >= limit goes at once (its prefixes are scored in one more
    batch). The result depends on the scores only, never on a scan order, and a subset of
    20 regions shrinks in a few rounds instead of one round per dropped region. A root
    keeps at least one region.
    """
    minimal, pending = set(), sorted(set(subsets))
    while pending:
        minimal.update(s for s in pending if len(s) == 1)
        pending = [s for s in pending if len(s) > 1]
        p = score([_without(s, r) for s in pending for r in s], "minimality")
        ranked = {}
        for s in pending:
            droppable = sorted((-p[_without(s, r)], r) for r in s if p[_without(s, r)] >= limit)
            if droppable:
                ranked[s] = [r for _, r in droppable]
            else:
                minimal.add(s)
        prefixes = {s: [tuple(r for r in s if r not in order[:k]) for k in range(1, min(len(order), len(s) - 1) + 1)]
                    for s, order in ranked.items()}
        p = score([c for options in prefixes.values() for c in options[1:]], "minimality")
        shrunk = {[c for c in options if p[c] >= limit][-1] for options in prefixes.values()}
        pending = sorted(shrunk - minimal)
    return minimal


def _beam_search(score, order, cfg, limit, desc, progress):
    """Minimal sufficient subsets found by a beam search from the empty set over the regions
    of ``order``, and a log of each step; one step adds one region. ``desc`` names the
    progress bar, shown when ``progress``.
    """
    beam, roots, found, log = [()], set(), 0, []
    steps = progress_bar(range(len(order)), total=len(order), desc=desc, enabled=progress)
    try:
        for _ in steps:
            candidates = _expand(beam, order, cfg["q"])
            if not candidates:
                break
            before = dict(score.passes)
            p = score(candidates, "beam")
            sufficient = [c for c in candidates if p[c] >= limit]
            found += len(sufficient)
            # A candidate holding a root already found is not minimal and, pruned, would most
            # likely give that root back; pruning is where the passes go, so skip it.
            fresh = [c for c in sufficient if not any(set(r) <= set(c) for r in roots)]
            roots |= _prune(fresh, score, limit)
            beam = sorted((c for c in candidates if p[c] < limit), key=lambda c: (-p[c], c))[:cfg["beam_width"]]
            log.append({"candidates": len(candidates), "sufficient": len(sufficient), "roots": len(roots),
                        "passes": {k: v - before.get(k, 0) for k, v in score.passes.items() if v > before.get(k, 0)},
                        "beam": [list(s) for s in beam]})
            # As in the paper's search, the budget counts sufficient candidates found, before
            # pruning (several may prune to the same minimal root).
            if found > cfg["max_roots"] or not beam:
                break
    finally:
        getattr(steps, "close", lambda: None)()
    return roots, log


def _shared(score, diverse, rest, limit, max_overlap):
    """Regions of the diverse roots to give back to ``rest`` when it alone is not sufficient.

    A diverse root may share ``max_overlap`` regions with each other one, so a restart may
    use that many of each root, never a whole root (it would only find that root again).
    Greedily, one batch a round: of the regions within those bounds, the one whose return
    raises p the most (ties: the smallest id), while it raises p and the shown set is not
    yet sufficient.
    """
    shown, shared = set(rest), []

    def within(r):
        return all(len((set(shared) | {r}) & set(d)) <= min(max_overlap, len(d) - 1) for d in diverse)

    while True:
        key = tuple(sorted(shown))
        now = score([key], "restarts")[key]
        options = {r: tuple(sorted(shown | {r})) for d in diverse for r in d if r not in shown and within(r)}
        if now >= limit or not options:
            return shared
        p = score(list(options.values()), "restarts")
        best = max(sorted(options), key=lambda r: p[options[r]])
        if p[options[best]] <= now:
            return shared
        shown.add(best)
        shared.append(best)


def _restarts(score, order, cfg, limit, roots, count, progress):
    """More roots from searches that may not use the regions of the diverse roots found so far.

    Returns every root and a log entry per restart: the regions of the diverse roots
    (``forbidden``), the ones of them it may use after all (``shared``, see :func:`_shared`),
    ``p_rest`` (p of the image showing everything it may use), the new ``roots`` and the
    ``steps`` it took. A restart whose ``p_rest`` is not sufficient is not searched: as the
    beam search assumes, showing fewer regions is taken to keep less, so no root is
    expected among them. That ends the restarts, as does a restart that finds no new root.
    """
    roots, log, overlap = set(roots), [], int(cfg["max_overlap"])
    for k in range(int(cfg["restarts"])):
        diverse = _diverse(sorted(roots), score.p, overlap)
        forbidden = set().union(*diverse)
        rest = [r for r in range(count) if r not in forbidden]
        shared = _shared(score, diverse, rest, limit, overlap)
        allowed = tuple(sorted(rest + shared))
        entry = {"forbidden": sorted(forbidden), "shared": sorted(shared),
                 "p_rest": score([allowed], "restarts")[allowed], "roots": [], "steps": []}
        log.append(entry)
        if entry["p_rest"] < limit:
            break
        found, entry["steps"] = _beam_search(score, [r for r in order if r in allowed], cfg, limit,
                                             f"SAG restart {k + 1}", progress)
        entry["roots"] = [list(r) for r in sorted(found - roots)]
        roots |= found
        if not entry["roots"]:
            break
    return roots, log


def _diverse(roots, p, max_overlap):
    """The largest set of roots overlapping pairwise in <= max_overlap regions (ties: higher summed
    p, to 1e-6; then the one networkx meets first in the roots' sorted order, whatever order they
    were given in)."""
    if not roots:
        return []
    roots = sorted(roots)
    compatible = nx.Graph()
    # Integer weights that rank by size first, then by summed p (to 1e-6): networkx's branch and
    # bound finds the best clique without listing every maximal one (exponential in bad cases).
    unit = 10 ** 6
    compatible.add_nodes_from((r, {"w": unit * (len(roots) + 1) + round(p[r] * unit)}) for r in roots)
    compatible.add_edges_from((a, b) for a, b in itertools.combinations(roots, 2)
                              if len(set(a) & set(b)) <= max_overlap)
    best, _ = nx.max_weight_clique(compatible, weight="w")
    return sorted(best, key=lambda r: (-p[r], r))


def _to_expand(level, g, p, p_full, expand_threshold, max_nodes, max_children=None):
    """The nodes of a level to expand: confident enough, most confident first, within the node budget.

    A node is expanded with all its children (at most ``max_children``, which are not known
    before they are scored, so that many of its new children are counted), so the graph may
    pass ``max_nodes`` by one node's children; then nothing more is expanded.
    """
    parents = [n for n in sorted(level, key=lambda n: (-p[n], n)) if len(n) > 1 and p[n] / p_full > expand_threshold]
    if max_nodes is None:
        return parents
    chosen, new = [], set()
    for n in parents:
        if g.number_of_nodes() + len(new) >= max_nodes:
            break
        chosen.append(n)
        children = [c for c in (_without(n, r) for r in n) if c not in g]
        new.update(children[:max_children])
    return chosen


def _children(parent, p, max_children):
    """The regions to remove from an expanded node: all, or the ``max_children`` whose
    removal drops p the most (ties: the smallest id); every removal was scored to know."""
    ranked = sorted(parent, key=lambda r: (p[_without(parent, r)], r))
    return sorted(ranked if max_children is None else ranked[:max_children])


def _graph(diverse, score, p_full, expand_threshold, max_nodes, max_children=None):
    """The DAG below the diverse roots: a child drops one region; level by level, one batch each."""
    g = nx.DiGraph()
    p = score(diverse, "graph")

    def add(node, depth):
        g.add_node(node, regions=node, p=p[node], relative=p[node] / p_full, top5=score.top5[node], depth=depth,
                   root=node in diverse)

    for root in diverse:
        add(root, 0)
    level, depth = list(diverse), 0
    while level:
        parents = _to_expand(level, g, p, p_full, expand_threshold, max_nodes, max_children)
        p = score([_without(n, r) for n in parents for r in n], "graph")
        pairs = [(n, r) for n in parents for r in _children(n, p, max_children)]
        depth, level = depth + 1, []
        for parent, r in pairs:
            child = _without(parent, r)
            if child not in g:
                add(child, depth)
                level.append(child)
            g.add_edge(parent, child, removed=r, drop=p[parent] - p[child])
    return g


# -- the result ------------------------------------------------------------------------------
def _encode(array, dtype):
    a = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": a.dtype.str, "shape": list(a.shape), "base64": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode(entry):
    data = np.frombuffer(base64.b64decode(entry["base64"], validate=True), dtype=np.dtype(entry["dtype"]))
    return data.reshape(entry["shape"])


def _checked_arrays(data):
    """The image, segments and baseline of a SAG file, decoded and checked (a DamagedFile names
    what is wrong: cut base64, a NaN image, segments that do not cover the image)."""
    names = [n for n in ("image", "segments", "baseline") if n in data]
    try:
        arrays = FileParts({n: _decode(data[n]) for n in names}, data.path, data.what)
    except (ValueError, TypeError, KeyError, binascii.Error) as error:
        raise DamagedFile(f"'{data.path}' is a damaged xviz SAG file (its arrays: {error})") from error
    image = valid(arrays, "image", ndim=3, unit=True, shape=(None, None, 3)).astype(np.float32)
    segments = valid(arrays, "segments", ndim=2, kind="int", shape=image.shape[:2]).astype(np.int32)
    baseline = valid(arrays, "baseline", unit=True, shape=image.shape).astype(np.float32) if "baseline" in data else None
    regions = int(segments.max()) + 1
    for key in ("roots", "diverse"):
        if any(not isinstance(r, int) or not 0 <= r < regions for subset in data[key] for r in subset):
            raise DamagedFile(f"'{data.path}' is a damaged xviz SAG file: its {key} name regions outside 0..{regions - 1}")
    for key in ("p_full", "threshold"):
        valid_number(data, key)
    return image, segments, baseline


def _graph_from_json(data):
    for node in data["nodes"]:
        node["id"], node["regions"] = tuple(node["id"]), tuple(node["regions"])
    for edge in data["edges"]:
        edge["source"], edge["target"] = tuple(edge["source"]), tuple(edge["target"])
    return nx.node_link_graph(data, directed=True, edges="edges")


@dataclass
class SAG(OldJson, Result):
    """A structured attention graph of one image (saved as JSON by :meth:`save`).

    Attributes
    ----------
    image : numpy.ndarray
        H x W x 3 float32 in [0, 1]: the image as the classifier saw it.
    segments : numpy.ndarray
        H x W int32: the region id of every pixel (for the grid, the cell whose upsampled
        footprint weighs most there).
    target, label, p_full :
        The explained class, its name, and its probability on the full image.
    threshold : float
        A subset is sufficient when its probability is >= ``threshold * p_full``.
    roots : list of tuple
        Every minimal sufficient subset found (sorted region ids), by probability, highest first.
    diverse : list of tuple
        The largest set of roots overlapping pairwise in at most ``max_overlap`` regions.
    graph : networkx.DiGraph
        Nodes keyed by subsets (sorted tuples), the diverse roots on top; an edge removes
        one region. Node attributes ``regions``, ``p``, ``relative`` (p / p_full), ``top5``
        (``[label, prob]`` of the shown image), ``depth`` (regions removed from the nearest
        root), ``root``; edge attributes ``removed`` (region id) and ``drop`` (parent p -
        child p).
    settings : dict
        The parameters and model name (JSON-safe).
    passes, seconds :
        Images through the model (I-GOS ordering included) and wall time.
    cache : dict
        Sorted tuple -> p of every subset scored.
    top5 : dict
        Sorted tuple -> ``[label, prob]`` of the five top classes, for every subset scored.
    baseline : numpy.ndarray or None
        H x W x 3: what hidden regions showed, kept only when it was given as a tensor
        (named and number baselines are made again from ``settings``).
    history : dict
        ``order`` (region ids, most important first); ``steps``, one entry per beam step of
        the first search: ``candidates``, ``sufficient`` (of them), ``roots`` (distinct
        minimal roots so far), ``passes`` (by phase) and the ``beam`` kept; ``restarts``, one
        entry per restart: the ``forbidden`` regions (those of the diverse roots before it),
        the ``shared`` ones it could use after all (at most ``max_overlap`` per root, when
        the rest alone was not sufficient), ``p_rest`` (p of the image showing every region
        it could use; below the threshold, the restart was not searched), the new ``roots``
        and its ``steps``; ``passes`` (adding up to ``passes``) and ``seconds`` of the whole
        run by phase: ``full`` (the full image, the empty set and, for target=None, the
        top-1 pass), ``order`` (the I-GOS run), ``beam``, ``minimality`` (pruning roots),
        ``restarts`` (the checks) and ``graph``.
    """

    FORMAT = "xviz.sag/1"
    WHAT = "SAG"
    JSON = True

    image: np.ndarray
    segments: np.ndarray
    target: int
    label: str
    p_full: float
    threshold: float
    roots: list
    diverse: list
    graph: nx.DiGraph
    settings: dict = field(default_factory=dict)
    passes: int = 0
    seconds: float = 0.0
    cache: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    top5: dict = field(default_factory=dict)
    baseline: np.ndarray | None = None

    @property
    def regions(self):
        """How many regions the image was cut into."""
        return int(self.segments.max()) + 1

    def __repr__(self):
        return (f"SAG(target={self.target} ({self.label!r}, p={self.p_full:.3f}), {self.regions} regions, "
                f"{len(self.roots)} roots, {len(self.diverse)} diverse, {self.graph.number_of_nodes()} nodes)")

    def footprints(self):
        """R x H x W footprints of the regions, recomputed from the segments and settings."""
        if getattr(self, "_footprints", None) is None:
            self._footprints = region_footprints(self.settings["regions"], self.segments.shape,
                                                 grid=self.settings["grid"], segments=self.segments)
        return self._footprints

    def mask(self, subset):
        """H x W float32 in [0, 1]: where the image is shown for ``subset`` (1 = shown), as scored.

        Examples
        --------
        >>> import xviz
        >>> g = xviz.sag(xviz.zoo.digits_cnn(), xviz.zoo.image("digit-3"), grid=4, progress=False)
        >>> m = g.mask(g.roots[0])
        >>> m.shape, float(m.min()) >= 0.0, float(m.max()) <= 1.0
        ((32, 32), True, True)
        """
        bad = [r for r in subset if not 0 <= int(r) < self.regions]
        if bad:
            raise ValueError(f"regions {bad} do not exist; this SAG has regions 0..{self.regions - 1}")
        return subset_masks(self.footprints(), [_key(subset)])[0, 0].numpy()

    def baseline_image(self):
        """H x W x 3 float32: what the hidden regions showed when the subsets were scored."""
        if self.baseline is not None:
            return self.baseline
        if self.settings.get("baseline") == "tensor":
            raise ValueError("this SAG was made with a tensor baseline by an older xviz, which did not keep it")
        if getattr(self, "_baseline", None) is None:  # once: a blur is not free
            self._baseline = to_numpy(make_baseline(to_tensor(self.image), self.settings.get("baseline", "black")))[0]
        return self._baseline

    def shown(self, subset):
        """H x W x 3: the image the model sees for ``subset``, the photo where its regions are
        shown and the baseline elsewhere."""
        return compose(self.image, self.baseline_image(), self.mask(subset)[..., None])

    def score(self, clf, subset):
        """(p of the target, the top-5 ``[label, p]``) of the image showing ``subset``, scored
        by ``clf`` now (for subsets the search did not score; see :attr:`cache`).

        Examples
        --------
        >>> import xviz
        >>> clf = xviz.zoo.digits_cnn()
        >>> g = xviz.sag(clf, xviz.zoo.image("digit-3"), grid=4, progress=False)
        >>> p, top5 = g.score(clf, g.roots[0])
        >>> abs(p - g.cache[g.roots[0]]) < 1e-5, top5[0][0]
        (True, '3')
        """
        x, _ = clf.prepare(self.shown(subset))
        probs = clf.probs(x)
        return float(probs[0, self.target]), clf.top_classes(probs, TOP)[0]

    def relative(self, subset):
        """p(subset) / p_full of a subset that was scored (see ``cache``)."""
        key = _key(subset)
        if key not in self.cache:
            raise KeyError(f"subset {key} was never scored; SAG.cache holds the {len(self.cache)} scored subsets")
        return self.cache[key] / self.p_full

    def _parts(self):
        data = {"image": _encode(self.image, np.float32),
                "segments": _encode(self.segments, np.int32), "target": self.target, "label": self.label,
                "p_full": self.p_full, "threshold": self.threshold, "roots": [list(r) for r in self.roots],
                "diverse": [list(r) for r in self.diverse], "graph": nx.node_link_data(self.graph, edges="edges"),
                "settings": self.settings, "passes": self.passes, "seconds": self.seconds,
                "cache": [[list(k), v] for k, v in self.cache.items()], "history": self.history,
                "top5": [[list(k), v] for k, v in self.top5.items()]}
        if self.baseline is not None:
            data["baseline"] = _encode(self.baseline, np.float32)
        return data, {}

    @classmethod
    def _from_parts(cls, data, arrays, clf=None):
        image, segments, baseline = _checked_arrays(data)
        return cls(image=image, segments=segments, target=data["target"], label=data["label"], p_full=data["p_full"], threshold=data["threshold"],
                   roots=[tuple(r) for r in data["roots"]], diverse=[tuple(r) for r in data["diverse"]],
                   graph=_graph_from_json(data["graph"]), settings=data["settings"], passes=data["passes"],
                   seconds=data["seconds"], cache={tuple(k): v for k, v in data["cache"]}, history=data["history"],
                   top5={tuple(k): v for k, v in data.get("top5", [])},  # older files: nodes only
                   baseline=baseline)


# -- the method ------------------------------------------------------------------------------
def _check(cfg, image_size):
    """The settings validated and as plain Python values (so they stay JSON-safe); the
    messages say what was given and what is accepted."""
    cfg = dict(cfg)
    side = min(image_size)
    if not is_int(cfg["grid"]) or not 1 <= cfg["grid"] <= side:
        raise ValueError(f"grid must be an int in 1..{side} (the classifier's image side), got {cfg['grid']!r}")
    cfg["grid"] = int(cfg["grid"])
    if cfg["regions"] not in KINDS:
        raise ValueError(f"unknown regions {cfg['regions']!r}; accepted: {', '.join(map(repr, KINDS))}")
    for key in ("threshold", "expand_threshold"):
        cfg[key] = checked_float(cfg[key], key)
    if not 0 < cfg["threshold"] <= 1:
        raise ValueError(f"threshold must be in (0, 1] (a share of the full image's probability), "
                         f"got {cfg['threshold']!r}")
    if not 0 <= cfg["expand_threshold"] < 1:
        raise ValueError(f"expand_threshold must be in [0, 1), got {cfg['expand_threshold']!r}")
    for key, minimum in [("beam_width", 1), ("q", 1), ("max_roots", 1), ("n_segments", 1),
                         ("max_overlap", 0), ("restarts", 0), ("order_iterations", 0)]:
        cfg[key] = checked_int(cfg[key], key, minimum)
    cfg["seed"] = checked_seed(cfg["seed"])
    for key in ("max_nodes", "max_children"):
        cfg[key] = checked_int(cfg[key], key, 1, none="no limit")
    return cfg


def _single_image(clf, image):
    x, batch = clf.prepare(image)
    if batch:
        raise ValueError(f"sag explains one image at a time, got a batch of {len(x)}; call sag once per image")
    return x


def _check_baseline(clf, target, p_full, p_empty, threshold, baseline):
    """Refuse an image whose baseline alone (no region shown) is sufficient: every region
    would then be a 'root' that is not needed at all."""
    if p_empty >= threshold * p_full:
        raise ValueError(
            f"the baseline alone ({baseline_setting(baseline)!r}, no region shown) keeps p({clf.label(target)!r}) = "
            f"{p_empty:.3g}, at least {threshold:g} of the full image's {p_full:.3g}: no region of the image is "
            f"needed for this class; try another baseline (e.g. 'blur' or 0.5) or another target")


def _check_target(clf, target, p_full):
    if p_full < MIN_P_FULL:
        raise ValueError(f"target {target} ({clf.label(target)!r}) has probability {p_full:.2g} on this image; "
                         f"a SAG explains a class the model gives weight to (p >= {MIN_P_FULL:g})")


def sag(clf: Classifier, image: Image, target: int | str | None = None, *, grid=7, regions="grid", n_segments=49, beam_width=3, q=15, threshold=0.9,
        expand_threshold=0.4, max_roots=10, max_overlap=1, restarts=1, max_nodes=200, max_children=None,
        baseline="black",
        order_iterations=2, seed=0, progress=True):
    """Structured attention graph: minimal sufficient region sets and how confidence falls without them.

    Shitole et al., "One Explanation is Not Enough: Structured Attention Graphs for Image
    Recognition", NeurIPS 2021.

    Parameters
    ----------
    clf : xviz.Classifier
    image : image
        One image, in any form :func:`xviz.images.load_image` accepts (not a batch).
    target : int, str or None
        Class index or label; None explains the top-1 class.
    grid : int
        ``regions="grid"``: the image is cut into grid x grid cells (7 in the paper), shown
        through their bilinearly upsampled mask. Also the side of the I-GOS ordering mask.
    regions : {"grid", "slic"}
        ``"slic"``: scikit-image SLIC superpixels (about ``n_segments``) of the
        classifier-size image, so regions follow the object's edges.
    n_segments : int
        SLIC's target number of superpixels.
    beam_width : int
        States kept per beam step (3 in the paper; 5, 10, 15 suggested).
    q : int
        Each state is expanded by its q most important unused regions.
    threshold : float in (0, 1]
        A subset is sufficient (a root) when its probability is >= threshold * p(full image).
    expand_threshold : float in [0, 1)
        A graph node gets children only if p / p_full exceeds it.
    max_roots : int
        A search stops after the step in which more than this many sufficient candidates
        have been found (as in the paper). One step may find many, so a search may return
        more roots than this; the budget is per search: each restart has its own.
    max_overlap : int
        Diverse roots share at most this many regions pairwise.
    restarts : int
        Searches after the first, each without the regions of the diverse roots found so
        far but up to ``max_overlap`` of each where needed (0: the paper's single search). A
        restart runs only when the image showing what it may use is sufficient (a few passes
        to check), so where no diverse explanation exists it costs a few passes;
        ``history["restarts"]`` says what each found or why it did not run.
    max_nodes : int or None
        The graph stops growing once it holds this many nodes; levels are expanded in turn,
        the most confident nodes first, each with all its children. Without a limit (None)
        the graph below a large root can grow to thousands of nodes (2^size at worst).
    max_children : int or None
        Each expanded node keeps at most this many children: those whose region's removal
        drops p the most (all of them are scored, so the choice does not depend on region
        order). None (default) keeps every child. A small number (the authors' code draws
        three) gives a small graph of the removals that matter most, easy to read; those
        children mostly fall below ``expand_threshold``, so it is shallow too, and the
        SAGExplorer's step (to the kept child that keeps the most) follows costly removals.
        The passes per expanded node are the same; the other children's p stay in ``cache``.
    baseline : "black", "blur", a number or a tensor
        What hidden regions show (:func:`xviz.images.baseline`).
    order_iterations : int
        I-GOS iterations that rank the regions (0: rank by region id), on a grid x grid mask
        with the blur baseline and I-GOS's "fast" preset on every device.
    seed : int
        Seeds the I-GOS noise; the result is deterministic given the seed.
    progress : bool
        A progress bar over the beam steps.

    Returns
    -------
    SAG
        ``roots``, ``diverse``, the ``graph`` and the ``cache`` of every subset scored.

    Raises
    ------
    ValueError
        For a batch of images, bad settings, a target the model gives almost no
        probability on this image (below 1e-4), or a baseline that alone (no region shown)
        already keeps the threshold: no region would be needed.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> g = xviz.sag(clf, xviz.zoo.image("digit-3"), grid=4, progress=False)
    >>> g.label, g.regions
    ('3', 16)
    >>> all(g.cache[r] >= g.threshold * g.p_full for r in g.roots)
    True
    >>> all(g.graph.nodes[r]["root"] for r in g.diverse)
    True
    """
    cfg = {"grid": grid, "regions": regions, "n_segments": n_segments, "beam_width": beam_width, "q": q,
           "threshold": threshold, "expand_threshold": expand_threshold, "max_roots": max_roots,
           "max_overlap": max_overlap, "restarts": restarts, "max_nodes": max_nodes, "max_children": max_children,
           "order_iterations": order_iterations, "seed": seed}
    cfg = _check(cfg, clf.size)
    x = _single_image(clf, image)
    picture = to_numpy(x)[0]
    segments, footprints = _regions(regions, picture, cfg["grid"], cfg["n_segments"])
    count, threshold = len(footprints), cfg["threshold"]
    with clf.metered() as total, clf.session():
        with clf.metered() as first:
            t = clf.targets_for(x, target)[0]
            score = _Scorer(clf, x, make_baseline(x, baseline), footprints, t)
            full, empty = tuple(range(count)), ()
            p_full = score([full, empty], "full")[full]
        score.passes["full"] = first.passes  # with the top-1 pass when target is None
        _check_target(clf, t, p_full)
        _check_baseline(clf, t, p_full, score.p[empty], threshold, baseline)
        with clf.metered() as ordering:
            order = _order(clf, x, t, regions, segments, cfg["grid"], cfg["order_iterations"], cfg["seed"])
        score.passes["order"], score.seconds["order"] = ordering.passes, ordering.seconds
        found, log = _beam_search(score, order, cfg, threshold * p_full, "SAG beam search", progress)
        found, restarts = _restarts(score, order, cfg, threshold * p_full, found, count, progress)
        roots = sorted(found, key=lambda r: (-score.p[r], r))
        diverse = _diverse(roots, score.p, cfg["max_overlap"])
        graph = _graph(diverse, score, p_full, cfg["expand_threshold"], cfg["max_nodes"], cfg["max_children"])
    graph.graph.update(target=t, p_full=p_full, threshold=threshold)
    settings = {"model": clf.name, "fingerprint": clf.fingerprint(), **cfg, "baseline": baseline_setting(baseline)}
    history = {"order": order, "steps": log, "restarts": restarts, "passes": dict(score.passes),
               "seconds": dict(score.seconds)}
    return SAG(image=picture, segments=segments, target=t, label=clf.label(t), p_full=p_full, threshold=threshold,
               roots=roots, diverse=diverse, graph=graph, settings=settings, passes=total.passes,
               seconds=total.seconds, cache=dict(score.p), history=history, top5=dict(score.top5),
               baseline=to_numpy(score.base)[0] if isinstance(baseline, torch.Tensor) else None)
