"""xviz: structural explanations of image classifiers, in Jupyter.

>>> import xviz
>>> clf = xviz.zoo.efficientnet_lite0()
>>> clf.predict(xviz.zoo.image("chelsea"), top=1)[0][0]
'Egyptian cat'
"""
from . import images, metrics, zoo
from .classifier import Classifier, preserved
from .explain import SAG, Saliency, gradcam, igos, igos_pp, integrated_gradients, layers, rise, sag, summaries, xnn
from .report import report
from .widgets import ConceptBoard, GlobalLabelsView, HeatmapView, LayerExplorer, SAGExplorer, SummaryView, show

__version__ = "0.1.0"

__all__ = ["Classifier", "ConceptBoard", "GlobalLabelsView", "HeatmapView", "LayerExplorer", "layers", "SAG", "SAGExplorer", "Saliency", "gradcam", "igos", "igos_pp", "images", "integrated_gradients", "metrics",
           "preserved", "report", "rise", "sag", "show", "summaries", "SummaryView", "xnn", "zoo", "__version__"]
