"""xviz: structural explanations of image classifiers, in Jupyter.

>>> import xviz
>>> clf = xviz.zoo.efficientnet_lite0()
>>> clf.predict(xviz.zoo.image("chelsea"), top=1)[0][0]
'Egyptian cat'
"""
from . import images, zoo
from .classifier import Classifier, preserved
from .explain import Saliency, gradcam
from .report import report

__version__ = "0.1.0"

__all__ = ["Classifier", "Saliency", "gradcam", "images", "preserved", "report", "zoo", "__version__"]
