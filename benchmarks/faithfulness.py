"""Faithfulness of xviz's heatmaps beside the peers a user would pick instead.

Every method explains the top-1 class of EfficientNet-Lite0 (``xviz.zoo.efficientnet_lite0``)
on the six bundled photos; each map is then scored by deletion and insertion under three
protocols, by a scorer written here, independent of ``xviz.metrics``:

- ``hard``: the map is averaged over a 28 x 28 grid of 8 x 8 pixel cells; the cells are
  switched in that order, each whole (the binary cell mask upsampled by nearest neighbour);
- ``soft``: the same cell order, the binary cell mask upsampled bilinearly
  (``align_corners=True``), as the I-GOS papers and ``xviz.metrics`` do;
- ``pixel``: the 224 x 224 pixels ranked by the full-resolution map.

Each curve switches ``max(1, units // 50)`` units (cells or pixels) per step, about 50 steps,
always ending with all of them; deletion turns the switched units into the baseline, insertion
shows them on the baseline; the AUC is the mean softmax probability of the class over the
points (lower deletion, higher insertion is better). The baseline is the same for every
method and for the scoring: a Gaussian blur of the photo (51 x 51 kernel, sigma 50, mirrored
borders; the I-GOS papers'), computed here and checked against ``xviz.images.blur``. Ties in
a map (a superpixel's pixels, a saturated mask's cells) are broken by one fixed random order
of the units, the same for every method, not by position. ``--check`` (and
``tests/test_faithfulness_benchmark.py``) checks the scorer against AUCs worked out by hand.

The methods and how their settings were chosen:

- xviz (``xviz.*``, their defaults on a CPU; the baseline, where a method has one, set to the
  blur): Grad-CAM, integrated gradients (automatic steps), RISE (4000 masks), I-GOS and
  iGOS++ (``preset="auto"``: the fast presets on a CPU); the paper presets with
  ``--methods ...,igos:paper,igos++:paper``.
- Captum 0.9 (their documented defaults unless said): ``Occlusion`` with a 32 px window and
  stride 16 (the settings of the issue that asked for this benchmark; Captum has no default
  window); ``IntegratedGradients`` (50 steps, Gauss-Legendre), the map the sum over channels;
  ``FeatureAblation`` and ``KernelShap`` over SLIC superpixels (scikit-image's defaults: 100
  segments, compactness 10), KernelShap with 500 samples (its default of 25 is too few for
  100 features), seeded (its samples come from torch's random generator; unseeded, two runs
  gave chelsea's hard deletion AUC as 0.29 and 0.38). All on the softmax probability, with
  the blurred baseline, and with ``perturbations_per_eval`` / ``internal_batch_size`` 32 so
  that they batch like xviz.
- TorchCAM 0.5 (``torchcam.methods``): ``ScoreCAM`` and ``GradCAMpp`` on the last
  convolutional features (``features``, 7 x 7, what xviz's Grad-CAM uses), maps upsampled
  bilinearly. ScoreCAM has no baseline setting: it scales the input by each channel's map.
- pytorch-grad-cam is left out: it imports torchvision, and torchvision 0.29 from the
  package index does not import beside torch 2.13 (``operator torchvision::nms does not
  exist``). TorchCAM needs torchvision only for its examples.

Time: the wall time of each explanation, beside the run's cost of a forward pass per image
and the two's ratio, the time in forward passes (to compare runs on different or busy
machines), and its overhead, the wall time over what
its model passes cost alone (the per-image cost of a forward and of a forward+backward pass
measured in the same run; passes are counted by hooks on the model, the same way for every
method). On a shared machine the seconds vary between runs, the overhead much less.

Last, ``xviz.metrics.curves`` scores the maps of the first six methods of the run on every
photo in one call (6 x 6 results, 2 curves each), timed against the same number of images
passed through the model alone (the overhead of the metric itself), and its soft AUCs are
compared with this scorer's (the same protocol written twice: they agree where a map has
no ties, which the two break differently).

Run:  pip install -e ".[bench]"                        (Captum, TorchCAM, matplotlib)
      python benchmarks/faithfulness.py --json out.json --plot out.png     (all photos, the default methods)
      python benchmarks/faithfulness.py --photos chelsea,rocket --methods igos++,captum-occlusion
      python benchmarks/faithfulness.py --methods igos:paper,igos++:paper --json paper.json
      python benchmarks/faithfulness.py --merge a.json b.json --json all.json --plot all.png
      python benchmarks/faithfulness.py --check            (the scorer against hand-worked AUCs)
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

PHOTOS = ["chelsea", "coffee", "astronaut", "rocket", "motorcycle", "camera"]
GRID = 28
STEPS = 50
PROTOCOLS = ("hard", "soft", "pixel")
TIE_SEED = 0
TIE = 0.005  # mean AUCs closer than this are called a tie (a photo's AUC moves by more between machines)
CHUNK = 32


# -- the independent scorer ----------------------------------------------------------------
def gaussian_blur(x, ksize=51, sigma=50.0):
    """N x 3 x H x W images blurred by a separable Gaussian with mirrored borders (the baseline)."""
    r = torch.arange(ksize, dtype=x.dtype, device=x.device) - (ksize - 1) / 2
    k = torch.exp(-r ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c, pad = x.shape[1], ksize // 2
    y = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def step_counts(units):
    """Units switched at each point of a curve: 0, s, 2s, ... and always all of them."""
    step = max(1, units // STEPS)
    return list(range(0, units, step)) + [units]


def tie_order(units, seed=TIE_SEED):
    """One fixed random order of the units: how ties are broken, the same for every method."""
    return torch.randperm(units, generator=torch.Generator().manual_seed(seed))


def ranked(values):
    """Units (flat indices) from the highest value to the lowest, ties in :func:`tie_order`."""
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    shuffle = tie_order(values.numel())
    return shuffle[torch.argsort(-values[shuffle], stable=True)]


def cell_values(full_map, grid=GRID):
    """An H x W map averaged over a grid x grid of equal cells (H and W multiples of grid)."""
    h, w = full_map.shape
    if h % grid or w % grid:
        raise ValueError(f"a {h} x {w} map does not split into {grid} x {grid} equal cells")
    return torch.as_tensor(full_map, dtype=torch.float64).view(grid, h // grid, grid, w // grid).mean((1, 3))


def switched_masks(order, counts, shape, size, upsample):
    """len(counts) x 1 x H x W: the first ``count`` units of ``order`` at 1, the rest 0.

    ``shape`` is the grid the units live on (the image's own for pixels); ``upsample`` is
    "nearest" (each unit whole) or "bilinear" (align_corners=True).
    """
    units = shape[0] * shape[1]
    rank = torch.empty(units, dtype=torch.long)
    rank[order] = torch.arange(units)
    on = (rank[None] < torch.tensor(counts)[:, None]).float().view(len(counts), 1, *shape)
    if tuple(shape) == tuple(size):
        return on
    if upsample == "nearest":
        return F.interpolate(on, size=size, mode="nearest")
    return F.interpolate(on, size=size, mode="bilinear", align_corners=True)


def protocol_masks(full_map, size, grid=GRID):
    """{protocol: masks} for one H x W map: the switched units at every point of its curves."""
    cells = ranked(cell_values(full_map, grid))
    cell_counts, pixel_counts = step_counts(grid * grid), step_counts(size[0] * size[1])
    return {"hard": switched_masks(cells, cell_counts, (grid, grid), size, "nearest"),
            "soft": switched_masks(cells, cell_counts, (grid, grid), size, "bilinear"),
            "pixel": switched_masks(ranked(full_map), pixel_counts, size, size, "nearest")}


class Scorer:
    """Softmax probability of one class, straight from the torch model, in chunks."""

    def __init__(self, model, mean, std):
        self.model, self.mean, self.std = model, mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1)

    @torch.no_grad()
    def __call__(self, x, target):
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        out = [self.model((x[i:i + CHUNK] - mean) / std).softmax(1)[:, target]
               for i in range(0, len(x), CHUNK)]
        return torch.cat(out).double()


def aucs(score, x, base, target, masks_by_protocol):
    """{protocol: (deletion AUC, insertion AUC)}; every point of every curve in one batched call."""
    stacks, sizes = [], []
    for masks in masks_by_protocol.values():
        masks = masks.to(x.device)
        stacks += [x * (1 - masks) + base * masks, base * (1 - masks) + x * masks]  # deletion, insertion
        sizes += [len(masks)] * 2
    scores = score(torch.cat(stacks), target).split(sizes)
    return {p: (float(scores[2 * i].mean()), float(scores[2 * i + 1].mean()))
            for i, p in enumerate(masks_by_protocol)}


def faithfulness(score, x, base, target, full_map):
    """Deletion and insertion AUCs of one H x W map under every protocol."""
    full_map = torch.as_tensor(full_map).detach().cpu()
    return aucs(score, x, base, target, protocol_masks(full_map, tuple(x.shape[-2:])))


def check():
    """The scorer against AUCs worked out by hand: a model whose probability is the share of a
    known region still visible, and orders that delete that region first or last."""
    size, grid = 16, 4  # 16 cells of 4 x 4 pixels
    region = torch.zeros(size, size)
    region[:8, :8] = 1  # the top-left 2 x 2 cells: 4 of the 16 cells, 64 of 256 pixels

    def score(images, target):  # the share of the region that shows the image (ones), not the baseline (zeros)
        return (images[:, 0] * region).flatten(1).sum(1).double() / region.sum()

    x, base = torch.ones(1, 3, size, size), torch.zeros(1, 3, size, size)
    best = region + 0.5 * torch.rand(size, size) * (1 - region)  # the region first
    worst = 1 - best
    got = {name: aucs(score, x, base, 0, {k: v for k, v in protocol_masks(m, (size, size), grid).items()})
           for name, m in (("best", best), ("worst", worst))}
    # Cells: one switched per step (16 // 50 -> 1), 17 points. Deleting the region first, the
    # probability is 1, 3/4, 1/2, 1/4, then 0 for the 13 other points: AUC 2.5 / 17; inserting it
    # first: 0, 1/4, 1/2, 3/4, 1 (13 times): 14.5 / 17. Last instead of first: 14.5 / 17 and 2.5 / 17.
    expect_cells = {"best": (2.5 / 17, 14.5 / 17), "worst": (14.5 / 17, 2.5 / 17)}
    # Pixels: 256 // 50 = 5 per step, 53 points (0, 5, ..., 255, 256). Deleting the 64 region
    # pixels first, the probability after k pixels is max(0, 1 - k / 64).
    counts = np.array(step_counts(size * size))
    first = np.clip(1 - counts / 64, 0, 1).mean()
    last = np.clip((256 - counts) / 64, 0, 1).mean()  # the region deleted last
    expect_pixels = {"best": (first, 1 - first), "worst": (last, 1 - last)}
    for name in got:
        for protocol, expected in (("hard", expect_cells[name]), ("pixel", expect_pixels[name])):
            assert np.allclose(got[name][protocol], expected, atol=1e-9), (name, protocol, got[name][protocol], expected)
        # soft: the bilinear edge of the region leaks, so only the order of the two is certain
        assert got["best"]["soft"][0] < got["worst"]["soft"][0] and got["best"]["soft"][1] > got["worst"]["soft"][1]
    print("scorer check: hard and pixel AUCs equal the hand-worked values; soft ranks best above worst")
    return got


# -- counting passes -----------------------------------------------------------------------
class PassCounter:
    """Images through the model's forward, and of those, the ones backpropagated, for any caller."""

    def __init__(self, model):
        self.forward = self.backward = 0
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, module, inputs, out):
        n = out.shape[0]
        self.forward += n
        if out.requires_grad:
            out.register_hook(lambda g: self._back(n))

    def _back(self, n):
        self.backward += n

    def close(self):
        self.handle.remove()


