"""Explanations of whole datasets: a store of one row per image and method, the answers a
dataset gives (faithfulness per method and class, where methods disagree), and model
comparison (sub-explanation counting and cross-testing, Jiang, Khorram and Li, CVPR 2024).

Layered above :mod:`xviz.metrics` and below :mod:`xviz.views`; needs the ``dataset`` extra
(pyarrow, pandas), and Ray Data for ``engine="ray"`` (the ``ray`` extra).
"""
try:
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
except ImportError:
    raise ImportError("xviz.dataset needs pyarrow and pandas, an extra of xviz: pip install -e \".[dataset]\"") from None

from . import compare
from .analysis import disagreement, faithfulness
from .compare import CrossTest, cross_test, sub_explanations
from .engine import explain
from .sources import stream
from .store import Store


def open(path, clf=None):  # noqa: A001 - xviz.dataset.open(path), as the issue asks
    """Open a store made by :func:`explain` (``clf``: the model it was made with, checked).

    Examples
    --------
    >>> import tempfile, xviz
    >>> from xviz import dataset
    >>> folder = tempfile.mkdtemp() + "/s"
    >>> _ = dataset.explain(xviz.zoo.digits_cnn(), xviz.zoo.digits("test").images[:2], ["gradcam"], store=folder,
    ...                     progress=False)
    >>> len(dataset.open(folder))
    2
    """
    return Store(path, clf)


__all__ = ["CrossTest", "Store", "compare", "cross_test", "disagreement", "explain", "faithfulness", "open", "stream",
           "sub_explanations"]
