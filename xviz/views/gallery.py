"""Gallery: browse a store of a dataset's explanations, a grid of heatmap thumbnails.

Filter by method, class and right / wrong, sort by position, confidence, deletion or
insertion AUC, or by how much the methods disagree on the image; page through. Clicking a
thumbnail shows it large with its numbers and, with a kernel, opens the image's own view
below (a :class:`~xviz.HeatmapView` of every heatmap method of that image, or the
:class:`~xviz.SAGExplorer` of its SAG), read from the store. The filtering, sorting and
paging run in the page (one small CustomJS over a table of the rows), so the exported HTML
browses the store with no kernel; :meth:`Gallery.visible` does the same in Python.
"""
import base64
import html

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, CustomJS, Div, HoverTool, Range1d, Select, Slider
from bokeh.plotting import figure
from bokeh.transform import dodge

from ..core.checks import checked_int
from ..dataset import Store, disagreement
from ..dataset.store import SCALARS
from .base import View
from .js import ESCAPE

SORTS = {"position": "index", "confidence": "confidence", "deletion AUC": "deletion_auc",
         "insertion AUC": "insertion_auc", "disagreement": "disagreement"}
SHOWN = ("all", "correct", "wrong")

# Which rows are shown, in which order, on which page; drawn into ``cells`` (and the count).
# Python's Gallery.visible() computes the same list.
RENDER_JS = ESCAPE + """
const t = table.data, n = t.image_id.length, key = sorts[sort.value], down = order.value == "descending";
const rows = [];
for (let i = 0; i < n; i++) {
  if (t.method[i] != method.value) continue;
  if (klass.value != "all" && t.klass[i] != klass.value) continue;
  if (shown.value == "correct" && t.correct[i] !== 1) continue;
  if (shown.value == "wrong" && t.correct[i] !== 0) continue;
  rows.push(i);
}
const value = (i) => { const v = t[key][i]; return (v === null || Number.isNaN(v)) ? null : v; };
rows.sort((a, b) => {
  const va = value(a), vb = value(b);
  if (va === null || vb === null) return va === vb ? t.index[a] - t.index[b] : (va === null ? 1 : -1);
  if (va != vb) return down ? vb - va : va - vb;
  return t.index[a] - t.index[b];
});
const pages = Math.max(1, Math.ceil(rows.length / per_page));
page.end = Math.max(pages, 2); page.disabled = pages < 2;
const at = Math.min(Math.round(page.value), pages) - 1, chosen = rows.slice(at * per_page, (at + 1) * per_page);
const out = {url: [], x: [], y: [], row: [], image_id: [], caption: [], info: []};
chosen.forEach((i, k) => {
  out.url.push(t.url[i]); out.x.push(k % cols); out.y.push(-Math.floor(k / cols)); out.row.push(i);
  out.image_id.push(t.image_id[i]); out.caption.push(t.caption[i]); out.info.push(t.info[i]);
});
cells.data = out;
count.text = `<b>${rows.length}</b> of ${new Set(t.image_id).size} images (${escapeHtml(method.value)}), ` +
  `page ${at + 1} of ${pages}`;
"""

TAP_JS = """
const c = Math.floor(cb_obj.x), r = Math.floor(-cb_obj.y), k = r * cols + c;
if (c < 0 || c >= cols || k < 0 || k >= cells.data.row.length) return;
const i = cells.data.row[k];
state.data = {image_id: [table.data.image_id[i]], method: [table.data.method[i]]};
big.data = {url: [table.data.url[i]]};
info.text = table.data.info[i];
"""


def _url(png):
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii") if png else ""


def _number(value, digits=3):
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def _info(r):
    truth = "" if r["label"] is None else f"true class <b>{html.escape(str(r['label']))}</b>, "
    mark = "" if r["correct"] is None else (" (right)" if r["correct"] else " (<b>wrong</b>)")
    return (f"<b>{html.escape(r['image_id'])}</b>, {html.escape(r['method'])}: {truth}predicted "
            f"<b>{html.escape(str(r['prediction_label']))}</b>{mark} with p = {_number(r['confidence'])}; "
            f"explained {html.escape(str(r['target_label']))}; deletion AUC {_number(r['deletion_auc'])}, "
            f"insertion AUC {_number(r['insertion_auc'])}; disagreement {_number(r['disagreement'], 2)}")


