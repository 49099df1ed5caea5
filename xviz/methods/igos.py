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
- the path noise is 0.02 in pixel units by default, less than half the papers' (below);
- the heat that ranks the cells is not ``1 - M`` alone but ``1 - M`` plus 0.1 times the
  descent directions summed over all iterations (below); for iGOS++ ``1 - Md`` (the
  deletion mask alone, not the product Md * Mi) plus 0.05 times them (item 3), upsampled to
  the image, plus 0.01 times the same directions at pixel resolution (item 4).

What made the difference (ALGORITHMS notes, measured)
-----------------------------------------------------
Measured with ``benchmarks/faithfulness.py``'s independent deletion/insertion scorer
(EfficientNet-Lite0, the six bundled photos, 28 x 28 cells, blurred baseline; "hard": each
cell removed whole, "soft": the binary cell mask upsampled bilinearly) on the iGOS++ fast
preset, means over the photos as hard deletion / insertion, soft deletion / insertion
(lower deletion, higher insertion is better). The search ran on a CUDA machine (a sweep
script around this module, three seeds where marked); the README's table is the CPU rerun.

1. The path noise. With the papers' 0.2 in ImageNet-normalised units (0.045 in pixels),
   EfficientNet-Lite0 loses the class to the noise alone on some photos: rocket's
   "drilling platform" falls from p = 0.54 to p < 0.011 on every noisy copy of the full
   image. Every point of every path is then scored near zero, the objective is flat, and
   neither I-GOS's nor iGOS++'s mask moved at all on rocket (all 784 cells stayed above
   0.99, deletion score unchanged over the 10 iterations). The mean score of noisy copies
   at noise 0.045 / 0.02 / 0.01: rocket 0.004 / 0.029 / 0.095 (clean 0.54), astronaut
   0.070 / 0.110 / 0.132 (clean 0.30), chelsea 0.52 / 0.73 / 0.79 (clean 0.79). At 0.02
   rocket's mask still stays put (item 2 ranks its cells). Noise (three seeds each):
   0.045: 0.108 / 0.530, 0.090 / 0.557; 0.02: 0.093 / 0.532, 0.083 / 0.592; 0.01: 0.088 /
   0.503, 0.085 / 0.592; 0.005 (two seeds): 0.095 / 0.495, 0.084 / 0.573; none: 0.123 /
   0.544, 0.111 / 0.594 (the noise does smooth the deletion gradient); halving it per image
   until the noisy photo keeps half its score: 0.104 / 0.518, 0.088 / 0.569.
