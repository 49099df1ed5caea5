"""Explanation methods: each a small file on the shared pieces of :mod:`xviz.methods.heatmap`."""
from typing import Any, Callable

from . import layers, summaries, xnn
from .cam import gradcam
from .heatmap import Saliency, run_heatmap
from .ig import integrated_gradients
from .igos import igos, igos_pp
from .rise import rise
from .sag import SAG, sag

# Heatmap methods by name, for the command line and reports.
METHODS: dict[str, Callable[..., Any]] = {"gradcam": gradcam, "ig": integrated_gradients, "rise": rise, "igos": igos, "igos++": igos_pp}
# The most faithful heatmap method available; the default of `xviz explain` and `xviz demo`.
BEST_METHOD = "igos++"

__all__ = ["BEST_METHOD", "METHODS", "SAG", "Saliency", "run_heatmap", "gradcam", "igos", "igos_pp", "integrated_gradients",
           "layers", "rise", "sag", "summaries", "xnn"]
