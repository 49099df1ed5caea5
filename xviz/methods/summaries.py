"""Visual summaries of a class (Godi, Carletti et al., BMVC 2018, arXiv 1801.09103).

"Understanding deep architectures by visual summaries" asks what a network looks at across
*many* images of one class, not one: the parts it relies on again and again.

1. Per image, a sparse sharp mask (1 = important) by two optimisations in a row (after Fong
   and Vedaldi's meaningful perturbations): a smooth 28 x 28 mask that blurs away as little of
   the image as possible while destroying the class score, then a full-resolution mask started
   from it, pushed to 0/1 by a binarisation term. Every image of a step goes through the
   classifier in one chunked batch (one forward and backward per chunk).
2. Regions: the mask is thresholded; its connected components, ranked by the score drop when
   each is blurred away alone (and that drop per unit of area), explain the image.
3. Across the images: region proposals lying inside the masks, redundant ones pruned, a
   similarity between every pair of regions, affinity propagation; a cluster that gathers
   regions of several images is a *summary*: a part the network uses again and again. Clusters
   are kept and ranked by their coherence (mean similarity of their members).

Differences from the authors' code (github mcarletti/interpretable-visual-summaries for the
masks, godimarcovr/interpretable_visual_summaries for the clustering), each deliberate:

- the similarity of two regions is not Proposal Flow (Ham et al., CVPR 2016): its Matlab code
  and its Selective Search proposals are not available offline (nor in Python). The
  substitute uses what the network itself sees: the feature maps of a mid/late layer
  (``layer="auto"``: the last block at 1/16 of the input resolution or finer, 14 x 14 at 224)
  averaged inside each region, centred over all regions and compared by cosine; plus, standing
  in for the geometry Proposal Flow adds to appearance, a small weight (``position``, 0.1) on
  how close the regions' centres are in their images (as shares of the image), so that of two
  look-alike parts (two eyes) the one at the same place is preferred. It is kept small: the
  same part at different places in different photos must still match (a heavier weight split
  one repeated part into one cluster per image area in the known-answer test). The network's
  own features make the summary about the network (two models give two summaries of the
  same images), which is the paper's point;
- proposals are the mask's connected components, the boxes around them and a multi-scale set
  of windows (``scales`` of the image side, half-overlapping), kept where the mask covers more
  than ``cover`` (75%) of them: the boxes the original keeps from 500 Selective Search
  proposals are likewise those lying inside the mask;
- redundant proposals (boxes overlapping by half or more of the smaller one, of similar size)
  are pruned greedily, the most *repeatable* first: the one whose best matches in the other
  images are highest on average (the original keeps the best mean of its top 100 similarities);
- coherence is the mean similarity of a cluster's members (the original: median SSIM of the
  warped crops, which needs Proposal Flow's warps). As in the original a cluster is kept when
  its coherence reaches 0.9 x the median coherence of the clusters, but measured from the
  chance level (the median similarity of regions of different images; SSIM's is about 0),
  and when it spans at least ``min_images`` images. As in the original, a cluster keeps one
  region per image, the one most similar to its exemplar; members are not pruned further
  (the original drops members whose SSIMs fall mostly below the median);
- the blur baseline is xviz's (I-GOS's 51 x 51, sigma 50) instead of OpenCV's 11 x 11, sigma
  10, so every xviz method deletes towards the same image; the score is the softmax
  probability, as in the original;
- the stage-1 mask blur (sigma 5 pixels at 224, scaled with the input) is differentiated
  through (the original blurs the tensor's data in place, so its gradient skips the blur);
- TV weights are given at the paper's resolution (28 x 28 for stage 1, the input side for
  stage 2) and scaled by side / reference for other mask sizes, as in :mod:`xviz.methods.igos`;
- no noise is added (the authors' ``noise_sigma`` is 0 in both stages), so the masks are
  deterministic, and each image's mask has its own Adam state: an image gets the same mask
  alone or in a batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..core import capture
from ..core.checks import checked_float, checked_int, preset_settings
from ..core.classifier import Classifier
from ..core.files import DamagedFile, valid
from ..core.images import baseline as make_baseline
from ..core.images import Box, blur, compose, mask_side, to_numpy, upsample_mask
from ..core.progress import progress as progress_bar
from ..core.result import Result, deprecated, load_as
from ..core.types import Images, Layer
from .heatmap import Saliency
from .igos import tv

PRESETS = {
    # The paper's two stages (the authors' main.py): 300 + 150 Adam iterations.
    "paper": {"smooth_iterations": 300, "sharp_iterations": 150, "sharp_scale": 1.0},
    # For CPUs: a third of the iterations, the sharp stage at half resolution (upsampled). On 7
    # chelsea crops (benchmarks/summaries.py --compare 7) its masks are a little larger than the
    # paper's (28% of the image against 23%) and about as faithful: p(cat) with the mask blurred
    # away 0.02 against 0.01, deletion AUC 0.109 against 0.100, insertion 0.431 against 0.428.
    "fast": {"smooth_iterations": 100, "sharp_iterations": 50, "sharp_scale": 0.5},
}
COMMON = {
    "smooth_size": "auto", "lr": 0.1, "beta": 3.0, "init": "circle", "mask_blur": 5.0, "baseline": "blur",
    "smooth_l1": 0.5, "smooth_tv": 0.01, "sharp_l1": 0.01, "sharp_tv": 1.0, "binarise": 2.0,
    "threshold": 0.5, "min_area": 0.01, "cover": 0.75, "scales": (0.5, 1 / 3, 0.25, 1 / 6),
    "same_region": 0.5, "scale_ratio": 2.0, "position": 0.1, "position_sigma": 0.5,
    "method": "affinity", "preference": 1.3, "min_images": 2, "keep": 0.9, "max_clusters": None,
}
METHODS = ("affinity", "agglomerative")
INITS = ("circle", "ones")
BLOCK = 128  # shown images composed per scoring call: bounds the memory of one batch


# -- settings --------------------------------------------------------------------------------
def _settings(preset, device, overrides):
    preset, cfg = preset_settings(PRESETS, preset, device, COMMON, overrides)
    for key in ("smooth_iterations", "sharp_iterations", "min_images"):
        cfg[key] = checked_int(cfg[key], key, 2 if key == "min_images" else 0)
    for key in ("threshold", "cover", "same_region"):
        if not 0 < float(cfg[key]) < 1:
            raise ValueError(f"{key} must be in (0, 1), got {cfg[key]!r}")
    if not 0 < float(cfg["sharp_scale"]) <= 1:
        raise ValueError(f"sharp_scale must be in (0, 1] (a share of the input side), got {cfg['sharp_scale']!r}")
    if not 0 <= float(cfg["position"]) <= 1:
        raise ValueError(f"position must be in [0, 1] (the weight of position against appearance), "
                         f"got {cfg['position']!r}")
    cfg["max_clusters"] = checked_int(cfg["max_clusters"], "max_clusters", 1, none="every coherent cluster")
    for key in ("lr", "beta", "scale_ratio", "position_sigma"):
        cfg[key] = checked_float(cfg[key], key, above=0)
    for key in ("mask_blur", "smooth_l1", "smooth_tv", "sharp_l1", "sharp_tv", "binarise", "preference"):
        cfg[key] = checked_float(cfg[key], key, minimum=0)  # 0 turns a weight off
    for key, what in (("min_area", "a share of the image"), ("keep", "a share of the way from chance to typical")):
        cfg[key] = checked_float(cfg[key], key)
        if not 0 <= cfg[key] <= 1:
            raise ValueError(f"{key} must be in [0, 1] ({what}), got {cfg[key]!r}")
    if cfg["method"] not in METHODS:
        raise ValueError(f"unknown method {cfg['method']!r}; accepted: {', '.join(map(repr, METHODS))}")
    if cfg["init"] not in INITS:
        raise ValueError(f"unknown init {cfg['init']!r}; accepted: {', '.join(map(repr, INITS))}")
    if not all(0 < float(s) <= 1 for s in cfg["scales"]):
        raise ValueError(f"scales must be shares of the image side in (0, 1], got {cfg['scales']!r}")
    cfg["scales"] = [float(s) for s in cfg["scales"]]
    return {"preset": preset, **cfg}


# -- stage 1 and 2: the masks ------------------------------------------------------------------
def _circle(n, side, device):
    """The authors' start: the central disk deleted (0), the rest kept (1)."""
    r = torch.arange(side, device=device, dtype=torch.float32) - side // 2
    outside = (r.view(-1, 1) ** 2 + r.view(1, -1) ** 2) > (side // 2) ** 2
    return outside.float().expand(n, 1, side, side).clone()


def _blur_mask(m, sigma):
    if sigma <= 0:
        return m
    ksize = 2 * math.ceil(3 * sigma) + 1
    return blur(m, ksize=ksize, sigma=sigma)


def _optimise(clf, x, base, targets, m0, stage, progress):
    """Adam on masks N x 1 x h x w (1 = keep): p(target) of the blended image plus regularisers.

    ``stage`` holds iterations, lr, l1, tv (already scaled to the mask size), beta, binarise,
    sigma (blur of the upsampled mask, pixels). The score's gradient comes from one batched
    ``clf.gradients`` call per iteration; it is chained to the masks by autograd.
    """
    m = m0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([m], lr=stage["lr"])
    size = tuple(x.shape[-2:])
    scores, losses = [], []
    for _ in progress_bar(range(int(stage["iterations"])), desc=stage["desc"], enabled=progress):
        with torch.enable_grad():
            up = _blur_mask(upsample_mask(m, size), stage["sigma"])
            shown = compose(x, base, up)
            p, g = clf.gradients(shown.detach(), targets, output="prob")
            reg = (stage["l1"] * (1 - m).abs().flatten(1).mean(1) + stage["tv"] * tv(m, stage["beta"])
                   + stage["binarise"] * ((1 - m) * m).abs().flatten(1).mean(1))
            opt.zero_grad()
            torch.autograd.backward([shown, reg.sum()], [g.view_as(shown), None])
        opt.step()
        with torch.no_grad():
            m.clamp_(0, 1)
        scores.append(p.detach().cpu())
        losses.append((p.detach() + reg.detach()).cpu())
    history = {"score": torch.stack(scores, 1).tolist() if scores else [[] for _ in range(len(x))],
               "loss": torch.stack(losses, 1).tolist() if losses else [[] for _ in range(len(x))]}
    return m.detach(), history


def _masks(clf, x, base, targets, cfg, progress):
    """Both stages: (smooth masks N x 1 x s x s, sharp masks N x 1 x H x W), 1 = keep, and histories."""
    n, size = len(x), tuple(x.shape[-2:])
    side = mask_side(cfg["smooth_size"], size, "smooth_size", grow=True)
    m0 = _circle(n, side, x.device) if cfg["init"] == "circle" else torch.ones(n, 1, side, side, device=x.device)
    scale = min(size) / 224  # the blur is 5 pixels at the paper's 224
    common = {"lr": float(cfg["lr"]), "beta": float(cfg["beta"])}
    smooth, h1 = _optimise(clf, x, base, targets, m0, {
        **common, "iterations": cfg["smooth_iterations"], "l1": float(cfg["smooth_l1"]),
        "tv": float(cfg["smooth_tv"]) * side / 28, "binarise": 0.0, "sigma": float(cfg["mask_blur"]) * scale,
        "desc": "summaries: smooth masks"}, progress)
    sharp_size = tuple(max(2, round(s * float(cfg["sharp_scale"]))) for s in size)
    sharp, h2 = _optimise(clf, x, base, targets, upsample_mask(smooth, sharp_size), {
        **common, "iterations": cfg["sharp_iterations"], "l1": float(cfg["sharp_l1"]),
        "tv": float(cfg["sharp_tv"]) * min(sharp_size) / min(size), "binarise": float(cfg["binarise"]),
        "sigma": 0.0, "desc": "summaries: sharp masks"}, progress)
    return smooth, upsample_mask(sharp, size), {"smooth": h1, "sharp": h2}


# -- regions -----------------------------------------------------------------------------------
def _components(binary, min_pixels):
    """Connected components (8-connected) of at least ``min_pixels``, labelled 1..K by size."""
    from skimage.measure import label

    lab = label(binary, connectivity=2)
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    big = [c for c in np.argsort(-counts, kind="stable") if counts[c] >= min_pixels]
    out = np.zeros(lab.shape, np.int32)
    for new, old in enumerate(big, 1):
        out[lab == old] = new
    return out


def _coverage(integral, boxes):
    """Share of each box (top, left, bottom, right; exclusive) covered, from an integral image."""
    t, l, b, r = boxes.T
    inside = integral[b, r] - integral[t, r] - integral[b, l] + integral[t, l]
    return inside / np.maximum((b - t) * (r - l), 1)


def _windows(shape, scales, min_pixels):
    """Half-overlapping square-ish windows at each scale (a share of the side), as boxes."""
    H, W = shape
    boxes = []
    for s in scales:
        h, w = max(2, round(s * H)), max(2, round(s * W))
        if h * w < min_pixels:
            continue
        tops = sorted(set(list(range(0, H - h + 1, max(1, h // 2))) + [H - h]))
        lefts = sorted(set(list(range(0, W - w + 1, max(1, w // 2))) + [W - w]))
        boxes += [(t, l, t + h, l + w) for t in tops for l in lefts]
    return np.array(boxes, dtype=np.int64).reshape(-1, 4)


def _proposals(labels, cfg, min_pixels):
    """One image's components, their boxes and the windows its mask covers enough.

    Returns a list of ``(kind, component, box)`` with kind "component" or "box".
    """
    binary = labels > 0
    integral = np.pad(binary.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    out = []
    ids = range(1, int(labels.max()) + 1)
    boxes = []
    for c in ids:
        rows, cols = np.nonzero(labels == c)
        box = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
        out.append(("component", c, box))
        boxes.append(box)
    candidates = np.concatenate([np.array(boxes, np.int64).reshape(-1, 4), _windows(labels.shape, cfg["scales"],
                                                                                    min_pixels)])
    if len(candidates):
        covered = _coverage(integral, candidates) > cfg["cover"]
        seen = set()
        for box in candidates[covered]:
            key = tuple(int(v) for v in box)
            if key not in seen:
                seen.add(key)
                out.append(("box", 0, key))
    return out


def region_mask(labels, kind, component, box):
    """H x W bool pixels of a region: a component's pixels, or the mask's pixels inside a box."""
    if kind == "component":
        return labels == component
    t, l, b, r = box
    out = np.zeros(labels.shape, bool)
    out[t:b, l:r] = labels[t:b, l:r] > 0
    return out


def _box_overlap(a, b):
    """Intersection of two boxes over the smaller box's area, and the ratio of their areas."""
    h = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    w = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    return h * w / max(min(area_a, area_b), 1), max(area_a, area_b) / max(min(area_a, area_b), 1)


# -- scoring and features ---------------------------------------------------------------------
def _removal_scores(clf, x, base, targets, owners, masks, progress):
    """p(target) of each image with one region blurred away; all regions in batched calls."""
    out = []
    owners_t = torch.as_tensor(owners, device=x.device, dtype=torch.long)
    tg = torch.as_tensor(targets, device=x.device)[owners_t]
    for start in range(0, len(owners), BLOCK):
        s = slice(start, start + BLOCK)
        r = masks[s].to(x.device, torch.float32)[:, None]
        shown = compose(base[owners_t[s]], x[owners_t[s]], r)
        out.append(clf.scores(shown, tg[s], progress=progress and "summaries: region scores"))
    return torch.cat(out).cpu().numpy() if out else np.zeros(0)


def auto_layer(clf):
    """The last block whose maps are at least 1/16 of the input side (14 x 14 at 224): the
    core's automatic choice with ``pick="fine"`` (:func:`xviz.core.capture.auto_layers`).

    Layers inside another layer with maps are skipped, so a whole block is chosen.

    Examples
    --------
    >>> import xviz
    >>> auto_layer(xviz.zoo.digits_cnn())
    'features'
    """
    return capture.auto_layers(clf, "fine")[0].name


def _features(acts, owners, masks):
    """Each region's mean feature vector: the layer's maps averaged over the region's area."""
    n, c, h, w = acts.shape
    out = torch.zeros(len(owners), c, device=acts.device)
    owners = np.asarray(owners)
    for i in np.unique(owners):
        idx = np.nonzero(owners == i)[0]
        weight = F.adaptive_avg_pool2d(masks[idx].to(acts.device, torch.float32)[:, None], (h, w))[:, 0]
        total = weight.flatten(1).sum(1).clamp_min(1e-12)
        out[idx] = torch.einsum("phw,chw->pc", weight, acts[i].float()) / total[:, None]
    return out


def _similarity(features, centres, position, sigma):
    """(1 - position) x cosine of centred features + position x closeness of the centres."""
    f = features - features.mean(0, keepdim=True)
    f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
    appearance = f @ f.T
    c = torch.as_tensor(centres, dtype=torch.float32, device=features.device)
    near = torch.exp(-torch.cdist(c, c).pow(2) / (2 * sigma ** 2))
    return ((1 - position) * appearance + position * near).cpu().double().numpy()


def _repeatability(S, owners):
    """For each region, the mean over the other images of its best match there."""
    owners = np.asarray(owners)
    images = np.unique(owners)
    best = np.stack([np.where(owners[None] == j, S, -np.inf).max(1) for j in images], 1)  # P x images
    other = owners[:, None] != images[None]
    return np.where(other, best, 0).sum(1) / np.maximum(other.sum(1), 1)


def _prune(proposals, owners, S, cfg):
    """Keep, per image, the most repeatable of each group of redundant proposals."""
    rep = _repeatability(S, owners)
    kept = []
    for i in np.unique(owners):
        idx = sorted(np.nonzero(np.asarray(owners) == i)[0], key=lambda p: (-rep[p], p))
        chosen = []
        for p in idx:
            box = proposals[p][2]
            redundant = False
            for q in chosen:
                overlap, ratio = _box_overlap(box, proposals[q][2])
                if overlap >= cfg["same_region"] and ratio < cfg["scale_ratio"]:
                    redundant = True
                    break
            if not redundant:
                chosen.append(p)
        kept += sorted(chosen)
    return kept


class _Proposals:
    """Every image's components and boxes, their pixels (P x H x W bool) and owning image."""

    def __init__(self, importance, cfg):
        H, W = importance.shape[1:]
        min_pixels = max(1, math.ceil(cfg["min_area"] * H * W))
        self.labels = np.stack([_components(m > cfg["threshold"], min_pixels) for m in importance])
        self.items, self.owners = [], []
        for i, labels in enumerate(self.labels):
            for item in _proposals(labels, cfg, min_pixels):
                self.items.append(item)
                self.owners.append(i)
        self.masks = torch.from_numpy(np.stack([region_mask(self.labels[i], *item)
                                                for i, item in zip(self.owners, self.items)])
                                      if self.items else np.zeros((0, H, W), bool))
        self.components = [p for p, item in enumerate(self.items) if item[0] == "component"]
        self.centres = [((b[0] + b[2]) / 2 / H, (b[1] + b[3]) / 2 / W) for _, _, b in self.items]

    def similarity(self, acts, cfg):
        if not self.items:
            return np.zeros((0, 0))
        features = _features(acts, self.owners, self.masks)
        return _similarity(features, self.centres, float(cfg["position"]), float(cfg["position_sigma"]))

    def drops(self, clf, x, base, target, p_full, kept, progress):
        """p(target) with each image's whole mask blurred away, and the score drop of each
        component and kept proposal blurred away alone; all in batched calls."""
        n = len(x)
        scored = sorted(set(kept) | set(self.components))
        owners = list(range(n)) + [self.owners[p] for p in scored]
        removed = _removal_scores(clf, x, base, [target] * n, owners,
                                  torch.cat([torch.from_numpy(self.labels > 0), self.masks[scored]]), progress)
        full = p_full.cpu().numpy()[owners[n:]]
        return removed[:n], dict(zip(scored, (full - removed[n:]).tolist()))

    def region(self, p, drops, similarity=float("nan")):
        kind, component, box = self.items[p]
        area = float(self.masks[p].float().mean())
        return Region(image=self.owners[p], box=Box(*(int(v) for v in box)), mask=self.masks[p].numpy(), kind=kind,
                      component=int(component), area=area, drop=float(drops[p]),
                      drop_per_area=float(drops[p]) / max(area, 1e-12), similarity=float(similarity))


# -- clustering --------------------------------------------------------------------------------
def _cluster_labels(S, cfg):
    """Cluster labels and exemplars of a similarity matrix; affinity propagation by default."""
    n = len(S)
    if n < 2:
        return np.zeros(n, int), list(range(n)), "single"
    off = S[~np.eye(n, dtype=bool)]
    top, median = off.max(), np.median(off)
    if cfg["method"] == "affinity":
        import warnings

        from sklearn.cluster import AffinityPropagation
        from sklearn.exceptions import ConvergenceWarning

        # The original's preference: the median of (S - max S) times 1.3, fewer clusters than the median.
        pref = top + float(cfg["preference"]) * (median - top)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ap = AffinityPropagation(affinity="precomputed", preference=pref, damping=0.7, max_iter=1000,
                                     convergence_iter=50, random_state=0).fit(S)
        labels = ap.labels_
        if len(labels) and labels.min() >= 0 and len(ap.cluster_centers_indices_):
            return labels, [int(e) for e in ap.cluster_centers_indices_], "affinity"
    # Agglomerative (also when affinity propagation does not converge): average linkage,
    # merging while the mean similarity between two groups stays above the median.
    from sklearn.cluster import AgglomerativeClustering

    labels = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                     distance_threshold=float(top - median)).fit(top - S).labels_
    exemplars = []
    for k in range(labels.max() + 1):
        idx = np.nonzero(labels == k)[0]
        exemplars.append(int(idx[np.argmax(S[np.ix_(idx, idx)].sum(1))]))
    return labels, exemplars, "agglomerative"


def _groups(S, owners, cfg):
    """Clusters as (exemplar, members) with one member per image, most similar to the exemplar first."""
    labels, exemplars, used = _cluster_labels(S, cfg)
    out = []
    for k, ex in enumerate(exemplars):
        idx = [int(p) for p in np.nonzero(labels == labels[ex])[0]]
        best = {}
        for p in sorted(idx, key=lambda p: (-S[ex, p], p)):
            if owners[p] == owners[ex] and p != ex:
                continue  # other regions of the exemplar's own image are not part of the summary
            best.setdefault(owners[p], p)
        members = [ex] + [p for p in best.values() if p != ex]
        out.append(members)
    return out, used


def _coherence(S, members):
    if len(members) < 2:
        return float("nan")
    sub = S[np.ix_(members, members)]
    return float(sub[~np.eye(len(members), dtype=bool)].mean())


# -- results -----------------------------------------------------------------------------------
@dataclass(eq=False)
class Region:
    """One region of one image: where it is and how much the class score needs it.

    Attributes
    ----------
    image : int
        Index of its image in :attr:`Summary.images`.
    box : xviz.images.Box
        ``(top, left, bottom, right)`` in pixels at the classifier's input size (bottom and
        right exclusive).
    mask : numpy.ndarray
        H x W bool: its pixels (a component's pixels, or the sharp mask's pixels in the box).
    kind : str
        ``"component"`` (a connected component of the thresholded mask) or ``"box"`` (a
        window or a component's box that the mask covers).
    component : int
        The component's label in :attr:`Summary.labels` (0 for boxes).
    area : float
        Its share of the image.
    drop : float
        p(target) of the full image minus p(target) with this region alone blurred away.
    drop_per_area : float
        ``drop / area``.
    similarity : float
        Similarity to its cluster's exemplar (1 for the exemplar; NaN outside clusters).
    """

    image: int
    box: Box
    mask: np.ndarray
    kind: str
    component: int
    area: float
    drop: float
    drop_per_area: float
    similarity: float = float("nan")

    def __repr__(self):
        t, l, b, r = self.box
        return (f"Region(image={self.image}, {self.kind}, box=({t}, {l}, {b}, {r}), area={self.area:.3f}, "
                f"drop={self.drop:.3f})")

    def _meta(self):
        return {"image": self.image, "box": list(self.box), "kind": self.kind, "component": self.component,
                "area": self.area, "drop": self.drop, "drop_per_area": self.drop_per_area,
                "similarity": None if math.isnan(self.similarity) else self.similarity}


@dataclass(eq=False)
class RegionCluster:
    """A visual summary: regions of several images that the network sees alike.

    Attributes
    ----------
    members : list of Region
        The exemplar first, then the others by similarity to it; one region per image.
    coherence : float
        Mean pairwise similarity of the members (higher = more alike).
    """

    members: list
    coherence: float

    @property
    def exemplar(self):
        return self.members[0]

    @property
    def images(self):
        """The indices of the images it has a region in, sorted."""
        return sorted({r.image for r in self.members})

    def __repr__(self):
        return f"RegionCluster({len(self.members)} regions of {len(self.images)} images, coherence={self.coherence:.3f})"


def _cluster_line(k, c):
    return f"  {k}: coherence {c.coherence:.3f}, {len(c.images)} images, exemplar {c.exemplar!r}"


@dataclass(eq=False)
class Summary(Result):
    """Visual summaries of one class over a set of images, with each image's mask and regions.

    Attributes
    ----------
    images : numpy.ndarray
        N x H x W x 3 float32 in [0, 1]: the images as the classifier saw them.
    masks : numpy.ndarray
        N x H x W float32 in [0, 1]: the sharp (stage 2) masks; 1 = important (blurring it away
        destroys the score).
    smooth : numpy.ndarray
        N x s x s float32: the smooth (stage 1) masks, 1 = important.
    labels : numpy.ndarray
        N x H x W int32: each image's components of the thresholded mask (1..K by size, 0 = not
        important or too small).
    target, label :
        The summarised class and its name.
    scores : numpy.ndarray
        N: p(target) of each full image.
    masked_scores : numpy.ndarray
        N: p(target) with each image's thresholded mask blurred away (low = the mask found
        what the score needs).
    regions : list of list of Region
        Per image, its components, by score drop (highest first).
    clusters : list of RegionCluster
        The kept summaries, by coherence (highest first).
    settings : dict
        Parameters, preset, model name, the layer used for the features.
    history : dict
        Per-iteration ``score`` and ``loss`` of each image in both stages (``smooth``,
        ``sharp``); counts of ``proposals`` (before and after pruning), ``clusters_found``,
        the ``coherence_threshold`` and clustering ``method`` used; ``passes`` and ``seconds``
        by phase.
    passes, seconds :
        Images through the model, and wall time, for the whole summary.
    """

    FORMAT = "xviz.summary/1"
    WHAT = "summary"

    images: np.ndarray
    masks: np.ndarray
    smooth: np.ndarray
    labels: np.ndarray
    target: int
    label: str
    scores: np.ndarray
    masked_scores: np.ndarray
    regions: list
    clusters: list
    settings: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    passes: int = 0
    seconds: float = 0.0

    def __repr__(self):
        n = len(self.images)
        lines = [f"Summary(target={self.target} ({self.label!r}), {n} images, "
                 f"{len(self.clusters)} clusters kept of {self.history.get('clusters_found', '?')} found, "
                 f"model {self.settings.get('model', '?')!r}, layer {self.settings.get('layer', '?')!r})"]
        lines += [_cluster_line(k, c) for k, c in enumerate(self.clusters[:8])]
        if len(self.clusters) > 8:
            lines.append(f"  ... {len(self.clusters) - 8} more")
        return "\n".join(lines)


    def ranked(self, image, by="drop"):
        """The components of one image ranked by ``"drop"`` or ``"drop_per_area"`` (highest first)."""
        if by not in ("drop", "drop_per_area"):
            raise ValueError(f"by must be 'drop' or 'drop_per_area', got {by!r}")
        if not 0 <= int(image) < len(self.images):
            raise ValueError(f"image {image} does not exist; this summary has images 0..{len(self.images) - 1}")
        return sorted(self.regions[int(image)], key=lambda r: -getattr(r, by))

    def saliency(self, image):
        """One image's sharp mask as a :class:`~xviz.Saliency` (for HeatmapView and xviz.metrics)."""
        i = int(image)
        if not 0 <= i < len(self.images):
            raise ValueError(f"image {image} does not exist; this summary has images 0..{len(self.images) - 1}")
        return Saliency(method="summary-mask", mask=self.masks[i], raw=self.smooth[i], image=self.images[i],
                        target=self.target, label=self.label, score=float(self.scores[i]),
                        settings=self.settings, history={k: v["score"][i] for k, v in self.history.items()
                                                         if isinstance(v, dict) and "score" in v})

    # -- files ----------------------------------------------------------------------------
    def _parts(self):
        """Region masks are not stored: they are rebuilt from :attr:`labels` on load."""
        table, index = [], {}

        def ref(region):
            if id(region) not in index:
                index[id(region)] = len(table)
                table.append(region._meta())
            return index[id(region)]

        regions = [[ref(r) for r in per] for per in self.regions]
        clusters = [{"members": [ref(r) for r in c.members], "coherence": c.coherence} for c in self.clusters]
        meta = {"target": self.target, "label": self.label, "table": table, "regions": regions,
                "clusters": clusters, "settings": self.settings, "history": self.history, "passes": self.passes,
                "seconds": self.seconds}
        return meta, {"images": self.images, "masks": self.masks, "smooth": self.smooth, "labels": self.labels,
                      "scores": self.scores, "masked_scores": self.masked_scores}

    @classmethod
    def _from_parts(cls, meta, data, clf=None):
        arrays = _checked_arrays(data)
        n = len(arrays["images"])
        if any(not isinstance(m["image"], int) or not 0 <= m["image"] < n for m in meta["table"]):
            raise DamagedFile(f"'{data.path}' is a damaged xviz summary file: a region names an image outside 0..{n - 1}")
        table = []
        for m in meta["table"]:
            if not (isinstance(m["box"], list) and len(m["box"]) == 4 and all(isinstance(v, int) for v in m["box"])):
                raise DamagedFile(f"'{data.path}' is a damaged xviz summary file: a region's box is not four ints")
            box = Box(*m["box"])
            table.append(Region(image=m["image"], box=box, kind=m["kind"], component=m["component"], area=m["area"],
                                drop=m["drop"], drop_per_area=m["drop_per_area"],
                                similarity=float("nan") if m["similarity"] is None else m["similarity"],
                                mask=region_mask(arrays["labels"][m["image"]], m["kind"], m["component"], box)))
        return cls(target=meta["target"], label=meta["label"],
                   regions=[[table[k] for k in per] for per in meta["regions"]],
                   clusters=[RegionCluster(members=[table[k] for k in c["members"]], coherence=c["coherence"])
                             for c in meta["clusters"]],
                   settings=meta["settings"], history=meta["history"], passes=meta["passes"],
                   seconds=meta["seconds"], **arrays)


def _checked_arrays(data):
    """A summary file's arrays, checked to fit together and to hold what they should."""
    images = valid(data, "images", ndim=4, unit=True, shape=(None, None, None, 3))
    n, h, w = images.shape[:3]
    return {"images": images, "masks": valid(data, "masks", unit=True, shape=(n, h, w)),
            "smooth": valid(data, "smooth", ndim=3, unit=True, shape=(n,)),
            "labels": valid(data, "labels", kind="int", shape=(n, h, w)),
            "scores": valid(data, "scores", unit=True, shape=(n,)),
            "masked_scores": valid(data, "masked_scores", unit=True, shape=(n,))}


def load(path):
    """Deprecated: :func:`xviz.load` reads every result."""
    deprecated("xviz.summaries.load(path)", "xviz.load(path)")
    return load_as(Summary, path)


# -- the method --------------------------------------------------------------------------------
def _inputs(clf, images, target):
    """Images as a batch of at least 2, and one resolved target for all of them."""
    if isinstance(images, (list, tuple)) and len(images) == 0:
        raise ValueError("got an empty list of images; a summary needs at least 2 images of one class")
    x, batch = clf.prepare(images)
    if not batch or len(x) < 2:
        raise ValueError(f"a summary needs at least 2 images of one class (it finds the parts they share), "
                         f"got {len(x) if batch else 'a single image'}")
    if isinstance(target, (list, tuple)):
        raise ValueError(f"a summary explains one class for all its images; give one target, got {target!r}")
    if target is None:
        logits = clf.logits(x)
        votes = np.bincount(logits.argmax(1).cpu().numpy())
        t = int(votes.argmax())  # the class most images are given
    else:
        t = clf.target_index(target)
    return x, t


def _keep_clusters(groups, S, owners, cfg):
    """Coherence of each group; keep those spanning enough images and coherent enough, best first.

    The original keeps a cluster when its coherence is at least 0.9 x the median coherence of
    the clusters (SSIM, about 0 for unrelated crops); here coherence is measured from the
    chance level (the median similarity of regions of different images), so the threshold is
    ``chance + keep * (median coherence - chance)``.
    """
    owners = np.asarray(owners)
    cross = S[owners[:, None] != owners[None]] if len(S) else np.zeros(0)
    chance = float(np.median(cross)) if len(cross) else 0.0
    scored = [(members, _coherence(S, members)) for members in groups
              if len({owners[p] for p in members}) >= cfg["min_images"]]
    typical = float(np.median([c for _, c in scored])) if scored else chance
    threshold = chance + float(cfg["keep"]) * (typical - chance)
    kept = sorted(((m, c) for m, c in scored if c >= threshold), key=lambda mc: (-mc[1], -len(mc[0])))
    # Affinity propagation tends to find many small clusters; a view shows the best few.
    return kept[:cfg["max_clusters"]], threshold, chance


def fit(clf: Classifier, images: Images, target: int | str | None = None, *, preset: str = "auto",
        layer: Layer = "auto", layout: Any = None, reshape: Callable | None = None, progress: bool = True,
        **settings: Any) -> Summary:
    """Visual summaries of one class: the parts a classifier relies on across many images.

    Godi, Carletti et al., "Understanding deep architectures by visual summaries", BMVC 2018.

    Parameters
    ----------
    clf : xviz.Classifier
    images : list of images
        At least 2 images of one class, in any form :func:`xviz.images.load_image` accepts.
    target : int or str, optional
        The class (index or label); None takes the class most of the images are given.
    preset : {"auto", "paper", "fast"}
        ``"paper"``: the smooth mask for 300 Adam iterations, the sharp one for 150 at full
        resolution. ``"fast"``: 100 and 50 iterations, the sharp mask at half resolution; about
        a third of the model passes (``benchmarks/summaries.py`` compares them). ``"auto"``:
        paper on CUDA, fast on CPU.
    layer : str or module
        The layer whose maps describe the regions; ``"auto"`` (see :func:`auto_layer`) takes
        the last one at 1/16 of the input resolution or finer.
    layout : str or xviz.Layout, optional
        How the layer's output lies on the grid ("NCHW", "NHWC", "NLC", "NCL"); found from
        the model when None (recorded in ``settings["layout"]``).
    reshape : callable, optional
        Instead of ``layout``: a function from the layer's output to N x C x h x w.
    progress : bool
        Progress bars over the iterations and the scoring.
    **settings
        Override any setting. Masks: ``smooth_size`` (side of the stage-1 mask, "auto" = input
        side / 8), ``smooth_iterations``, ``sharp_iterations``, ``sharp_scale`` (stage-2 side
        as a share of the input), ``lr`` (0.1), ``smooth_l1`` (0.5), ``smooth_tv`` (0.01),
        ``sharp_l1`` (0.01), ``sharp_tv`` (1), ``beta`` (3, the TV exponent), ``binarise`` (2),
        ``mask_blur`` (sigma of the stage-1 mask blur in pixels at 224: 5), ``init``
        ("circle": the authors' start with the central disk deleted, or "ones"),
        ``baseline`` ("blur"). Regions: ``threshold`` (0.5, on the mask), ``min_area``
        (0.01 of the image), ``cover`` (0.75: a box's share the mask must cover), ``scales``
        (window sides as shares of the image side). Pruning: ``same_region`` (0.5),
        ``scale_ratio`` (2). Similarity: ``position`` (0.1, weight of the centres' closeness),
        ``position_sigma`` (0.5 of the image). Clustering: ``method`` ("affinity" or
        "agglomerative"), ``preference`` (1.3 x the median, as the original), ``min_images``
        (2), ``keep`` (0.9: a cluster is kept when its coherence is at least chance + keep x
        (median coherence of the clusters - chance), chance being the median similarity of
        regions of different images), ``max_clusters`` (None: every cluster kept; else the
        most coherent this many).

    Returns
    -------
    Summary
        ``clusters`` ranked by coherence, each image's ``masks`` and ranked ``regions``.

    Raises
    ------
    ValueError
        For fewer than 2 images, an unknown target, or bad settings.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> digits = xviz.zoo.digits("test")
    >>> threes = [im for im, y in zip(digits.images, digits.labels) if y == 3][:4]
    >>> summ = fit(clf, threes, target="3", smooth_iterations=20, sharp_iterations=10, progress=False)
    >>> summ.label, summ.masks.shape
    ('3', (4, 32, 32))
    >>> all(len(c.images) >= 2 for c in summ.clusters)
    True
    """
    cfg = _settings(preset, clf.device, settings)
    x, t = _inputs(clf, images, target)
    if cfg["min_images"] > len(x):
        raise ValueError(f"min_images={cfg['min_images']} but there are {len(x)} images: no cluster could be kept; "
                         f"give more images or a smaller min_images")
    spent: dict[str, dict] = {"passes": {}, "seconds": {}}
    with clf.metered() as total, clf.session():
        maps_layer = capture.feature_layer(clf, layer, layout, reshape, "to compare crops by", pick="fine")
        base = make_baseline(x, cfg["baseline"])
        with clf.metered(spent, "scores"):
            p_full = clf.probs(x)[:, t]
        with clf.metered(spent, "masks"):
            smooth, sharp, mask_history = _masks(clf, x, base, [t] * len(x), cfg, progress)
        importance = (1 - sharp[:, 0]).cpu().numpy()
        props = _Proposals(importance, cfg)
        with clf.metered(spent, "features"):
            S_all = props.similarity(clf.activations(x, maps_layer), cfg)
        kept = _prune(props.items, props.owners, S_all, cfg) if props.items else []
        with clf.metered(spent, "regions"):
            masked_scores, drops = props.drops(clf, x, base, t, p_full, kept, progress)
        S, kept_owners = S_all[np.ix_(kept, kept)], [props.owners[p] for p in kept]
        with clf.metered(spent, "clustering"):
            groups, used = _groups(S, kept_owners, cfg) if kept else ([], "none")
            chosen, threshold, chance = _keep_clusters(groups, S, kept_owners, cfg)
    per_image = [sorted((props.region(p, drops) for p in props.components if props.owners[p] == i),
                        key=lambda r: -r.drop) for i in range(len(x))]
    clusters = [RegionCluster(members=[props.region(kept[m], drops, S[members[0], m]) for m in members], coherence=c)
                for members, c in chosen]
    history = {**mask_history, "proposals": len(props.items), "proposals_kept": len(kept),
               "clusters_found": len(groups), "coherence_threshold": threshold, "chance": chance, "method": used,
               **spent}
    out_settings = {"model": clf.name, "layer": maps_layer.name, "layout": str(maps_layer.layout), **cfg,
                    "baseline": cfg["baseline"] if isinstance(cfg["baseline"], (str, int, float)) else "tensor"}
    return Summary(images=to_numpy(x), masks=importance.astype(np.float32),
                   smooth=(1 - smooth[:, 0]).cpu().numpy().astype(np.float32), labels=props.labels, target=t,
                   label=clf.label(t), scores=p_full.cpu().numpy().astype(np.float64),
                   masked_scores=np.asarray(masked_scores, np.float64), regions=per_image, clusters=clusters,
                   settings=out_settings, history=history, passes=total.passes, seconds=total.seconds)


# -- comparing two models --------------------------------------------------------------------
@dataclass
class Comparison:
    """Which summaries of two models on the same images match, and which are unique to one.

    Attributes
    ----------
    names : (str, str)
        The two models.
    overlap : numpy.ndarray
        A x B: for clusters a of the first summary and b of the second, the mean over the
        images either one has a region in of the IoU of their regions there (0 where only
        one of them has a region).
    matches : list of (int, int, float)
        Pairs of clusters matched one to one (highest total overlap), with overlap at least
        ``min_overlap``.
    only_a, only_b : list of int
        Clusters of each summary that match none of the other's.
    """

    names: tuple
    overlap: np.ndarray
    matches: list
    only_a: list
    only_b: list

    def __repr__(self):
        a, b = self.names
        lines = [f"Comparison({a!r} vs {b!r}: {len(self.matches)} matched, {len(self.only_a)} only in {a!r}, "
                 f"{len(self.only_b)} only in {b!r})"]
        lines += [f"  {a} cluster {i} ~ {b} cluster {j}: overlap {o:.2f}" for i, j, o in self.matches]
        return "\n".join(lines)


def _footprints(summary, cluster, side):
    """image -> the cluster's region pixels there, resized to side x side (nearest)."""
    out = {}
    for r in cluster.members:
        m = torch.from_numpy(r.mask.astype(np.float32))[None, None]
        small = F.interpolate(m, size=(side, side), mode="area")[0, 0].numpy() >= 0.5
        out[r.image] = out.get(r.image, np.zeros((side, side), bool)) | small
    return out


def _same_images(a, b, side=32):
    if len(a.images) != len(b.images):
        raise ValueError(f"compare needs two summaries of the same images; got {len(a.images)} and "
                         f"{len(b.images)} images")

    def small(imgs):
        t = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float()
        return F.interpolate(t, size=(side, side), mode="area")

    diff = (small(a.images) - small(b.images)).abs().flatten(1).mean(1)
    bad = [int(i) for i in torch.nonzero(diff > 0.03).flatten()]
    if bad:
        raise ValueError(f"compare needs two summaries of the same images in the same order; images {bad} differ")


def compare(a: Summary, b: Summary, min_overlap: float = 0.3, side: int = 64) -> Comparison:
    """Match the clusters of two summaries of the same images (e.g. two models).

    Clusters are compared by *where* their regions lie in the shared images (the models'
    features differ, so their similarities cannot be compared): the overlap of two clusters is
    the IoU of their regions averaged over the images either one covers. Clusters are matched
    one to one by the Hungarian algorithm on that overlap.

    Parameters
    ----------
    a, b : Summary
        Summaries of the same images, in the same order (the models' input sizes may differ).
    min_overlap : float
        A matched pair must overlap at least this much.
    side : int
        Regions are compared on a side x side grid.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> from xviz.zoo.examples import digit_summary
    >>> summ = digit_summary()
    >>> same = compare(summ, summ)
    >>> len(same.matches) == len(summ.clusters) and same.only_a == []
    True
    """
    from scipy.optimize import linear_sum_assignment

    _same_images(a, b)
    fa = [_footprints(a, c, side) for c in a.clusters]
    fb = [_footprints(b, c, side) for c in b.clusters]
    overlap = np.zeros((len(fa), len(fb)))
    for i, x in enumerate(fa):
        for j, y in enumerate(fb):
            images = set(x) | set(y)
            ious = [(x[k] & y[k]).sum() / max((x[k] | y[k]).sum(), 1) for k in set(x) & set(y)]
            overlap[i, j] = sum(ious) / max(len(images), 1)
    rows, cols = linear_sum_assignment(-overlap) if overlap.size else ([], [])
    matches = [(int(i), int(j), float(overlap[i, j])) for i, j in zip(rows, cols) if overlap[i, j] >= min_overlap]
    matched_a, matched_b = {i for i, _, _ in matches}, {j for _, j, _ in matches}
    return Comparison(names=(a.settings.get("model", "a"), b.settings.get("model", "b")), overlap=overlap,
                      matches=matches, only_a=[i for i in range(len(fa)) if i not in matched_a],
                      only_b=[j for j in range(len(fb)) if j not in matched_b])


def __getattr__(name):
    if name == "Cluster":  # the name before 0.2, when two modules each had a Cluster
        deprecated(f"{__name__}.Cluster", f"{__name__}.RegionCluster")
        return RegionCluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
