"""Interactive views of xviz results, for notebooks and standalone HTML.

Each view reads result objects and holds no algorithm. :func:`show` picks the view for a
result.
"""
from .base import View, load_bokeh
from .concepts import ConceptBoard
from .heatmap import HeatmapView
from .layers import GlobalLabelsView, LayerExplorer
from .sag import SAGExplorer
from .summary import SummaryView


def show(result, **kwargs):
    """The interactive view of ``result``: :class:`HeatmapView` for one or a list of Saliency,
    :class:`SAGExplorer` for a SAG, :class:`ConceptBoard` for an XNN, :class:`SummaryView` for a visual Summary,
    :class:`LayerExplorer` for a LayerExplanation, :class:`GlobalLabelsView` for a
    GlobalExplanation.

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
    from ..explain.base import Saliency
    from ..explain.layers import GlobalExplanation, LayerExplanation
    from ..explain.sag import SAG
    from ..explain.summaries import Summary
    from ..explain.xnn import XNN

    if isinstance(result, SAG):
        return SAGExplorer(result, **kwargs)
    if isinstance(result, XNN):
        return ConceptBoard(result, **kwargs)
    if isinstance(result, Summary):
        return SummaryView(result, **kwargs)
    if isinstance(result, LayerExplanation):
        return LayerExplorer(result, **kwargs)
    if isinstance(result, GlobalExplanation):
        return GlobalLabelsView(result, **kwargs)
    items = result if isinstance(result, (list, tuple)) else [result]
    if items and all(isinstance(r, Saliency) for r in items):
        return HeatmapView(items, **kwargs)
    raise ValueError(f"xviz.show has no view for {type(result).__name__}; it shows Saliency, SAG, XNN, Summary, "
                     f"LayerExplanation and GlobalExplanation results")


__all__ = ["ConceptBoard", "GlobalLabelsView", "HeatmapView", "LayerExplorer", "SAGExplorer", "SummaryView", "View", "load_bokeh", "show"]
