"""I-GOS (Qi, Khorram, Li, AAAI 2020) and iGOS++ (Khorram et al., CHIL 2021).

Both optimise a low-resolution mask M (1 = keep the pixel) so that the image with the
masked-out parts replaced by a blurred copy loses the class score, with as little masked
area and as smooth a mask as possible. The descent direction is an *integrated* gradient:
the gradient of the class score averaged along the straight path from the baseline to the
masked image, which escapes the poor local optima of the plain gradient.

iGOS++ optimises two masks at once: a deletion mask Md (removing its zeros destroys the
score) and an insertion mask Mi (showing only its zeros restores the score); the
explanation is Md * Mi, with a bilateral total variation that lets the mask follow the
image's edges.

Differences from the authors' code (github khorrams/IGOS_pp), each deliberate:

- the path points of an iteration, for every image and every objective term, go through the
  model as one batch (chunked by the Classifier); no loop over steps or images;
- iterations and integration steps are not swapped (the original's ``main.py`` passes
  one as the other), and the path average divides by the number of steps;
- one noise draw per iteration serves both the integrated gradient and the line search, so
  the Armijo test backtracks on the very function whose gradient gives the direction (the
  original draws new noise for every loss evaluation); several candidate steps are scored
  in one batch, and the first step tried is one rung above the last accepted one instead
  of alpha every time;
- the path noise is stated in pixel units (see ``COMMON``), not in the model's normalised
  units;
- ``l2`` is given at the papers' 28 x 28 mask and scaled by side / 28 for other mask sizes
  (TV is a mean over cells, so a coarse mask would otherwise pay far more for the same
  boundary and barely move);
- the bilateral TV averages the squared image difference over channels in both
  directions (the original mixes the order of the mean and the square between them);
- the area term is ``l1 * mean(1 - M)``, not ``mean(|1 - M|)`` (equal on [0, 1]): at M = 1,
  where every mask starts, the abs has a zero subgradient, so the first direction ignored
  the area cost that every step then paid; on a photo whose score gradients are small
  (rocket, iGOS++ paper preset) no step was ever accepted and the mask never moved;
- ties: an optimised mask leaves many cells at exactly 0 or 1, whose order in a
  deletion/insertion sweep would be arbitrary. The heat is ``1 - M`` plus 0.001 times the
  last descent direction (scaled to [-1, 1]): among equal mask values, the cells the
  optimiser was still pushing towards deletion rank first.
"""
import math

import torch

from ..core.images import baseline as make_baseline
from ..core.images import baseline_setting, compose, mask_side, upsample_mask
from .heatmap import run_heatmap
from ..core.progress import progress as progress_bar
from ..core.checks import checked_float, checked_int, checked_seed, is_int, preset_settings

PRESETS = {
    # The papers' settings: I-GOS l1 1, l2 20, 15 iterations, 20 integration steps;
    # iGOS++ as in the authors' examples: l1 10, l2 20, 20 iterations, 20 steps.
    "igos": {"paper": {"iterations": 15, "steps": 20, "l1": 1.0, "l2": 20.0},
             "fast": {"iterations": 10, "steps": 8, "l1": 1.0, "l2": 20.0}},
    "igos++": {"paper": {"iterations": 20, "steps": 20, "l1": 10.0, "l2": 20.0},
               "fast": {"iterations": 10, "steps": 6, "l1": 10.0, "l2": 20.0}},
}
# noise: std of the path noise in pixel units ([0, 1] images). The papers' 0.2 in ImageNet-normalised
# units (std about 0.225) is 0.045 in pixels; stating it in pixels keeps it the same for a model
# that normalises differently (EfficientNet-Lite0 divides by 0.5 and breaks under 0.1).
COMMON = {"size": "auto", "alpha": 1000.0, "noise": 0.045, "baseline": "blur", "sigma": 0.01,
          "line_search_batch": "auto", "adapt_l1": True}
ARMIJO, DECAY, MIN_ALPHA, TIE_BREAK = 1e-4, 0.2, 1e-5, 1e-3


def _settings(method, preset, device, overrides):
    preset, cfg = preset_settings(PRESETS[method], preset, device, COMMON, overrides)
    if cfg["line_search_batch"] == "auto":  # the result does not depend on it, only the cost
        cfg["line_search_batch"] = 4 if device.type == "cuda" else 1
    for key in ("iterations", "steps", "line_search_batch"):
        cfg[key] = checked_int(cfg[key], key, 1)
    cfg["alpha"] = checked_float(cfg["alpha"], "alpha", above=MIN_ALPHA)
    for key in ("l1", "l2", "noise"):
        cfg[key] = checked_float(cfg[key], key, minimum=0)
    cfg["sigma"] = checked_float(cfg["sigma"], "sigma", above=0)
    if not isinstance(cfg["adapt_l1"], bool):
        raise ValueError(f"adapt_l1 must be True or False, got {cfg['adapt_l1']!r}")
    return {"preset": preset, **cfg}


