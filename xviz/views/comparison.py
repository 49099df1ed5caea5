"""ComparisonView: models compared on the same images, the plots of Jiang, Khorram and Li
(CVPR 2024): the distribution of sub-explanation counts per model, the cross-testing
matrices, and the landscape of models by feature-use similarity. It reads the tables of
:mod:`xviz.dataset.compare`; it computes nothing new."""
import html

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, Div, HoverTool, LabelSet, LinearColorMapper
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from ..dataset.compare import per_image
from .base import View
from .heatmap import COLORS


def counts_figure(counts, fraction=0.5, width=420):
    """Per model, the share of images by their mean sub-explanation count (bars side by side)."""
    images = per_image(counts, fraction)
    models = list(dict.fromkeys(images.model))
    top = int(np.ceil(images.sub_explanations.max())) if len(images) else 1
    edges = np.arange(0, top + 2) - 0.5
    fig = figure(width=width, height=260, title=f"sub-explanations per MSE (keeping {fraction:g} of p), per image",
                 toolbar_location=None, tools="", name="comparison-counts")
    step = 0.8 / max(1, len(models))
    for k, m in enumerate(models):
        values = images[images.model == m].sub_explanations.to_numpy()
        share, _ = np.histogram(values, bins=edges)
        share = share / max(1, len(values))
        x = edges[:-1] + 0.5 - 0.4 + step * (k + 0.5)
        source = ColumnDataSource({"x": x, "share": share, "n": [len(values)] * len(x),
                                   "mean": [float(values.mean()) if len(values) else 0.0] * len(x)})
        fig.vbar(x="x", top="share", width=step * 0.95, source=source, color=COLORS[k % len(COLORS)],
                 legend_label=f"{m} (mean {source.data['mean'][0]:.2f})")
    fig.xaxis.axis_label = "mean number of sub-explanations of an image's MSEs"
    fig.yaxis.axis_label = "share of images"
    fig.legend.label_text_font_size = "8pt"
    return fig


def matrix_figure(matrix, title, name, width=300):
    """A model x model matrix (rows: whose evidence; columns: who is tested) with its values."""
    models = [str(m) for m in matrix.index]
    xs, ys, values = [], [], []
    for i, a in enumerate(models):
        for j, b in enumerate(models):
            xs.append(b)
            ys.append(a)
            values.append(float(matrix.iloc[i, j]))
    source = ColumnDataSource({"tested": xs, "evidence": ys, "value": values, "text": [f"{v:.2f}" for v in values]})
    fig = figure(width=width, height=width, title=title, x_range=models, y_range=models[::-1], toolbar_location=None,
                 tools="", name=name)
    mapper = LinearColorMapper(palette=Viridis256, low=0, high=1)
    fig.rect(x="tested", y="evidence", width=1, height=1, source=source, fill_color={"field": "value",
             "transform": mapper}, line_color="white")
    fig.text(x="tested", y="evidence", text="text", source=source, text_align="center", text_baseline="middle",
             text_color="white", text_font_size="10pt")
    fig.xaxis.axis_label = "tested model"
    fig.yaxis.axis_label = "whose evidence"
    fig.add_tools(HoverTool(tooltips=[("evidence of", "@evidence"), ("tested", "@tested"), ("value", "@text")]))
    return fig


def landscape_figure(coords, width=300):
    """The models on the plane of :meth:`xviz.dataset.CrossTest.landscape`."""
    source = ColumnDataSource({"x": coords.x, "y": coords.y, "model": coords.model})
    fig = figure(width=width, height=width, title="landscape of models by feature use", toolbar_location=None,
                 tools="", name="comparison-landscape")
    fig.scatter(x="x", y="y", source=source, size=12, color="#4c78a8")
    fig.add_layout(LabelSet(x="x", y="y", text="model", source=source, x_offset=6, y_offset=6, text_font_size="9pt"))
    pad = max(0.1, float(np.abs(np.r_[coords.x, coords.y]).max()) * 1.4)
    fig.x_range.update(start=-pad, end=pad)
    fig.y_range.update(start=-pad, end=pad)
    return fig


class ComparisonView(View):
    """Sub-explanation counts and cross-testing of several models, side by side.

    Parameters
    ----------
    counts : pandas.DataFrame, optional
        :func:`xviz.dataset.sub_explanations`.
    cross : xviz.dataset.CrossTest, optional
        :func:`xviz.dataset.cross_test`.
    fraction : float
        Which of the counted fractions to plot.

    Examples
    --------
    >>> import tempfile, xviz
    >>> from xviz import dataset
    >>> d = xviz.zoo.digits("test")
    >>> store = dataset.explain(xviz.zoo.digits_cnn(), (d.images[:2], d.labels[:2]), [("sag", {"grid": 4})],
    ...                         store=tempfile.mkdtemp() + "/s", progress=False)
    >>> view = ComparisonView(dataset.sub_explanations([store]), dataset.cross_test([store, store], names=["a", "b"]))
    >>> view.to_html().startswith("<!DOCTYPE html>")
    True
    """

    title = "xviz model comparison"

    def __init__(self, counts=None, cross=None, fraction=0.5):
        if counts is None and cross is None:
            raise ValueError("give counts (xviz.dataset.sub_explanations) or cross (xviz.dataset.cross_test), or both")
        parts = []
        if counts is not None:
            parts.append(counts_figure(counts, fraction))
        if cross is not None:
            parts.append(row(matrix_figure(cross.accuracy, "accuracy on the evidence", "comparison-accuracy"),
                             matrix_figure(cross.confidence, "relative confidence on the evidence",
                                           "comparison-confidence"),
                             landscape_figure(cross.landscape())))
        note = Div(text="<b>Compositional</b> models keep few sub-explanations (their patches are needed together); "
                        "<b>disjunctive</b> ones keep many. In the matrices, row = whose sufficient evidence, column = "
                        "the model shown it alone." + ("" if cross is None else
                        f" Models: {html.escape(', '.join(map(str, cross.accuracy.index)))}."), width=900)
        super().__init__(column(note, *parts))