def timer():
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


def pass_costs(model, mean, std, size, n=16, repeats=3):
    """Seconds per image of a forward pass and of a forward+backward pass, batched."""
    x = torch.rand(n, 3, *size, device=mean.device)
    fwd, both = [], []
    with torch.no_grad():
        model((x[:2] - mean) / std)
    for _ in range(repeats):
        t = timer()
        with torch.no_grad():
            model((x - mean) / std)
        fwd.append((timer() - t) / n)
        t = timer()
        xs = x.clone().requires_grad_(True)
        model((xs - mean) / std)[:, 0].sum().backward()
        both.append((timer() - t) / n)
    return statistics.median(fwd), statistics.median(both)


# -- the methods: each returns an H x W map, high = important -------------------------------
class Probabilities(torch.nn.Module):
    """The classifier on [0, 1] images, as softmax probabilities (what every method explains here)."""

    def __init__(self, clf):
        super().__init__()
        self.model = clf.model
        self.register_buffer("mean", clf.mean.view(1, 3, 1, 1).to(clf.device))
        self.register_buffer("std", clf.std.view(1, 3, 1, 1).to(clf.device))

    def forward(self, x):
        return self.model((x - self.mean) / self.std).softmax(1)


SEED = 0  # the seed of every seeded method (RISE, I-GOS, iGOS++, KernelSHAP): --seed


