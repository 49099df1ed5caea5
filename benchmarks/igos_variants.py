"""The experiment log behind I-GOS / iGOS++'s settings: variants of the optimisation and of the
final cell ranking, scored by ``benchmarks/faithfulness.py``'s independent scorer.

Each variant runs the optimiser of ``xviz/methods/igos.py`` (its private ``_Optimiser``,
subclassed here to record every iteration's masks and descent direction and to try things the
public functions do not offer: a schedule of l1, coarse-to-fine masks, noise calibrated per
image), then ranks the cells in several ways from the same run, so that a ranking is compared
on the very same masks. ``xviz/methods/igos.py``'s notes ("What made the difference") quote
the means this script printed (run on a CUDA machine, where a sweep takes minutes; on a
2-core CPU one variant on six photos takes about 2 minutes quiet).

Rankings (the heat whose cell averages order the cells; ``d_t``: the descent direction of
iteration t, summed over the masks; "scaled": divided by its largest magnitude):

- ``mask``: ``1 - M`` alone;
- ``last``: ``1 - M`` + 0.001 x the last ``d`` scaled (xviz before 2026-12-04);
- ``summed-W``: ``1 - M`` + W x (sum of ``d_t``) scaled (xviz since, W = 0.1);
- ``trajectory``: 1 - the mean of M over the iterations, + 0.001 x the last ``d``;
- ``Md+Mi``, ``Md``, ``Mi`` (iGOS++): the two masks added, or one alone, + 0.001 x the last ``d``;
- ``smooth-S``: the ``last`` heat smoothed by a Gaussian of S cells.

Added 2026-12-04 (``Md``, ``Mi``: the final masks; ``sd``, ``si``: each mask's summed direction;
"parts": the directions split by term, recorded by ``Recorded.gradient`` at no extra model
pass; the iGOS++ default since then is ``Md-summed-0.05``):

- ``Md-summed-W``, ``Mi-summed-0.1``, ``Md+Mi-summed-0.1``, ``MdMi^0.5-summed-0.1``: that mask
  term (``1 - Md``, ``1 - Mi``, ``1 - (Md + Mi) / 2``, ``1 - Md sqrt(Mi)``) + W x summed;
- ``sep-WD-WI``: ``1 - M`` + WD x ``sd`` scaled + WI x ``si`` scaled;
- ``ins-W``, ``del-W``, ``model-W``: ``1 - M`` + W x the summed directions of the insertion
  terms, of the deletion terms, of both (no regulariser); ``ins+del-scaled-0.1``,
  ``summed+ins-0.1``, ``summed+reg-0.1``: sums of those, each scaled;
  ``unmoved-ins-0.1`` / ``unmoved-model-0.1``: the insertion / model terms' directions for the
  cells still above 0.99, the summed elsewhere;
- ``summed-norm-0.1`` (each ``d_t`` scaled before summing), ``summed-late-0.1`` (``d_t``
  weighted by t);
- smoothing (a Gaussian of S cells): ``summed-0.1-smooth-S`` (the whole heat),
  ``summed-smoothed-S-0.1`` (only the summed directions), ``mask-smoothed-S-0.1`` (only the
  mask), ``summed-0.1+smoothed-1.0-W`` (the sharp and the smoothed directions),
  ``Mi-dir-smoothed-S-0.1`` (only ``si``), ``ins-parts-smoothed-S-0.1`` (only the insertion
  terms' directions), ``Md-summed-0.1-ins-smoothed``, ``Md-summed-0.1+smoothed-1.0-0.05``.

Pixel rankings (item 4 of the notes; the heat ``Md-summed-0.05`` upsampled to the image as a
result's mask is, plus W x the pixel-resolution directions summed over the iterations, which
``Recorded`` keeps as ``pixel``): ``Md-summed-0.05+pixel-W`` (divided by their 99th
percentile of magnitude), ``...+pixel-clipped-W`` (then clipped to [-1, 1]: xviz's default,
W = 0.01), ``...+pixel-max-W`` (divided by the largest magnitude), ``...+pixel-smoothed-S-0.01``
(a Gaussian of S pixels first). Score them with ``--protocols hard,soft,pixel``.

Optimisation variants added the same day: ``area-A-B-C`` (the area term
``l1 (A mean(1 - Md Mi) + B mean(1 - Md) + C mean(1 - Mi))``; xviz is 1-0-0) and
``rungs-up-R`` (the line search starts R rungs above the last accepted step; xviz is 1).

``--save DIR`` keeps every run (final masks, each iteration's masks, direction and per-term
directions) and rescoring a saved run costs no optimisation; ``--rankings`` and
``--protocols`` restrict the scoring (hard only is about half the cost of hard and soft).
Run it with the checkout's xviz first on the path (``PYTHONPATH=.``): the script's folder,
not the current one, is what Python puts there.

Run:  python benchmarks/igos_variants.py --variants noise-0.045,noise-0.02 --seeds 0,1,2 --out runs.jsonl
      python benchmarks/igos_variants.py --summary runs.jsonl
      PYTHONPATH=. python benchmarks/igos_variants.py --variants noise-0.02 --seeds 0,1,2 --save runs \
          --protocols hard,soft --rankings summed-0.1,Md-summed-0.05 --out cpu.jsonl
"""
import argparse
import collections
import importlib
import json
import math
import statistics
import time

