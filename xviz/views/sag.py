"""SAGExplorer: toggle image regions, walk the structured attention graph, compare roots.

The state (which regions are shown) lives in one bokeh data source that the browser edits
when a region or a graph node is clicked; the browser renders the shown image and looks the
probabilities up in a table of scored subsets. With a classifier and a running kernel,
subsets nobody scored yet are scored in Python and added to that table, so the page
updates; without a kernel (the exported HTML) everything the search scored stays explorable.
"""
import base64
import html
import io
from collections import Counter

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    Button,
    ColorBar,
    ColumnDataSource,
    CustomJS,
    Div,
    FactorRange,
    HoverTool,
    LinearColorMapper,
    Range1d,
    TapTool,
)
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from ..core.checks import checked_int
from . import plots
from .base import View
from .js import HELPERS

# The red edges' marks ("-r", the region removed), costliest removal first, each only where it
# is on screen and covers no mark already placed, at the current zoom: run with every redraw
# and again whenever the graph is zoomed, panned or reset.
MARKS_JS = """
const sel = state.data.selected[0], ids = [];
for (let r = 0; r < sel.length; r++) if (sel[r]) ids.push(r);
const key = ids.join(","), e = edges.data, xr = graph.x_range, yr = graph.y_range;
const px = (graph.inner_width || graph.width - 90) / (xr.end - xr.start), placed = [], down = [];
const marks = {x: [], y: [], text: []};
for (let j = 0; j < e.parent.length; j++) if (e.parent[j] == key) down.push(j);
down.sort((a, b) => e.p[a] - e.p[b]);
for (const j of down) {
  const x = e.x0[j] + 0.8 * (e.x1[j] - e.x0[j]), y = e.y0[j] + 0.8 * (e.y1[j] - e.y0[j]);
  const r = e.removed[j], half = 4 * String(r).length + 6, at = (x - xr.start) * px;
  if (x < xr.start || x > xr.end || y < yr.start || y > yr.end) continue;
  if (placed.some(([a, h]) => Math.abs(a - at) < half + h)) continue;
  placed.push([at, half]);
  marks.x.push(x); marks.y.push(y); marks.text.push(`-${r}`);
}
near_marks.data = marks;
"""

RENDER_JS = HELPERS + """
const HATCH = (110 << 24) | 0xffffff;  // white at alpha 110, as one little-endian RGBA uint32
const sel = state.data.selected[0], R = sel.length, H = size[0], W = size[1];
let weight;
if (kind == "grid") {
  weight = gridMask(Float32Array.from(sel), grid, grid, H, W);
} else {
  weight = new Float32Array(H * W);
  for (let j = 0; j < H * W; j++) weight[j] = sel[segments[j]];
}
blend(shown.data.image[0], photo, base, weight, H, W);
shown.change.emit();
// Hidden regions hatched on a layer of their own (the image stays what the model sees): a
// blurred region can look much like a shown one.
const out = hatch.data.image[0], S = hatch_scale, FW = W * S, FH = H * S;
for (let y = 0; y < FH; y++) {
  const r = Math.floor(y / S);
  for (let x = 0; x < FW; x++) {
    const hidden = !sel[segments[r * W + Math.floor(x / S)]];
    out[(FH - 1 - y) * FW + x] = hidden && (x + y) % 7 < 2 ? HATCH : 0;
  }
}
hatch.change.emit();
const ids = [];
for (let r = 0; r < R; r++) if (sel[r]) ids.push(r);
const key = ids.join(",");
const at = known.data.key.indexOf(key);
let text = `<b>${ids.length}</b> of ${R} regions shown`;
if (at < 0) {
  text += live ? "; scoring..." : "; this subset was not scored during the search (open it in a notebook with the model to score it)";
} else {
  const p = known.data.p[at];
  text += `: p(${label}) = <b>${p.toFixed(3)}</b>, <b>${(100 * p / p_full).toFixed(0)}%</b> of the full image's ${p_full.toFixed(3)}`;
  if (p >= threshold * p_full) text += " (sufficient)";
}
info.text = text;
const top = at >= 0 ? known.data.top5[at] : [];
const names = top.map(t => t[0]).reverse();
bars.data = {label: names, p: top.map(t => t[1]).reverse(),
             text: top.map(t => `${t[0]}  ${(100 * t[1]).toFixed(1)}%`).reverse()};
bar_range.factors = names;
const n = nodes.data.key.indexOf(key);
current.data = n >= 0 ? {x: [nodes.data.x[n]], y: [nodes.data.y[n]]} : {x: [], y: []};
// The current node's edges stand out of the others: red to its children (marked by MARKS_JS
// below), orange from its parents; the info lists what each removal leaves, costliest first.
const e = edges.data, lines = {x0: [], y0: [], x1: [], y1: [], color: []}, after = [];
for (let j = 0; n >= 0 && j < e.parent.length; j++) {
  const down = e.parent[j] == key;
  if (!down && e.child[j] != key) continue;
  for (const c of ["x0", "y0", "x1", "y1"]) lines[c].push(e[c][j]);
  lines.color.push(down ? "#e45756" : "#f58518");
  if (down) after.push([e.p[j], e.removed[j]]);
}
near.data = lines;
if (after.length) {
  after.sort((a, b) => a[0] - b[0]);
  const listed = after.slice(0, 8).map(([p, r]) => `<b>${r}</b> leaves ${(100 * p / p_full).toFixed(0)}%`);
  info.text += `<br>Without one more region (red edges): ${listed.join(", ")}${after.length > 8 ? ", ..." : ""}.`;
}
{""" + MARKS_JS + "}"