def xviz_method(name, **kwargs):
    def run(clf, x, target, base, photo):
        import xviz
        from xviz.methods.igos import igos, igos_pp
        fn = {"gradcam": xviz.gradcam, "ig": xviz.integrated_gradients, "rise": xviz.rise,
              "igos": igos, "igos++": igos_pp}[name]
        seeded = {"seed": SEED} if name in ("rise", "igos", "igos++") else {}
        return torch.from_numpy(fn(clf, photo, **seeded, **kwargs).mask)
    return run


def superpixels(x):
    from skimage.segmentation import slic
    image = x[0].permute(1, 2, 0).cpu().numpy()
    segments = slic(image, n_segments=100, compactness=10, start_label=0)
    return torch.from_numpy(segments).long().to(x.device)[None, None]


def captum_method(name):
    def run(clf, x, target, base, photo):
        from captum import attr
        net = Probabilities(clf).eval()
        if name == "occlusion":
            a = attr.Occlusion(net).attribute(x, sliding_window_shapes=(3, 32, 32), strides=(3, 16, 16),
                                              baselines=base, target=target, perturbations_per_eval=CHUNK)
        elif name == "ig":
            a = attr.IntegratedGradients(net).attribute(x, baselines=base, target=target, internal_batch_size=CHUNK)
        else:
            segments = superpixels(x).expand(1, 3, -1, -1)
            method = attr.FeatureAblation(net) if name == "feature-ablation" else attr.KernelShap(net)
            extra = {"n_samples": 500} if name == "kernelshap" else {}
            with torch.random.fork_rng(devices=[]):  # KernelShap draws its samples from torch's RNG
                torch.manual_seed(SEED)
                a = method.attribute(x, baselines=base, target=target, feature_mask=segments,
                                     perturbations_per_eval=CHUNK, **extra)
        return a[0].sum(0).detach()
    return run