import faithfulness as fb
import torch
import torch.nn.functional as F

ig = importlib.import_module("xviz.methods.igos")

# name: (iGOS++?, preset, stages); a stage is settings for ig._settings plus, optionally,
# "schedule" (l1 per iteration) and "calibrate" (halve the noise until noisy copies of the
# image keep this share of its score). Noise is always given: the default changed.
PP, IGOS = True, False
VARIANTS = {
    **{f"noise-{n}": (PP, "fast", [{"noise": n}]) for n in (0.045, 0.02, 0.01, 0.005, 0.0)},
    "noise-calibrated-0.5": (PP, "fast", [{"noise": 0.045, "calibrate": 0.5}]),
    "noise-calibrated-0.8": (PP, "fast", [{"noise": 0.045, "calibrate": 0.8}]),
    "igos-noise-0.045": (IGOS, "fast", [{"noise": 0.045}]),
    "igos-noise-0.01": (IGOS, "fast", [{"noise": 0.01}]),
    "paper-noise-0.045": (PP, "paper", [{"noise": 0.045}]),
    "igos-paper-noise-0.045": (IGOS, "paper", [{"noise": 0.045}]),
    **{f"l1-{v}": (PP, "fast", [{"noise": 0.045, "l1": v}]) for v in (1.0, 3.0, 30.0)},
    **{f"l2-{v}": (PP, "fast", [{"noise": 0.045, "l2": v}]) for v in (5.0, 60.0)},
    "no-adapt-l1": (PP, "fast", [{"noise": 0.045, "adapt_l1": False}]),
    "15x4": (PP, "fast", [{"noise": 0.045, "iterations": 15, "steps": 4}]),
    "20x3": (PP, "fast", [{"noise": 0.045, "iterations": 20, "steps": 3}]),
    **{f"l1-schedule-{a}-{b}": (PP, "fast", [{"noise": 0.045, "schedule": [a * (b / a) ** (i / 9) for i in range(10)]}])
       for a, b in ((10, 1), (30, 1), (3, 0.3))},
    "coarse-7-14-28": (PP, "fast", [{"noise": 0.045, "size": 7, "iterations": 3},
                                    {"noise": 0.045, "size": 14, "iterations": 3},
                                    {"noise": 0.045, "size": 28, "iterations": 4}]),
    "coarse-14-28": (PP, "fast", [{"noise": 0.045, "size": 14, "iterations": 5},
                                  {"noise": 0.045, "size": 28, "iterations": 5}]),
    "size-14": (PP, "fast", [{"noise": 0.045, "size": 14}]),
    "noise-0.01-coarse-14-28": (PP, "fast", [{"noise": 0.01, "size": 14, "iterations": 5},
                                             {"noise": 0.01, "size": 28, "iterations": 5}]),
    "noise-0.01-l1-3": (PP, "fast", [{"noise": 0.01, "l1": 3.0}]),
    "noise-0.01-15x4": (PP, "fast", [{"noise": 0.01, "iterations": 15, "steps": 4}]),
    "20x6": (PP, "fast", [{"noise": 0.045, "iterations": 20}]),
    "igos-l1-3": (IGOS, "fast", [{"noise": 0.045, "l1": 3.0}]),
    "igos-noise-calibrated-0.5": (IGOS, "fast", [{"noise": 0.045, "calibrate": 0.5}]),
    "paper-noise-calibrated-0.5": (PP, "paper", [{"noise": 0.045, "calibrate": 0.5}]),
    "noise-calibrated-0.5-l1-3": (PP, "fast", [{"noise": 0.045, "calibrate": 0.5, "l1": 3.0}]),
    "noise-calibrated-0.5-15x4": (PP, "fast", [{"noise": 0.045, "calibrate": 0.5, "iterations": 15, "steps": 4}]),
    # since 2026-12-04's defaults (noise 0.02): the area term split between the masks, the line-search start
    **{f"area-{a}-{b}-{c}": (PP, "fast", [{"noise": 0.02, "area": (a, b, c)}])
       for a, b, c in ((1, 0, 0), (0.5, 0, 0.5), (0.5, 0.5, 0), (0, 0.5, 0.5), (0.5, 0, 0))},
    **{f"rungs-up-{r}": (PP, "fast", [{"noise": 0.02, "rungs_up": r}]) for r in (0, 2)},
    "noise-calibrated-0.5-coarse-14-28": (PP, "fast", [{"noise": 0.045, "calibrate": 0.5, "size": 14, "iterations": 5},
                                                       {"noise": 0.045, "calibrate": 0.5, "size": 28, "iterations": 5}]),
}


