"""Integrated Gradients (Sundararajan et al., ICML 2017): gradients averaged along a path from a baseline."""
from __future__ import annotations

import warnings

import torch

from ..core.checks import checked_int
from ..core.classifier import Classifier
from ..core.images import baseline as make_baseline
from ..core.images import baseline_setting
from ..core.types import Baseline, Images, Target
from .heatmap import Saliency, run_heatmap

OUTPUTS = ("prob", "logit")


def integrated_gradients(clf: Classifier, images: Images, target: Target = None, baseline: Baseline = "black",
                         steps: int | str = "auto", output: str = "prob",
                         progress: bool | str = False) -> Saliency | list[Saliency]:
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
    steps : "auto" or int
        Points on the path. "auto" starts with 32 and, for the images whose attributions
        miss more than 5% of f(image) - f(baseline), triples them (96, then 288), reusing
        the points already taken: small networks stop at 32, deep ones such as
        EfficientNet-Lite0 get what they need. An int is used as given. Each round's
        points go through the model in one chunked gradient call.
    output : "prob" or "logit"
        The score that is attributed: the softmax probability or the logit.
    progress : bool
        Show a progress bar over the path points.

    Returns
    -------
    Saliency or list of Saliency
        ``raw`` is the signed attribution summed over channels (H x W), ``mask`` its
        positive part scaled to [0, 1]. ``history`` holds ``completeness_gap`` (sum of the
        attributions minus (f(image) - f(baseline))), ``f_x``, ``f_baseline`` and the
        ``steps`` taken.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.integrated_gradients(clf, xviz.zoo.image("digit-3"))
    >>> sal.label, sal.mask.shape, sal.raw.shape
    ('3', (32, 32), (32, 32))
    >>> h = sal.history  # completeness: the attributions sum to about f(x) - f(baseline)
    >>> abs(h["completeness_gap"][0]) <= 0.05 * abs(h["f_x"][0] - h["f_baseline"][0])
    True
    """
    steps = _steps(steps)
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(map(repr, OUTPUTS))}, got {output!r}")

    def compute(clf, x, targets):
        base = make_baseline(x, baseline)
        ends = clf.scores(torch.cat([x, base]), targets + targets, output).view(2, -1)
        path = _Path(clf, x, base, targets, output, progress)
        path.extend(AUTO_STEPS[0] if steps == "auto" else steps, range(len(x)))
        for more in AUTO_STEPS[1:] if steps == "auto" else ():
            short = torch.nonzero(_missed(_gaps(path.attributions(), ends), ends) > GAP_WARNING).flatten().tolist()
            if not short:
                break
            path.extend(more, short)
        raw = path.attributions()
        gaps = _gaps(raw, ends)
        histories = [{"completeness_gap": [float(g)], "f_x": [float(fx)], "f_baseline": [float(fb)], "steps": [n]}
                     for g, fx, fb, n in zip(gaps, ends[0], ends[1], path.steps)]
        _warn_if_incomplete(gaps, ends, path.steps)
        return raw, raw.clamp_min(0), histories

    settings = {"baseline": baseline_setting(baseline), "steps": steps, "output": output}
    return run_heatmap(clf, images, target, compute, "integrated_gradients", settings)


def _steps(steps):
    if isinstance(steps, str) and steps == "auto":
        return steps
    try:
        return checked_int(steps, "steps", 1, maximum=MAX_STEPS)
    except ValueError as error:
        raise ValueError(f"steps must be 'auto' or an int in 1..{MAX_STEPS}, got {steps!r}") from error


MAX_STEPS = 100_000  # far past any useful count: more is a mistake, not a finer integral
AUTO_STEPS = (32, 96, 288)  # each a multiple of 3 of the last: the midpoints taken stay midpoints
GAP_WARNING = 0.05


class _Path:
    """The straight paths from the baselines to the images, with the gradient summed over
    the midpoints taken so far on each; more points can be taken for some images only."""

    def __init__(self, clf, x, base, targets, output, progress):
        self.clf, self.x, self.base, self.targets, self.output, self.progress = clf, x, base, targets, output, progress
        self.sums = torch.zeros_like(x)
        self.steps = [0] * len(x)

    def extend(self, steps, rows):
        """Take the midpoints of ``steps`` equal segments on the paths of ``rows``, except those
        already taken (with 3x as many segments, a segment's midpoint is a sub-segment's)."""
        had = self.steps[rows[0]]
        alphas = (torch.arange(steps, device=self.x.device, dtype=self.x.dtype) + 0.5) / steps
        if had:
            alphas = alphas.view(had, 3)[:, [0, 2]].flatten()  # the middle third of each is taken
        x, base = self.x[rows], self.base[rows]
        path = base[:, None] + alphas.view(1, -1, 1, 1, 1) * (x - base)[:, None]
        per_point = torch.as_tensor([self.targets[r] for r in rows], device=x.device).repeat_interleave(len(alphas))
        _, grads = self.clf.gradients(path.flatten(0, 1), per_point, self.output,
                                      progress="integrated gradients" if self.progress else False)
        self.sums[rows] += grads.view(len(rows), len(alphas), *x.shape[1:]).sum(1)
        for r in rows:
            self.steps[r] = steps

    def attributions(self):
        """(image - baseline) x the mean gradient on the path, summed over channels."""
        counts = torch.tensor(self.steps, device=self.x.device, dtype=self.x.dtype).view(-1, 1, 1, 1)
        return ((self.x - self.base) * self.sums / counts).sum(1)


def _gaps(raw, ends):
    """Completeness gaps: the attributions' sums minus f(image) - f(baseline)."""
    return raw.flatten(1).sum(1) - (ends[0] - ends[1])


def _missed(gaps, ends):
    """The share of f(image) - f(baseline) the attributions miss; 0 where the two are equal."""
    differences = ends[0] - ends[1]
    share = gaps.abs() / differences.abs().clamp_min(1e-12)
    return torch.where(differences.abs() > 1e-3, share, torch.zeros_like(share))


def _warn_if_incomplete(gaps, ends, steps):
    """Say so when the attributions miss more than 5% of f(image) - f(baseline): too few steps."""
    share = _missed(gaps, ends)
    if float(share.max()) > GAP_WARNING:
        worst = int(share.argmax())
        warnings.warn(f"integrated gradients: the attributions miss {float(share[worst]):.0%} of f(image) - "
                      f"f(baseline) with steps={steps[worst]}; raise steps for a faithful attribution", stacklevel=5)
