"""Standalone HTML reports: one file, BokehJS inline, opens in a browser with no kernel or network."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .core.types import Image, PathLike

if TYPE_CHECKING:
    from .core.classifier import Classifier
    from .methods.heatmap import Saliency
import html

from bokeh.layouts import column, row
from bokeh.models import Div

from .views import plots
from .views.html import write_html

METHOD_NOTES = {
    "gradcam": "Grad-CAM: a layer's feature maps weighted by the mean gradient of the class score.",
    "integrated_gradients": "Integrated gradients: gradients averaged along the path from a baseline, "
                            "times the change of each pixel.",
    "rise": "RISE: the class score averaged over thousands of random masks, weighted by each mask.",
    "igos": "I-GOS: the smallest smooth mask whose removal destroys the class score, "
            "optimised with integrated gradients.",
    "igos++": "iGOS++: a deletion mask and an insertion mask optimised together; red marks the "
              "regions whose removal destroys the score and whose presence restores it.",
}


def _heatmap_panel(sal, width):
    fig = plots.image_figure(sal.image, title=f"{sal.method}: {sal.label}", width=width)
    plots.add_heatmap(fig, sal.mask)
    note = METHOD_NOTES.get(sal.method, sal.method)
    layer = plots.layer_text(sal.settings.get("layer"), sal.settings.get("layout"))
    note = f"{note} ({layer})" if layer else note
    return column(fig, Div(text=f"<small>{html.escape(note)}</small>", width=width))


def report_layout(clf, image, predictions, results, width=300):
    """The report as a bokeh layout: the photo, the top classes, and one panel per heatmap."""
    label, p = predictions[0]
    header = Div(text=f"<h2>xviz report</h2><p>Model: <b>{html.escape(clf.name)}</b>. "
                      f"Prediction: <b>{html.escape(label)}</b> ({p:.1%}).</p>", width=3 * width)
    photo = plots.image_figure(image, title="input", width=width)
    bars = plots.top_classes_figure(predictions, title=f"top {len(predictions)} classes", width=width)
    return column(header, row(photo, bars), row(*[_heatmap_panel(s, width) for s in results]))


def report(clf: Classifier, image: Image, results: Saliency | list[Saliency], path: PathLike, top: int = 5) -> Path:
    """Write a standalone HTML report for ``image``: photo, top classes and heatmaps.

    Parameters
    ----------
    clf : xviz.Classifier
    image : any accepted image
    results : list of Saliency
        Heatmaps of this image (e.g. ``[xviz.gradcam(clf, image)]``).
    path : str or pathlib.Path
        Where to write the file.
    top : int
        How many classes to list.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, os, xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> img = xviz.zoo.image("digit-5")
    >>> out = xviz.report(clf, img, [xviz.gradcam(clf, img)], os.path.join(tempfile.mkdtemp(), "r.html"))
    >>> out.read_text().startswith("<!DOCTYPE html>")
    True
    """
    from .methods.heatmap import Saliency

    results = [results] if isinstance(results, Saliency) else list(results)
    if not results:
        raise ValueError("results is empty: a report shows heatmaps of the image, e.g. [xviz.gradcam(clf, image)]")
    x, batch = clf.prepare(image)
    if batch:
        raise ValueError(f"a report is of one image, got a batch of {len(x)}; write one report per image")
    shown = x[0].permute(1, 2, 0).cpu().numpy()
    for i, sal in enumerate(results):
        if not isinstance(sal, Saliency):
            raise ValueError(f"results must be heatmaps (Saliency, e.g. xviz.gradcam(clf, image)); "
                             f"item {i} is a {type(sal).__name__}")
        if sal.image.shape != shown.shape or abs(sal.image - shown).max() > 2e-3:
            raise ValueError(f"result {i} ({sal.method}) explains another image than the one given")
    layout = report_layout(clf, shown, clf.predict(image, top=top), results)
    return write_html(layout, f"xviz report: {clf.name}", path)