class Recorded(ig._Optimiser):
    """The optimiser, recording each iteration's masks and direction; optionally an l1 schedule."""

    schedule = None
    area = None  # (weight of mean(1 - Md * Mi), of mean(1 - Md), of mean(1 - Mi)) in the area term; None: (1, 0, 0)
    rungs_up = 1  # the line search starts this many rungs above the last accepted step (xviz: 1)

    def regulariser(self, masks):
        if self.area is None or not self.plusplus:
            return super().regulariser(masks)
        reps = len(masks) // len(self.x)
        l1 = self._repeat(self.l1, reps)
        wp, wd, wi = self.area
        m = masks.prod(1, keepdim=True)
        area = l1 * (wp * (1 - m).flatten(1).mean(1) + wd * (1 - masks[:, 0]).flatten(1).mean(1)
                     + wi * (1 - masks[:, 1]).flatten(1).mean(1))
        up = ig.upsample_mask(m, self.size)
        return area + self.l2 * ig.bilateral_tv(m, up, self._repeat(self.normalized, reps), self.cfg["sigma"])

    def objective(self, masks, noise):
        self.passes = getattr(self, "passes", 0) + len(masks) * noise[0].shape[0] * noise[0].shape[1]
        return super().objective(masks, noise)

    def adapt_l1(self, it, moved):
        if self.schedule is None:
            return super().adapt_l1(it, moved)
        if it < len(self.schedule):
            self.l1 = torch.full_like(self.l1, float(self.schedule[it]))

    def gradient(self, noise):
        """The parent's loss and direction, plus the direction split by term (recorded, no extra pass).

        ``self.parts``: the integrated gradient of each score term (``terms()``'s order: for iGOS++
        Md*Mi deletion, Md*Mi insertion, Md deletion, Mi insertion) and the regulariser's, each
        N x K x h x w; they add up to the direction (up to rounding). Only backward passes through
        the cheap composition of the images are added, not model passes.
        """
        masks = self.masks.detach().requires_grad_(True)
        with torch.enable_grad():
            ups = self.upsampled(masks)
            images = self.paths(masks, self.t, ups) + noise
            scores, grads = self.clf.gradients(images.detach().flatten(0, 2), self._targets(images))
            k, s = images.shape[1:3]
            weight = self.signs(grads.device).view(1, k, 1, 1, 1, 1) / s
            reg = self.regulariser(masks)
            out = grads.view(images.shape) * weight
            g, *per_term = torch.autograd.grad([images, reg.sum()], [masks, *ups], grad_outputs=[out, None],
                                               retain_graph=True)
            self.pixel_direction = torch.stack(per_term).sum(0)[:, 0].detach()
            parts = []
            for j in range(k):
                only = torch.zeros_like(out)
                only[:, j] = out[:, j]
                parts.append(torch.autograd.grad(images, masks, grad_outputs=only, retain_graph=True)[0])
            parts.append(torch.autograd.grad(reg.sum(), masks)[0])
        self.parts = torch.stack(parts, 1).detach()  # N x (terms + 1) x K x h x w
        return self._path_score(scores, images) + reg.detach(), g

    def line_search(self, d, current, noise, start):
        if self.rungs_up != 1:
            start = (start * ig.DECAY ** (1 - self.rungs_up)).clamp(max=self.cfg["alpha"])
        alpha = super().line_search(d, current, noise, start)
        # masks *before* this iteration's step (the step is taken after the line search)
        self.record.append({"masks": self.masks.clone(), "d": d.clone(), "parts": self.parts.clone(),
                            "alpha": alpha.clone(), "l1": self.l1.clone(), "pixel": self.pixel_direction.clone()})
        return alpha

    def calibrated_noise(self, keep, samples=8, tries=5):
        std = float(self.cfg["noise"])
        g = torch.Generator(device=self.x.device).manual_seed(1234)
        clean = float(self.clf.scores(self.x, self.targets)[0])
        for _ in range(tries):
            noisy = self.x + std * torch.randn((samples,) + self.x.shape[1:], generator=g, device=self.x.device)
            if float(self.clf.scores(noisy, self.targets.expand(samples)).mean()) >= keep * clean:
                return std
            std /= 2
        return 0.0