2. The final ranking. In 10 iterations at l1 10 the optimiser moves only part of the mask:
   on the six photos 600 to 784 of the 784 cells stay above 0.99, so the cell order the
   metrics see is mostly decided by how cells that the mask never reached are ranked. The
   last descent direction (one noise draw, used before only to break exact ties) ranks
   them poorly; the descent directions summed over all iterations (every noise draw, every
   point the mask passed through, both masks' integrated gradients and the regulariser's
   pull towards the mask's boundary) rank them well. Weighted 0.1 against ``1 - M``, the
   mask still decides between cells it moved by more than 0.2 apart. Noise 0.02 with the
   summed directions at weight 0.1 (three seeds): 0.078 / 0.557, 0.071 / 0.615; the spread
   between seeds fell from 0.013 (hard deletion) and 0.070 (soft insertion) to 0.003 and
   0.006. Weights 0.001 / 0.01 / 0.1 at noise 0.02: 0.089 / 0.536, 0.083 / 0.603; 0.085 /
   0.559, 0.076 / 0.604; 0.078 / 0.557, 0.071 / 0.615.
3. iGOS++: the deletion mask Md, not Md * Mi, in the heat, and the summed directions at 0.05.
   Measured on a 2-core CPU (one thread; ``benchmarks/igos_variants.py --save``, every
   ranking scored on the very same 18 runs: six photos, seeds 0, 1, 2), the heat of item 2
   gave 0.079 / 0.560, 0.073 / 0.619 (seed 0: 0.075 / 0.555; the README's 0.546 hard
   insertion is seed 0 on another machine, whose line searches differ in rounding), and
   ``1 - Md`` + 0.05 x the summed directions 0.076 / 0.566, 0.071 / 0.629: better on all
   four in the mean and on hard deletion and both insertions in each seed (hard insertion
   +0.001 / +0.007 / +0.011 for seeds 0 / 1 / 2). Per photo it is not better everywhere
   (hard insertion on coffee, seeds 0 / 1 / 2: 0.445 / 0.453 / 0.467 before, 0.428 / 0.478
   / 0.517 after). ``1 - Md`` at weight 0.1 / 0.2: 0.077 / 0.564, 0.070 / 0.625; 0.077 /
   0.560, 0.069 / 0.625; ``1 - Md * sqrt(Mi)`` at 0.1: 0.078 / 0.563, 0.072 / 0.621. The
   insertion mask Mi keeps only part of the image and so decides the order of the cells it
   moved by how they help a reconstruction, not a deletion; Md alone orders them by what
   removing them costs, and the insertion objective still enters through the directions.

4. iGOS++: the pixels inside a cell ordered by the directions at pixel resolution. The
   mask has 28 x 28 cells, so a map ranked pixel by pixel (the benchmark's "pixel"
   protocol) only had the bilinear upsampling of the cells to order the 64 pixels of a
   cell, and lost to integrated gradients on deletion and to KernelSHAP on superpixels on
   insertion (0.069 / 0.457 against 0.046 and 0.584, seed 0). The score terms' gradient
   with respect to their upsampled masks is what the upsampling's adjoint averages into
   the cells' direction; summed over the iterations, divided by its 99th percentile of
   magnitude, clipped to [-1, 1] and added at 0.01 to the upsampled heat, it orders the
   pixels inside a cell and hardly moves the cells. It costs no model pass (the same
   backward pass, kept before the averaging). Measured with ``benchmarks/faithfulness.py
   --seed`` and ``benchmarks/igos_variants.py``'s pixel rankings (``--protocols
   hard,soft,pixel``). Seeds 0 / 1 / 2, pixel deletion / insertion:
   0.048 / 0.580, 0.049 / 0.586, 0.068 / 0.584 (before: 0.069 / 0.457, 0.071 / 0.450, 0.070
   / 0.441); hard 0.075 / 0.560, 0.076 / 0.560, 0.078 / 0.582 (before: 0.073 / 0.554, 0.075 /
   0.552, 0.078 / 0.581); soft 0.068 / 0.620, 0.071 / 0.629, 0.073 / 0.641 (before: 0.069 /
   0.618, 0.073 / 0.633, 0.073 / 0.641). Seed 0, other forms: not clipped, weights 0.0075 /
   0.01 / 0.015 (0.051 / 0.582, 0.047 / 0.580, 0.043 / 0.564 pixel; hard deletion 0.076 /
   0.077 / 0.079); scaled by the largest magnitude instead, 0.01 to 0.05 (pixel 0.067 /
   0.530 to 0.047 / 0.567); smoothed by a Gaussian of 1 or 2 pixels (pixel 0.056-0.068 /
   0.495-0.540); clipped at 0.02 (0.039 / 0.543). Chelsea on seed 2 gains nothing at pixel
   level (0.211 to 0.216 deletion): its mask moved 293 cells, and 0.01 cannot reorder
   pixels across the heat's steep slopes there. I-GOS keeps its cell heat: it orders SAG's
   regions, whose results would move, and its pixel scores were not measured with it.

