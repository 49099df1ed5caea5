"""LayerExplorer: the clusters of feature maps of each layer, over the image, to look at and name.

A slider walks the layers; for the chosen layer, every cluster map is shown as a thumbnail
over the image, its weight as a bar, its maps as points of the 2-D embedding, and the chosen
cluster large. Everything a layer shows is stored per layer in one data source, so switching
layers or clusters in the browser only copies data (CustomJS): the exported HTML stays
interactive without a kernel. In a live notebook a text box names the chosen cluster through
the result's own :meth:`~xviz.methods.layers.LayerExplanation.label`.

:class:`GlobalLabelsView` shows an aggregate (:func:`xviz.methods.layers.aggregate`): the
label scores of one class or one layer at a time.
"""
import html

import numpy as np
from bokeh import palettes
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, CustomJS, Div, LinearColorMapper, Range1d, Select, Slider, TextInput
from bokeh.plotting import figure

from ..core.checks import checked_int, is_int
from ..core.images import resize, to_tensor
from . import plots
from .base import View
from .js import ENTER_COMMITS, ESCAPE

COLORS = palettes.Category10[10]
DROPPED = "#bbbbbb"
SELECTED = "#e45756"

# Copy the chosen layer's data into the shown sources; the chosen cluster is drawn large.
RENDER_JS = ESCAPE + """
const L = state.data.layer[0], s = store.data;
const K = s.weights[L].length, c = Math.min(state.data.cluster[0], Math.max(K - 1, 0));
const labels = s.labels[L], weights = s.weights[L];
heat.data = {image: [K ? s.maps[L][c] : blank]};
thumbs.data = {image: s.thumbs[L], x: weights.map((w, j) => j * step), cx: weights.map((w, j) => j * step + tw / 2),
               text: weights.map((w, j) => `${j + 1}` + (labels[j] ? `: ${labels[j]}` : "")),
               outline: weights.map((w, j) => j == c ? selected : "#ffffff")};
bars.data = {y: weights.map((w, j) => -j), weight: weights.map(w => 100 * w),
             text: weights.map((w, j) => `${(100 * w).toFixed(1)}%` + (labels[j] ? ` ${labels[j]}` : "")),
             color: weights.map((w, j) => colors[j % colors.length]), alpha: weights.map((w, j) => j == c ? 1 : 0.45)};
const pc = s.pc[L];
points.data = {x: s.px[L], y: s.py[L], cluster: pc.map(k => k < 0 ? "weak (dropped)" : String(k + 1)),
               channel: s.pchan[L], share: s.pshare[L],
               color: pc.map(k => k < 0 ? dropped : colors[k % colors.length]),
               size: pc.map(k => k == c && K ? 11 : 7)};
layer_info.text = s.info[L];
main.title.text = K ? `${s.name[L]}: cluster ${c + 1} of ${K}` : `${s.name[L]}: no cluster`;
cluster_info.text = K ? `<b>cluster ${c + 1}</b>: weight <b>${(100 * weights[c]).toFixed(1)}%</b> of the layer, ` +
  `${s.members[L][c]} maps; label: ${labels[c] ? "<b>" + escapeHtml(labels[c]) + "</b>" : "<i>not named yet</i>"}`
  : "No cluster in this layer: no map pushes the class up here.";
"""

LAYER_JS = """
const L = Math.round(cb_obj.value);
if (state.data.layer[0] != L) state.data = {layer: [L], cluster: [0]};
"""

# A click on a thumbnail (x) or on a bar (y) picks that cluster.
PICK_JS = """
const K = store.data.weights[state.data.layer[0]].length;
const j = axis == "x" ? Math.floor(cb_obj.x / step) : Math.round(-cb_obj.y);
if (j >= 0 && j < K) state.data = {layer: [state.data.layer[0]], cluster: [j]};
"""


def _fit(array, size):
    """An H x W or H x W x 3 array resized to ``size`` (antialiased bilinear), same number of dimensions."""
    flat = array.ndim == 2
    t = to_tensor(np.repeat(array[..., None], 3, -1) if flat else array)
    out = resize(t, tuple(size))[0].permute(1, 2, 0).numpy()
    return out[..., 0] if flat else out


