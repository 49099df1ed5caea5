"""Visual summaries of one class: time, model passes and clusters for 20 images; mask quality by preset.

Run:  python benchmarks/summaries.py                    (20 images, the "fast" preset; a few minutes on 2 CPU cores)
      python benchmarks/summaries.py --compare 7        (also the masks of "fast" and "paper" on 7 of them)
      python benchmarks/summaries.py --json benchmarks/results/summaries_cpu.json

xviz bundles 6 photos of 6 different classes, and a summary needs many images of one class.
The 20 images are therefore made from one photo, chelsea (an Egyptian cat for
EfficientNet-Lite0): square crops of three sizes at ten places, each also flipped left to
right. They share one cat, seen at different scales and positions, so the summaries are the
parts of that cat the network uses again and again (eyes, nose, fur), not the variety of a
real class; the timing and the pass counts are what a 20-image class costs.

Passes are images through the model, split by phase: ``masks`` (forward and backward: the
two mask optimisations), ``regions`` (each region blurred away alone), ``features`` and
``scores`` (one forward per image). Mask quality: p(target) with each image's thresholded mask
blurred away (lower is better), the mask's share of the image, and the deletion and insertion
AUCs of the masks (xviz.metrics: blur baseline, 28 x 28 grid).
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch
from heatmaps import pass_costs, table  # this folder's heatmap benchmark: the same cost probe and table

import xviz
from xviz import metrics
from xviz.methods import summaries

# (side, top, left) of each square crop of chelsea (300 x 451 pixels); each is also flipped.
CROPS = [(300, 0, left) for left in (40, 100, 151)] + \
        [(250, top, left) for top, left in ((0, 60), (50, 120), (25, 180), (0, 200))] + \
        [(200, top, left) for top, left in ((50, 100), (20, 160), (80, 200))]
TARGET = "Egyptian cat"


def chelsea_images():
    """20 images of one class from the one cat photo: 10 square crops and their mirror images."""
    photo = xviz.zoo.image("chelsea")
    out = []
    for side, top, left in CROPS:
        crop = photo[top:top + side, left:left + side]
        out += [crop, crop[:, ::-1].copy()]
    return out


def mask_quality(clf, images, masks, target):
    """p(target) with each thresholded mask blurred away, mask area, deletion and insertion AUC."""
    x, _ = clf.prepare(images)
    binary = torch.from_numpy(np.asarray(masks) > 0.5).float()[:, None].to(x.device)
    base = xviz.images.baseline(x, "blur")
    p = clf.scores(x * (1 - binary) + base * binary, target).cpu().numpy()
    pairs = metrics.curves(clf, list(masks), image=images, target=target)
    return {"p_masked": float(p.mean()), "area": float(binary.mean()),
            "deletion": statistics.mean(d.auc for d, _ in pairs), "insertion": statistics.mean(i.auc for _, i in pairs)}


def run_summary(clf, images, preset):
    start = time.perf_counter()
    summ = summaries.fit(clf, images, target=TARGET, preset=preset, progress=False)
    seconds = time.perf_counter() - start
    h = summ.history
    row = {"preset": summ.settings["preset"], "images": len(images), "seconds": seconds, "passes": summ.passes,
           **{f"passes_{k}": v for k, v in h["passes"].items()},
           "seconds_masks": h["seconds"]["masks"], "proposals": h["proposals"], "kept": h["proposals_kept"],
           "found": h["clusters_found"], "clusters": len(summ.clusters),
           "top_coherence": summ.clusters[0].coherence if summ.clusters else float("nan"),
           "images_in_top": len(summ.clusters[0].images) if summ.clusters else 0}
    return summ, row


def compare_presets(clf, images, target):
    """Masks only, for each preset, on the same images: seconds, passes and quality."""
    rows = []
    x, _ = clf.prepare(images)
    base = xviz.images.baseline(x, "blur")
    for preset in ("fast", "paper"):
        cfg = summaries._settings(preset, clf.device, {})
        before, start = clf.images_scored, time.perf_counter()
        with clf.session():
            _, sharp, _ = summaries._masks(clf, x, base, [target] * len(x), cfg, False)
        seconds = time.perf_counter() - start
        masks = (1 - sharp[:, 0]).cpu().numpy()
        rows.append({"preset": preset, "images": len(images), "seconds": seconds,
                     "passes": clf.images_scored - before, **mask_quality(clf, images, masks, target)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast", choices=["fast", "paper", "auto"])
    parser.add_argument("--compare", type=int, default=0, help="also compare the presets' masks on this many images")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    clf = xviz.zoo.efficientnet_lite0()
    costs = pass_costs(clf)
    print(f"# {clf.name} on {clf.device} ({torch.get_num_threads()} threads): forward {costs[0] * 1e3:.1f} ms/image,"
          f" forward+backward {costs[1] * 1e3:.1f} ms/image\n")
    images = chelsea_images()
    target = clf.target_index(TARGET)
    summ, row = run_summary(clf, images, args.preset)
    row.update(mask_quality(clf, images, summ.masks, target))
    print(table([row], list(row)))
    print("\n" + repr(summ))
    out = {"costs": costs, "threads": torch.get_num_threads(), "images": "20 crops and flips of chelsea",
           "summary": row, "clusters": [{"coherence": c.coherence, "images": len(c.images),
                                         "exemplar": {"image": c.exemplar.image, "box": list(c.exemplar.box)}}
                                        for c in summ.clusters]}
    if args.compare:
        rows = compare_presets(clf, images[:: max(1, len(images) // args.compare)][:args.compare], target)
        print("\n" + table(rows, list(rows[0])))
        out["presets"] = rows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