def torchcam_method(name):
    def run(clf, x, target, base, photo):
        from torchcam import methods
        net = Probabilities(clf).eval()
        kind = {"scorecam": methods.ScoreCAM, "gradcampp": methods.GradCAMpp}[name]
        extra = {"batch_size": CHUNK} if name == "scorecam" else {}
        with kind(net, target_layer="model.features", input_shape=tuple(x.shape[1:]), **extra) as cam:
            with torch.set_grad_enabled(name != "scorecam"):
                out = net(x.clone().requires_grad_(name != "scorecam"))
            (m,) = cam(class_idx=target, scores=out)
        return F.interpolate(m[None].detach().float(), size=tuple(x.shape[-2:]), mode="bilinear",
                             align_corners=False)[0, 0]
    return run


METHODS = {
    "gradcam": xviz_method("gradcam"),
    "ig": xviz_method("ig", baseline="blur"),
    "rise": xviz_method("rise", baseline="blur", progress=False),
    "igos": xviz_method("igos", progress=False),
    "igos++": xviz_method("igos++", progress=False),
    "igos:fast": xviz_method("igos", preset="fast", progress=False),
    "igos++:fast": xviz_method("igos++", preset="fast", progress=False),
    "igos:paper": xviz_method("igos", preset="paper", progress=False),
    "igos++:paper": xviz_method("igos++", preset="paper", progress=False),
    "captum-occlusion": captum_method("occlusion"),
    "captum-ig": captum_method("ig"),
    "captum-feature-ablation": captum_method("feature-ablation"),
    "captum-kernelshap": captum_method("kernelshap"),
    "torchcam-scorecam": torchcam_method("scorecam"),
    "torchcam-gradcampp": torchcam_method("gradcampp"),
}
XVIZ = ("gradcam", "ig", "rise", "igos", "igos++", "igos:fast", "igos++:fast", "igos:paper", "igos++:paper")
DEFAULT = [m for m in METHODS if ":" not in m]


