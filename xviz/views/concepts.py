"""ConceptBoard: an XNN's concepts side by side, and what each adds to a class's logit for two images.

Every image travels once as a JPEG data URL and every (image, concept) heatmap once as a
small uint8 array; the browser lays the chosen heatmap over the chosen photo with a colour
map, so nothing is blended per choice and the exported HTML stays interactive with no
kernel. All texts and bar values are computed in Python and shipped in the data sources: the
CustomJS callbacks only copy, so the page and the Python properties show exactly the same.
"""
import html

import numpy as np
from bokeh import palettes
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, CustomJS, Div, FactorRange, LinearColorMapper, Range1d, Select, Slider, Span
from bokeh.plotting import figure

from ..core.checks import checked_int, is_int
from . import plots
from .base import View
from .summary import jpeg

COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#9d755d", "#eeca3b", "#ff9da6", "#bab0ac")
SELECTED = "#e45756"
BIAS = "#888888"
HEAT_SIDE = 112    # heatmaps are stored at most this many pixels on a side (they come from coarse maps)
PHOTO_SIDE = 128   # smaller photos are enlarged to this before JPEG coding (no blocky chroma when zoomed)
THUMB = 84         # side of an example in a concept column, in screen pixels
HEAD = 42          # height of a column's header, in screen pixels
CAPTION = 15       # height of the caption under each example
GAP = 12           # space between columns
OPACITY = 0.8      # a heatmap pixel of value v covers its photo with opacity OPACITY * v


def _fading(palette):
    """The colour map with an alpha ramp: low values clear, so the photo shows where a concept is absent."""
    return [f"{colour}{round(255 * n / (len(palette) - 1)):02x}" for n, colour in enumerate(palette)]


# Copy the chosen class, concept and images out of the stores into the shown sources.
RENDER_JS = """
const s = state.data, c = s.klass[0], j = s.concept[0], k = heads.data.x.length;
heads.data = {...heads.data, weight: weights[c], alpha: heads.data.x.map((_, n) => n == j ? 0.8 : 0.18)};
mark.data = {left: [heads.data.left[j]], right: [heads.data.right[j]], bottom: [mark_y[0]], top: [mark_y[1]]};
for (let p = 0; p < 2; p++) {
  const i = s[keys[p]][0];
  photos[p].data = {url: [store.data.photo[i]]};
  heats[p].data = {image: [maps.data.image[i * k + j]]};
  bars[p].data = {x: factors, top: store.data.values[i][c], text: store.data.texts[i][c],
                  baseline: store.data.baselines[i][c], color: bar_colors,
                  offset: store.data.baselines[i][c].map(b => b == "top" ? 3 : -3),
                  alpha: factors.map((_, n) => n == j ? 1 : (n < k ? 0.45 : 0.8)),
                  line: factors.map((_, n) => n == j ? selected : bar_colors[n])};
  infos[p].text = store.data.info[i][c];
  pictures[p].title.text = store.data.title[i][j];
  charts[p].title.text = chart_titles[c];
}
"""

TAP_JS = """
const j = Math.floor(cb_obj.x / step);
if (j >= 0 && j < count && state.data.concept[0] != j) state.data = {...state.data, concept: [j]};
"""

SELECT_JS = """
const i = cb_obj.options.indexOf(cb_obj.value);
if (i >= 0 && state.data[key][0] != i) state.data = {...state.data, [key]: [i]};
"""


def _resized(array, size):
    """An H x W (x 3) array in [0, 1] as uint8, resized to ``size`` = (h, w) (bilinear, antialiased)."""
    from PIL import Image

    pixels = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    if pixels.shape[:2] == tuple(size):
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((size[1], size[0]), Image.BILINEAR))


def strength(activations, reference):
    """How strongly each image shows each concept, in [0, 1]: its activation over the
    concept's strongest activation (``reference``, one per concept). A concept heatmap is
    scaled to [0, 1] on every image, so it is shown times this strength: a concept that is
    absent from an image does not paint a full-strength map over it."""
    return np.clip(np.asarray(activations) / np.maximum(np.asarray(reference), 1e-12), 0, 1)


