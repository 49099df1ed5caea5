"""Integrated Gradients (Sundararajan et al., ICML 2017): gradients averaged along a path from a baseline."""
import warnings

import torch

from ..images import baseline as make_baseline
from ..images import baseline_setting
from .base import explain, whole

OUTPUTS = ("prob", "logit")


def integrated_gradients(clf, images, target=None, baseline="black", steps=32, output="prob", progress=False):
    """Integrated Gradients attribution of the ``target`` class.

    The gradient of the target's score is averaged over ``steps`` points on the straight
    path from ``baseline`` to the image (midpoint rule) and multiplied by the image minus
    the baseline. The attributions then sum to about f(image) - f(baseline)
    (completeness); the gap is kept per image in ``history``.

    Parameters
    ----------
    clf : xviz.Classifier
    images : image or list of images
        Any form :func:`xviz.images.load_image` accepts; a list gives a list of results.
    target : int, str, list or None
        Class index or label; None explains each image's top-1 class.
    baseline : "black", "blur", float or torch.Tensor
        Where the path starts; see :func:`xviz.images.baseline`.
    steps : int
        Points on the path. All ``N * steps`` of them go through the model in one chunked
        gradient call. Raise it when ``completeness_gap`` is a large part of f(image) -
        f(baseline); deep networks such as EfficientNet-Lite0 may need 128 or more.
    output : "prob" or "logit"
        The score that is attributed: the softmax probability or the logit.
    progress : bool
        Show a progress bar over the path points.

    Returns
    -------
    Saliency or list of Saliency
        ``lowres`` is the signed attribution summed over channels (H x W), ``mask`` its
        positive part scaled to [0, 1]. ``history`` holds ``completeness_gap`` (sum of the
        attributions minus (f(image) - f(baseline))), ``f_x`` and ``f_baseline``.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.integrated_gradients(clf, xviz.zoo.image("digit-3"), steps=64)
    >>> sal.label, sal.mask.shape, sal.lowres.shape
    ('3', (32, 32), (32, 32))
    >>> h = sal.history  # completeness: the attributions sum to about f(x) - f(baseline)
    >>> abs(h["completeness_gap"][0]) < 0.01 * abs(h["f_x"][0] - h["f_baseline"][0])
    True
    """
    steps = whole(steps, "steps", 1)
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(map(repr, OUTPUTS))}, got {output!r}")

    def compute(clf, x, targets):
        base = make_baseline(x, baseline)
        attributions = (x - base) * _mean_path_gradient(clf, x, base, targets, steps, output, progress)
        raw = attributions.sum(1)
        ends = clf.scores(torch.cat([x, base]), targets + targets, output).view(2, -1)
        gaps = raw.flatten(1).sum(1) - (ends[0] - ends[1])
        histories = [{"completeness_gap": [float(g)], "f_x": [float(fx)], "f_baseline": [float(fb)]}
                     for g, fx, fb in zip(gaps, ends[0], ends[1])]
        _warn_if_incomplete(gaps, ends[0] - ends[1], steps)
        return raw, raw.clamp_min(0), histories

    settings = {"baseline": baseline_setting(baseline), "steps": steps, "output": output}
    return explain(clf, images, target, compute, "integrated_gradients", settings)


def _mean_path_gradient(clf, x, base, targets, steps, output, progress):
    """Gradient averaged over the midpoints of ``steps`` equal segments from ``base`` to ``x``."""
    # Midpoints: the error of the sum falls as 1/steps^2 instead of 1/steps for the end points.
    alphas = (torch.arange(steps, device=x.device, dtype=x.dtype) + 0.5) / steps
    path = base[:, None] + alphas.view(1, -1, 1, 1, 1) * (x - base)[:, None]
    per_point = torch.as_tensor(targets, device=x.device).repeat_interleave(steps)
    _, grads = clf.gradients(path.flatten(0, 1), per_point, output,
                             progress="integrated gradients" if progress else False)
    return grads.view(len(x), steps, *x.shape[1:]).mean(1)


GAP_WARNING = 0.05


def _warn_if_incomplete(gaps, differences, steps):
    """Say so when the attributions miss more than 5% of f(image) - f(baseline): too few steps."""
    share = (gaps.abs() / differences.abs().clamp_min(1e-12))[differences.abs() > 1e-3]
    if len(share) and float(share.max()) > GAP_WARNING:
        warnings.warn(f"integrated gradients: the attributions miss {float(share.max()):.0%} of f(image) - "
                      f"f(baseline) with steps={steps}; raise steps for a faithful attribution", stacklevel=4)