TOGGLE_JS = """
const H = size[0], W = size[1];
const col = Math.floor(cb_obj.x), row = H - 1 - Math.floor(cb_obj.y);
if (col < 0 || col >= W || row < 0 || row >= H) return;
const r = segments[row * W + col];
const sel = Array.from(state.data.selected[0]);
sel[r] = sel[r] ? 0 : 1;
state.data = {selected: [sel]};
"""

# A tap loads the node's regions, then clears the selection: the other nodes keep their
# colours, and a second tap on the same node loads it again.
NODE_JS = """
const idx = nodes.selected.indices;
if (!idx.length) return;
const sel = new Array(count).fill(0);
for (const r of nodes.data.regions[idx[0]]) sel[r] = 1;
nodes.selected.indices = [];
state.data = {selected: [sel]};
"""

SUBSET_JS = """
const sel = new Array(count).fill(subset === null ? 1 : 0);
if (subset !== null) for (const r of subset) sel[r] = 1;
state.data = {selected: [sel]};
"""

# One step down the graph: to the child that keeps the most probability.
STEP_JS = """
const sel = state.data.selected[0], ids = [];
for (let r = 0; r < sel.length; r++) if (sel[r]) ids.push(r);
const key = ids.join(","), e = edges.data;
let best = -1;
for (let j = 0; j < e.parent.length; j++)
  if (e.parent[j] == key && (best < 0 || e.p[j] > e.p[best])) best = j;
if (best < 0) {
  const bottom = "No smaller subset below this one in the graph: pick a root or a node.";
  if (!info.text.includes(bottom)) info.text += "<br>" + bottom;
  return;
}
const next = new Array(sel.length).fill(0);
for (const r of e.child_regions[best]) next[r] = 1;
state.data = {selected: [next]};
"""


def _key(regions):
    return ",".join(str(int(r)) for r in sorted(regions))