def _fit(shape, side, grow=False):
    """(h, w) of ``shape`` scaled so that its longer side is ``side`` (only shrunk unless ``grow``)."""
    h, w = shape[:2]
    scale = side / max(h, w)
    if scale >= 1 and not grow:
        return h, w
    return max(1, round(h * scale)), max(1, round(w * scale))


def _ranked(activations, n):
    """Indices of the n images that activate each concept most: k x n (as xviz.xnn keeps them)."""
    n = min(n, len(activations))
    return np.argsort(-activations, axis=0, kind="stable")[:n].T


def _signed(value):
    return f"{value:+.2f}"


def _quote(label):
    """A class label in quotes, for HTML texts."""
    return f"'{html.escape(label, quote=False)}'"


class ConceptBoard(View):
    """The concepts of an :class:`~xviz.methods.xnn.XNN` side by side, and what each adds to a
    class's logit for a chosen image, compared with a second image.

    Each column is one concept: its header gives the concept's head weight for the chosen class
    (how much one unit of the concept adds to that class's logit), then its top examples with
    the concept's heatmap over them. Click a column to choose that concept. Below, the chosen
    image with the chosen concept's heatmap and a bar per concept of its contribution to the
    chosen class's logit (plus the head's bias; the bars sum to the concept head's logit),
    and beside it a second image to compare with, on the same scale. A heatmap's strength
    follows the concept's activation on that image against its strongest activation
    (:func:`strength`): a concept absent from an image leaves it clear.

    Parameters
    ----------
    model : xviz.methods.xnn.XNN
        A fitted explanation network (:func:`xviz.xnn.fit`).
    images : image or list of images, optional
        Images to explain with ``model.explain`` and choose from (any form ``clf.prepare``
        accepts). By default the model's stored examples (``model.examples``).
    width : int, optional
        Width of each of the two large images and their bar charts, in pixels (default 280).

    Attributes
    ----------
    klass, concept, image, other
        The chosen class (label), concept, image and image to compare with; settable, and the
        page follows (as it does when they are chosen in the page).
    bars, other_bars : bokeh.models.ColumnDataSource
        The two bar charts' data: ``top`` holds the k contributions and the bias.
    heats, photos : list of ColumnDataSource
        The heatmap (uint8, rows bottom-up) and photo shown on each of the two images.

    Notes
    -----
    Integers given to :attr:`klass` are taken as class ids when they are one of
    ``model.classes``, otherwise as indices into ``model.classes``; a string is a label.

    The exported HTML holds BokehJS (about 1.8 MB), each image once as a JPEG, and one
    heatmap of at most 112 x 112 bytes per image and concept: 16 images of 224 x 224 with 4
    concepts come to about 3 MB. Give ``images=`` a few dozen images, not hundreds.

    Examples
    --------
    >>> import numpy as np
    >>> import xviz
    >>> from xviz.views.concepts import ConceptBoard
    >>> clf = xviz.zoo.digits_cnn()
    >>> model = xviz.xnn.fit(clf, xviz.zoo.digits("train"), classes=[3, 5, 8], epochs=100, progress=False)
    >>> board = ConceptBoard(model)
    >>> board.concept, board.image, board.other
    (0, 0, 1)
    >>> board.klass == model.class_labels[model.examples.model_predicted[0]]
    True
    >>> board.klass = "8"
    >>> board.concept = 2
    >>> board.klass, board.concept
    ('8', 2)
    >>> bool(np.allclose(board.bars.data["top"][:-1], model.examples.contributions[0, 2]))
    True
    >>> board.to_html().startswith("<!DOCTYPE html>")
    True
    """

    title = "xviz concept board"

    def __init__(self, model, images=None, width=None):
        width = checked_int(width, "width (pixels)", 100, none="the default", maximum=4000)
        from ..methods.xnn import XNN

        if not isinstance(model, XNN):
            raise ValueError(f"ConceptBoard shows an XNN (xviz.xnn.fit), got {type(model).__name__}")
        width = 280 if width is None else width
        if not is_int(width) or width < 120:
            raise ValueError(f"width must be an int of at least 120 (pixels), got {width!r}")
        if images is None:
            if model.examples is None:
                raise ValueError("this XNN keeps no example images (model.examples is None): give images= to explain")
            ex = model.examples
        else:
            if isinstance(images, (list, tuple)) and not len(images):
                raise ValueError("images= is empty: give at least one image, or None for the model's examples")
            ex = model.explain(images)
        self.model, self.explanation = model, ex
        # The columns show the model's own top examples; a model without them ranks the board's images.
        self.column_examples = model.examples if model.examples is not None else ex
        per_concept = int(model.settings.get("examples", 4))
        self.top = np.asarray(model.top if model.examples is not None else _ranked(ex.activations, per_concept))
        self.n_images, self.n_concepts = ex.activations.shape
        self.labels = list(model.class_labels)
        self.weights = model.class_weights().detach().cpu().numpy()  # m x k, logit units
        # Each concept's strongest activation among the top examples and the shown images.
        self.reference = np.maximum(self.column_examples.activations.max(0), ex.activations.max(0))
        self.width = int(width)
        self._build()
        super().__init__(self._layout)
        other = 1 if self.n_images > 1 else 0
        self._set(klass=int(ex.model_predicted[0]), concept=0, image=0, other=other)

    # -- data -----------------------------------------------------------------------------
    def _store(self):
        """Per board image: its photo, and per class the bar values, their texts and the text line."""
        ex, k, m = self.explanation, self.n_concepts, len(self.labels)
        H, W = ex.images.shape[1:3]
        photo_size = _fit((H, W), PHOTO_SIDE, grow=True) if max(H, W) < PHOTO_SIDE else (H, W)
        values = [[[float(v) for v in ex.contributions[i, c]] + [float(ex.bias[c])] for c in range(m)]
                  for i in range(self.n_images)]
        heat_size = _fit((H, W), HEAT_SIDE)
        strong = strength(ex.activations, self.reference)
        shown = ex.heatmaps * strong[..., None, None]
        self._maps = [np.ascontiguousarray(_resized(shown[i, j], heat_size)[::-1])
                      for i in range(self.n_images) for j in range(k)]
        return {"photo": [jpeg(_resized(im, photo_size)) for im in ex.images],
                "values": values,
                "texts": [[[_signed(v) for v in vs] for vs in per] for per in values],
                "baselines": [[["bottom" if v >= 0 else "top" for v in vs] for vs in per] for per in values],
                "info": [[self._info(i, c) for c in range(m)] for i in range(self.n_images)],
                # short enough for the picture's width: "image 0: concept 1, activation 7.16 (100% of max)"
                "title": [[f"image {i}: concept {j + 1}, activation {ex.activations[i, j]:.2f} "
                           f"({100 * strong[i, j]:.0f}% of max)"
                           for j in range(k)] for i in range(self.n_images)],
                "option": self._options()}

    def _options(self):
        ex = self.explanation
        return [f"{i}: classifier says {self.labels[p]}" for i, p in enumerate(ex.model_predicted)]

    def _info(self, i, c):
        ex, label = self.explanation, self.labels[c]
        head, clf = self.labels[ex.predicted[i]], self.labels[ex.model_predicted[i]]
        verdict = "they agree" if head == clf else f"<span style='color:{SELECTED}'>they disagree</span>"
        return (f"Logit of {_quote(label)}: concept head <b>{ex.logits[i, c]:.2f}</b> (the sum of the bars), "
                f"classifier <b>{ex.model_logits[i, c]:.2f}</b>. Predicted: head <b>{_quote(head)}</b>, "
                f"classifier <b>{_quote(clf)}</b> ({verdict}).")

    # -- building -----------------------------------------------------------------------
    def _build(self):
        k = self.n_concepts
        self.store = ColumnDataSource(self._store(), name="concepts-store")
        self.maps = ColumnDataSource({"image": self._maps}, name="concepts-maps")
        self.state = ColumnDataSource({"klass": [0], "concept": [0], "image": [0], "other": [0]},
                                      name="concepts-state")
        self.factors = [str(j + 1) for j in range(k)] + ["bias"]
        self.bar_colors = [COLORS[j % len(COLORS)] for j in range(k)] + [BIAS]
        self.chart_titles = [f"contributions to the logit of '{label}'" for label in self.labels]
        board = self._board()
        self.mapper = LinearColorMapper(palette=_fading(palettes.Turbo256), low=0, high=255)
        panels, self.selects, self.pictures, self.photos, self.heats, self.heat_renderers = [], [], [], [], [], []
        self.charts, self.bar_sources, self.infos = [], [], []
        y_range = self._y_range()  # one range object: both charts always on the same scale
        for p, (key, title) in enumerate((("image", "chosen image"), ("other", "compare with"))):
            panels.append(self._panel(p, key, title, y_range))
        self.bars, self.other_bars = self.bar_sources
        self.opacity_slider = Slider(title="heatmap opacity (large images)", start=0, end=1, step=0.05, value=OPACITY,
                                     width=self.width, name="concepts-opacity")
        for r in self.heat_renderers:
            self.opacity_slider.js_link("value", r.glyph, "global_alpha")
        self.class_select = Select(title="class", value=self.labels[0], options=self.labels, width=160,
                                   name="concepts-class")
        self.class_select.js_on_change("value", CustomJS(args={"state": self.state, "key": "klass"}, code=SELECT_JS))
        self.render = CustomJS(args={
            "state": self.state, "store": self.store, "maps": self.maps, "heads": self.heads, "mark": self.mark,
            "mark_y": self._mark_y, "weights": self._weight_texts, "keys": ["image", "other"], "photos": self.photos,
            "heats": self.heats, "bars": self.bar_sources, "infos": self.infos, "pictures": self.pictures,
            "charts": self.charts, "chart_titles": self.chart_titles, "factors": self.factors,
            "bar_colors": self.bar_colors, "selected": SELECTED}, code=RENDER_JS)
        self.state.js_on_change("data", self.render)
        self._layout = column(self._header(), row(self.class_select, self.opacity_slider), board, row(*panels))

    def _header(self):
        m = self.model
        classes = ", ".join(_quote(label) for label in self.labels)
        same = " (as in the image menus)" if self.column_examples is self.explanation else ""
        return Div(width=max(2 * self.width + 40, self.board.width), name="concepts-header", text=(
            f"<b>{self.n_concepts} concepts</b> of {html.escape(m.clf.name)}, layer <code>{html.escape(m.layer)}</code>"
            f" (read as {html.escape(str(m.feature.layout))})"
            f", explaining the logits of {classes}: each logit is a weighted sum of the concepts plus a bias. "
            f"Each column is a concept with the images that show it most, its heatmap over them; its header gives "
            f"its <b>weight</b> for the chosen class, what one unit of the concept adds to that class's logit; "
            f"under each image, its number{same} and its activation of the concept. A heatmap is as strong as "
            f"the concept is on that image, against its strongest. <b>Click a column</b> to choose a concept."))

    def _board(self):
        """One figure in screen pixels: a header and a column of examples per concept; a tap picks the column."""
        ce, k, n = self.column_examples, self.n_concepts, self.top.shape[1]
        H, W = ce.images.shape[1:3]
        th, tw = _fit((H, W), THUMB, grow=True)
        step, cell = tw + GAP, th + CAPTION
        height = HEAD + n * cell + 6
        left = [j * step + GAP / 2 for j in range(k)]
        weights = self._weight_texts = [[f"weight {_signed(w)}" for w in ws] for ws in self.weights]
        self.heads = ColumnDataSource({"x": [x + tw / 2 for x in left], "left": left, "right": [x + tw for x in left],
                                       "title": [f"concept {j + 1}" for j in range(k)], "weight": weights[0],
                                       "color": [COLORS[j % len(COLORS)] for j in range(k)], "alpha": [0.18] * k},
                                      name="concepts-heads")
        fig = figure(width=k * step, height=height, x_range=Range1d(0, k * step), y_range=Range1d(0, height),
                     toolbar_location=None, tools="", min_border=0, name="concepts-board")
        fig.axis.visible = False
        fig.grid.visible = False
        fig.outline_line_color = None
        fig.quad(left="left", right="right", bottom=height - HEAD + 3, top=height - 1, source=self.heads,
                 fill_color="color", fill_alpha="alpha", line_color="color")
        fig.text(x="x", y=height - 5, text="title", source=self.heads, text_align="center", text_baseline="top",
                 text_font_size="10pt", text_font_style="bold", text_color="#222222")
        fig.text(x="x", y=height - 22, text="weight", source=self.heads, text_align="center", text_baseline="top",
                 text_font_size="9pt", text_color="#222222")
        size = _fit((H, W), 2 * THUMB, grow=True)  # coded at twice the screen size: sharp on high-DPI screens
        thumbs = {"url": [], "x": [], "y": [], "cx": [], "text": []}
        for j in range(k):
            for r, e in enumerate(self.top[j]):
                y = height - HEAD - (r + 1) * cell + CAPTION
                heat = ce.heatmaps[e, j] * strength(ce.activations[e, j], self.reference[j])
                thumbs["url"].append(jpeg(_resized(plots.blend(ce.images[e], heat, alpha=OPACITY * heat[..., None]),
                                                   size)))
                thumbs["x"].append(left[j])
                thumbs["y"].append(y)
                thumbs["cx"].append(left[j] + tw / 2)
                name = "example" if ce is self.model.examples else "image"
                thumbs["text"].append(f"{name} {int(e)}: {ce.activations[e, j]:.2f}")
        self.thumbs = ColumnDataSource(thumbs, name="concepts-thumbs")
        fig.image_url(url="url", x="x", y="y", w=tw, h=th, anchor="bottom_left", source=self.thumbs)
        fig.text(x="cx", y="y", y_offset=1, text="text", source=self.thumbs, text_align="center",
                 text_baseline="top", text_font_size="7.5pt", text_color="#555555")
        self._mark_y = [1, height - 1]
        self.mark = ColumnDataSource({"left": [left[0]], "right": [left[0] + tw], "bottom": [1], "top": [height - 1]},
                                     name="concepts-mark")
        fig.quad(left="left", right="right", bottom="bottom", top="top", source=self.mark, fill_alpha=0,
                 line_color=SELECTED, line_width=3)
        fig.js_on_event("tap", CustomJS(args={"state": self.state, "step": step, "count": k}, code=TAP_JS))
        self.board = fig
        return fig

    def _y_range(self):
        values = np.array(self.store.data["values"])
        lo, hi = min(0.0, float(values.min())), max(0.0, float(values.max()))
        pad = 0.18 * max(hi - lo, 1e-6)  # room for the value printed beyond each bar
        return Range1d(lo - (pad if lo < 0 else 0), hi + (pad if hi > 0 else 0))

    def _panel(self, p, key, title, y_range):
        ex = self.explanation
        H, W = ex.images.shape[1:3]
        suffix = "" if p == 0 else "-other"
        select = Select(title=title, value=self.store.data["option"][0], options=self.store.data["option"],
                        width=self.width, name=f"concepts-select{suffix}")
        select.js_on_change("value", CustomJS(args={"state": self.state, "key": key}, code=SELECT_JS))
        # Frame sizes, not figure sizes: the column aligns the picture's frame with the chart's, whose
        # axis would otherwise squeeze the picture.
        pic = figure(frame_width=self.width, frame_height=round(self.width * H / W), title="",
                     x_range=Range1d(0, W), y_range=Range1d(0, H), toolbar_location=None, tools="", min_border=0,
                     name=f"concepts-picture{suffix}")
        pic.axis.visible = False
        pic.grid.visible = False
        photo = ColumnDataSource({"url": [self.store.data["photo"][0]]}, name=f"concepts-photo{suffix}")
        pic.image_url(url="url", x=0, y=0, w=W, h=H, anchor="bottom_left", source=photo)
        heat = ColumnDataSource({"image": [self._maps[0]]}, name=f"concepts-heat{suffix}")
        renderer = pic.image(image="image", x=0, y=0, dw=W, dh=H, source=heat, color_mapper=self.mapper,
                             global_alpha=OPACITY)
        columns = ("x", "top", "text", "baseline", "offset", "color", "alpha", "line")
        bars = ColumnDataSource({key: [] for key in columns}, name=f"concepts-bars{suffix}")
        chart = figure(frame_width=self.width, frame_height=190, x_range=FactorRange(*self.factors), y_range=y_range,
                       toolbar_location=None, tools="", title="", name=f"concepts-chart{suffix}")
        chart.vbar(x="x", top="top", width=0.7, source=bars, fill_color="color", fill_alpha="alpha",
                   line_color="line", line_width=2)
        chart.text(x="x", y="top", text="text", source=bars, text_align="center", text_baseline="baseline",
                   text_font_size="8pt", y_offset="offset")  # clear of the bar's outline
        chart.add_layout(Span(location=0, dimension="width", line_color="#444444", line_width=1))
        chart.xgrid.visible = False
        chart.yaxis.axis_label = "logit units"
        chart.xaxis.axis_label = "concept"
        info = Div(text="", width=self.width, name=f"concepts-info{suffix}")
        self.selects.append(select)
        pic.title.text_font_size = "8pt"
        self.pictures.append(pic)
        self.photos.append(photo)
        self.heats.append(heat)
        self.heat_renderers.append(renderer)
        self.charts.append(chart)
        self.bar_sources.append(bars)
        self.infos.append(info)
        return column(select, row(pic), row(chart), info)

    # -- the Python twin of RENDER_JS -----------------------------------------------------
    def _render(self):
        s = {key: int(v[0]) for key, v in self.state.data.items()}
        c, j, k = s["klass"], s["concept"], self.n_concepts
        self.heads.data = {**self.heads.data, "weight": self._weight_texts[c],
                           "alpha": [0.8 if n == j else 0.18 for n in range(k)]}
        self.mark.data = {"left": [self.heads.data["left"][j]], "right": [self.heads.data["right"][j]],
                          "bottom": [self._mark_y[0]], "top": [self._mark_y[1]]}
        st = self.store.data
        for p, key in enumerate(("image", "other")):
            i = s[key]
            self.photos[p].data = {"url": [st["photo"][i]]}
            self.heats[p].data = {"image": [self.maps.data["image"][i * k + j]]}
            self.bar_sources[p].data = {
                "x": self.factors, "top": st["values"][i][c], "text": st["texts"][i][c],
                "baseline": st["baselines"][i][c], "offset": [3 if b == "top" else -3 for b in st["baselines"][i][c]],
                "color": self.bar_colors,
                "alpha": [1 if n == j else (0.45 if n < k else 0.8) for n in range(k + 1)],
                "line": [SELECTED if n == j else self.bar_colors[n] for n in range(k + 1)]}
            self.infos[p].text = st["info"][i][c]
            self.pictures[p].title.text = st["title"][i][j]
            self.charts[p].title.text = self.chart_titles[c]

    def _set(self, **changes):
        state = {key: int(v[0]) for key, v in self.state.data.items()}
        state.update(changes)
        self.state.data = {key: [v] for key, v in state.items()}
        self.class_select.value = self.labels[state["klass"]]
        for p, key in enumerate(("image", "other")):
            self.selects[p].value = self.store.data["option"][state[key]]
        self._render()

    def _index(self, value, count, what):
        if not is_int(value):
            raise ValueError(f"{what} must be an int (0..{count - 1}), got {value!r}")
        if not 0 <= value < count:
            raise ValueError(f"{what} {value} does not exist; this board has {count} (0..{count - 1})")
        return int(value)

    # -- state a notebook or a test can read and set ------------------------------------
    @property
    def klass(self):
        """The chosen class's label; set it with a label, a class id of ``model.classes`` or an index into them."""
        return self.labels[self.state.data["klass"][0]]

    @klass.setter
    def klass(self, value):
        classes = self.model.classes
        whole = is_int(value)
        if isinstance(value, str) and value in self.labels:
            c = self.labels.index(value)
        elif whole and int(value) in classes:
            c = classes.index(int(value))
        elif whole and 0 <= value < len(classes):
            c = int(value)
        else:
            raise ValueError(f"no class {value!r} on this board; it explains the labels {self.labels} (class ids "
                             f"{classes}, or indices 0..{len(classes) - 1} into them)")
        self._set(klass=c)

    @property
    def concept(self):
        """The chosen concept (0-based; the columns are numbered from 1)."""
        return int(self.state.data["concept"][0])

    @concept.setter
    def concept(self, value):
        self._set(concept=self._index(value, self.n_concepts, "concept"))

    @property
    def image(self):
        """Index of the chosen image among the board's images."""
        return int(self.state.data["image"][0])

    @image.setter
    def image(self, value):
        self._set(image=self._index(value, self.n_images, "image"))

    @property
    def other(self):
        """Index of the image compared with the chosen one."""
        return int(self.state.data["other"][0])

    @other.setter
    def other(self, value):
        self._set(other=self._index(value, self.n_images, "image"))