def tv(m, beta=2):
    """Total variation of N x 1 x h x w masks: mean |row difference|^beta plus the same for columns.

    ``beta`` 2 (squared differences) is I-GOS's; the visual summaries use 3 (after Fong and
    Vedaldi), which forgives small steps more than large ones.
    """
    def power(d):
        return d.pow(2) if beta == 2 else d.abs().pow(beta)

    return power(m[..., 1:, :] - m[..., :-1, :]).flatten(1).mean(1) + \
           power(m[..., :, 1:] - m[..., :, :-1]).flatten(1).mean(1)


def bilateral_tv(m, up, image, sigma):
    """Half of TV(M) plus TV of the upsampled mask weighted by exp(-dI^2 / sigma)."""
    def edge(diff_img, diff_mask):
        weight = torch.exp(-diff_img.pow(2).mean(1, keepdim=True) / sigma)
        return (weight * diff_mask.pow(2)).flatten(1).mean(1)

    rows = edge(image[..., 1:, :] - image[..., :-1, :], up[..., 1:, :] - up[..., :-1, :])
    cols = edge(image[..., :, 1:] - image[..., :, :-1], up[..., :, 1:] - up[..., :, :-1])
    return 0.5 * (tv(m) + rows + cols)


class _Optimiser:
    """The mask optimisation of one batch of images; K = 1 mask (I-GOS) or 2 (iGOS++)."""

    def __init__(self, clf, x, targets, cfg, plusplus, seed):
        self.clf, self.x, self.cfg, self.plusplus = clf, x, cfg, plusplus
        self.targets = torch.as_tensor(targets, device=x.device)
        self.base = make_baseline(x, cfg["baseline"])
        self.size = tuple(x.shape[-2:])
        self.normalized = clf.normalize(x)  # the image the bilateral weights look at
        # One generator per image, all from the same seed: an image gets the same noise, and
        # so the same mask, whether it is explained alone or in a batch.
        self.generators = [torch.Generator(device=x.device).manual_seed(seed) for _ in range(len(x))]
        self.l1 = torch.full((len(x),), float(cfg["l1"]), device=x.device)
        steps = int(cfg["steps"])
        self.t = (torch.arange(1, steps + 1, device=x.device, dtype=x.dtype) / steps).view(1, 1, -1, 1, 1, 1)
        side = mask_side(cfg["size"], self.size)
        self.masks = torch.ones(len(x), 2 if plusplus else 1, side, side, device=x.device)
        # TV is a mean over neighbouring cells, so one boundary in the image costs about 28/side
        # times more on a coarser mask; l2 is tuned at the papers' 28 x 28, so scale it to keep
        # that cost the same at any resolution.
        self.l2 = float(cfg["l2"]) * side / 28

    def terms(self, masks):
        """(mask B x 1 x h x w, kind, sign) of each score term; 'del' keeps the image where M = 1."""
        if not self.plusplus:
            return [(masks, "del", 1.0)]
        md, mi = masks[:, :1], masks[:, 1:]
        both = md * mi
        return [(both, "del", 1.0), (both, "ins", -1.0), (md, "del", 1.0), (mi, "ins", -1.0)]

    def _repeat(self, tensor, reps):
        return tensor.repeat(reps, *([1] * (tensor.ndim - 1)))

    def paths(self, masks, t):
        """Images along the path of every term: B x terms x S x 3 x H x W (B = reps * N)."""
        reps = len(masks) // len(self.x)
        x, base = self._repeat(self.x, reps), self._repeat(self.base, reps)
        out = []
        for m, kind, _ in self.terms(masks):
            up = upsample_mask(m, self.size)[:, None, None] * t  # B x 1 x S x 1 x H x W
            keep, fill = (x, base) if kind == "del" else (base, x)
            out.append(compose(keep[:, None, None], fill[:, None, None], up))
        return torch.cat(out, 1)

    def signs(self, device):
        signs = torch.tensor([sign for _, _, sign in self.terms(self.masks)], device=device)
        return signs / 2 if self.plusplus else signs  # the papers average deletion and insertion

    def regulariser(self, masks):
        reps = len(masks) // len(self.x)
        m = masks.prod(1, keepdim=True)
        # 1 - M, not |1 - M| (the same on [0, 1]): the abs has a zero subgradient at M = 1, where
        # every mask starts, so the first direction would ignore the area cost that any step
        # then pays in full (the line search failed at every step on rocket: its mask never moved).
        area = self._repeat(self.l1, reps) * (1 - m).flatten(1).mean(1)
        if not self.plusplus:
            return area + self.l2 * tv(m)
        up = upsample_mask(m, self.size)
        return area + self.l2 * bilateral_tv(m, up, self._repeat(self.normalized, reps), self.cfg["sigma"])

    def _targets(self, images):
        reps, per_image = len(images) // len(self.x), images[0, :, :, 0, 0, 0].numel()
        return self._repeat(self.targets, reps).view(-1, 1).expand(-1, per_image).reshape(-1)

    def _path_score(self, scores, images):
        """Signed, path-averaged score per mask set from the flat scores of ``images``."""
        b, k, s = images.shape[:3]
        return (scores.view(b, k, s).mean(2) * self.signs(scores.device)).sum(1)

    def objective(self, masks, noise):
        """Loss of mask sets (B x K x h x w, B a multiple of N): the path-averaged scores plus the regulariser."""
        images = self.paths(masks, self.t) + noise.repeat(len(masks) // len(self.x), 1, 1, 1, 1, 1)
        scores = self.clf.scores(images.flatten(0, 2), self._targets(images))
        return self._path_score(scores, images) + self.regulariser(masks)

    def gradient(self, noise):
        """Loss at the current masks and its gradient: the integrated gradient plus the regulariser's."""
        masks = self.masks.detach().requires_grad_(True)
        with torch.enable_grad():
            images = self.paths(masks, self.t) + noise
            scores, grads = self.clf.gradients(images.detach().flatten(0, 2), self._targets(images))
            k, s = images.shape[1:3]
            weight = self.signs(grads.device).view(1, k, 1, 1, 1, 1) / s
            reg = self.regulariser(masks)
            (g,) = torch.autograd.grad([images, reg.sum()], masks,
                                       grad_outputs=[grads.view(images.shape) * weight, None])
        return self._path_score(scores, images) + reg.detach(), g

    def line_search(self, d, current, noise, start):
        """Armijo backtracking from ``start`` (per image), several candidate steps per batch."""
        n = len(self.x)
        count = int(math.floor(math.log(MIN_ALPHA / self.cfg["alpha"]) / math.log(DECAY))) + 1
        ladder = self.cfg["alpha"] * DECAY ** torch.arange(count, device=d.device, dtype=d.dtype)
        offset = torch.searchsorted(-ladder, -start)  # first rung at or below each image's start
        chosen = torch.full((n,), float(ladder[-1]), device=d.device)
        pending = torch.ones(n, dtype=torch.bool, device=d.device)
        slope = ARMIJO * d.pow(2).flatten(1).sum(1)
        batch = int(self.cfg["line_search_batch"])
        for j in range(0, count, batch):
            rungs = (offset.view(1, -1) + torch.arange(j, j + batch, device=d.device).view(-1, 1)).clamp(max=count - 1)
            alphas = ladder[rungs]  # batch x N
            cand = (self.masks[None] - alphas.view(batch, n, 1, 1, 1) * d[None]).clamp(0, 1)
            loss = self.objective(cand.flatten(0, 1), noise).view(batch, n)
            ok = (loss <= current[None] - alphas * slope[None]) & pending[None]
            hit = ok.any(0)
            chosen[hit] = alphas.gather(0, ok.float().argmax(0, keepdim=True))[0][hit]
            pending &= ~hit
            if not pending.any() or bool((offset + j + batch >= count).all()):
                break
        return chosen

    def point_scores(self):
        """Scores at the explanation mask itself, without noise: deletion and (iGOS++) insertion."""
        up = upsample_mask(self.masks.prod(1, keepdim=True), self.size)
        images = [compose(self.x, self.base, up)]
        if self.plusplus:
            images.append(compose(self.base, self.x, up))
        return self.clf.scores(torch.cat(images), self.targets.repeat(len(images))).view(len(images), -1)

    def adapt_l1(self, it, moved):
        """The authors' demo: relax the area penalty when the score has barely moved."""
        total = int(self.cfg["iterations"])
        if it == total // 2:
            self.l1 = torch.where(moved <= 1e-3, self.l1 / 10, self.l1)
        if it == int(total / 1.25):
            self.l1 = torch.where(moved <= 1e-2, self.l1 / 5, self.l1)

    def run(self, progress):
        n = len(self.x)
        keys = ("loss", "deletion_score", "insertion_score", "alpha", "l1")
        history = [{k: [] for k in keys} for _ in range(n)]
        start_score = self.point_scores()[0]
        alpha = torch.full((n,), float(self.cfg["alpha"]), device=self.x.device)
        d = torch.zeros_like(self.masks)
        for it in progress_bar(range(int(self.cfg["iterations"])), desc="iGOS++" if self.plusplus else "I-GOS",
                               enabled=progress):
            shape = (len(self.terms(self.masks)), self.t.shape[2]) + self.x.shape[1:]
            noise = torch.stack([torch.randn(shape, generator=g, device=self.x.device) for g in self.generators])
            noise = noise * self.cfg["noise"]
            loss, d = self.gradient(noise)
            # Warm start: at most one rung above the last accepted step, never above alpha.
            alpha = self.line_search(d, loss, noise, (alpha / DECAY).clamp(max=self.cfg["alpha"]))
            self.masks = (self.masks - alpha.view(-1, 1, 1, 1) * d).clamp(0, 1)
            scores = self.point_scores()
            if self.cfg["adapt_l1"]:
                self.adapt_l1(it + 1, (start_score - scores[0]).abs())
            for i, h in enumerate(history):
                for key, value in zip(keys, (loss[i], scores[0, i], scores[1, i] if self.plusplus else None,
                                             alpha[i], self.l1[i])):
                    h[key].append(None if value is None else float(value))
        return self.explanation(d), history

    def explanation(self, d):
        """(raw mask product, heat with ties broken by the last descent direction)."""
        m = self.masks.prod(1)
        push = d.sum(1)
        scale = push.flatten(1).abs().max(1).values.clamp_min(1e-12).view(-1, 1, 1)
        return m, (1 - m) + TIE_BREAK * push / scale


def _run(method, clf, images, target, preset, seed, progress, overrides):
    cfg = _settings(method, preset, clf.device, overrides)
    seed = checked_seed(seed)
    mask_side(cfg["size"], clf.size)  # refused before any pass

    def compute(clf, x, targets):
        (raw, heat), history = _Optimiser(clf, x, targets, cfg, method == "igos++", seed).run(progress)
        return raw, heat, history

    return run_heatmap(clf, images, target, compute, method,
                   {**cfg, "baseline": baseline_setting(cfg["baseline"]), "seed": seed})


def igos(clf, images, target=None, *, preset="auto", seed=0, progress=True, **settings):
    """I-GOS heatmap: a mask optimised with integrated gradients (Qi, Khorram, Li, AAAI 2020).

    Parameters
    ----------
    clf : xviz.Classifier
    images : image or list of images
        Any form :func:`xviz.images.load_image` accepts; a list gives a list of results,
        optimised together in one batch.
    target : int, str, list or None
        Class index or label; None explains each image's top-1 class.
    preset : {"auto", "paper", "fast"}
        ``"paper"``: 15 iterations, 20 integration steps, l1 1, l2 20. ``"fast"``: 10
        iterations of 8 steps, for CPUs (its quality against "paper" is in the README's
        benchmark table). ``"auto"``: paper on CUDA, fast on CPU.
    seed : int
        Seeds the path noise: the same seed gives the same mask.
    progress : bool
        A progress bar over the iterations.
    **settings
        Override any setting: ``size`` (mask side, "auto" = 28 at 224 x 224), ``iterations``,
        ``steps``, ``l1``, ``l2``, ``alpha`` (first line-search step), ``noise`` (std of the
        path noise in pixel units; 0.045 is the papers' 0.2 for ImageNet-normalised models), ``baseline`` ("blur", "black"), ``line_search_batch``
        (candidate steps scored per batch: "auto" = 4 on CUDA, 1 on CPU; the result does not
        depend on it), ``adapt_l1``.

    Returns
    -------
    Saliency or list of Saliency
        ``raw`` is the optimised mask M (1 = keep; low = important), ``mask`` its
        importance ``1 - M`` upsampled and scaled to [0, 1]; ``history`` holds the loss,
        deletion score, step size and l1 per iteration.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.igos(clf, xviz.zoo.image("digit-3"), iterations=3, progress=False)
    >>> sal.raw.shape, len(sal.history["loss"])
    ((4, 4), 3)
    """
    return _run("igos", clf, images, target, preset, seed, progress, settings)


def igos_pp(clf, images, target=None, *, preset="auto", seed=0, progress=True, **settings):
    """iGOS++ heatmap: deletion and insertion masks optimised together (Khorram et al., CHIL 2021).

    Same parameters as :func:`igos`; presets ``"paper"`` (20 iterations, 20 steps, l1 10,
    l2 20) and ``"fast"`` (10 iterations of 6 steps), plus ``sigma`` (the bilateral TV's
    edge sensitivity on the normalised image). ``raw`` is the product mask Md * Mi and
    ``history`` also holds the insertion score per iteration.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.igos_pp(clf, xviz.zoo.image("digit-3"), iterations=2, progress=False)
    >>> sal.method, len(sal.history["insertion_score"])
    ('igos++', 2)
    """
    return _run("igos++", clf, images, target, preset, seed, progress, settings)
