"""Explanation methods: each a small file on the shared pieces of :mod:`xviz.explain.base`."""
from .base import Saliency, explain
from .cam import gradcam

# Heatmap methods by name, for the command line and reports.
METHODS = {"gradcam": gradcam}
# The most faithful heatmap method available; the default of `xviz explain` and `xviz demo`.
BEST_METHOD = "gradcam"

__all__ = ["BEST_METHOD", "METHODS", "Saliency", "explain", "gradcam"]