def optimise(clf, x, target, variant, seed):
    """Run one variant on one image; (final optimiser, record over all stages, noise used)."""
    plusplus, preset, stages = VARIANTS[variant]
    record, masks, noises = [], None, []
    for stage in stages:
        stage = dict(stage)
        schedule, keep = stage.pop("schedule", None), stage.pop("calibrate", None)
        area, rungs_up = stage.pop("area", None), stage.pop("rungs_up", 1)
        cfg = ig._settings("igos++" if plusplus else "igos", preset, clf.device, stage)
        if schedule is not None:
            cfg.update(l1=float(schedule[0]), adapt_l1=True)
        opt = Recorded(clf, x, [target], cfg, plusplus, seed)
        opt.schedule, opt.record, opt.area, opt.rungs_up = schedule, [], area, rungs_up
        if keep is not None:
            opt.cfg = dict(cfg, noise=opt.calibrated_noise(keep))
        if masks is not None:  # warm start from the coarser stage
            side = opt.masks.shape[-1]
            opt.masks = F.interpolate(masks, size=(side, side), mode="bilinear", align_corners=True).clamp(0, 1)
        opt.run(False)
        masks = opt.masks
        record += opt.record
        noises.append(opt.cfg["noise"])
    return opt, record, noises


def scaled(t):
    return t / t.abs().max().clamp_min(1e-12)


def gaussian(h, sigma):
    r = int(math.ceil(3 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=h.dtype, device=h.device) ** 2 / (2 * sigma ** 2))
    k = (k / k.sum()).view(1, 1, 1, -1)
    y = F.pad(h[None, None], (r, r, r, r), mode="replicate")
    return F.conv2d(F.conv2d(y, k), k.transpose(2, 3))[0, 0]


