"""Grad-CAM (Selvaraju et al., ICCV 2017) and the generalised Grad-CAM weights of
Bianchi et al. (IJCAI 2024): class activation maps weighted by gradients.

:func:`channel_weights` is the one place where a map's weight is made from its activations
and gradients; Grad-CAM, the layer-wise clusters and the concept heatmaps all use it.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from ..core.capture import feature_layer
from ..core.classifier import Classifier
from ..core.types import Images, Layer, Target
from .heatmap import Saliency, run_heatmap

RULES = ("mean", "generalised")


def channel_weights(acts, grads, rule="mean"):
    """Weight of every map of a layer: N x C from activations and gradients (N x C x h x w).

    ``"mean"`` (Grad-CAM): the mean gradient over positions. ``"generalised"`` (Bianchi et
    al.): the mean over positions of ``1[A > 0] * 1[dy/dA > 0] * dy/dA``, so only positions
    where the map is active and pushes the score up count; weights are never negative.

    Examples
    --------
    >>> a = torch.tensor([[[[1.0, 0.0]], [[2.0, 2.0]]]])      # 1 image, 2 maps of 1 x 2
    >>> g = torch.tensor([[[[0.5, 4.0]], [[-1.0, 3.0]]]])
    >>> channel_weights(a, g).tolist(), channel_weights(a, g, "generalised").tolist()
    ([[2.25, 1.0]], [[0.25, 1.5]])
    """
    if rule == "mean":
        return grads.mean(dim=(2, 3))
    if rule == "generalised":
        return ((acts > 0) & (grads > 0)).to(grads.dtype).mul(grads).mean(dim=(2, 3))
    raise ValueError(f"unknown weight rule {rule!r}; choose one of {', '.join(map(repr, RULES))}")


def class_map(acts, weights):
    """The rectified weighted sum of maps: N x h x w from N x C x h x w and N x C weights."""
    return (weights[..., None, None] * acts).sum(1).clamp_min(0)


def gradcam(clf: Classifier, images: Images, target: Target = None, layer: Layer = "auto", rule: str = "mean",
            layout: Any = None, reshape: Callable | None = None) -> Saliency | list[Saliency]:
    """Grad-CAM heatmap of the ``target`` class.

    Each map of ``layer`` is weighted by the mean gradient of the target's logit over its
    positions; the weighted sum, rectified, is the heatmap at the layer's resolution. The
    layer may be convolutional (N x C x h x w), channels last (N x h x w x C) or a
    transformer's tokens (N x L x C, class tokens left out): see :class:`xviz.Layout`.

    Parameters
    ----------
    clf : xviz.Classifier
    images : image or list of images
        Any form :func:`xviz.images.load_image` accepts; a list gives a list of results.
    target : int, str, list or None
        Class index or label; None explains each image's top-1 class.
    layer : str, torch.nn.Module or "auto"
        The layer; "auto" takes the last block with feature maps the logits depend on
        (:func:`xviz.core.capture.auto_layers`): a CNN's last convolutional block, the tokens
        a ViT's last block attends over, a Swin's or ConvNeXt's last stage.
    rule : {"mean", "generalised"}
        How maps are weighted (see :func:`channel_weights`); "mean" is Grad-CAM's.
    layout : str or xviz.Layout, optional
        How the layer's output lies on the grid ("NCHW", "NHWC", "NLC", "NCL"); found from
        the model when None, and an error says so when it cannot be.
    reshape : callable, optional
        Instead of ``layout``: a function from the layer's output to N x C x h x w (as
        pytorch-grad-cam's ``reshape_transform``).

    Returns
    -------
    Saliency or list of Saliency

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.gradcam(clf, xviz.zoo.image("digit-7"))
    >>> sal.label, sal.mask.shape, sal.raw.shape, sal.settings["layout"]
    ('7', (32, 32), (8, 8), 'NCHW 8x8')
    """
    channel_weights(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1), rule)  # reject a bad rule before any pass
    chosen = feature_layer(clf, layer, layout, reshape, "to weight")

    def compute(clf, x, targets):
        _, acts, grads = clf.layer_gradients(x, targets, chosen, output="logit")
        return class_map(acts, channel_weights(acts, grads, rule))

    settings = {"layer": chosen.name, "layout": str(chosen.layout)}
    if rule != "mean":
        settings["rule"] = rule
    return run_heatmap(clf, images, target, compute, "gradcam", settings)
