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

Run:  python benchmarks/igos_variants.py --variants noise-0.045,noise-0.02 --seeds 0,1,2 --out runs.jsonl
      python benchmarks/igos_variants.py --summary runs.jsonl
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
    "noise-calibrated-0.5-coarse-14-28": (PP, "fast", [{"noise": 0.045, "calibrate": 0.5, "size": 14, "iterations": 5},
                                                       {"noise": 0.045, "calibrate": 0.5, "size": 28, "iterations": 5}]),
}


class Recorded(ig._Optimiser):
    """The optimiser, recording each iteration's masks and direction; optionally an l1 schedule."""

    schedule = None

    def adapt_l1(self, it, moved):
        if self.schedule is None:
            return super().adapt_l1(it, moved)
        if it < len(self.schedule):
            self.l1 = torch.full_like(self.l1, float(self.schedule[it]))

    def line_search(self, d, current, noise, start):
        alpha = super().line_search(d, current, noise, start)
        self.record.append({"masks": self.masks.clone(), "d": d.clone()})
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
        cfg = ig._settings("igos++" if plusplus else "igos", preset, clf.device, stage)
        if schedule is not None:
            cfg.update(l1=float(schedule[0]), adapt_l1=True)
        opt = Recorded(clf, x, [target], cfg, plusplus, seed)
        opt.schedule, opt.record = schedule, []
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


def rankings(opt, record):
    """{name: 28 x 28 heat} from one run (see the module docstring)."""
    side = opt.masks.shape[-1]

    def fit(t):  # an earlier, coarser stage's map at the final side
        return t if t.shape[-1] == side else F.interpolate(t[None, None], size=(side, side), mode="bilinear",
                                                           align_corners=True)[0, 0]

    m = opt.masks[0].prod(0)
    last = scaled(record[-1]["d"][0].sum(0))
    summed = scaled(torch.stack([fit(r["d"][0].sum(0)) for r in record]).sum(0))
    trajectory = torch.stack([fit(r["masks"][0].prod(0)) for r in record]).mean(0)
    out = {"mask": 1 - m, "last": (1 - m) + 1e-3 * last, "trajectory": (1 - trajectory) + 1e-3 * last}
    out.update({f"summed-{w}": (1 - m) + w * summed for w in (0.001, 0.01, 0.1, 0.3, 1.0)})
    if opt.plusplus:
        md, mi = opt.masks[0, 0], opt.masks[0, 1]
        out.update({"Md+Mi": (2 - md - mi) + 1e-3 * last, "Md": (1 - md) + 1e-3 * last, "Mi": (1 - mi) + 1e-3 * last})
    out.update({f"smooth-{s}": gaussian(out["last"], s) for s in (0.5, 1.0, 2.0)})
    return out


def sweep(args):
    import xviz
    from xviz.methods.heatmap import normalize_map
    clf = xviz.zoo.efficientnet_lite0()
    with clf.session():
        score = fb.Scorer(clf.model, clf.mean, clf.std)
        for photo in args.photos.split(","):
            x, _ = clf.prepare(xviz.zoo.image(photo))
            base, target = fb.gaussian_blur(x), int(clf.logits(x).argmax(1))
            for variant in args.variants.split(","):
                for seed in map(int, args.seeds.split(",")):
                    start = time.perf_counter()
                    opt, record, noises = optimise(clf, x, target, variant, seed)
                    seconds = time.perf_counter() - start
                    m = opt.masks[0].prod(0)
                    for name, heat in rankings(opt, record).items():
                        full = normalize_map(heat[None].float(), clf.size)[0]  # as the Saliency's mask
                        result = fb.faithfulness(score, x, base, target, full)
                        row = {"photo": photo, "variant": variant, "seed": seed, "ranking": name, "seconds": seconds,
                               "noise": noises, "cells_above_0.99": int((m > 0.99).sum()),
                               **{f"{p}_{k}": v for p, pair in result.items()
                                  for k, v in zip(("deletion", "insertion"), pair)}}
                        with open(args.out, "a") as f:
                            f.write(json.dumps(row) + "\n")
                    print(photo, variant, seed, f"{seconds:.1f} s", flush=True)


def summary(path):
    """Means over photos and seeds per variant and ranking, with the spread between seeds."""
    keys = [f"{p}_{k}" for p in fb.PROTOCOLS for k in ("deletion", "insertion")]
    groups = collections.defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        groups[(r["variant"], r["ranking"])].append(r)
    print("| variant | ranking | runs | " + " | ".join(keys) + " | seed spread (hard del, soft ins) |")
    print("|---|---|---|" + "---|" * (len(keys) + 1))
    for (variant, ranking), rows in groups.items():
        by_seed = collections.defaultdict(list)
        for r in rows:
            by_seed[r["seed"]].append(r)

        def spread(k):
            means = [statistics.mean(r[k] for r in rs) for rs in by_seed.values()]
            return max(means) - min(means)

        cells = [f"{statistics.mean(r[k] for r in rows):.3f}" for k in keys]
        print(f"| {variant} | {ranking} | {len(rows)} | " + " | ".join(cells) +
              f" | {spread('hard_deletion'):.3f}, {spread('soft_insertion'):.3f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default=",".join(fb.PHOTOS))
    parser.add_argument("--variants", default="noise-0.045,noise-0.02", help=f"of: {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", default="igos_variants.jsonl", help="rows are appended to this JSONL file")
    parser.add_argument("--summary", metavar="JSONL", help="only print the means of an earlier run")
    args = parser.parse_args()
    if args.summary:
        summary(args.summary)
    else:
        sweep(args)


if __name__ == "__main__":
    main()
