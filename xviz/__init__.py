"""xviz: structural explanations of image classifiers, in Jupyter.

The layers, from the bottom up: :mod:`xviz.core` (classifier, model state, layer capture,
images, checks, files), :mod:`xviz.methods` (one module per explanation), :mod:`xviz.metrics`,
:mod:`xviz.views`, then reports and the command line. The views (and bokeh, ipywidgets) load
when first used.

>>> import xviz
>>> clf = xviz.zoo.efficientnet_lite0()
>>> clf.predict(xviz.zoo.image("chelsea"), top=1)[0][0]
'Egyptian cat'
"""
import importlib

from . import metrics, zoo
from .core import images
from .core.images import Box
from .core.classifier import Classifier
from .core.maps import Layout
from .core.result import Result, load
from .core.state import preserved
from .methods import SAG, Saliency, gradcam, igos, igos_pp, integrated_gradients, layers, rise, sag, summaries, xnn
from .views import registry as _registry
from .views import show

__version__ = "0.1.0"

# Loaded on first use: they import bokeh and ipywidgets, which compute does not need.
_LAZY = {"ComparisonView": "views", "ConceptBoard": "views", "Gallery": "views", "GlobalLabelsView": "views", "HeatmapView": "views", "LayerExplorer": "views",
         "SAGExplorer": "views", "SummaryView": "views", "report": "reports"}


def __getattr__(name):
    if name == "dataset":  # needs the dataset extra (pyarrow, pandas): imported when asked for
        return importlib.import_module(".dataset", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_registry.install()

__all__ = ["Box", "Classifier", "ComparisonView", "ConceptBoard", "dataset", "Gallery", "GlobalLabelsView", "HeatmapView", "LayerExplorer", "Layout", "layers", "load", "Result", "SAG", "SAGExplorer", "Saliency", "gradcam", "igos", "igos_pp", "images", "integrated_gradients", "metrics",
           "preserved", "report", "rise", "sag", "show", "summaries", "SummaryView", "xnn", "zoo", "__version__"]
