"""Bokeh building blocks shared by the widgets and the HTML reports (no algorithm here)."""
import numpy as np
from bokeh import palettes
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.plotting import figure

COLORMAPS = ("Turbo256", "Inferno256", "Viridis256", "Magma256", "Cividis256")


def layer_text(layer, layout=None):
    """How a result read its layer, in words: ``"layer features (NCHW 8x8)"``; "" without a layer."""
    if not layer:
        return ""
    return f"layer {layer} ({layout})" if layout else f"layer {layer}"


def to_rgba(image):
    """H x W x 3 floats in [0, 1] -> H x W uint32 RGBA, flipped for bokeh's bottom-left origin."""
    rgb = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    return np.ascontiguousarray(np.concatenate([rgb, alpha], -1)[::-1]).view(np.uint32)[..., 0]


def colorize(mask, colormap="Turbo256"):
    """H x W values in [0, 1] -> H x W x 3 colours from a 256-entry bokeh palette."""
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}")
    table = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in getattr(palettes, colormap)]) / 255.0
    return table[np.clip((np.asarray(mask) * 255).round().astype(int), 0, 255)]


def blend(image, mask, colormap="Turbo256", alpha=0.5):
    """The image with the coloured heatmap laid over it: H x W x 3 in [0, 1]."""
    return (1 - alpha) * np.asarray(image) + alpha * colorize(mask, colormap)


def image_figure(image, title=None, width=300):
    """A figure showing ``image`` (H x W x 3) with pixel coordinates, no axes or toolbar."""
    h, w = image.shape[:2]
    fig = figure(width=width, height=int(round(width * h / w)) + (30 if title else 0), title=title,
                 x_range=Range1d(0, w, bounds=(0, w)), y_range=Range1d(0, h, bounds=(0, h)),
                 toolbar_location=None, min_border=0, tools="")
    fig.axis.visible = False
    fig.grid.visible = False
    fig.image_rgba(image=[to_rgba(image)], x=0, y=0, dw=w, dh=h)
    return fig


def add_heatmap(fig, mask, colormap="Turbo256", alpha=0.5):
    """Overlay a heatmap (H x W in [0, 1]) on an :func:`image_figure`; returns the renderer."""
    h, w = mask.shape
    return fig.image_rgba(image=[to_rgba(colorize(mask, colormap))], x=0, y=0, dw=w, dh=h, global_alpha=alpha)


def top_classes_figure(rows, title="Top classes", width=300):
    """Horizontal bars of ``(label, probability)`` rows, best on top, with hover values."""
    labels = [label for label, _ in rows][::-1]
    source = ColumnDataSource({"label": labels, "p": [p for _, p in rows][::-1],
                               "text": [f"{p:.1%}" for _, p in rows][::-1]})
    # Room right of 1 for the value written after a full bar ("99.7%"); the axis stops at 1.
    fig = figure(y_range=labels, x_range=Range1d(0, 1.3), width=width, height=40 + 28 * len(rows), title=title,
                 toolbar_location=None, tools="")
    fig.xaxis.ticker = [0, 0.25, 0.5, 0.75, 1]
    fig.xaxis.bounds = (0, 1)
    fig.hbar(y="label", right="p", height=0.7, source=source, color="#4c78a8")
    fig.text(x="p", y="label", text="text", source=source, x_offset=4, text_baseline="middle", text_font_size="9pt")
    fig.add_tools(HoverTool(tooltips=[("class", "@label"), ("probability", "@text")]))
    fig.xaxis.axis_label = "probability"
    fig.ygrid.visible = False
    return fig
