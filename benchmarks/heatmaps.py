"""Heatmap methods on the bundled photos: time, model passes, overhead, deletion/insertion AUC.

Run:  python benchmarks/heatmaps.py                       (all photos and methods, ~20 min on 2 CPU cores)
      python benchmarks/heatmaps.py --photos chelsea --methods gradcam,igos++:fast
      python benchmarks/heatmaps.py --batch 16 --methods igos++:paper   (images per second for a batch)

Overhead is the method's wall time divided by the time its model passes take alone, with the
per-image cost of a forward pass and of a forward+backward pass measured in the same run.
The AUCs follow xviz.metrics (blur baseline, 28 x 28 grid, steps of cells // 50).
"""
import argparse
import json
import statistics
import time

import torch

import xviz
from xviz import metrics
from xviz.methods.igos import igos, igos_pp

PHOTOS = ["chelsea", "coffee", "astronaut", "rocket", "motorcycle", "camera"]
METHODS = {
    "gradcam": lambda clf, img: xviz.gradcam(clf, img),
    "ig": lambda clf, img: xviz.integrated_gradients(clf, img),
    "rise": lambda clf, img: xviz.rise(clf, img, progress=False),
    "igos:fast": lambda clf, img: igos(clf, img, preset="fast", progress=False),
    "igos:paper": lambda clf, img: igos(clf, img, preset="paper", progress=False),
    "igos++:fast": lambda clf, img: igos_pp(clf, img, preset="fast", progress=False),
    "igos++:paper": lambda clf, img: igos_pp(clf, img, preset="paper", progress=False),
}


def timer(clf):
    """perf_counter once the device is done (CUDA runs asynchronously)."""
    if clf.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def pass_costs(clf, n=16, repeats=3):
    """Seconds per image of a forward pass and of a forward+backward pass, batched."""
    x = torch.rand(n, 3, *clf.size, device=clf.device)
    clf.logits(x[:2])
    fwd, both = [], []
    for _ in range(repeats):
        t = timer(clf)
        clf.logits(x)
        fwd.append((timer(clf) - t) / n)
        t = timer(clf)
        clf.gradients(x, 0)
        both.append((timer(clf) - t) / n)
    return statistics.median(fwd), statistics.median(both)


def measure(clf, run, costs):
    """run()'s result, and its seconds, model passes and overhead (seconds over what those passes cost)."""
    scored, back = clf.images_scored, clf.images_backpropagated
    start = timer(clf)
    out = run()
    seconds = timer(clf) - start
    n_back = clf.images_backpropagated - back
    n_fwd = clf.images_scored - scored - n_back
    model_seconds = n_fwd * costs[0] + n_back * costs[1]
    return out, {"seconds": seconds, "passes": n_fwd + n_back,
                 "overhead": seconds / model_seconds if model_seconds else float("nan")}


def run_one(clf, name, images, costs):
    results, cost = measure(clf, lambda: METHODS[name](clf, images), costs)
    results = results if isinstance(results, list) else [results]
    seconds = cost["seconds"]
    pairs = metrics.curves(clf, results)
    return {"method": name, "seconds": seconds / len(results), "passes": cost["passes"] / len(results),
            "overhead": cost["overhead"],
            "deletion": statistics.mean(d.auc for d, _ in pairs),
            "insertion": statistics.mean(i.auc for _, i in pairs),
            "images_per_second": len(results) / seconds}


def table(rows, keys):
    head = " | ".join(keys)
    lines = [f"| {head} |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = [f"{r[k]:.3f}" if isinstance(r[k], float) and k in ("deletion", "insertion") else
                 f"{r[k]:.2f}" if isinstance(r[k], float) else str(r[k]) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def finish(rows, path=None, **meta):
    """Print the table of every row; with ``path``, also write the rows and ``meta`` as JSON."""
    print("\n" + table(rows, list(rows[0])))
    if path:
        with open(path, "w") as f:
            json.dump({**meta, "rows": rows}, f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default=",".join(PHOTOS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--batch", type=int, default=0, help="explain a batch of this many photos at once")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    clf = xviz.zoo.efficientnet_lite0()
    costs = pass_costs(clf)
    print(f"# {clf.name} on {clf.device} ({torch.get_num_threads()} threads): forward {costs[0] * 1e3:.1f} ms/image,"
          f" forward+backward {costs[1] * 1e3:.1f} ms/image\n")
    photos = args.photos.split(",")
    rows = []
    for name in args.methods.split(","):
        if args.batch:
            images = [xviz.zoo.image(photos[i % len(photos)]) for i in range(args.batch)]
            rows.append({"photo": f"batch of {args.batch}", **run_one(clf, name, images, costs)})
        else:
            for photo in photos:
                rows.append({"photo": photo, **run_one(clf, name, xviz.zoo.image(photo), costs)})
                print(table(rows[-1:], list(rows[-1])).splitlines()[-1], flush=True)
    keys = ["method", "seconds", "passes", "overhead", "deletion", "insertion"]
    mean = [{"method": m, **{k: statistics.mean(r[k] for r in rows if r["method"] == m) for k in keys[1:]}}
            for m in args.methods.split(",")]
    print("\nPer photo:\n" + table(rows, ["photo"] + keys + (["images_per_second"] if args.batch else [])))
    print("\nMean over the photos:\n" + table(mean, keys))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"costs": costs, "rows": rows, "mean": mean}, f, indent=1)


if __name__ == "__main__":
    main()