def _shrunk(shape, side):
    """(h, w) of ``shape`` scaled so the longer side is at most ``side``."""
    h, w = shape[:2]
    scale = min(1.0, side / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def _unit(values):
    """Coordinates scaled into [0.05, 0.95] (the middle when they are all equal)."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return values
    lo, hi = values.min(), values.max()
    return 0.5 + 0 * values if hi <= lo else 0.05 + 0.9 * (values - lo) / (hi - lo)


class LayerExplorer(View):
    """Walk the layers of a :class:`~xviz.methods.layers.LayerExplanation`: cluster maps over the
    image, their weights, the embedded maps and their labels; name clusters in a notebook.

    Parameters
    ----------
    result : LayerExplanation
    width : int
        Width of the large image in pixels.
    thumb : int
        Width of a cluster thumbnail in pixels.
    max_side : int
        Cluster maps are shown (and stored in the HTML) at most this many pixels on a side.

    Examples
    --------
    >>> import xviz
    >>> from xviz.methods.layers import explain
    >>> lay = explain(xviz.zoo.digits_cnn(), xviz.zoo.image("digit-3"), progress=False)
    >>> view = LayerExplorer(lay)
    >>> view.layer, view.cluster
    ('features.3', 0)
    >>> view.layer = "features"
    >>> view.cluster = 1
    >>> view.name_cluster("upper curve")
    >>> lay["features"].clusters[1].label
    'upper curve'
    >>> view.to_html().startswith("<!DOCTYPE html>")
    True
    """

    title = "xviz layer clusters"

    def __init__(self, result, width=320, thumb=84, max_side=112):
        width = checked_int(width, "width (pixels)", 100, maximum=4000)
        from ..methods.layers import LayerExplanation

        if not isinstance(result, LayerExplanation):
            hint = "; show one image's result at a time, e.g. results[0]" if isinstance(result, (list, tuple)) else ""
            raise ValueError(f"LayerExplorer shows a LayerExplanation (xviz.layers.explain), "
                             f"got {type(result).__name__}{hint}")
        if not len(result):
            raise ValueError("this LayerExplanation has no layers to show")
        self.result = result
        self.names = list(result)
        self._sizes = {"width": width, "thumb": thumb, "max_side": max_side}
        self._last_typed = None
        self._build()
        super().__init__(self._layout)

    # -- data ---------------------------------------------------------------------------
    def _layer_data(self, lc):
        image = self.result.image
        small_image = _fit(image, self._thumb_size)
        maps, thumbs = [], []
        for c in lc.clusters:
            maps.append(np.ascontiguousarray(_fit(c.map, self._map_size)[::-1], dtype=np.float32))
            thumbs.append(plots.to_rgba(plots.blend(small_image, _fit(c.map, self._thumb_size), alpha=0.6)))
        c_, lh, lw = lc.shape
        tried = ", ".join(f"{k}: {s:.2f}" for k, s in lc.silhouette.items())
        layout = self.result.settings.get("layouts", {}).get(lc.layer)
        read = f", read as {html.escape(layout)}" if layout else ""
        info = (f"<b>{html.escape(lc.layer)}</b> (layer {lc.index + 1} of {len(self.names)}, relative depth "
                f"{lc.depth:.2f}{read}): {c_} maps of {lh} x {lw}; {len(lc.kept)} carry a share above the cut and were "
                f"clustered into k = {lc.k}" + (f" (silhouette {tried})" if tried else "") +
                f"; {len(lc.clusters)} clusters kept, {100 * lc.dropped:.1f}% of the weight in weak ones dropped.")
        shares = lc.shares[lc.kept] if len(lc.kept) else np.zeros(0)
        return {"name": lc.layer, "info": info, "maps": maps, "thumbs": thumbs,
                "weights": [float(c.weight) for c in lc.clusters], "labels": [c.label or "" for c in lc.clusters],
                "members": [int(len(c.members)) for c in lc.clusters],
                "px": _unit(lc.embedding[:, 0]).tolist(), "py": _unit(lc.embedding[:, 1]).tolist(),
                "pc": [int(a) for a in lc.assignment], "pchan": [int(k) for k in lc.kept],
                "pshare": [float(s) for s in shares]}

    def _store_data(self):
        rows = [self._layer_data(lc) for lc in self.result.values()]
        return {key: [r[key] for r in rows] for key in rows[0]}

    def _shown(self, L, c):
        """What the page shows for layer L and cluster c: the Python twin of RENDER_JS."""
        s = self.store.data
        weights, labels, K = s["weights"][L], s["labels"][L], len(s["weights"][L])
        c = min(c, max(K - 1, 0))
        step, tw = self._step, self._sizes["thumb"]
        pc = s["pc"][L]
        return {
            "heat": {"image": [s["maps"][L][c] if K else self._blank]},
            "thumbs": {"image": s["thumbs"][L], "x": [j * step for j in range(K)],
                       "cx": [j * step + tw / 2 for j in range(K)],
                       "text": [f"{j + 1}" + (f": {t}" if t else "") for j, t in enumerate(labels)],
                       "outline": [SELECTED if j == c else "#ffffff" for j in range(K)]},
            "bars": {"y": [-j for j in range(K)], "weight": [100 * w for w in weights],
                     "text": [f"{100 * w:.1f}%" + (f" {t}" if t else "") for w, t in zip(weights, labels)],
                     "color": [COLORS[j % len(COLORS)] for j in range(K)],
                     "alpha": [1 if j == c else 0.45 for j in range(K)]},
            # clusters are numbered from 1 on the page, as on the thumbnails and bars
            "points": {"x": s["px"][L], "y": s["py"][L], "channel": s["pchan"][L],
                       "cluster": ["weak (dropped)" if k < 0 else str(k + 1) for k in pc],
                       "share": s["pshare"][L], "color": [DROPPED if k < 0 else COLORS[k % len(COLORS)] for k in pc],
                       "size": [11 if k == c and K else 7 for k in pc]},
        }

    # -- building -----------------------------------------------------------------------
    def _build(self):
        res, width, tw = self.result, self._sizes["width"], self._sizes["thumb"]
        h, w = res.image.shape[:2]
        th = max(1, round(tw * h / w))
        self._thumb_size, self._map_size = (th, tw), _shrunk((h, w), self._sizes["max_side"])
        self._blank = np.full(self._map_size, np.nan, np.float32)  # a layer without clusters shows no heat
        self._step = tw + 8
        self.store = ColumnDataSource(self._store_data(), name="layer-store")
        self.state = ColumnDataSource({"layer": [0], "cluster": [0]}, name="layer-state")
        most = max(1, max(len(ws) for ws in self.store.data["weights"]))
        shown = self._shown(0, 0)

        self.main = plots.image_figure(res.image, title="", width=width)
        self.main.name = "cluster-main"
        self.heat = ColumnDataSource(shown["heat"], name="cluster-heat")
        self.mapper = LinearColorMapper(palette=palettes.Turbo256, low=0, high=1, nan_color=(0, 0, 0, 0))
        self.heat_renderer = self.main.image(image="image", source=self.heat, x=0, y=0, dw=w, dh=h,
                                             color_mapper=self.mapper, global_alpha=0.55, name="cluster-heatmap")

        self.thumbs = ColumnDataSource(shown["thumbs"], name="cluster-thumbs")
        self.thumb_figure = figure(width=most * self._step, height=th + 26, x_range=Range1d(0, most * self._step),
                                   y_range=Range1d(-2, th + 22), toolbar_location=None, tools="", min_border=0,
                                   title="cluster maps (click one)", name="cluster-grid")
        self.thumb_figure.axis.visible = False
        self.thumb_figure.grid.visible = False
        self.thumb_figure.image_rgba(image="image", x="x", y=0, dw=tw, dh=th, source=self.thumbs)
        self.thumb_figure.rect(x="cx", y=th / 2, width=tw, height=th, source=self.thumbs, fill_alpha=0,
                               line_color="outline", line_width=3)
        self.thumb_figure.text(x="x", y=th + 2, text="text", source=self.thumbs, text_font_size="8pt")

        self.bars = ColumnDataSource(shown["bars"], name="cluster-bars")
        top = max([w for ws in self.store.data["weights"] for w in ws] + [0.01])
        self.bar_figure = figure(width=most * self._step, height=40 + 24 * most, x_range=Range1d(0, 145 * top),
                                 y_range=Range1d(-most + 0.5, 0.5), toolbar_location=None, tools="",
                                 title="cluster weights (% of the layer's weight)",
                                 name="cluster-weights")
        self.bar_figure.hbar(y="y", right="weight", height=0.7, source=self.bars, color="color", fill_alpha="alpha")
        self.bar_figure.text(x="weight", y="y", text="text", source=self.bars, x_offset=4, text_baseline="middle",
                             text_font_size="8pt")
        self.bar_figure.yaxis.visible = False
        self.bar_figure.ygrid.visible = False

        self.points = ColumnDataSource(shown["points"], name="cluster-points")
        self.embedding_figure = figure(width=width, height=width, x_range=Range1d(0, 1), y_range=Range1d(0, 1),
                                       toolbar_location=None, tools="hover", name="cluster-embedding",
                                       title="maps embedded in 2-D (grey: weak clusters)",
                                       tooltips=[("map", "@channel"), ("cluster", "@cluster"),
                                                 ("share", "@share{0.000}")])
        self.embedding_figure.scatter("x", "y", source=self.points, color="color", size="size", alpha=0.8)
        self.embedding_figure.axis.visible = False
        self.embedding_figure.grid.visible = False

        self.layer_info = Div(text="", width=width, name="layer-info")
        self.cluster_info = Div(text="", width=most * self._step, name="cluster-info")
        self.label_input = TextInput(title="name the chosen cluster (Enter saves it)", placeholder="what does it show?",
                                     width=max(220, min(most * self._step, 360)), name="label-input")
        self.label_input.on_change("value", self._typed)
        self.label_input.js_on_change("value_input", CustomJS(code=ENTER_COMMITS))
        self.label_note = Div(text="<small>Labels are typed in a notebook; this page shows those saved with the "
                                   "result.</small>", visible=False, name="label-note")
        header = Div(text=f"<b>{html.escape(res.class_label)}</b> (class {res.target}, p = {res.score:.3f}): "
                          f"clusters of feature maps in {len(self.names)} layers", name="layer-header")

        self.render = CustomJS(args={"state": self.state, "store": self.store, "heat": self.heat,
                                     "thumbs": self.thumbs, "bars": self.bars, "points": self.points,
                                     "layer_info": self.layer_info, "cluster_info": self.cluster_info,
                                     "main": self.main, "blank": self._blank, "step": self._step, "tw": tw,
                                     "colors": list(COLORS), "dropped": DROPPED, "selected": SELECTED},
                               code=RENDER_JS)
        self.state.js_on_change("data", self.render)
        self.store.js_on_change("data", self.render)
        pick = {"state": self.state, "store": self.store, "step": self._step}
        self.thumb_figure.js_on_event("tap", CustomJS(args={**pick, "axis": "x"}, code=PICK_JS))
        self.bar_figure.js_on_event("tap", CustomJS(args={**pick, "axis": "y"}, code=PICK_JS))
        controls = [header]
        self.slider = None
        if len(self.names) > 1:
            self.slider = Slider(title="layer (shallow to deep)", start=0, end=len(self.names) - 1, step=1, value=0,
                                 width=width, name="layer-slider")
            self.slider.js_on_change("value", CustomJS(args={"state": self.state}, code=LAYER_JS))
            controls.append(self.slider)
        self._texts(0, 0)
        left = column(*controls, self.main, self.layer_info)
        right = column(self.thumb_figure, self.bar_figure, self.cluster_info, self.label_input, self.label_note,
                       self.embedding_figure)
        self._layout = row(left, right)

    def _texts(self, L, c):
        """The texts of RENDER_JS, from Python."""
        s = self.store.data
        weights, labels, K = s["weights"][L], s["labels"][L], len(s["weights"][L])
        c = min(c, max(K - 1, 0))
        self.layer_info.text = s["info"][L]
        self.main.title.text = f"{s['name'][L]}: cluster {c + 1} of {K}" if K else f"{s['name'][L]}: no cluster"
        if K:
            named = f"<b>{html.escape(labels[c])}</b>" if labels[c] else "<i>not named yet</i>"
            self.cluster_info.text = (f"<b>cluster {c + 1}</b>: weight <b>{100 * weights[c]:.1f}%</b> of the layer, "
                                      f"{s['members'][L][c]} maps; label: {named}")
        else:
            self.cluster_info.text = "No cluster in this layer: no map pushes the class up here."

    def _render(self):
        L, c = self.state.data["layer"][0], self.state.data["cluster"][0]
        shown = self._shown(L, c)
        self.heat.data, self.thumbs.data = shown["heat"], shown["thumbs"]
        self.bars.data, self.points.data = shown["bars"], shown["points"]
        self._texts(L, c)

    # -- naming clusters (live notebooks) -------------------------------------------------
    def _typed(self, attr, old, new):
        """The text box's callback: name the chosen cluster. Idempotent: run again with the same
        value (as jupyter_bokeh, the former host, did), it changes nothing."""
        text = (new or "").strip()
        if not text:
            return
        try:
            self.name_cluster(text)
        except ValueError as err:  # a layer without clusters: say so where the user looks
            self.cluster_info.text = html.escape(str(err))
        self.label_input.value = ""  # ready for the next name; the empty value is ignored above

    def name_cluster(self, text):
        """Name the chosen cluster (None or "" clears it): ``result.label(layer, cluster, text)``, shown at once."""
        L, c = self.state.data["layer"][0], self.state.data["cluster"][0]
        lc = self.result[L]
        current = lc.clusters[c].label if c < len(lc.clusters) else None
        self.result.label(L, c, text)  # raises for a layer without clusters
        if lc.clusters[c].label == current:
            return
        labels = list(self.store.data["labels"][L])
        labels[c] = lc.clusters[c].label or ""
        # A patch sends this layer's names only; assigning the data would resend every
        # layer's maps and thumbnails (megabytes for a photo model) for each name typed.
        self.store.patch({"labels": [(L, labels)]})
        self._render()

    # -- state a notebook or a test can read and set ------------------------------------
    @property
    def layer(self):
        """The shown layer's name; set it with a name or an index."""
        return self.names[self.state.data["layer"][0]]

    @layer.setter
    def layer(self, key):
        try:
            L = self.names.index(self.result[key].layer)
        except KeyError:
            raise ValueError(f"no layer {key!r}; this view shows {', '.join(self.names)}") from None
        self.state.data = {"layer": [L], "cluster": [0]}
        if self.slider is not None:
            self.slider.value = L
        self._render()

    @property
    def cluster(self):
        """The chosen cluster's index in the shown layer (0 = heaviest)."""
        return self.state.data["cluster"][0]

    @cluster.setter
    def cluster(self, index):
        L = self.state.data["layer"][0]
        count = len(self.store.data["weights"][L])
        if not is_int(index) or not 0 <= index < count:
            raise ValueError(f"layer {self.names[L]!r} has no cluster {index!r}; it has {count} (0..{count - 1})")
        self.state.data = {"layer": [L], "cluster": [int(index)]}
        self._render()

    def to_html(self, path=None):
        """Standalone HTML: layers, clusters and labels stay browsable; naming needs a notebook."""
        self.label_input.visible, self.label_note.visible = False, True
        try:
            return super().to_html(path)
        finally:
            self.label_input.visible, self.label_note.visible = True, False


class GlobalLabelsView(View):
    """The label scores of a :class:`~xviz.methods.layers.GlobalExplanation`, one class or layer at a time.

    Examples
    --------
    >>> import xviz
    >>> from xviz.methods.layers import aggregate, explain
    >>> lay = explain(xviz.zoo.digits_cnn(), xviz.zoo.image("digit-0"), progress=False)
    >>> lay.label("features", 0, "ring")
    >>> view = GlobalLabelsView(aggregate(lay, text_model="words"))
    >>> view.key, view.labels
    ('class: 0', ['ring'])
    """

    title = "xviz global labels"

    def __init__(self, glob, top=10, width=420):
        width = checked_int(width, "width (pixels)", 100, maximum=4000)
        self.glob = glob
        table = {}
        for by in ("class", "layer"):
            for key, scores in glob.scores(by).items():
                items = list(scores.items())[:top][::-1]
                table[f"{by}: {key}"] = {"label": [k for k, _ in items], "score": [float(v) for _, v in items]}
        self.table = table or {"no labels yet": {"label": [], "score": []}}
        self.keys = list(self.table)
        self.bars = ColumnDataSource(self._bars(self.keys[0]), name="global-bars")
        most = max(1, max(len(v["label"]) for v in self.table.values()))
        high = max([max(v["score"], default=0) for v in self.table.values()] + [1e-9])
        self.figure = figure(width=width, height=60 + 24 * most, x_range=Range1d(0, high * 1.3),
                             y_range=Range1d(-0.5, most - 0.5), toolbar_location=None, tools="",
                             title="label scores: summed cluster weights", name="global-figure")
        self.figure.hbar(y="y", right="score", height=0.7, source=self.bars, color="#4c78a8")
        self.figure.text(x="score", y="y", text="text", source=self.bars, x_offset=4, text_baseline="middle",
                         text_font_size="9pt")
        self.figure.yaxis.visible = False
        self.figure.ygrid.visible = False
        self.select = Select(title="per class or per layer", value=self.keys[0], options=self.keys, name="global-key")
        self.select.js_on_change("value", CustomJS(args={"bars": self.bars, "table": {
            k: self._bars(k) for k in self.keys}}, code="bars.data = table[cb_obj.value];"))
        info = Div(text=f"{glob.images} images, {len(glob.groups)} label groups (grouped by {glob.text_model})")
        super().__init__(column(info, self.select, self.figure))

    def _bars(self, key):
        rows = self.table[key]
        return {"y": list(range(len(rows["label"]))), "score": rows["score"],
                "text": [f"{label} {score:.2f}" for label, score in zip(rows["label"], rows["score"])]}

    @property
    def key(self):
        """The shown class or layer, as ``"class: NAME"`` or ``"layer: NAME"``; settable."""
        return self.select.value

    @key.setter
    def key(self, key):
        if key not in self.table:
            raise ValueError(f"no {key!r} in this view; choose one of {', '.join(self.keys)}")
        self.select.value = key
        self.bars.data = self._bars(key)

    @property
    def labels(self):
        """The shown labels, best first."""
        return self.table[self.key]["label"][::-1]
