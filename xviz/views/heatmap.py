"""HeatmapView: heatmaps over the photo, their deletion/insertion curves, and a step scrubber."""
import html

import numpy as np
from bokeh import palettes
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    Div,
    HoverTool,
    Legend,
    LegendItem,
    LinearColorMapper,
    RadioButtonGroup,
    Select,
    Slider,
    Span,
)
from bokeh.plotting import figure

from ..core.checks import checked_int
from ..core.images import baseline as make_baseline
from ..core.images import to_numpy, to_tensor
from . import plots
from .base import View
from .js import HELPERS

COLORS = ("#e45756", "#4c78a8", "#54a24b", "#f58518", "#b279a2", "#9d755d", "#72b7b2")

# Rebuild the perturbed image of the chosen step in the browser: the first cells of the order
# are switched on the grid, upsampled as in Python, and blend photo and baseline.
SCRUB_JS = HELPERS + """
const i = Math.max(0, select.options.indexOf(select.value));
const kind = mode.active == 0 ? "deletion" : "insertion";
const n = Math.min(Math.round(slider.value), counts.length - 1);
const k = counts[n], gh = grid[0], gw = grid[1], H = size[0], W = size[1];
const order = store.data.order[i];
const cells = new Float32Array(gh * gw);
for (let j = 0; j < k; j++) cells[order[j]] = 1;
const u = gridMask(cells, gh, gw, H, W);
if (kind == "deletion") for (let j = 0; j < u.length; j++) u[j] = 1 - u[j];  // switched cells show the baseline
blend(pert.data.image[0], photo, base, u, H, W);
pert.change.emit();
const score = store.data[kind][i][n];
const frac = counts[n] / (gh * gw);
span_del.location = frac; span_ins.location = frac;
span_del.visible = kind == "deletion"; span_ins.visible = kind == "insertion";
info.text = `<b>${kind}</b>, step ${n} of ${counts.length - 1}: ${(100 * frac).toFixed(0)}% of the cells ` +
  `${kind == "deletion" ? "replaced by the baseline" : "shown"}; p(${label}) = <b>${score.toFixed(3)}</b>`;
"""

SELECT_JS = """
const i = Math.max(0, select.options.indexOf(select.value));
heat.data = {image: [store.data.mask[i]]};
main.title.text = store.data.title[i];
"""


def _distinct(names):
    """The names, numbered where several are the same ("gradcam", "gradcam (2)"), so each
    result can be chosen."""
    seen, out = {}, []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if names.count(name) == 1 or seen[name] == 1 else f"{name} ({seen[name]})")
    return out


