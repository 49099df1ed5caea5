"""Layer-wise clusters of feature maps (xviz.layers.explain) on the bundled photos: time, and where it goes.

Run:  python benchmarks/layers.py                              (all photos, about a minute on 2 CPU cores)
      python benchmarks/layers.py --photos chelsea --embedding pca --layers auto
      python benchmarks/layers.py --threads 1 --json benchmarks/results/layers_cpu.json

Each photo is explained at the automatic layers of EfficientNet-Lite0 (the last block at each
resolution: 5 layers) and, as a heavier case, at every block output (16 MBConv blocks and the
head: 17 layers), with both 2-D embeddings (t-SNE as in the paper, and PCA). ``pass`` is the
one forward+backward pass that gives all the layers' activations and gradients (timed
separately on the same image), ``clustering`` the rest: weights, PCA, embedding,
agglomerative clustering for k = 3..8, cluster maps. ``kept`` counts the maps clustered (over
all layers) and ``clusters`` the clusters kept per layer.

A last row per setting explains all photos in one batch, and ``same`` says for how many
(photo, layer) pairs the batch gave the same clusters as the photo alone: a batched
convolution differs from a single one in the last bits, which t-SNE can amplify.
"""
import argparse
import time

import torch
from heatmaps import PHOTOS, finish, pass_costs, table  # this folder's heatmap benchmark: same photos and table

import xviz
from xviz.methods import layers as L

EVERY_BLOCK = [f"_blocks.{i}" for i in range(16)] + ["features"]


def members(lc):
    return sorted(tuple(int(m) for m in c.members) for c in lc.clusters)


def pass_seconds(clf, image, names, repeats=3):
    x, _ = clf.prepare(image)
    with clf.session():
        target = clf.targets_for(x)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            clf.layer_gradients(x, target, names)
            best = min(best, time.perf_counter() - start)
    return best


def run_one(clf, photo, layers, embedding):
    image = xviz.zoo.image(photo)
    names = L.resolve_layers(clf, layers)
    start = time.perf_counter()
    lay = L.explain(clf, image, layers=names, embedding=embedding, progress=False)
    seconds = time.perf_counter() - start
    spent = pass_seconds(clf, image, names)
    row = {"photo": photo, "label": lay.class_label, "layers": len(names), "embedding": embedding,
           "seconds": seconds, "pass": spent, "clustering": seconds - spent,
           "kept": sum(len(lc.kept) for lc in lay.values()),
           "clusters": "/".join(str(len(lc.clusters)) for lc in lay.values())}
    return row, lay


def run_batch(clf, photos, layers, embedding, alone):
    images = [xviz.zoo.image(p) for p in photos]
    start = time.perf_counter()
    lays = L.explain(clf, images, layers=layers, embedding=embedding, progress=False)
    seconds = time.perf_counter() - start
    pairs = [(a[name], b[name]) for a, b in zip(alone, lays) for name in a]
    same = sum(members(a) == members(b) for a, b in pairs)
    return {"photo": f"batch of {len(photos)}", "label": "-", "layers": len(lays[0]), "embedding": embedding,
            "seconds": seconds, "pass": float("nan"), "clustering": float("nan"),
            "kept": sum(len(lc.kept) for lay in lays for lc in lay.values()), "clusters": "-",
            "same": f"{same}/{len(pairs)}"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default=",".join(PHOTOS))
    parser.add_argument("--embedding", default="tsne,pca", help="comma-separated: tsne, pca")
    parser.add_argument("--layers", default="auto,every", help="comma-separated: auto (5 layers), every (17 blocks)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    if args.threads:
        # On a shared machine one thread is the steadier measure: a busy core stalls torch's OpenMP pool.
        torch.set_num_threads(args.threads)
    clf = xviz.zoo.efficientnet_lite0()
    costs = pass_costs(clf)
    print(f"# {clf.name} on {clf.device} ({torch.get_num_threads()} threads): forward {costs[0] * 1e3:.1f} ms/image,"
          f" forward+backward {costs[1] * 1e3:.1f} ms/image\n")
    photos = args.photos.split(",")
    L.explain(clf, xviz.zoo.image(photos[0]), progress=False)  # imports and first-call costs out of the timings
    rows = []
    for which in args.layers.split(","):
        layers = "auto" if which == "auto" else EVERY_BLOCK
        for embedding in args.embedding.split(","):
            alone = []
            for photo in photos:
                row, lay = run_one(clf, photo, layers, embedding)
                rows.append({**row, "same": ""})
                alone.append(lay)
                print(table(rows[-1:], list(rows[-1])).splitlines()[-1], flush=True)
            if len(photos) > 1:
                rows.append(run_batch(clf, photos, layers, embedding, alone))
                print(table(rows[-1:], list(rows[-1])).splitlines()[-1], flush=True)
    finish(rows, args.json, costs=costs, threads=torch.get_num_threads())


if __name__ == "__main__":
    main()