def _png(image, side=96):
    """A small PNG data URL of an H x W x 3 image, for hover tooltips."""
    from PIL import Image

    im = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8)).resize((side, side))
    buffer = io.BytesIO()
    im.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _levels(graph):
    """x, y of every node: one row per depth (roots on top, by probability).

    Below the roots a node sits at the mean x of its parents placed above it (one downward
    sweep of the barycentre heuristic), so each root's descendants gather under it and
    edges cross less than in an order by probability; ties and parentless nodes go by
    probability.
    """
    pos = {}
    depths = sorted({d for _, d in graph.nodes(data="depth")})
    for depth in depths:
        level = [n for n, d in graph.nodes(data="depth") if d == depth]

        def centre(n):
            xs = [pos[m][0] for m in graph.predecessors(n) if m in pos]
            return sum(xs) / len(xs) if xs else 2.0  # after the placed ones

        level.sort(key=lambda n: (centre(n), -graph.nodes[n]["p"], n))
        for i, node in enumerate(level):
            pos[node] = ((i + 1) / (len(level) + 1), -float(depth))
    return pos


def _node_size(pos, plot_width, largest=16, smallest=6):
    """Marker size (px) that keeps the nodes of the widest level from covering each other."""
    widest = max(Counter(y for _, y in pos.values()).values(), default=1)
    return float(np.clip(0.8 * plot_width / (widest + 1), smallest, largest))


def _label_points(segments, count):
    """Row and column where each region's id is written: of the points deep inside it (at
    least 80% of the largest distance to its border), the one nearest its centroid. The
    centroid itself may lie in another superpixel; for a grid cell it is the point chosen."""
    from scipy import ndimage

    rows, cols = np.zeros(count), np.zeros(count)
    for r, box in enumerate(ndimage.find_objects(segments + 1, max_label=count)):
        if box is None:
            continue
        inside = np.pad(segments[box] == r, 1)
        depth = ndimage.distance_transform_edt(inside)[1:-1, 1:-1]
        ys, xs = np.nonzero(depth >= 0.8 * depth.max())
        cy, cx = np.argwhere(inside[1:-1, 1:-1]).mean(0)
        k = np.argmin((ys - cy) ** 2 + (xs - cx) ** 2)
        rows[r], cols[r] = ys[k] + box[0].start, xs[k] + box[1].start
    return rows, cols


def _via(graph, node):
    """How a node is reached: the region each parent removes and what that costs (at most 3)."""
    if graph.nodes[node].get("root"):
        return "a root: a minimal sufficient set"
    edges = sorted(graph.in_edges(node, data=True), key=lambda e: e[2]["drop"])
    text = [f"-{d['removed']} from {{{', '.join(map(str, a))}}} (p -{d['drop']:.3f})" for a, _, d in edges[:3]]
    return "; ".join(text) + ("; ..." if len(edges) > 3 else "")


def _roots_note(g):
    """One sentence on how many explanations were found and why there are no more."""
    overlap = g.settings.get("max_overlap", 1)
    text = f"{len(g.roots)} minimal sufficient region sets found; " + (
        f"{len(g.diverse)} of them share at most {overlap} region(s) pairwise (the root buttons)."
        if len(g.diverse) > 1 else f"no two of them share at most {overlap} region(s): one root button.")
    restarts = g.history.get("restarts", [])
    if restarts and restarts[-1]["p_rest"] < g.threshold * g.p_full:
        last = restarts[-1]
        shared = last.get("shared", [])
        hidden = [r for r in last["forbidden"] if r not in shared]
        kept = f" (and {', '.join(map(str, shared))} shown, as diverse roots may share them)" if shared else ""
        text += (f" With regions {', '.join(map(str, hidden))} hidden{kept}, the rest of the image keeps "
                 f"{100 * last['p_rest'] / g.p_full:.0f}% of the confidence, below the {100 * g.threshold:.0f}% "
                 "threshold: an explanation avoiding them is unlikely, so none was searched for.")
    return text