Tried and not kept (noise 0.045, the old ranking, one seed unless said; the seed-to-seed
spread of this setting is about 0.01 on deletion and up to 0.07 on insertion):
the mean of the mask over the iterations as the heat (0.105 / 0.525, 0.088 / 0.562, three
seeds); Md + Mi or Md or Mi alone instead of Md * Mi (0.108 / 0.530, 0.090 / 0.558;
0.119 / 0.524, 0.092 / 0.560; 0.106 / 0.531, 0.094 / 0.559); smoothing the heat over
neighbouring cells (Gaussian, sigma 0.5 / 1 / 2 cells: insertion fell to 0.478 / 0.458 /
0.467 hard); l1 1 / 3 / 30 (0.116 / 0.538, 0.101 / 0.557; 0.113 / 0.529, 0.090 / 0.549;
0.109 / 0.479, 0.085 / 0.545); l2 5 / 60 (0.106 / 0.534, 0.086 / 0.558; 0.109 / 0.515,
0.086 / 0.543); no adaptive l1 (0.114 / 0.496, 0.095 / 0.530); the same passes as 15
iterations of 4 steps or 20 of 3 (0.107 / 0.531, 0.082 / 0.557; 0.111 / 0.498, 0.086 /
0.555); l1 lowered along the iterations, warm-starting each (10 to 1, 30 to 1, 3 to 0.3:
0.112 / 0.514, 0.091 / 0.546; 0.110 / 0.483, 0.086 / 0.521; 0.117 / 0.530, 0.097 /
0.549); coarse-to-fine masks (7, 14 then 28 cells: 0.117 / 0.523, 0.090 / 0.556; 14 then
28: 0.097 / 0.550, 0.081 / 0.572, but with the kept changes no better than without them,
0.083 / 0.552, 0.073 / 0.598, two seeds); a 14 x 14 mask (0.132 / 0.462, 0.107 / 0.492).
With noise 0.01 and the summed directions, l1 3 (0.080 / 0.550, 0.068 / 0.632) and 15
iterations of 4 steps (0.085 / 0.525, 0.073 / 0.619) were no clear gain over the defaults.
None of the changes costs a model pass: the fast preset makes the same passes as before.

Tried and not kept for iGOS++ after items 1-2 (noise 0.02, the summed-directions heat; 2-core
CPU; "seed 0": hard deletion / insertion only, the six photos; "three seeds": all four on the
same 18 runs; the heat of item 2 gave 0.075 / 0.555 on seed 0 and 0.079 / 0.560, 0.073 / 0.619
on three seeds). Smoothing trades soft insertion (and deletion) for hard insertion: the summed
directions smoothed by a Gaussian of 0.3 / 0.5 / 0.7 / 1 cells before weighting (seed 0: 0.075
/ 0.555, 0.078 / 0.563, 0.083 / 0.563, 0.086 / 0.565; three seeds, 0.5 / 0.7 / 1: 0.080 /
0.566, 0.075 / 0.614; 0.084 / 0.562, 0.076 / 0.607; 0.088 / 0.557, 0.076 / 0.589); the sharp
directions at 0.1 plus the smoothed (1 cell) at 0.05 (three seeds: 0.080 / 0.571, 0.073 /
0.611; with ``1 - Md``: 0.078 / 0.569, 0.071 / 0.615); only the insertion mask's direction
smoothed, 1 cell (three seeds: 0.080 / 0.567, 0.074 / 0.611); the whole heat smoothed, 0.5 / 1
cell (seed 0: 0.079 / 0.553, 0.087 / 0.562); the mask smoothed, not the directions (0.5 / 1
cell, seed 0: 0.076 / 0.553, 0.075 / 0.555); the insertion terms' directions alone smoothed
(0.5 / 1 cell, seed 0: 0.076 / 0.556, 0.076 / 0.558). No better than the heat of item 2 on
seed 0: summed directions at 0.01 / 0.05 / 0.2 (0.084 / 0.539, 0.074 / 0.547, 0.076 / 0.553);
``1 - Mi`` or ``1 - (Md + Mi) / 2`` with them (0.075 / 0.551, 0.077 / 0.553); separate
weights per mask's summed direction, Md 0 / 0.05 and Mi 0.1 (0.076 / 0.553, 0.075 / 0.553);
each iteration's direction scaled before summing (0.075 / 0.554); later iterations weighted
more (0.077 / 0.548); the regulariser's direction counted twice (0.076 / 0.549). On chelsea
alone (seed 0; the heat of item 2: 0.222 / 0.518), ranking by the directions of the
insertion terms only (0.241 / 0.503), of the deletion terms only (0.219 / 0.459), of the
model's terms without the regulariser (0.234 / 0.508), or by the insertion terms' only
for the cells the mask never moved (0.249 / 0.497).