# -- the run -------------------------------------------------------------------------------
def explain(clf, name, photo, costs):
    """(H x W map, cost) of one method on one photo."""
    import xviz
    x, _ = clf.prepare(xviz.zoo.image(photo))
    base = gaussian_blur(x)
    target = int(clf.logits(x).argmax(1))
    counter = PassCounter(clf.model)
    try:
        start = timer()
        full_map = METHODS[name](clf, x, target, base, xviz.zoo.image(photo))
        seconds = timer() - start
    finally:
        counter.close()
    back, fwd = counter.backward, counter.forward - counter.backward
    model_seconds = fwd * costs[0] + back * costs[1]
    cost = {"seconds": seconds, "passes": counter.forward, "backward": back,
            "overhead": seconds / model_seconds if model_seconds else float("nan")}
    return full_map.float().cpu(), x, base, target, cost


def mean_rows(rows, methods):
    keys = ["seconds", "forward_ms", "passes", "overhead"] + [f"{p}_{k}" for p in PROTOCOLS for k in ("deletion", "insertion")]
    rows = [{**r, "equivalents": r["seconds"] / (r["forward_ms"] / 1e3)} for r in rows]
    keys.append("equivalents")
    return [{"method": m, "photos": sum(r["method"] == m for r in rows),
             **{k: statistics.mean(r[k] for r in rows if r["method"] == m) for k in keys}} for m in methods]