def rankings(masks, plusplus, record, only=None):
    """{name: h x w heat} from one run (see the module docstring); ``masks`` the final K x h x w masks."""
    side = masks.shape[-1]

    def fit(t):  # an earlier, coarser stage's map at the final side
        return t if t.shape[-1] == side else F.interpolate(t[None, None], size=(side, side), mode="bilinear",
                                                           align_corners=True)[0, 0]

    m = masks.prod(0)
    last = scaled(record[-1]["d"][0].sum(0))
    summed = scaled(torch.stack([fit(r["d"][0].sum(0)) for r in record]).sum(0))
    trajectory = torch.stack([fit(r["masks"][0].prod(0)) for r in record]).mean(0)
    out = {"mask": 1 - m, "last": (1 - m) + 1e-3 * last, "trajectory": (1 - trajectory) + 1e-3 * last}
    out.update({f"summed-{w}": (1 - m) + w * summed for w in (0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 1.0)})
    if plusplus:
        md, mi = masks[0], masks[1]
        sd = torch.stack([fit(r["d"][0, 0]) for r in record]).sum(0)
        si = torch.stack([fit(r["d"][0, 1]) for r in record]).sum(0)
        out.update({"Md+Mi": (2 - md - mi) + 1e-3 * last, "Md": (1 - md) + 1e-3 * last, "Mi": (1 - mi) + 1e-3 * last})
        out.update({f"Md-summed-{w}": (1 - md) + w * summed for w in (0.05, 0.2)})
        out.update({"MdMi^0.5-summed-0.1": (1 - md * mi.sqrt()) + 0.1 * summed,
                    "Md-summed-0.1-ins-smoothed": (1 - md) + 0.1 * scaled(sd + gaussian(si, 1.0))})
        out["Md-summed-0.1+smoothed-1.0-0.05"] = (1 - md) + 0.1 * summed + 0.05 * scaled(gaussian(summed, 1.0))
        out.update({"Md-summed-0.1": (1 - md) + 0.1 * summed, "Mi-summed-0.1": (1 - mi) + 0.1 * summed,
                    "Md+Mi-summed-0.1": (2 - md - mi) / 2 + 0.1 * summed})
        # the summed directions of each mask, weighted separately
        sd = torch.stack([fit(r["d"][0, 0]) for r in record]).sum(0)
        si = torch.stack([fit(r["d"][0, 1]) for r in record]).sum(0)
        for wd, wi in ((0.1, 0.0), (0.0, 0.1), (0.05, 0.1), (0.1, 0.05), (0.1, 0.2), (0.2, 0.1)):
            out[f"sep-{wd}-{wi}"] = (1 - m) + wd * scaled(sd) + wi * scaled(si)
        if "parts" in record[0]:
            # parts: N x (terms + 1) x K x h x w; terms Md*Mi del, Md*Mi ins, Md del, Mi ins, then the regulariser
            parts = torch.stack([r["parts"][0] for r in record]).sum(0)  # (terms + 1) x K x h x w
            ins = parts[[1, 3]].sum((0, 1))
            dele = parts[[0, 2]].sum((0, 1))
            reg = parts[4].sum(0)
            model = ins + dele
            for w in (0.1, 0.3):
                out[f"ins-{w}"] = (1 - m) + w * scaled(ins)
                out[f"del-{w}"] = (1 - m) + w * scaled(dele)
                out[f"model-{w}"] = (1 - m) + w * scaled(model)
            out["ins+del-scaled-0.1"] = (1 - m) + 0.1 * scaled(scaled(ins) + scaled(dele))
            out["summed+ins-0.1"] = (1 - m) + 0.1 * scaled(summed + scaled(ins))
            out["summed+reg-0.1"] = (1 - m) + 0.1 * scaled(summed + scaled(reg))
            # cells the mask never moved ranked by the insertion terms' directions only
            still = m > 0.99
            out["unmoved-ins-0.1"] = (1 - m) + 0.1 * torch.where(still, scaled(ins), summed)
            out["unmoved-model-0.1"] = (1 - m) + 0.1 * torch.where(still, scaled(model), summed)
        # each iteration's direction scaled before summing; later iterations weighted more
        out["summed-norm-0.1"] = (1 - m) + 0.1 * scaled(torch.stack([scaled(fit(r["d"][0].sum(0))) for r in record]).sum(0))
        n = len(record)
        out["summed-late-0.1"] = (1 - m) + 0.1 * scaled(torch.stack([(i + 1) / n * fit(r["d"][0].sum(0))
                                                                      for i, r in enumerate(record)]).sum(0))
    out.update({f"smooth-{s}": gaussian(out["last"], s) for s in (0.5, 1.0, 2.0)})
    for s in (0.5, 1.0):  # the whole heat smoothed, or only the summed directions (the unmoved cells' order)
        out[f"summed-0.1-smooth-{s}"] = gaussian(out["summed-0.1"], s)
        out[f"summed-smoothed-{s}-0.1"] = (1 - m) + 0.1 * scaled(gaussian(summed, s))
        out[f"mask-smoothed-{s}-0.1"] = (1 - gaussian(m, s)) + 0.1 * summed
    for s in (0.3, 0.7):
        out[f"summed-smoothed-{s}-0.1"] = (1 - m) + 0.1 * scaled(gaussian(summed, s))
    for w in (0.05, 0.1):  # the sharp and the smoothed summed directions both
        out[f"summed-0.1+smoothed-1.0-{w}"] = (1 - m) + 0.1 * summed + w * scaled(gaussian(summed, 1.0))
    if plusplus:
        for s in (0.5, 1.0):  # only the insertion mask's direction smoothed (it gains from whole regions)
            out[f"Mi-dir-smoothed-{s}-0.1"] = (1 - m) + 0.1 * scaled(sd + gaussian(si, s))
            if "parts" in record[0]:
                out[f"ins-parts-smoothed-{s}-0.1"] = (1 - m) + 0.1 * scaled(gaussian(ins, s) + dele + reg)
    if plusplus and "pixel" in record[0]:
        out.update(pixel_rankings(out["Md-summed-0.05"], torch.stack([r["pixel"][0] for r in record]).sum(0)))
    if only:
        out = {k: v for k, v in out.items() if k in only}
    return out


