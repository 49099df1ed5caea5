"""Which view shows which result, looked up by the result's type name, so that compute never
imports a view.

IPython shows a result through the formatter :func:`install` registers by type name
(``for_type_by_name``): the view's module, and bokeh and ipywidgets with it, load only when a
result is first shown.
"""
from __future__ import annotations

import importlib
import sys
from typing import Any

# A result type (module, class name) -> the view that shows it (module, class name).
VIEWS = {
    ("xviz.methods.heatmap", "Saliency"): ("xviz.views.heatmap", "HeatmapView"),
    ("xviz.methods.sag", "SAG"): ("xviz.views.sag", "SAGExplorer"),
    ("xviz.methods.xnn", "XNN"): ("xviz.views.concepts", "ConceptBoard"),
    ("xviz.methods.summaries", "Summary"): ("xviz.views.summary", "SummaryView"),
    ("xviz.methods.layers", "LayerExplanation"): ("xviz.views.layers", "LayerExplorer"),
    ("xviz.methods.layers", "GlobalExplanation"): ("xviz.views.layers", "GlobalLabelsView"),
    ("xviz.dataset.store", "Store"): ("xviz.views.gallery", "Gallery"),
}


def view_class(result):
    """The view class for ``result`` (by its type or a base type), or None."""
    for cls in type(result).__mro__:
        found = VIEWS.get((cls.__module__, cls.__name__))
        if found:
            return getattr(importlib.import_module(found[0]), found[1])
    return None


def show(result: Any, **kwargs: Any) -> Any:
    """The interactive view of ``result``: :class:`HeatmapView` for one or a list of Saliency,
    :class:`SAGExplorer` for a SAG, :class:`ConceptBoard` for an XNN, :class:`SummaryView` for a visual Summary,
    :class:`LayerExplorer` for a LayerExplanation, :class:`GlobalLabelsView` for a
    GlobalExplanation, :class:`Gallery` for a dataset's store (:func:`xviz.dataset.explain`).

    Parameters
    ----------
    result : Saliency, list of Saliency, SAG, XNN, Summary, LayerExplanation or GlobalExplanation
    **kwargs
        Go to the view (e.g. ``clf=`` for deletion/insertion curves, or for live scoring
        in the SAGExplorer).

    Returns
    -------
    View
        Shows itself when it is the last expression of a notebook cell; ``to_html(path)``
        exports it.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> view = xviz.show(xviz.gradcam(clf, xviz.zoo.image("digit-1")), clf=clf, grid=8)
    >>> type(view).__name__
    'HeatmapView'
    """
    items = list(result) if isinstance(result, (list, tuple)) else [result]
    views = [view_class(item) for item in items]
    if isinstance(result, (list, tuple)) and items:
        for i, (item, view) in enumerate(zip(items, views)):
            if view is None or view.__name__ != "HeatmapView":  # the one view of several results side by side
                raise ValueError(f"xviz.show shows a list of Saliency results side by side; item {i} is "
                                 f"{_described(item)}")
        return views[0](items, **kwargs)
    if items and views[0] is not None:
        return views[0](items if views[0].__name__ == "HeatmapView" else items[0], **kwargs)
    raise ValueError(f"xviz.show has no view for {_described(result)}; it shows Saliency (one or a list), SAG, "
                     f"XNN, Summary, LayerExplanation and GlobalExplanation results, and dataset stores")


def _described(result):
    if isinstance(result, (list, tuple)):
        kinds = sorted({type(item).__name__ for item in result})
        return f"a {type(result).__name__} of {', '.join(kinds) or 'nothing'}"
    text = repr(result)
    return f"a {type(result).__name__} ({text[:40] + '...' if len(text) > 40 else text})"


def _display(result):
    show(result)._ipython_display_()


def install():
    """Register every result type with the running IPython's display formatter (by name: the
    result modules need not be loaded, nor the views). Nothing happens outside IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    if shell is None:
        return
    formatter = shell.display_formatter.ipython_display_formatter
    for module, name in VIEWS:
        formatter.for_type_by_name(module, name, _display)