Measured and not landed: the area term split between the masks, ``l1 (0.5 mean(1 - Md Mi) + 0.5 mean(1 -
Mi))`` (``area-0.5-0-0.5`` in ``benchmarks/igos_variants.py``; Md then pays half as much for a
cell it drops). Three seeds, with the heat of item 2: 0.077 / 0.573, 0.070 / 0.628 (seeds 0 /
1 / 2 hard insertion 0.579 / 0.560 / 0.582); with the heat of item 3: 0.076 / 0.569, 0.069 /
0.622. It made fewer line-search passes (7224 images over the 18 runs against 7800; two of
those 7800 inferred from the benchmark's pass counts), but
per photo it moves things (hard insertion, mean of three seeds, against item 3's heat on
the unsplit optimisation: chelsea 0.597 / 0.520, camera 0.857 / 0.902, motorcycle 0.607 /
0.636). Its other form, ``l1 (0.5 mean(1 - Md) + 0.5 mean(1 - Mi))`` (seed 0: 0.077 / 0.571,
0.071 / 0.630 with item 2's heat; 0.072 / 0.564, 0.068 / 0.619 with item 3's), was less
clear. Against item 3 on the unsplit optimisation (0.076 / 0.566, 0.071 / 0.629) the split
with item 3's heat is 0.000 / +0.003, -0.002 / -0.007: within the seed spread, and it moves
single photos by up to 0.08, so the defaults stayed.

Over seeds, the defaults (``benchmarks/faithfulness.py --seed 0 / 1 / 2``, 2-core CPU): item
4's figures. KernelSHAP, the best peer on hard deletion and insertion and on pixel
insertion, with the same seeds: hard 0.099 / 0.546, 0.096 / 0.518, 0.096 / 0.547; soft
0.109 / 0.565, 0.113 / 0.524, 0.106 / 0.558; pixel 0.094 / 0.584, 0.103 / 0.534, 0.101 /
0.561. Captum's integrated gradients, deterministic, delete best at pixel level: 0.046.
"""
import math
import warnings

import torch

from ..core.checks import checked_float, checked_int, checked_seed, preset_settings
from ..core.images import baseline as make_baseline
from ..core.images import baseline_setting, compose, mask_side, upsample_mask
from ..core.progress import progress as progress_bar
from .heatmap import run_heatmap, upsample_map

PRESETS = {
    # The papers' settings: I-GOS l1 1, l2 20, 15 iterations, 20 integration steps;
    # iGOS++ as in the authors' examples: l1 10, l2 20, 20 iterations, 20 steps.
    "igos": {"paper": {"iterations": 15, "steps": 20, "l1": 1.0, "l2": 20.0},
             "fast": {"iterations": 10, "steps": 8, "l1": 1.0, "l2": 20.0}},
    "igos++": {"paper": {"iterations": 20, "steps": 20, "l1": 10.0, "l2": 20.0},
               "fast": {"iterations": 10, "steps": 6, "l1": 10.0, "l2": 20.0}},
}
# noise: std of the path noise in pixel units ([0, 1] images), stated in pixels so that it is the
# same for a model that normalises differently. 0.02, not the papers' 0.2 in ImageNet-normalised
# units (0.045 in pixels): at 0.045 EfficientNet-Lite0 loses the class of some photos to the noise
# alone (see "What made the difference" above).
COMMON = {"size": "auto", "alpha": 1000.0, "noise": 0.02, "baseline": "blur", "sigma": 0.01,
          "line_search_batch": "auto", "adapt_l1": True}
ARMIJO, DECAY, MIN_ALPHA = 1e-4, 0.2, 1e-5
STILL = 0.01  # a cell whose mask value stayed above 1 - STILL did not move
# noisy copies of an image keeping less than this share of its class score: the path noise drowns it
DROWNED = 0.25
# weight of the accumulated descent direction in the heat (the mask's weight is 1): I-GOS, iGOS++
EVIDENCE = {False: 0.1, True: 0.05}
# weight of the accumulated pixel-resolution direction in the heat (item 4 of the notes): I-GOS, iGOS++
PIXEL = {False: 0.0, True: 0.01}


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

    def paths(self, masks, t, ups=None):
        """Images along the path of every term: B x terms x S x 3 x H x W (B = reps * N).

        ``ups``: each term's upsampled mask (B x 1 x H x W), when the caller needs their gradients."""
        reps = len(masks) // len(self.x)
        x, base = self._repeat(self.x, reps), self._repeat(self.base, reps)
        ups = self.upsampled(masks) if ups is None else ups
        out = []
        for up, (_, kind, _) in zip(ups, self.terms(masks)):
            keep, fill = (x, base) if kind == "del" else (base, x)
            out.append(compose(keep[:, None, None], fill[:, None, None], up[:, None, None] * t))  # B x 1 x S x 3 x H x W
        return torch.cat(out, 1)

    def upsampled(self, masks):
        """Each term's mask upsampled to the image: B x 1 x H x W per term."""
        return [upsample_mask(m, self.size) for m, _, _ in self.terms(masks)]

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
        """Loss at the current masks and its gradient: the integrated gradient plus the regulariser's.

        Also ``self.pixel_direction`` (N x H x W): the score terms' gradient with respect to their
        upsampled masks, summed over the terms: the same direction at pixel resolution, before
        the upsampling's adjoint averages it into cells (no extra model pass)."""
        masks = self.masks.detach().requires_grad_(True)
        with torch.enable_grad():
            ups = self.upsampled(masks)
            images = self.paths(masks, self.t, ups) + noise
            scores, grads = self.clf.gradients(images.detach().flatten(0, 2), self._targets(images))
            k, s = images.shape[1:3]
            weight = self.signs(grads.device).view(1, k, 1, 1, 1, 1) / s
            reg = self.regulariser(masks)
            g, *per_term = torch.autograd.grad([images, reg.sum()], [masks, *ups],
                                               grad_outputs=[grads.view(images.shape) * weight, None])
        self.pixel_direction = torch.stack(per_term).sum(0)[:, 0]
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
        evidence = torch.zeros_like(self.masks)
        pixel_evidence = torch.zeros(n, *self.size, device=self.x.device)
        for it in progress_bar(range(int(self.cfg["iterations"])), desc="iGOS++" if self.plusplus else "I-GOS",
                               enabled=progress):
            shape = (len(self.terms(self.masks)), self.t.shape[2]) + self.x.shape[1:]
            noise = torch.stack([torch.randn(shape, generator=g, device=self.x.device) for g in self.generators])
            noise = noise * self.cfg["noise"]
            loss, d = self.gradient(noise)
            evidence += d
            pixel_evidence += self.pixel_direction
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
        self._count_moved(history)
        return self.explanation(evidence, pixel_evidence), history

    def _count_moved(self, history):
        """Count, per image, the cells the mask moved (below ``1 - STILL``)."""
        moved = ((1 - self.masks.prod(1)) > STILL).flatten(1).sum(1).tolist()
        for h, count in zip(history, moved):
            h["moved_cells"] = int(count)
            h["steps"] = int(self.cfg["steps"])

    def explanation(self, evidence, pixel_evidence):
        """(raw mask product, heat): ``1 - M`` plus ``EVIDENCE`` times the descent directions
        summed over the iterations (both masks'), scaled to [-1, 1] per image; for iGOS++ the
        heat's M is the deletion mask Md alone and the weight 0.05 (the raw mask stays Md * Mi).
        Where ``PIXEL`` gives a weight, the heat is upsampled to the image and the summed pixel
        directions are added, divided by their 99th percentile of magnitude and clipped to
        [-1, 1]: they order the pixels inside a cell, which the cells' bilinear upsampling alone
        orders poorly; clipped, the few extreme pixels neither stretch the heat's range (a
        view's colours) nor lift a pixel above the cells ranked before its own."""
        m = self.masks.prod(1)
        ranked = self.masks[:, 0] if self.plusplus else m
        push = evidence.sum(1)
        scale = push.flatten(1).abs().max(1).values.clamp_min(1e-12).view(-1, 1, 1)
        heat = (1 - ranked) + EVIDENCE[self.plusplus] * push / scale
        if not PIXEL[self.plusplus]:
            return m, heat
        heat = upsample_map(heat, self.size)  # as the result's mask would be: the cells rank as before
        spread = pixel_evidence.abs().flatten(1).quantile(0.99, dim=1).clamp_min(1e-12).view(-1, 1, 1)
        return m, heat + PIXEL[self.plusplus] * (pixel_evidence / spread).clamp(-1, 1)


def _noisy_share(clf, x, targets, cfg, seed, draws=4):
    """Per image, the mean class score of ``draws`` noisy copies (the path noise) over the clean
    score: near 0 where the noise alone drowns the class, so that every path point scores near
    zero and no number of steps can move the mask. None where the clean score is under 1e-3 (a
    target the model hardly sees: its ratio says nothing). Costs ``draws + 1`` forward passes an image."""
    # One generator per image from the same seed, as in _Optimiser: the same verdict alone or in a batch.
    noise = torch.stack([torch.randn((draws,) + tuple(x.shape[1:]), device=x.device,
                                     generator=torch.Generator(device=x.device).manual_seed(seed))
                         for _ in range(len(x))], 1)  # draws x N x C x H x W
    t = torch.as_tensor(targets, device=x.device)
    clean = clf.scores(x, t).tolist()
    noisy = clf.scores((x[None] + cfg["noise"] * noise).flatten(0, 1), t.repeat(draws)).view(draws, -1).mean(0)
    return [None if c < 1e-3 else s / c for s, c in zip(noisy.tolist(), clean)]


def _drowned(h):
    """Whether an image's history says the path noise drowns its class (see ``_noisy_share``)."""
    return h.get("noisy_share", 1.0) < DROWNED


def _still_message(name, history, group, n, chosen_steps, drowned):
    """The warning for the images of ``group``, whose masks did not move for one cause."""
    which = "the image" if n == 1 else f"image {group[0]}" if len(group) == 1 else f"images {group}"
    if drowned:
        kept = max(history[i]["noisy_share"] for i in group)
        cause = (f"The path noise drowns the class score: noisy copies keep {kept:.0%} of it or less and "
                 "every path point scores near zero")
        advice = "More steps cannot help; a smaller noise= may (noise=0 turns it off)."
    else:
        steps = sorted({history[i]["steps"] for i in group})
        cause = f"The class score hardly changes along the integration paths ({', '.join(map(str, steps))} steps)"
        advice = ("More steps resolve the paths better (steps=20, or preset='paper')."
                  if chosen_steps and max(steps) < 20
                  else "The score may jump between path points (a saturated model): compare with xviz.rise.")
    return (f"{name} did not move the mask on {which}: no cell went below {1 - STILL}. {cause}, so the "
            f"heatmap only ranks cells by the summed path gradients and may miss what decides. {advice} "
            "See history['moved_cells'] and history['noisy_share'].")


def _warn_still(method, history, n, chosen_steps):
    """Warn where the mask did not move even so, once per cause (the path noise, or the paths
    themselves): the heat is then only the summed path gradients, and may miss what decides."""
    name = "iGOS++" if method == "igos++" else "I-GOS"
    still = [i for i, h in enumerate(history) if h["moved_cells"] == 0]
    drowned = [i for i in still if _drowned(history[i])]
    for group, is_drowned in ((drowned, True), ([i for i in still if i not in drowned], False)):
        if group:
            warnings.warn(_still_message(name, history, group, n, chosen_steps, is_drowned),
                          UserWarning, stacklevel=6)


def _run(method, clf, images, target, preset, seed, progress, overrides):
    cfg = _settings(method, preset, clf.device, overrides)
    seed = checked_seed(seed)
    mask_side(cfg["size"], clf.size)  # refused before any pass

    def optimised(x, targets, cfg):
        (raw, heat), history = _Optimiser(clf, x, targets, cfg, method == "igos++", seed).run(progress)
        return raw, heat, history

    def compute(clf, x, targets):
        raw, heat, history = optimised(x, targets, cfg)
        still = [i for i, h in enumerate(history) if h["moved_cells"] == 0]
        if still and cfg["noise"] > 0:
            shares = _noisy_share(clf, x[still], [targets[i] for i in still], cfg, seed)
            for i, share in zip(still, shares):
                if share is not None:
                    history[i]["noisy_share"] = share
            still = [i for i in still if not _drowned(history[i])]
        if still and "steps" not in overrides:
            # A mask that did not move leaves only the summed path gradients to rank the cells;
            # on a saturated model the score jumps between two of the preset's path points and
            # those gradients are noise. Three times the steps resolve the jump (the
            # known-answer ViT: the deciding cell on 3 of 4 images at 6 steps, 4 of 4 at 12,
            # 18 or 20). Only those images pay. Not where the path noise drowns the class
            # (rocket on EfficientNet-Lite0: noisy copies keep 5% of its score, and its mask
            # stays put at 6 or 18 steps): there three times the steps cost 32 s for nothing.
            index = torch.tensor(still, device=x.device)
            raw2, heat2, history2 = optimised(x[index], [targets[i] for i in still], {**cfg, "steps": 3 * cfg["steps"]})
            raw[index], heat[index] = raw2, heat2
            for i, h in zip(still, history2):
                if "noisy_share" in history[i]:
                    h["noisy_share"] = history[i]["noisy_share"]
                history[i] = h
        _warn_still(method, history, len(x), "steps" in overrides)
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
        path noise in pixel units, 0.02; the papers' 0.2 for ImageNet-normalised models is
        0.045, too much for some models: see the module's notes), ``baseline`` ("blur",
        "black"), ``line_search_batch``
        (candidate steps scored per batch: "auto" = 4 on CUDA, 1 on CPU; the result does not
        depend on it), ``adapt_l1``.

    Returns
    -------
    Saliency or list of Saliency
        ``raw`` is the optimised mask M (1 = keep; low = important); ``mask`` is the heat
        ``1 - M`` plus 0.1 times the descent directions summed over the iterations (scaled
        to [-1, 1]; it ranks the cells the mask did not move), upsampled and scaled to
        [0, 1]; ``history`` holds the loss, deletion score, step size and l1 per iteration,
        ``moved_cells``, the cells the mask moved (below 0.99), and ``steps``. An image whose
        mask moved no cell is optimised again with three times the preset's steps (unless
        ``steps`` is given); if it still moves none, a warning says so: the heat is then only
        the summed path gradients. Not where the path noise drowns the class
        (``noisy_share``, the score noisy copies keep, under 0.25): the warning then says so.

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
    edge sensitivity on the normalised image). ``raw`` is the product mask Md * Mi; ``mask``
    is the heat ``1 - Md`` plus 0.05 times the descent directions summed over the iterations,
    upsampled, plus 0.01 times those directions at pixel resolution (clipped; they order the
    pixels inside a cell: see the module's notes); ``history`` also holds the insertion score
    per iteration.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.igos_pp(clf, xviz.zoo.image("digit-3"), iterations=2, progress=False)
    >>> sal.method, len(sal.history["insertion_score"])
    ('igos++', 2)
    """
    return _run("igos++", clf, images, target, preset, seed, progress, settings)