class SAGExplorer(View):
    """Explore a structured attention graph: click regions, nodes, roots; watch the confidence.

    Parameters
    ----------
    sag : xviz.SAG
    clf : xviz.Classifier, optional
        With it, any subset you toggle is scored (in the kernel); without it, the subsets the
        search scored are shown, which is also all the exported HTML knows.
    width : int
        Width of the image in pixels.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> g = xviz.sag(clf, xviz.zoo.image("digit-3"), grid=4, progress=False)
    >>> ex = SAGExplorer(g, clf=clf)
    >>> ex.show_root(0)
    >>> ex.selected == g.diverse[0] and ex.probability == g.graph.nodes[g.diverse[0]]["p"]
    True
    >>> ex.toggle(g.diverse[0][0])
    >>> len(ex.selected) == len(g.diverse[0]) - 1
    True
    """

    title = "xviz structured attention graph"

    def __init__(self, sag, clf=None, width=320):
        width = checked_int(width, "width (pixels)", 100, maximum=4000)
        # The subsets clicked would be scored by another model (or other weights) against the
        # SAG's full-image p. SAGs saved before the fingerprint was kept are checked by name.
        other = clf.mismatch(sag.settings.get("model"), sag.settings.get("fingerprint")) if clf else ""
        if other:
            raise ValueError(f"this SAG was made with {other}: pass that model as clf, "
                             "or clf=None to show only the subsets the search scored")
        self.sag, self.clf = sag, clf
        self.count = sag.regions
        self.base_image = sag.baseline_image()
        self._build(width)
        super().__init__(self._layout, on_load=self.render)

    # -- data ---------------------------------------------------------------------------
    def _known(self):
        g = self.sag
        table = {k: (p, g.top5.get(k, [])) for k, p in g.cache.items()}
        for node, data in g.graph.nodes(data=True):
            table[tuple(node)] = (data["p"], data["top5"])
        full = tuple(range(self.count))
        if not table.get(full, (0, []))[1]:  # the search keeps only p of the full image
            table[full] = (g.p_full, g.score(self.clf, full)[1] if self.clf is not None else [])
        return {"key": [_key(k) for k in table], "p": [float(v[0]) for v in table.values()],
                "top5": [[[str(a), float(b)] for a, b in v[1]] for v in table.values()]}

    # -- building -----------------------------------------------------------------------
    def _build(self, width):
        g = self.sag
        H, W = g.segments.shape
        self.known = ColumnDataSource(self._known())
        self.state = ColumnDataSource({"selected": [[1] * self.count]})
        self.shown_figure = plots.image_figure(g.image, title=f"shown regions: {g.label}", width=width)
        self.shown_figure.name = "shown"
        self.shown = self.shown_figure.renderers[0].data_source
        self.shown.name = "shown-image"
        self.hatch, self.hatch_scale = self._hatch_layer(self.shown_figure)
        self._outline(self.shown_figure)
        self.info = Div(text="", width=width, name="sag-info")
        graph_figure, self.nodes, self.edges, self.current, self.near, self.near_marks = self._graph_figure(width)
        bar_figure, self.bars = self._bar_figure(width)
        self.render = render = CustomJS(args={"state": self.state, "known": self.known, "shown": self.shown,
                                "photo": plots.to_rgba(g.image), "base": plots.to_rgba(self.base_image),
                                "segments": g.segments.ravel().astype(np.int32), "size": [H, W],
                                "grid": int(g.settings.get("grid", 0)), "kind": g.settings.get("regions", "grid"),
                                "info": self.info, "label": html.escape(g.label), "p_full": float(g.p_full),
                                "threshold": float(g.threshold), "bars": self.bars, "bar_range": bar_figure.y_range,
                                "nodes": self.nodes, "current": self.current, "edges": self.edges, "near": self.near,
                                "near_marks": self.near_marks, "graph": graph_figure, "live": self.clf is not None,
                                "hatch": self.hatch, "hatch_scale": self.hatch_scale},
                          code=RENDER_JS)
        self.state.js_on_change("data", render)
        self.known.js_on_change("data", render)
        marks = CustomJS(args={"state": self.state, "edges": self.edges, "graph": graph_figure,
                               "near_marks": self.near_marks}, code=MARKS_JS)
        for axis in (graph_figure.x_range, graph_figure.y_range):
            axis.js_on_change("start", marks)
            axis.js_on_change("end", marks)
        self.shown_figure.js_on_event("tap", CustomJS(args={"state": self.state, "segments": g.segments.ravel()
                                                            .astype(np.int32), "size": [H, W]}, code=TOGGLE_JS))
        self.nodes.selected.js_on_change("indices", CustomJS(
            args={"nodes": self.nodes, "state": self.state, "count": self.count}, code=NODE_JS))
        if self.clf is not None:
            self.state.on_change("data", lambda attr, old, new: self._score_current())
        self.info.text = (f"<b>{self.count}</b> of {self.count} regions shown: p({html.escape(g.label)}) = "
                          f"<b>{g.p_full:.3f}</b>. Click regions to hide or show them (hidden ones are hatched), "
                          "or a node of the graph.")
        self._layout = row(column(self.shown_figure, self.info, self._buttons()), column(graph_figure, bar_figure))

    def _hatch_layer(self, fig):
        """A transparent layer over the image that the page hatches where regions are hidden;
        (its source, its pixels per image pixel). Finer than the image where that is small (a
        line one pixel of a 32 x 32 digit wide would be a tenth of it), at most 256 pixels a
        side: the page file carries it."""
        H, W = self.sag.segments.shape
        scale = max(1, min(round(fig.width / W), 256 // max(H, W)))
        clear = np.zeros((H * scale, W * scale), np.uint32)
        glyph = fig.image_rgba(image=[clear], x=0, y=0, dw=W, dh=H)
        glyph.data_source.name = "sag-hatch"
        return glyph.data_source, scale

    def _outline(self, fig):
        """Region borders and ids over the image, so regions can be named and clicked."""
        seg = self.sag.segments
        H, W = seg.shape
        # Drawn at about screen resolution: on a small image (32 x 32 digits) a border one
        # image pixel wide would be a tenth of the picture.
        scale = max(1, round(fig.width / W))
        fine = np.repeat(np.repeat(seg, scale, 0), scale, 1)
        edge = np.zeros(fine.shape, bool)
        edge[:, 1:] |= fine[:, 1:] != fine[:, :-1]
        edge[1:, :] |= fine[1:, :] != fine[:-1, :]
        rgba = np.zeros(fine.shape + (4,), np.uint8)
        rgba[edge] = (255, 255, 255, 150)
        fig.image_rgba(image=[np.ascontiguousarray(rgba[::-1]).view(np.uint32)[..., 0]], x=0, y=0, dw=W, dh=H)
        cy, cx = _label_points(seg, self.count)
        fig.text(x=cx + 0.5, y=H - cy - 0.5, text=[str(i) for i in range(self.count)], text_font_size="7pt",
                 text_color="white", text_align="center", text_baseline="middle", text_alpha=0.8)

    def _graph_figure(self, width):
        g = self.sag
        graph = g.graph
        pos = _levels(graph)
        order = list(graph.nodes)
        nodes = ColumnDataSource({
            "key": [_key(n) for n in order], "regions": [list(map(int, n)) for n in order],
            "x": [pos[n][0] for n in order], "y": [pos[n][1] for n in order],
            "p": [graph.nodes[n]["p"] for n in order], "relative": [graph.nodes[n]["relative"] for n in order],
            "size": [len(n) for n in order], "thumb": [_png(g.shown(n)) for n in order],
            "name": ["{" + ", ".join(map(str, n)) + "}" for n in order],
            "via": [_via(graph, n) for n in order]}, name="sag-nodes")
        links = list(graph.edges(data=True))
        edges = ColumnDataSource({
            "x0": [pos[a][0] for a, _, _ in links], "y0": [pos[a][1] for a, _, _ in links],
            "x1": [pos[b][0] for _, b, _ in links], "y1": [pos[b][1] for _, b, _ in links],
            "parent": [_key(a) for a, _, _ in links], "child": [_key(b) for _, b, _ in links],
            "child_regions": [list(map(int, b)) for _, b, _ in links],
            "removed": [int(d["removed"]) for _, _, d in links], "drop": [float(d["drop"]) for _, _, d in links],
            "p": [graph.nodes[b]["p"] for _, b, _ in links],
            "width": [0.5 + 3 * max(0.0, d["drop"]) / max(g.p_full, 1e-12) for _, _, d in links]})
        depth = max([graph.nodes[n]["depth"] for n in graph] or [0])
        # Box zoom (drag) and wheel zoom pull a crowded level apart; a tap still picks a node.
        # The tools sit below, in sight (above, the title pushes them into an overflow menu).
        fig = figure(width=width + 140, height=max(250, 90 * (depth + 1) + 90), title="the graph: roots on top; "
                     "an edge removes a region", x_range=Range1d(0, 1), y_range=Range1d(-depth - 0.5, 0.5),
                     toolbar_location="below", tools="box_zoom,wheel_zoom,pan,reset", active_drag="box_zoom",
                     active_scroll=None, min_border=10)
        fig.name = "sag-graph"
        fig.axis.visible = False
        fig.grid.visible = False
        fig.segment("x0", "y0", "x1", "y1", source=edges, line_width="width", line_color="#999999", line_alpha=0.45)
        near = ColumnDataSource({"x0": [], "y0": [], "x1": [], "y1": [], "color": []}, name="sag-near")
        fig.segment("x0", "y0", "x1", "y1", source=near, line_width=2.5, line_color="color")
        mapper = LinearColorMapper(palette=Viridis256, low=0, high=1)
        size = _node_size(pos, width)  # about the plotting width: the figure less colour bar and tools
        dots = fig.scatter("x", "y", source=nodes, size=size, fill_color={"field": "relative", "transform": mapper},
                           line_color="#333333", name="nodes", nonselection_fill_alpha=1.0,
                           nonselection_line_alpha=1.0)
        current = ColumnDataSource({"x": [], "y": []})
        fig.scatter("x", "y", source=current, size=size + 10, fill_alpha=0, line_color="#e45756", line_width=3)
        marks = ColumnDataSource({"x": [], "y": [], "text": []}, name="sag-near-marks")
        fig.text("x", "y", text="text", source=marks, text_font_size="9pt", text_color="#b2182b",
                 text_align="center", text_baseline="middle", background_fill_color="white",
                 background_fill_alpha=0.8)
        fig.add_tools(TapTool(renderers=[dots]))
        # Only nodes have a tooltip (one per edge under the pointer would cover it); a node's
        # says which region its parents removed and the drop.
        fig.add_tools(HoverTool(renderers=[dots], tooltips="""
            <div><img src="@thumb" width="96" height="96"></div>
            <div>regions @name</div><div>p = @p{0.000}, @relative{0%} of the full image</div>
            <div style="max-width: 260px">@via</div>"""))
        fig.add_layout(ColorBar(color_mapper=mapper, title="relative confidence", width=8), "right")
        return fig, nodes, edges, current, near, marks

    def _bar_figure(self, width):
        start = self.known.data["key"].index(_key(range(self.count)))
        top = self.known.data["top5"][start]
        names = [t[0] for t in top][::-1]
        bars = ColumnDataSource({"label": names, "p": [t[1] for t in top][::-1],
                                 "text": [f"{t[0]}  {100 * t[1]:.1f}%" for t in top][::-1]}, name="sag-bars")
        # Class names are written on the bars, not on an axis: an axis as wide as the longest
        # name would move the graph above whenever the shown classes change.
        fig = figure(y_range=FactorRange(*names), x_range=Range1d(0, 1.15), width=width + 140, height=190,
                     title="top classes of the shown image", toolbar_location=None, tools="", min_border_left=10)
        fig.hbar(y="label", right="p", height=0.7, source=bars, color="#b3cde3")
        fig.text(x=0, y="label", text="text", source=bars, x_offset=4, text_baseline="middle", text_font_size="8pt")
        fig.yaxis.visible = False
        fig.ygrid.visible = False
        return fig, bars

    def _buttons(self):
        def button(label, subset, name):
            b = Button(label=label, width=110, name=name)
            b.js_on_event("button_click", CustomJS(args={"state": self.state, "count": self.count,
                                                         "subset": None if subset is None else list(map(int, subset))},
                                                   code=SUBSET_JS))
            return b

        roots = [button(f"root {i + 1}", r, f"root-{i + 1}") for i, r in enumerate(self.sag.diverse)]
        rows = [row(*roots[i:i + 2]) for i in range(0, len(roots), 2)]  # two a row: many roots wrap
        step = Button(label="step: drop a region", width=150, name="step")
        step.js_on_event("button_click", CustomJS(args={"state": self.state, "edges": self.edges,
                                                        "info": self.info}, code=STEP_JS))
        return column(row(button("full image", None, "reset"), step), *rows,
                      Div(text=_roots_note(self.sag), width=300, name="sag-roots-note"))

    def to_html(self, path=None):
        """Standalone HTML: the graph, its nodes, the roots and every subset the search scored
        stay interactive without a kernel; other subsets say they were not scored."""
        live = self.render.args["live"]
        self.render.args = {**self.render.args, "live": False}
        try:
            return super().to_html(path)
        finally:
            self.render.args = {**self.render.args, "live": live}

    # -- state a notebook or a test can read and set ------------------------------------
    @property
    def selected(self):
        """The shown regions, as a sorted tuple of ids."""
        return tuple(int(r) for r, on in enumerate(self.state.data["selected"][0]) if on)

    def select(self, regions):
        """Show exactly these regions (scored with the classifier when the subset is new)."""
        regions = [int(r) for r in regions]
        bad = [r for r in regions if not 0 <= r < self.count]
        if bad:
            raise ValueError(f"regions {bad} do not exist; this SAG has regions 0..{self.count - 1}")
        flags = [0] * self.count
        for r in regions:
            flags[r] = 1
        self.state.data = {"selected": [flags]}
        if self.clf is not None:
            self._score_current()  # idempotent: the state's Python callback may have done it

    def toggle(self, region):
        """Hide a shown region, or show a hidden one."""
        current = set(self.selected)
        self.select(sorted(current ^ {int(region)}))

    def reset(self):
        """Show the full image."""
        self.select(range(self.count))

    def show_root(self, i):
        """Show diverse root ``i``, counted from 0 (the button "root 1" is ``show_root(0)``)."""
        n = len(self.sag.diverse)
        if not 0 <= i < n:
            raise ValueError(f"root {i} does not exist; this SAG has {n} diverse roots, 0..{n - 1} "
                             f"(the buttons count from 1: 'root 1' is show_root(0))")
        self.select(self.sag.diverse[i])

    def step(self):
        """Move to the child in the graph that keeps the most probability; False at the bottom."""
        key = self.selected
        children = [c for c in self.sag.graph.successors(key)] if key in self.sag.graph else []
        if not children:
            return False
        self.select(max(children, key=lambda c: self.sag.graph.nodes[c]["p"]))
        return True

    def _lookup(self):
        key = _key(self.selected)
        keys = self.known.data["key"]
        return keys.index(key) if key in keys else None

    @property
    def probability(self):
        """p(target) of the shown image, or None when it was never scored (no classifier)."""
        at = self._lookup()
        return None if at is None else self.known.data["p"][at]

    @property
    def relative(self):
        """The shown image's probability relative to the full image's, or None."""
        p = self.probability
        return None if p is None else p / self.sag.p_full

    @property
    def top5(self):
        """[label, probability] of the shown image's top classes (empty when unknown)."""
        at = self._lookup()
        return [] if at is None else self.known.data["top5"][at]

    def _score_current(self):
        """Score the shown subset with the classifier if nobody has (idempotent)."""
        at = self._lookup()
        if at is not None and self.known.data["top5"][at]:
            return
        p, top5 = self.sag.score(self.clf, self.selected)
        data = {k: list(v) for k, v in self.known.data.items()}
        if at is None:
            data["key"].append(_key(self.selected))
            data["p"].append(p)
            data["top5"].append(top5)
        else:
            data["p"][at], data["top5"][at] = p, top5
        self.known.data = data