def pixel_rankings(heat, pixel):
    """Item 4 of igos.py's notes: the cell heat upsampled as a Saliency's mask, plus the summed
    pixel-resolution directions (H x W) in several forms; xviz's default is ``...pixel-clipped-0.01``."""
    up = F.interpolate(heat[None, None], size=tuple(pixel.shape), mode="bilinear", align_corners=False)[0, 0]
    p99 = pixel.abs().flatten().quantile(0.99).clamp_min(1e-12)
    out = {f"Md-summed-0.05+pixel-{w}": up + w * pixel / p99 for w in (0.0075, 0.01, 0.015)}
    out.update({f"Md-summed-0.05+pixel-clipped-{w}": up + w * (pixel / p99).clamp(-1, 1) for w in (0.01, 0.02)})
    out.update({f"Md-summed-0.05+pixel-max-{w}": up + w * scaled(pixel) for w in (0.01, 0.03, 0.05)})
    for s in (1.0, 2.0):
        smooth = gaussian(pixel, s)
        out[f"Md-summed-0.05+pixel-smoothed-{s}-0.01"] = up + 0.01 * smooth / smooth.abs().flatten().quantile(0.99)
    return out


def score_run(score, clf, x, base, target, masks, plusplus, record, only, protocols):
    from xviz.methods.heatmap import normalize_map
    rows = {}
    for name, heat in rankings(masks, plusplus, record, only).items():
        full = normalize_map(heat[None].float(), clf.size)[0]  # as the Saliency's mask
        pm = fb.protocol_masks(full.detach().cpu(), tuple(x.shape[-2:]))
        result = fb.aucs(score, x, base, target, {p: pm[p] for p in protocols})
        rows[name] = {f"{p}_{k}": v for p, pair in result.items() for k, v in zip(("deletion", "insertion"), pair)}
    return rows


