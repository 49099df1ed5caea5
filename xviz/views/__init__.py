"""Interactive views of xviz results, for notebooks and standalone HTML.

Each view reads result objects and holds no algorithm. :func:`show` picks the view for a
result (:mod:`xviz.views.registry`). The view classes load on first use, and bokeh with them.
"""
import importlib

from .registry import show

_HOMES = {"View": "base", "BokehWidget": "host", "ComparisonView": "comparison", "ConceptBoard": "concepts", "Gallery": "gallery", "HeatmapView": "heatmap",
          "GlobalLabelsView": "layers", "LayerExplorer": "layers", "SAGExplorer": "sag", "SummaryView": "summary"}


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BokehWidget", "ComparisonView", "ConceptBoard", "Gallery", "GlobalLabelsView", "HeatmapView", "LayerExplorer", "SAGExplorer", "SummaryView", "View",
           "show"]