class HeatmapView(View):
    """Heatmaps of one image side by side, a large view with opacity and colour map, and,
    when the classifier is given, deletion and insertion curves with a step scrubber.

    Parameters
    ----------
    results : Saliency or list of Saliency
        Heatmaps of the same image (from any methods, e.g. ``[xviz.gradcam(...), xviz.igos_pp(...)]``).
    clf : xviz.Classifier, optional
        Needed for the curves (computed with :func:`xviz.metrics.curves`, batched) unless
        ``curves`` are given.
    curves : list of (Curve, Curve), optional
        Precomputed ``(deletion, insertion)`` pairs, one per result.
    baseline, grid : as in :func:`xviz.metrics.curves`.
    width : int
        Width of the large image in pixels.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> img = xviz.zoo.image("digit-3")
    >>> view = HeatmapView([xviz.gradcam(clf, img), xviz.integrated_gradients(clf, img)], clf=clf, grid=8)
    >>> view.methods, view.opacity
    (['gradcam', 'integrated_gradients'], 0.5)
    >>> view.to_html().startswith("<!DOCTYPE html>")
    True
    """

    title = "xviz heatmaps"

    def __init__(self, results, clf=None, curves=None, baseline="blur", grid=28, width=360):
        width = checked_int(width, "width (pixels)", 100, maximum=4000)
        results = list(results) if isinstance(results, (list, tuple)) else [results]
        if not results:
            raise ValueError("HeatmapView needs at least one Saliency result")
        first = results[0]
        same = all(r.image.shape == first.image.shape and np.allclose(r.image, first.image, atol=1e-6)
                   for r in results)
        if not same or len({r.target for r in results}) != 1:
            raise ValueError("HeatmapView shows heatmaps of one image and one class; got several "
                             f"(targets {sorted({r.target for r in results})}, same image: {same})")
        if curves is None and clf is not None:
            from ..metrics import curves as make_curves

            curves = make_curves(clf, results, baseline=baseline, grid=grid)
            curves = curves if isinstance(curves, list) else [curves]
        self.results, self.curves = results, curves
        self.methods = _distinct([r.method for r in results])
        self._build(width, baseline)
        super().__init__(self._layout, on_load=self.scrub)  # the scrubber draws in the page

    # -- building -----------------------------------------------------------------------
    def _details(self):
        """What each result's title says after its name: the class, the AUCs when known, and the
        layer (with its layout) a layer-based method read."""
        details = []
        for k, r in enumerate(self.results):
            auc = f" (deletion {self.curves[k][0].auc:.3f}, insertion {self.curves[k][1].auc:.3f})" if self.curves else ""
            layer = plots.layer_text(r.settings.get("layer"), r.settings.get("layout"))
            details.append(f"{r.label}{auc}" + (f", {layer}" if layer else ""))
        return details

    def _build(self, width, baseline):
        first = self.results[0]
        self.scrub = None  # the scrubber's drawing, when there are curves
        details = self._details()
        titles = [f"{name}: {detail}" for name, detail in zip(self.methods, details)]
        self.store = ColumnDataSource({"mask": [np.ascontiguousarray(r.mask[::-1]) for r in self.results],
                                       "title": titles})
        self.mapper = LinearColorMapper(palette=palettes.Turbo256, low=0, high=1)
        self.main = plots.image_figure(first.image, title=titles[0], width=width)
        self.main.name = "main"
        self.heat = ColumnDataSource({"image": [self.store.data["mask"][0]]})
        h, w = first.mask.shape
        self.heat_renderer = self.main.image(image="image", source=self.heat, x=0, y=0, dw=w, dh=h,
                                             color_mapper=self.mapper, global_alpha=0.5, name="heatmap")
        self.opacity_slider = Slider(title="heatmap opacity", start=0, end=1, step=0.05, value=0.5, width=width,
                                     name="opacity")
        self.opacity_slider.js_link("value", self.heat_renderer.glyph, "global_alpha")
        self.colormap_select = Select(title="colour map", value="Turbo256", options=list(plots.COLORMAPS), width=160)
        self.colormap_select.js_on_change("value", CustomJS(
            args={"mapper": self.mapper, "maps": {m: list(getattr(palettes, m)) for m in plots.COLORMAPS}},
            code="mapper.palette = maps[cb_obj.value];"))
        self.method_select = Select(title="method", value=self.methods[0], options=self.methods, width=160)
        self.method_select.js_on_change("value", CustomJS(
            args={"select": self.method_select, "heat": self.heat, "store": self.store, "main": self.main},
            code=SELECT_JS))
        large = column(self.main, self.opacity_slider, row(self.method_select, self.colormap_select))
        parts = [self._thumbnails(titles, details), row(large, self._curves_panel(first, baseline, width))
                 if self.curves else large]
        self._layout = column(*parts)

    def _thumbnails(self, titles, details):
        if len(self.results) == 1:
            return Div(text=f"<b>{html.escape(titles[0])}</b>")
        figs = []
        for r, name, detail in zip(self.results, self.methods, details):
            fig = plots.image_figure(plots.blend(r.image, r.mask), title=name, width=170)
            figs.append(column(fig, Div(text=f"<small>{html.escape(detail)}</small>", width=170)))
        return row(*figs)

    def _curves_panel(self, first, baseline, width):
        dels, inss = zip(*self.curves)
        self.store.data.update({"deletion": [list(map(float, c.scores)) for c in dels],
                                "insertion": [list(map(float, c.scores)) for c in inss],
                                "order": [np.asarray(c.order, dtype=np.int32) for c in dels]})
        counts = np.rint(np.asarray(dels[0].fractions) * np.prod(dels[0].grid)).astype(int).tolist()
        plot_del, self.span_del = self._curve_plot("deletion (lower is better)", dels, width)
        plot_ins, self.span_ins = self._curve_plot("insertion (higher is better)", inss, width)
        photo = plots.to_rgba(first.image)
        base = plots.to_rgba(to_numpy(make_baseline(to_tensor(first.image), dels[0].baseline
                                                    if dels[0].baseline in ("blur", "black") else baseline))[0])
        self.scrub_figure = plots.image_figure(first.image, title="the image at this step", width=width // 2 + 60)
        self.perturbed = self.scrub_figure.renderers[0].data_source
        self.perturbed.name = "perturbed"
        self.step_slider = Slider(title="step", start=0, end=len(counts) - 1, step=1, value=0, width=width, name="step")
        self.mode = RadioButtonGroup(labels=["deletion", "insertion"], active=0)
        self.info = Div(text="", width=width, name="scrub-info")
        self.scrub = scrub = CustomJS(code=SCRUB_JS, args={
            "select": self.method_select, "mode": self.mode, "slider": self.step_slider, "store": self.store,
            "pert": self.perturbed, "photo": photo, "base": base, "counts": counts, "grid": list(dels[0].grid),
            "size": list(first.mask.shape), "span_del": self.span_del, "span_ins": self.span_ins, "info": self.info,
            "label": html.escape(first.label)})
        for model, prop in ((self.step_slider, "value"), (self.mode, "active"), (self.method_select, "value")):
            model.js_on_change(prop, scrub)
        self.info.text = (f"<b>deletion</b>, step 0 of {len(counts) - 1}: 0% of the cells replaced by the baseline; "
                          f"p({html.escape(first.label)}) = <b>{dels[0].scores[0]:.3f}</b>")
        return column(plot_del, plot_ins, self.mode, self.step_slider, row(self.scrub_figure, self.info))

    def _curve_plot(self, title, curves, width):
        fig = figure(width=width + 190, height=200, title=title, x_range=(0, 1), y_range=(0, 1.02),
                     toolbar_location=None, tools="")
        # One tooltip per step with every method's score there: a tooltip per line would stack
        # the lines' tooltips on each other, and the pointer's height is not a score.
        fractions = np.asarray(curves[0].fractions, dtype=float)
        values = ["<br>".join(f"{html.escape(m)}: <b>{float(c.scores[i]):.3f}</b>" for m, c in zip(self.methods, curves)
                              if i < len(c.scores)) for i in range(len(fractions))]
        steps = ColumnDataSource({"x": fractions, "values": values})
        columns = fig.vbar(x="x", top=1.02, width=1 / max(len(fractions) - 1, 1), source=steps, fill_alpha=0,
                           line_alpha=0, hover_fill_alpha=0.06, hover_fill_color="#333333")
        fig.add_tools(HoverTool(renderers=[columns], tooltips="<div>@x{0%} of the cells</div><div>@values{safe}</div>"))
        items = []
        for k, c in enumerate(curves):
            line = fig.line(np.asarray(c.fractions), np.asarray(c.scores), line_width=2, color=COLORS[k % len(COLORS)],
                            name=self.methods[k])
            items.append(LegendItem(label=f"{self.methods[k]}: AUC {c.auc:.3f}", renderers=[line]))
        fig.add_layout(Legend(items=items, label_text_font_size="8pt", border_line_alpha=0), "right")
        fig.xaxis.axis_label = "fraction of cells"
        fig.yaxis.axis_label = f"p({self.results[0].label})"
        span = Span(location=0, dimension="height", line_color="#333333", line_dash="dashed",
                    visible="deletion" in title)
        fig.add_layout(span)
        return fig, span

    # -- state a notebook or a test can read and set ------------------------------------
    @property
    def opacity(self):
        return self.opacity_slider.value

    @opacity.setter
    def opacity(self, value):
        self.opacity_slider.value = value
        self.heat_renderer.glyph.global_alpha = value

    @property
    def method(self):
        return self.method_select.value

    @method.setter
    def method(self, name):
        if name not in self.methods:
            raise ValueError(f"no result of method {name!r} in this view; it shows {', '.join(self.methods)}")
        i = self.methods.index(name)
        self.method_select.value = name
        self.heat.data = {"image": [self.store.data["mask"][i]]}
        self.main.title.text = self.store.data["title"][i]

    @property
    def colormap(self):
        return self.colormap_select.value

    @colormap.setter
    def colormap(self, name):
        if name not in plots.COLORMAPS:
            raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(plots.COLORMAPS)}")
        self.colormap_select.value = name
        self.mapper.palette = getattr(palettes, name)