def sweep(args):
    import os

    import xviz
    clf = xviz.zoo.efficientnet_lite0()
    only = set(args.rankings.split(",")) if args.rankings else None
    protocols = args.protocols.split(",")
    with clf.session():
        score = fb.Scorer(clf.model, clf.mean, clf.std)
        for photo in args.photos.split(","):
            x, _ = clf.prepare(xviz.zoo.image(photo))
            base, target = fb.gaussian_blur(x), int(clf.logits(x).argmax(1))
            for variant in args.variants.split(","):
                for seed in map(int, args.seeds.split(",")):
                    saved = os.path.join(args.save, f"{variant}_{photo}_{seed}.pt") if args.save else None
                    if saved and os.path.exists(saved):
                        run = torch.load(saved)
                    else:
                        start = time.perf_counter()
                        opt, record, noises = optimise(clf, x, target, variant, seed)
                        run = {"masks": opt.masks[0].detach(), "plusplus": opt.plusplus, "noises": noises,
                               "line_search_passes": getattr(opt, "passes", 0),
                               "seconds": time.perf_counter() - start,
                               "record": [{k: v.detach() for k, v in r.items()} for r in record]}
                        if saved:
                            os.makedirs(args.save, exist_ok=True)
                            torch.save(run, saved)
                    if args.no_score:
                        print(photo, variant, seed, f"{run['seconds']:.1f} s", flush=True)
                        continue
                    m = run["masks"].prod(0)
                    scored = score_run(score, clf, x, base, target, run["masks"], run["plusplus"], run["record"],
                                       only, protocols)
                    for name, res in scored.items():
                        row = {"photo": photo, "variant": variant, "seed": seed, "ranking": name,
                               "seconds": run["seconds"], "noise": run["noises"],
                               "cells_above_0.99": int((m > 0.99).sum()), **res}
                        with open(args.out, "a") as f:
                            f.write(json.dumps(row) + "\n")
                    print(photo, variant, seed, f"{run['seconds']:.1f} s", flush=True)


def summary(path):
    """Means over photos and seeds per variant and ranking, with the spread between seeds."""
    groups = collections.defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        groups[(r["variant"], r["ranking"])].append(r)
    keys = [f"{p}_{k}" for p in fb.PROTOCOLS for k in ("deletion", "insertion") if f"{p}_{k}" in r]
    photos = list(dict.fromkeys(r["photo"] for rows in groups.values() for r in rows))
    print("| variant | ranking | runs | " + " | ".join(keys) + " | seed spread (hard del, soft ins) | hard ins: "
          + ", ".join(photos) + " |")
    print("|---|---|---|" + "---|" * (len(keys) + 2))
    for (variant, ranking), rows in groups.items():
        by_seed = collections.defaultdict(list)
        for r in rows:
            by_seed[r["seed"]].append(r)

        def spread(k):
            if k not in keys:
                return float("nan")
            means = [statistics.mean(r[k] for r in rs) for rs in by_seed.values()]
            return max(means) - min(means)

        cells = [f"{statistics.mean(r[k] for r in rows):.3f}" for k in keys]
        per_photo = [statistics.mean(r["hard_insertion"] for r in rows if r["photo"] == p)
                     if any(r["photo"] == p for r in rows) else float("nan") for p in photos]
        print(f"| {variant} | {ranking} | {len(rows)} | " + " | ".join(cells) +
              f" | {spread('hard_deletion'):.3f}, {spread('soft_insertion'):.3f} | "
              + ", ".join(f"{v:.3f}" for v in per_photo) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default=",".join(fb.PHOTOS))
    parser.add_argument("--variants", default="noise-0.045,noise-0.02", help=f"of: {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", default="igos_variants.jsonl", help="rows are appended to this JSONL file")
    parser.add_argument("--summary", metavar="JSONL", help="only print the means of an earlier run")
    parser.add_argument("--save", metavar="DIR", help="keep each run's masks and record here (and reuse them: "
                        "a saved run is rescored, not rerun)")
    parser.add_argument("--no-score", action="store_true", help="only optimise (and --save)")
    parser.add_argument("--rankings", help="score only these rankings (comma-separated)")
    parser.add_argument("--protocols", default=",".join(fb.PROTOCOLS), help="score only these protocols")
    args = parser.parse_args()
    if args.summary:
        summary(args.summary)
    else:
        sweep(args)


if __name__ == "__main__":
    main()