def table(rows, lead):
    head = lead + ["s/photo", "forward ms/image", "in forward passes", "passes", "overhead"]
    head += [f"{p} del / ins" for p in PROTOCOLS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r[k]) for k in lead] + [f"{r['seconds']:.2f}", f"{r['forward_ms']:.1f}",
                                             f"{r['seconds'] / (r['forward_ms'] / 1e3):.0f}", f"{r['passes']:.0f}",
                                             f"{r['overhead']:.2f}"]
        cells += [f"{r[p + '_deletion']:.3f} / {r[p + '_insertion']:.3f}" for p in PROTOCOLS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(rows, means, subject="igos++"):
    """Where ``subject`` stands: its mean against the best peer's, and per photo, where it is the
    worst of all xviz's methods in the run, or behind both of xviz's other perturbation
    methods (RISE and I-GOS) at once."""
    peers = [m for m in means if m["method"] not in XVIZ]
    lines = []
    for p in PROTOCOLS:
        for kind, better in (("deletion", min), ("insertion", max)):
            key = f"{p}_{kind}"
            mine = next((m[key] for m in means if m["method"] == subject), None)
            if mine is None or not peers:
                continue
            best = better(peers, key=lambda m: m[key])
            margin = (best[key] - mine) if kind == "deletion" else (mine - best[key])
            verdict = "beats it" if margin > TIE else "ties with it" if margin > -TIE else "does NOT beat it"
            lines.append(f"{p:5s} {kind:9s}: {subject} {mine:.3f}, best peer {best['method']} {best[key]:.3f}"
                         f" -> {verdict}")
    ours = sorted({r["method"] for r in rows if r["method"] in XVIZ})
    for photo in dict.fromkeys(r["photo"] for r in rows):
        here = {r["method"]: r for r in rows if r["photo"] == photo and r["method"] in ours}
        if subject not in here or len(here) < 2:
            continue
        others = [here[m] for m in ("rise", "igos") if m in here]
        for p in PROTOCOLS:
            for kind, sign in (("deletion", 1), ("insertion", -1)):
                key = f"{p}_{kind}"
                mine = sign * here[subject][key]  # larger is worse
                if all(mine >= sign * r[key] for r in here.values()):
                    lines.append(f"{photo}: {subject} is the worst of {', '.join(ours)} on {p} {kind}")
                elif len(others) == 2 and all(mine > sign * r[key] for r in others):
                    lines.append(f"{photo}: {subject} is behind rise and igos on {p} {kind}")
    return lines


def metric_batch(clf, maps):
    """Time ``xviz.metrics.curves`` on every map at once against the same number of images
    passed through the model alone (random images, the Classifier's chunks, timed right
    after: a slow drift of a shared machine's load hits both), and compare its AUCs with this
    scorer's soft ones (the same protocol, written twice)."""
    from xviz import metrics
    counter = PassCounter(clf.model)
    try:
        start = timer()
        pairs = metrics.curves(clf, [m["map"].numpy() for m in maps], image=[m["x"][0] for m in maps],
                               target=[m["target"] for m in maps])
        seconds = timer() - start
    finally:
        counter.close()
    passes = counter.forward
    start = timer()
    for i in range(0, passes, 4 * clf.chunk_size):
        clf.scores(torch.rand(min(4 * clf.chunk_size, passes - i), 3, *clf.size, device=clf.device), 0)
    model_seconds = timer() - start
    one_by_one = len(maps) * 2 * len(step_counts(GRID * GRID))  # every point of every curve
    gaps = [max(abs(d.auc - m["soft"][0]), abs(i.auc - m["soft"][1])) for (d, i), m in zip(pairs, maps)]
    return {"results": len(maps), "methods": sorted({m["method"] for m in maps}), "seconds": seconds,
            "passes": passes, "points": one_by_one, "model_seconds": model_seconds,
            "overhead": seconds / model_seconds, "max_soft_auc_gap": max(gaps),
            "median_soft_auc_gap": statistics.median(gaps)}


def plot(means, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.8))
    for ax, p in zip(axes, PROTOCOLS):
        for m in means:
            mine = m["method"] in XVIZ
            ax.scatter(m[f"{p}_deletion"], m[f"{p}_insertion"], c="C3" if mine else "C0", marker="o" if mine else "s")
            ax.annotate(m["method"], (m[f"{p}_deletion"], m[f"{p}_insertion"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set(title=f"{p}: better is up and left", xlabel="deletion AUC (lower is better)",
               ylabel="insertion AUC (higher is better)")
    ax = axes[-1]
    order = sorted(means, key=lambda m: m["equivalents"])
    ax.barh([m["method"] for m in order], [m["equivalents"] for m in order],
            color=["C3" if m["method"] in XVIZ else "C0" for m in order])
    ax.set(xscale="log", xlabel="seconds per photo / seconds per forward pass (log)",
           title="time in forward passes (red: xviz, blue: peers)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run(args, parser, clf):
    """Every method on every photo, the tables and verdicts; returns what --json writes."""
    from xviz.core.images import blur
    score = Scorer(clf.model, clf.mean, clf.std)
    costs = pass_costs(clf.model, clf.mean.view(1, 3, 1, 1), clf.std.view(1, 3, 1, 1), clf.size)
    print(f"# {clf.name}, {torch.get_num_threads()} threads: forward {costs[0] * 1e3:.1f} ms/image, "
          f"forward+backward {costs[1] * 1e3:.1f} ms/image\n", flush=True)
    methods, photos = args.methods.split(","), args.photos.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    rows, maps = [], []
    for name in methods:
        for photo in photos:
            full_map, x, base, target, cost = explain(clf, name, photo, costs)
            assert torch.allclose(base, blur(x), atol=1e-5), "the baseline differs from xviz's blur"
            result = faithfulness(score, x, base, target, full_map)
            rows.append({"method": name, "photo": photo, "target": target, "forward_ms": costs[0] * 1e3, **cost,
                         **{f"{p}_{k}": v for p, pair in result.items() for k, v in zip(("deletion", "insertion"), pair)}})
            maps.append({"method": name, "map": full_map, "x": x, "target": target, "soft": result["soft"]})
            print(table(rows[-1:], ["method", "photo"]).splitlines()[-1], flush=True)
    means = mean_rows(rows, methods)
    print("\nPer photo:\n" + table(rows, ["method", "photo"]))
    print("\nMean over the photos:\n" + table(means, ["method"]))
    print("\n" + "\n".join(verdicts(rows, means)))
    out = {"model": clf.name, "threads": torch.get_num_threads(), "seed": SEED, "costs": costs, "photos": photos,
           "grid": GRID, "baseline": "gaussian blur 51 x 51, sigma 50", "rows": rows, "mean": means}
    if not args.no_metric_batch:
        chosen = [m for m in maps if m["method"] in methods[:6]]
        out["metric_batch"] = batch = metric_batch(clf, chosen)
        print(f"\nxviz.metrics.curves on {batch['results']} results ({', '.join(methods[:6])} on {len(photos)} photos):"
              f" {batch['seconds']:.1f} s for {batch['passes']} images ({batch['points']} curve points),"
              f" their passes alone {batch['model_seconds']:.1f} s:"
              f" overhead {batch['overhead']:.2f}; soft AUCs vs this scorer: max gap {batch['max_soft_auc_gap']:.4f},"
              f" median {batch['median_soft_auc_gap']:.4f}")
    return out


def merged(paths):
    """The rows of several runs' JSON files as one result, each row naming the file it came from."""
    rows, runs = {}, []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        runs.append({"file": path, **{k: v for k, v in data.items() if k not in ("rows", "mean")}})
        for r in data["rows"]:
            rows.setdefault((r["method"], r["photo"]), {**r, "from": r.get("from", path)})
    rows = list(rows.values())
    methods = list(dict.fromkeys(r["method"] for r in rows))
    means = mean_rows(rows, methods)
    print("Per photo:\n" + table(rows, ["method", "photo"]))
    print("\nMean over the photos:\n" + table(means, ["method", "photos"]))
    print("\n" + "\n".join(verdicts(rows, means)))
    return {"runs": runs, "rows": rows, "mean": means}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default=",".join(PHOTOS))
    parser.add_argument("--methods", default=",".join(DEFAULT), help=f"of: {', '.join(METHODS)}")
    parser.add_argument("--json", help="write the rows, means and costs to this file")
    parser.add_argument("--plot", help="write the figure (PNG) to this file")
    parser.add_argument("--check", action="store_true", help="only check the scorer against hand-worked AUCs")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of RISE, I-GOS, iGOS++ and KernelSHAP (their maps move by about 0.01 AUC between seeds)")
    parser.add_argument("--no-metric-batch", action="store_true", help="skip timing xviz.metrics on the maps")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="compute nothing: merge the rows of earlier --json files (the first file's row wins "
                             "for a method and photo in several), print the tables and write --json / --plot")
    args = parser.parse_args()
    global SEED
    SEED = args.seed
    check()
    if args.check:
        return
    if args.merge:
        out = merged(args.merge)
    else:
        import xviz
        clf = xviz.zoo.efficientnet_lite0()
        with clf.session():  # the model on its device, in eval mode, restored after
            out = run(args, parser, clf)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if args.plot:
        plot(out["mean"], args.plot)


if __name__ == "__main__":
    main()