class Gallery(View):
    """A grid of a store's heatmap thumbnails to filter, sort and open.

    Parameters
    ----------
    store : xviz.dataset.Store or path
        A store made by :func:`xviz.dataset.explain` (with thumbnails, its default).
    clf : xviz.Classifier, optional
        The store's model: the opened HeatmapView then has deletion / insertion curves,
        and the SAGExplorer scores new subsets.
    columns : int
        Thumbnails per row.
    per_page : int
        Thumbnails per page.
    cell : int
        Pixels per thumbnail.
    limit : int
        At most this many images are loaded (the first ones), to keep a page (and an
        exported file) light: every thumbnail travels as a PNG.

    Examples
    --------
    >>> import tempfile, xviz
    >>> from xviz import dataset
    >>> d = xviz.zoo.digits("test")
    >>> store = dataset.explain(xviz.zoo.digits_cnn(), (d.images[:6], d.labels[:6]), ["gradcam", "ig"],
    ...                         store=tempfile.mkdtemp() + "/s", metrics={"grid": 8}, progress=False)
    >>> gallery = Gallery(store)
    >>> gallery.set(method="ig", sort="insertion AUC")
    >>> ids = gallery.visible()
    >>> len(ids), type(gallery.open(ids[0])).__name__
    (6, 'HeatmapView')
    >>> gallery.to_html().startswith("<!DOCTYPE html>")
    True
    """

    title = "xviz gallery"

    def __init__(self, store, clf=None, columns=8, per_page=48, cell=84, limit=2000):
        self.store = store if isinstance(store, Store) else Store(store, clf)
        self.clf = clf if clf is not None else self.store.clf
        self.columns = checked_int(columns, "columns", 1, maximum=40)
        self.per_page = checked_int(per_page, "per_page", 1, maximum=1000)
        self.cell = checked_int(cell, "cell (pixels)", 16, maximum=400)
        self.limit = checked_int(limit, "limit (images)", 1)
        self.rows = self._load()
        self.opened, self.view = None, None
        self._build()
        super().__init__(self._layout, on_load=self.render)

    # -- data ---------------------------------------------------------------------------
    def _load(self):
        names = [n for n, _ in SCALARS] + ["thumbnail"]
        table = self.store.table(names)
        keep = set(list(dict.fromkeys(table.column("image_id").to_pylist()))[:self.limit])
        rows = [r for r in table.to_pylist() if r["image_id"] in keep and r["error"] is None and r["thumbnail"]]
        heatmaps = [m for m in self.store.methods if m != "sag"]
        spread = disagreement(self.store, heatmaps) if len(heatmaps) > 1 else None
        by_image = {} if spread is None else dict(zip(spread.image_id, spread.disagreement))
        for r in rows:
            r["disagreement"] = by_image.get(r["image_id"], float("nan"))
            r["klass"] = r["label"] if r["label"] is not None else r["target_label"]
        return rows

    def _build(self):
        rows, methods = self.rows, self.store.methods
        classes = sorted({r["klass"] for r in rows}, key=lambda c: (len(str(c)), str(c)))
        nan = float("nan")
        self.table = ColumnDataSource({
            "image_id": [r["image_id"] for r in rows], "index": [r["index"] for r in rows],
            "method": [r["method"] for r in rows], "klass": [str(r["klass"]) for r in rows],
            "correct": [-1 if r["correct"] is None else int(r["correct"]) for r in rows],
            **{key: [nan if r[key] is None else float(r[key]) for r in rows]
               for key in ("confidence", "deletion_auc", "insertion_auc", "disagreement")},
            "url": [_url(r["thumbnail"]) for r in rows],
            "caption": [f"{r['prediction_label']} {_number(r['confidence'], 2)}" for r in rows],
            "info": [_info(r) for r in rows]}, name="gallery-table")
        self.method_select = Select(title="method", value=methods[0], options=methods, width=140, name="gallery-method")
        self.class_select = Select(title="class", value="all", options=["all"] + [str(c) for c in classes], width=120,
                                   name="gallery-class")
        self.shown_select = Select(title="show", value="all", options=list(SHOWN), width=100, name="gallery-shown")
        self.sort_select = Select(title="sort by", value="position", options=list(SORTS), width=140, name="gallery-sort")
        self.order_select = Select(title="order", value="ascending", options=["ascending", "descending"], width=120,
                                   name="gallery-order")
        pages = max(1, -(-len({r["image_id"] for r in rows}) // self.per_page))
        self.page_slider = Slider(title="page", start=1, end=max(pages, 2), step=1, value=1, width=200,
                                  disabled=pages < 2, name="gallery-page")
        self.cells = ColumnDataSource({k: [] for k in ("url", "x", "y", "row", "image_id", "caption", "info")},
                                      name="gallery-cells")
        self.count = Div(text="", width=600, name="gallery-count")
        self.grid = self._grid()
        self.big = ColumnDataSource({"url": [""]}, name="gallery-big")
        self.info = Div(text="Click a thumbnail.", width=300, name="gallery-info")
        self.state = ColumnDataSource({"image_id": [""], "method": [""]}, name="gallery-state")
        self.render = CustomJS(args={"table": self.table, "cells": self.cells, "count": self.count,
                                     "method": self.method_select, "klass": self.class_select,
                                     "shown": self.shown_select, "sort": self.sort_select,
                                     "order": self.order_select, "page": self.page_slider, "sorts": SORTS,
                                     "per_page": self.per_page, "cols": self.columns}, code=RENDER_JS)
        for widget in (self.method_select, self.class_select, self.shown_select, self.sort_select, self.order_select):
            widget.js_on_change("value", CustomJS(args={"page": self.page_slider}, code="page.value = 1;"))
            widget.js_on_change("value", self.render)
        self.page_slider.js_on_change("value", self.render)
        self.grid.js_on_event("tap", CustomJS(args={"cells": self.cells, "table": self.table, "state": self.state,
                                                    "big": self.big, "info": self.info, "cols": self.columns},
                                              code=TAP_JS))
        self.state.on_change("data", lambda attr, old, new: self._opened_in_page())
        self.detail = column(Div(text=""), name="gallery-detail")
        controls = row(self.method_select, self.class_select, self.shown_select, self.sort_select, self.order_select,
                       self.page_slider)
        header = Div(text=self._header(), width=900)
        self._layout = column(header, controls, self.count, row(self.grid, column(self._big_figure(), self.info)),
                              self.detail)
        self._draw()

    def _header(self):
        m = self.store.manifest
        failed = self.store.to_pandas(["error"]).error.notna().sum()
        return (f"<b>{html.escape(m['model'])}</b>: {len(self.store)} images, methods "
                f"{html.escape(', '.join(self.store.methods))}" + (f"; <b>{failed}</b> rows failed" if failed else "")
                + ". Click a thumbnail to open it.")

    def _grid(self):
        rows = -(-self.per_page // self.columns)
        fig = figure(width=self.columns * self.cell, height=rows * (self.cell + 14), x_range=Range1d(0, self.columns),
                     y_range=Range1d(-rows, 0.02), toolbar_location=None, tools="", min_border=0, name="gallery-grid")
        fig.axis.visible = False
        fig.grid.visible = False
        fig.image_url(url="url", x="x", y="y", w=0.94, h=0.82, anchor="top_left", source=self.cells)
        fig.text(x="x", y="y", text="caption", source=self.cells, y_offset=round(0.84 * (self.cell + 14)),
                 text_font_size="8pt", text_baseline="top")
        # a transparent square per cell, for the tooltip (image_url glyphs are not hit-tested)
        hit = fig.rect(x=dodge("x", 0.5), y=dodge("y", -0.5), width=1, height=1, source=self.cells, fill_alpha=0,
                       line_alpha=0)
        fig.add_tools(HoverTool(renderers=[hit], tooltips="<div style='max-width:280px'>@info{safe}</div>",
                                anchor="top_left"))
        return fig

    def _big_figure(self):
        side = 260
        fig = figure(width=side, height=side, x_range=Range1d(0, 1), y_range=Range1d(0, 1), toolbar_location=None,
                     tools="", min_border=0, name="gallery-large")
        fig.axis.visible = False
        fig.grid.visible = False
        fig.image_url(url="url", source=self.big, x=0, y=1, w=1, h=1, anchor="top_left")
        return fig

    # -- the same choice as the page, in Python -------------------------------------------
    def visible(self):
        """The image ids the grid shows now, in order (the page's RENDER_JS, in Python)."""
        key, down = SORTS[self.sort_select.value], self.order_select.value == "descending"
        rows = [(i, r) for i, r in enumerate(self.rows) if r["method"] == self.method_select.value
                and (self.class_select.value == "all" or str(r["klass"]) == self.class_select.value)
                and (self.shown_select.value != "correct" or r["correct"] is True)
                and (self.shown_select.value != "wrong" or r["correct"] is False)]

        def value(r):
            v = r[key]
            return None if v is None or (isinstance(v, float) and np.isnan(v)) else v

        known = sorted((r for _, r in rows if value(r) is not None),
                       key=lambda r: ((-value(r) if down else value(r)), r["index"]))
        unknown = sorted((r for _, r in rows if value(r) is None), key=lambda r: r["index"])
        ordered = known + unknown
        pages = max(1, -(-len(ordered) // self.per_page))
        at = min(int(self.page_slider.value), pages) - 1
        return [r["image_id"] for r in ordered[at * self.per_page:(at + 1) * self.per_page]]

    def set(self, method=None, klass=None, shown=None, sort=None, order=None, page=None):
        """Choose what the grid shows, as the page's controls do (None: leave as it is)."""
        for value, widget, options in ((method, self.method_select, self.store.methods),
                                       (klass, self.class_select, self.class_select.options),
                                       (shown, self.shown_select, SHOWN), (sort, self.sort_select, list(SORTS)),
                                       (order, self.order_select, ["ascending", "descending"])):
            if value is not None:
                if str(value) not in options:
                    raise ValueError(f"{widget.title} must be one of {', '.join(map(str, options))}, got {value!r}")
                widget.value = str(value)
        self.page_slider.value = 1 if page is None else checked_int(page, "page", 1)
        self._draw()

    def _draw(self):
        """Fill ``cells`` from Python as RENDER_JS does in the page (for the first display)."""
        ids = self.visible()
        by_key = {(r["image_id"], r["method"]): i for i, r in enumerate(self.rows)}
        chosen = [by_key[(k, self.method_select.value)] for k in ids]
        t = self.table.data
        self.cells.data = {"url": [t["url"][i] for i in chosen], "x": [k % self.columns for k in range(len(chosen))],
                           "y": [-(k // self.columns) for k in range(len(chosen))], "row": chosen,
                           "image_id": [t["image_id"][i] for i in chosen], "caption": [t["caption"][i] for i in chosen],
                           "info": [t["info"][i] for i in chosen]}

    # -- opening an image ------------------------------------------------------------------
    def _opened_in_page(self):
        image_id, method = self.state.data["image_id"][0], self.state.data["method"][0]
        if image_id and (image_id, method) != self.opened:  # a change may arrive twice: open once
            self.open(image_id, method)

    def open(self, image_id, method=None):
        """Open one image's view below the grid: the HeatmapView of its heatmaps (every
        heatmap method of the store, the chosen one first), or the SAGExplorer of its SAG.
        Returns the view."""
        from .heatmap import HeatmapView
        from .sag import SAGExplorer

        method = method or self.method_select.value
        if method == "sag":
            view = SAGExplorer(self.store.result(image_id, "sag"), clf=self.clf)
        else:
            others = [m for m in self.store.methods if m not in ("sag", method)]
            results = [self.store.result(image_id, method)]
            results += [r for m in others for r in self._result_or_none(image_id, m)]
            metrics = self.store.manifest.get("metrics") or {}
            view = HeatmapView(results, clf=self.clf, **metrics)
        self.opened, self.view = (image_id, method), view
        self.state.data = {"image_id": [image_id], "method": [method]}
        row_ = next(r for r in self.rows if r["image_id"] == image_id and r["method"] == method)
        self.big.data = {"url": [_url(row_["thumbnail"])]}
        self.info.text = _info(row_)
        self.detail.children = [Div(text=f"<b>{html.escape(image_id)}</b>: {html.escape(method)}"), view.layout]
        return view

    def _result_or_none(self, image_id, method):
        try:
            return [self.store.result(image_id, method)]
        except ValueError:  # that method failed on this image
            return []
