"""XNN: a few faithful concepts from one layer of a classifier (Qi, Khorram, Li; arXiv 1709.05360).

An explanation network (SRAE, sparse reconstruction autoencoder) maps the activations of
one layer to k concepts such that a linear head on the concepts reproduces the classifier's
logits for the classes being explained. Each concept is then shown on the image as a
heatmap, with its contribution to every class score.

The paper's code was never published; the design here, in its spirit:

- features: ``layer="auto"`` is the last layer with spatial maps; its maps are averaged over
  positions (global average pooling) into z, so the heatmap of a concept comes from the very
  maps its activation is computed from. z is standardised over the training images;
- embedding: a small MLP ``z -> hidden (ReLU) -> k (softplus)``: concept activations are
  non-negative, "how much of this concept the image shows";
- faithfulness: a linear head from the k concepts to the logits of the chosen classes,
  trained with the squared error (the logits scaled by one common mean and spread, so that
  the head's argmax is the classifier's);
- sparse reconstruction: a linear decoder from the concepts back to z with the robust loss
  ``log(1 + q (z - z^)^2)``, so that only part of the features must be rebuilt;
- pull-away: the mean squared cosine between different concept columns of the batch's
  n x k embedding, so that concepts fire on different images;
- training: full-batch Adam on the classifier's device, weights initialised from ``seed``:
  the same seed gives the same numbers. A held-out share of the images (``holdout``, drawn
  with the seed) is never trained on; :meth:`XNN.report` measures on it;
- concept heatmaps: the generalised Grad-CAM (:func:`xviz.methods.cam.channel_weights`) of
  the concept's activation with respect to the layer's maps;
- orthogonality: the mean |cos| between different concept columns of the held-out
  embedding (what the pull-away term acts on), and, reported too, between the decoder's
  columns: the directions in feature space each concept rebuilds;
- baselines of the same size: PCA and NMF of the features with a least-squares linear head.
"""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..core.capture import FeatureLayer, feature_layer
from ..core.checks import checked_float, checked_int, checked_seed, merged
from ..core.classifier import Classifier
from ..core.files import DamagedFile, FileParts, json_text, npz_file, read_npz, valid, write_npz
from ..core.images import load_labelled, to_numpy
from ..core.progress import progress as progress_bar
from ..core.result import Result, deprecated, load_as
from ..core.types import Layer
from .cam import channel_weights, class_map
from .heatmap import normalize_map

DEFAULTS = {"epochs": 500, "lr": 0.01, "hidden": 64, "faithfulness": 1.0, "reconstruction": 0.1, "q": 1.0,
            "pull_away": 1.0, "holdout": 0.2, "examples": 4}
PREPARE_BLOCK = 256  # images prepared and passed at once: bounds the memory of a large folder


class SRAE(nn.Module):
    """Embedding (features -> k non-negative concepts), linear head (-> m logits), linear decoder (-> features)."""

    def __init__(self, n_features, n_concepts, n_classes, hidden):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_concepts),
                                   nn.Softplus())
        self.head = nn.Linear(n_concepts, n_classes)
        self.decode = nn.Linear(n_concepts, n_features)


def column_cosines(e):
    """|cos| between the columns of an n x k matrix: k x k, diagonal zeroed."""
    unit = e / e.norm(dim=0, keepdim=True).clamp_min(1e-12)
    cos = (unit.T @ unit).abs()
    return cos - torch.diag(torch.diag(cos))


def mean_offdiagonal(cos):
    k = cos.shape[0]
    return float(cos.sum() / (k * (k - 1))) if k > 1 else 0.0


def _losses(net, z, y, cfg):
    e = net.embed(z)
    faith = (net.head(e) - y).pow(2).mean()
    recon = torch.log1p(cfg["q"] * (z - net.decode(e)).pow(2)).mean()
    k = e.shape[1]
    pull = column_cosines(e).pow(2).sum() / max(k * (k - 1), 1)
    total = cfg["faithfulness"] * faith + cfg["reconstruction"] * recon + cfg["pull_away"] * pull
    return total, {"loss": total, "faithfulness": faith, "reconstruction": recon, "pull_away": pull}


def train(z, y, n_concepts, cfg, seed=0, progress=False):
    """Train an SRAE on standardised features z (n x C) and scaled logits y (n x m); returns (net, history)."""
    with torch.random.fork_rng(devices=[z.device] if z.device.type == "cuda" else []):
        torch.manual_seed(seed)
        net = SRAE(z.shape[1], n_concepts, y.shape[1], int(cfg["hidden"])).to(z.device)
    opt = torch.optim.Adam(net.parameters(), lr=float(cfg["lr"]))
    history = {k: [] for k in ("loss", "faithfulness", "reconstruction", "pull_away")}
    with torch.enable_grad():
        for _ in progress_bar(range(int(cfg["epochs"])), desc="XNN training", enabled=progress):
            opt.zero_grad()
            total, parts = _losses(net, z, y, cfg)
            total.backward()
            opt.step()
            for key, value in parts.items():
                history[key].append(float(value.detach()))
    return net.eval().requires_grad_(False), history


# -- results -----------------------------------------------------------------------------------
@dataclass
class ConceptExplanation:
    """Concepts of some images: activations, contributions to each class, heatmaps (numpy).

    ``logits = contributions.sum(-1) + bias`` (the concept head's); ``model_logits`` are the
    classifier's for the same classes.
    """

    images: np.ndarray          # N x H x W x 3 in [0, 1]
    activations: np.ndarray     # N x k
    contributions: np.ndarray   # N x m x k
    bias: np.ndarray            # m
    logits: np.ndarray          # N x m
    model_logits: np.ndarray    # N x m
    heatmaps: np.ndarray        # N x k x H x W in [0, 1]
    classes: list
    class_labels: list

    @property
    def predicted(self):
        """Index (into ``classes``) of the concept head's top class per image."""
        return self.logits.argmax(1)

    @property
    def model_predicted(self):
        return self.model_logits.argmax(1)

    def __repr__(self):
        n, k = self.activations.shape
        return f"ConceptExplanation({n} images, {k} concepts, classes {self.class_labels})"


@dataclass
class Report:
    """Faithfulness, orthogonality, locality and reconstruction of the SRAE and of PCA / NMF baselines."""

    rows: dict
    n_train: int
    n_test: int

    COLUMNS = (("agreement", "agreement", "{:.1%}"), ("logit_r2", "logit R2", "{:.3f}"),
               ("logit_rmse", "logit RMSE", "{:.3f}"), ("orthogonality", "mean |cos| concepts", "{:.3f}"),
               ("direction_cosine", "mean |cos| directions", "{:.3f}"),
               ("reconstruction_r2", "reconstruction R2", "{:.3f}"), ("locality", "heatmap locality", "{:.2f}"))

    def _cell(self, row, key, fmt):
        value = row.get(key)
        return "-" if value is None else fmt.format(value)

    def __str__(self):
        names = ["method"] + [title for _, title, _ in self.COLUMNS]
        lines = [[m] + [self._cell(r, k, f) for k, _, f in self.COLUMNS] for m, r in self.rows.items()]
        widths = [max(len(x) for x in col) for col in zip(names, *lines)]
        fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
        head = f"held-out images: {self.n_test} (trained on {self.n_train})"
        return "\n".join([head, fmt(names)] + [fmt(line) for line in lines])

    __repr__ = __str__

    def _repr_html_(self):
        import html

        head = "".join(f"<th>{html.escape(t)}</th>" for _, t, _ in self.COLUMNS)
        body = "".join(f"<tr><td><b>{html.escape(m)}</b></td>" + "".join(
            f"<td>{self._cell(r, k, f)}</td>" for k, _, f in self.COLUMNS) + "</tr>" for m, r in self.rows.items())
        return (f"<p>held-out images: {self.n_test} (trained on {self.n_train})</p>"
                f"<table><tr><th>method</th>{head}</tr>{body}</table>")

    def to_dict(self):
        return {"rows": self.rows, "n_train": self.n_train, "n_test": self.n_test}


class XNN(Result):
    """A trained explanation network for one classifier, layer and set of classes.

    Made by :func:`fit` (or :func:`xviz.load` with the classifier); explains new images with
    :meth:`explain`.
    """

    FORMAT = "xviz.xnn/1"
    WHAT = "XNN"
    NEEDS_CLASSIFIER = True

    def __init__(self, clf, net, layer, classes, stats, cfg, history, split, features, examples=None, top=None):
        # The layer with its layout (a name alone is read in the layout the settings recorded).
        self.feature = layer if isinstance(layer, FeatureLayer) else feature_layer(clf, layer, cfg.get("layout"))
        self.clf, self.net, self.layer = clf, net, self.feature.name
        self.classes = [int(c) for c in classes]
        self.class_labels = [clf.label(c) for c in self.classes]
        self.n_concepts = net.head.in_features
        self.stats, self.settings, self.history = stats, cfg, history
        self.split = split          # {"train": indices, "test": indices} into the fitted images
        self.features = features    # {"z": n x C standardised, "logits": n x m} of the fitted images
        self.examples, self.top = examples, top

    def __repr__(self):
        return (f"XNN({self.n_concepts} concepts of {self.clf.name} layer {self.layer!r}, classes "
                f"{self.class_labels}, {len(self.split['train'])} training images)")


    # -- explaining ---------------------------------------------------------------------------
    def _standardise(self, z):
        return (z - self.stats["z_mean"].to(z.device)) / self.stats["z_std"].to(z.device)

    def _unscale(self, y):
        return y * self.stats["y_std"] + self.stats["y_mean"]

    def class_weights(self):
        """m x k tensor: what one unit of each concept adds to each class's logit (the concept
        head's weights, in logit units)."""
        return self.net.head.weight * self.stats["y_std"]

    def concepts(self, z):
        """Concept activations of pooled raw features z (n x C tensor)."""
        return self.net.embed(self._standardise(z.to(self.clf.device)))

    def explain(self, images, progress=False):
        """Concept activations, their contribution to each class and a heatmap per concept.

        Parameters
        ----------
        images : image or list of images
            Any form :func:`xviz.images.load_image` accepts.

        Returns
        -------
        ConceptExplanation

        Examples
        --------
        >>> import xviz
        >>> clf = xviz.zoo.digits_cnn()
        >>> model = fit(clf, xviz.zoo.digits("train"), classes=[3, 5, 8], epochs=200, progress=False)
        >>> ex = model.explain(xviz.zoo.image("digit-8"))
        >>> ex.activations.shape, ex.heatmaps.shape, ex.class_labels[ex.predicted[0]]
        ((1, 4), (1, 4, 32, 32), '8')
        """
        x, _ = self.clf.prepare(images)
        maps = self.clf.activations(x, self.feature, progress=progress)
        model_logits = self.clf.logits(x)[:, self.classes]
        with torch.enable_grad():
            maps = maps.detach().requires_grad_(True)
            e = self.concepts(maps.mean(dim=(2, 3)))
            heat = []
            for j in range(self.n_concepts):
                (g,) = torch.autograd.grad(e[:, j].sum(), maps, retain_graph=j < self.n_concepts - 1)
                heat.append(normalize_map(class_map(maps.detach(), channel_weights(maps.detach(), g, "generalised")),
                                          self.clf.size))
        e = e.detach()
        w = self.class_weights()
        bias = self._unscale(self.net.head.bias)
        contributions = e[:, None, :] * w[None]
        numpy = lambda t: t.detach().cpu().numpy()
        return ConceptExplanation(images=to_numpy(x), activations=numpy(e), contributions=numpy(contributions),
                                  bias=numpy(bias), logits=numpy(contributions.sum(-1) + bias),
                                  model_logits=numpy(model_logits), heatmaps=numpy(torch.stack(heat, 1)),
                                  classes=list(self.classes), class_labels=list(self.class_labels))

    # -- measuring ----------------------------------------------------------------------------
    def report(self):
        """Faithfulness, orthogonality and reconstruction on the held-out images, next to PCA
        and NMF baselines with as many components and a least-squares head; the locality of
        the SRAE's concept heatmaps (:func:`locality`) on the top examples of each concept.

        Examples
        --------
        >>> import xviz
        >>> clf = xviz.zoo.digits_cnn()
        >>> model = fit(clf, xviz.zoo.digits("train"), classes=[3, 5, 8], epochs=200, progress=False)
        >>> list(model.report().rows)
        ['SRAE', 'PCA', 'NMF']
        """
        z, y = self.features["z"], self.features["logits"]
        train, test = self.split["train"], self.split["test"]
        if len(test) == 0:
            test = train
        zt = z[test].to(self.clf.device)
        e = self.net.embed(zt)
        logits = self._unscale(self.net.head(e))
        srae = _scores(logits, y[test].to(logits.device), e, zt, self.net.decode(e))
        srae["direction_cosine"] = mean_offdiagonal(column_cosines(self.net.decode.weight))
        if self.examples is not None:
            srae["locality"] = locality(self.examples.heatmaps)
        rows = {"SRAE": srae}
        rows.update(_baselines(z.cpu().numpy(), y.cpu().numpy(), train, test, self.n_concepts, self.settings["seed"]))
        if len(test) < FEW_HELD_OUT:
            warnings.warn(f"the report rests on {len(test)} held-out image(s); its numbers are rough "
                          f"(NaN where they need more): fit on more images for a report to trust", stacklevel=2)
        return Report(rows=rows, n_train=len(train), n_test=len(test))

    # -- files ------------------------------------------------------------------------------
    def _parts(self):
        arrays = {f"net.{k}": v.cpu().numpy() for k, v in self.net.state_dict().items()}
        arrays.update({f"stats.{k}": np.asarray(v.cpu() if torch.is_tensor(v) else v) for k, v in self.stats.items()})
        arrays.update({f"features.{k}": v.cpu().numpy() for k, v in self.features.items()})
        arrays.update({f"split.{k}": np.asarray(v, dtype=np.int64) for k, v in self.split.items()})
        if self.examples is not None:
            arrays.update({f"examples.{k}": np.asarray(getattr(self.examples, k))
                           for k in ("images", "activations", "contributions", "bias", "logits", "model_logits",
                                     "heatmaps")})
            arrays["top"] = np.asarray(self.top)
        meta = {"model": self.clf.name, "fingerprint": self.clf.fingerprint(),
                "layer": self.layer, "classes": self.classes,
                "n_concepts": self.n_concepts, "n_features": self.net.decode.out_features,
                "settings": self.settings, "history": self.history}
        return meta, arrays

    @classmethod
    def _from_parts(cls, meta, data, clf=None, reshape=None):
        def part(prefix):
            return FileParts({k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}, data.path, "XNN")

        weights, stats, features, split = part("net."), part("stats."), part("features."), part("split.")
        if "embed.0.weight" not in weights:
            raise DamagedFile(f"'{data.path}' is an incomplete xviz XNN file: it has no network weights")
        for parts in (weights, stats, features):
            for name in parts:
                valid(parts, name)
        n = len(features["z"]) if "z" in features else 0
        for name in split:
            if valid(split, name, ndim=1, kind="int").size and split[name].max() >= n:
                raise DamagedFile(f"'{data.path}' is a damaged xviz XNN file: its split names images past its {n}")
        layer = _layer(clf, meta, reshape, data.path)
        if "fingerprint" not in meta:  # older files: the same weights imply the same width, these only have a name
            _check_channels(clf, layer, weights["embed.0.weight"].shape[1], data.path)
        return _assemble(clf, layer, meta, weights, stats, features, split, part("examples."), data.get("top"))


def locality(heatmaps, share=0.2):
    """Mean share of a heatmap's mass in its top ``share`` of pixels: 1 = concentrated, ``share`` = uniform.

    Parameters
    ----------
    heatmaps : array, ... x H x W
        Non-negative maps; all-zero maps are left out (None when every map is zero).
    share : float
        The share of the pixels, highest first, whose mass is counted.

    Examples
    --------
    >>> flat, spot = np.ones((10, 10)), np.zeros((10, 10))
    >>> spot[2:4, 2:4] = 1
    >>> round(locality(flat), 3), locality(spot), round(locality([flat, spot]), 3)
    (0.2, 1.0, 0.6)
    """
    flat = np.asarray(heatmaps, dtype=np.float64).reshape(-1, np.prod(np.shape(heatmaps)[-2:]))
    flat = flat[flat.sum(1) > 0]
    if not len(flat):
        return None
    top = max(1, int(round(share * flat.shape[1])))
    return float((np.sort(flat, 1)[:, -top:].sum(1) / flat.sum(1)).mean())


FEW_HELD_OUT = 5  # below this many held-out images the report warns


def _scores(logits, y, e, z, z_hat):
    """Agreement, logit R2 and RMSE, concept orthogonality, reconstruction R2 (held-out tensors)."""
    err = (logits - y).pow(2)
    return {"agreement": float((logits.argmax(1) == y.argmax(1)).float().mean()),
            "logit_r2": _r2(err.sum(), (y - y.mean()).pow(2).sum()),
            "logit_rmse": float(err.mean().sqrt()),
            # Cosines between concept columns need two images at least (one gives |cos| 1).
            "orthogonality": mean_offdiagonal(column_cosines(e)) if len(e) > 1 else float("nan"),
            "reconstruction_r2": _r2((z - z_hat).pow(2).sum(), (z - z.mean(0)).pow(2).sum())}


def _r2(residual, total):
    """1 - residual / total; NaN where the held-out values do not vary (one image: -inf before)."""
    return float(1 - residual / total) if float(total) > 0 else float("nan")


def _baselines(z, y, train, test, k, seed):
    """PCA and NMF with k components of the standardised features, each with a least-squares head."""
    from sklearn.decomposition import NMF, PCA

    rows = {}
    shift = z[train].min(0)  # NMF needs non-negative inputs: shift each standardised feature
    for name, make, offset in (("PCA", lambda: PCA(k, random_state=seed), 0),
                               ("NMF", lambda: NMF(k, init="nndsvda", max_iter=500, random_state=seed), shift)):
        model = make().fit(z[train] - offset)
        codes = {part: model.transform(np.maximum(z[idx] - offset, 0) if name == "NMF" else z[idx] - offset)
                 for part, idx in (("train", train), ("test", test))}
        design = lambda c: np.hstack([c, np.ones((len(c), 1))])
        coef, *_ = np.linalg.lstsq(design(codes["train"]), y[train], rcond=None)
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)
        rebuilt = model.inverse_transform(codes["test"]) + offset
        rows[name] = _scores(t(design(codes["test"]) @ coef), t(y[test]), t(codes["test"]), t(z[test]), t(rebuilt))
        rows[name]["direction_cosine"] = mean_offdiagonal(column_cosines(t(model.components_.T)))
    return rows


# -- fitting -----------------------------------------------------------------------------------
def _settings(n_concepts, seed, overrides):
    cfg = {**merged(DEFAULTS, overrides), "n_concepts": checked_int(n_concepts, "n_concepts", 1),
           "seed": checked_seed(seed)}
    for key in ("epochs", "hidden", "examples"):
        cfg[key] = checked_int(cfg[key], key, 1)
    for key in ("lr", "q"):
        cfg[key] = checked_float(cfg[key], key, above=0)
    cfg["holdout"] = checked_float(cfg["holdout"], "holdout")
    if not 0 <= cfg["holdout"] < 1:
        raise ValueError(f"holdout must be in [0, 1) (a share of the images), got {cfg['holdout']!r}")
    return cfg


def _classes(clf, classes, labels):
    if classes is None:
        if labels is None:
            raise ValueError("give classes= (indices or labels of the classes to explain): the images have no labels")
        classes = sorted(set(labels), key=lambda c: (isinstance(c, str), c))
    if isinstance(classes, (int, str, np.integer)):
        classes = [classes]
    indices = [clf.target_index(c.item() if hasattr(c, "item") else c) for c in classes]
    if len(set(indices)) != len(indices):
        raise ValueError(f"classes must be different, got {list(classes)}")
    return indices


def _select(clf, images, labels, classes):
    """The images whose label is one of ``classes`` (all images when there are no labels)."""
    if labels is None:
        return images
    resolved = [clf.target_index(lab) if isinstance(lab, str) else int(lab) for lab in labels]
    keep = [i for i, c in enumerate(resolved) if c in classes]
    if not keep:
        raise ValueError(f"no image is labelled with one of the classes {[clf.label(c) for c in classes]}")
    return [images[i] for i in keep]


def _cache_key(clf, images, layer, classes):
    """What the cached activations depend on: the images' pixels, the model's weights, the
    layer and its layout, the classes."""
    key = hashlib.sha1()
    for im in images:
        key.update(np.ascontiguousarray((im * 255).round().astype(np.uint8)).tobytes())
    key.update(json.dumps([clf.name, clf.fingerprint(), str(layer), classes]).encode())
    return key.hexdigest()


def _features(clf, images, layer, classes, cache, progress):
    """Pooled maps z (n x C) and the chosen classes' logits (n x m), in blocks; cached in an npz if asked."""
    if cache is not None:
        cache, key = npz_file(cache, reading=True), _cache_key(clf, images, layer, classes)
        cached = _read_cache(cache, key) if cache.is_file() else None
        if cached is not None:
            return tuple(torch.from_numpy(a).to(clf.device) for a in cached)
    zs, ys = [], []
    for start in progress_bar(range(0, len(images), PREPARE_BLOCK), total=-(-len(images) // PREPARE_BLOCK),
                              desc="XNN features", enabled=progress and len(images) > PREPARE_BLOCK):
        x, _ = clf.prepare(images[start:start + PREPARE_BLOCK])
        with clf.session():
            maps = clf.activations(x, layer, progress=progress and "layer activations")
            zs.append(maps.mean(dim=(2, 3)))
            ys.append(clf.logits(x)[:, classes])
    z, y = torch.cat(zs), torch.cat(ys)
    if cache is not None:
        meta = np.array(json_text({"format": CACHE_FORMAT, "key": key}))
        write_npz(cache, meta=meta, z=z.cpu().numpy(), logits=y.cpu().numpy())
    return z, y


CACHE_FORMAT = "xviz.xnn-features/1"


def _read_cache(path, key):
    """(z, logits) from the cache at ``path`` if it holds these features; None if it holds
    others or is damaged (a fit killed while writing it): they are made again and written over.
    A file that is no feature cache (a result saved there by mistake) is refused, not overwritten."""
    try:
        data, meta = read_npz(path, CACHE_FORMAT, "XNN feature cache")
    except DamagedFile:
        return None
    except ValueError:
        if _unversioned_cache(path):  # written before caches had a format tag
            return None
        raise
    return (data["z"], data["logits"]) if meta["key"] == key else None


def _unversioned_cache(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            return {"key", "z", "logits"} == set(data.files)
    except (ValueError, OSError, EOFError):
        return False


def _images_needed(k, holdout):
    """The fewest images whose training share (after the holdout) exceeds k, and at least 2."""
    n = max(k + 1, 2)
    while n - int(round(holdout * n)) <= k:
        n += 1
    return n


def _split(n, holdout, seed):
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(holdout * n))
    return {"train": np.sort(order[n_test:]), "test": np.sort(order[:n_test])}


def fit(clf: Classifier, data: Any, classes: Sequence[int | str] | int | str | None = None, layer: Layer = "auto",
        n_concepts: int = 4, *, seed: int = 0, cache: str | Path | None = None, progress: bool = True,
        layout: Any = None, reshape: Callable | None = None, **settings: Any) -> XNN:
    """Learn ``n_concepts`` concepts of ``layer`` that together reproduce the classifier's logits.

    Parameters
    ----------
    clf : xviz.Classifier
    data : folder, (images, labels), ImageSet, or list of images
        See :func:`xviz.images.load_labelled`. Labels (class indices or names) select the
        images of ``classes``; without labels every image is used. Images of any sizes: the
        classifier resizes each to its input size.
    classes : list of int or str, optional
        The classes whose logits the concepts must reproduce; by default the classes of the
        labels.
    layer : str, module or "auto"
        A layer with feature maps; "auto" takes the last block the logits depend on
        (:func:`xviz.core.capture.auto_layers`).
    n_concepts : int
        k, the number of concepts (about 3 to 8).
    seed : int
        Initial weights and the held-out split: the same seed gives the same numbers.
    cache : path, optional
        An .npz file keeping the layer's pooled activations and the logits; reused when the
        images, model, layer and classes are the same.
    progress : bool
        Progress bars over the activations and the training epochs.
    layout : str or xviz.Layout, optional
        How the layer's output lies on the grid ("NCHW", "NHWC", "NLC", "NCL"); found from
        the model when None (recorded in ``settings["layout"]``).
    reshape : callable, optional
        Instead of ``layout``: a function from the layer's output to N x C x h x w (give it
        to :func:`load` again: a function is not saved).
    **settings
        ``epochs`` (500), ``lr`` (0.01), ``hidden`` (64), the loss weights ``faithfulness``
        (1), ``reconstruction`` (0.1) and ``pull_away`` (1), ``q`` (1, the scale inside the
        robust reconstruction loss), ``holdout`` (0.2, the share of images kept out of
        training for :meth:`XNN.report`), ``examples`` (4 top-activating images kept per
        concept).

    Returns
    -------
    XNN

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> model = xviz.xnn.fit(clf, xviz.zoo.digits("train"), classes=[3, 5, 8], n_concepts=4, progress=False)
    >>> model.class_labels, model.layer, model.report().rows["SRAE"]["agreement"] > 0.9
    (['3', '5', '8'], 'features', True)
    """
    cfg = _settings(n_concepts, seed, settings)
    images, labels = load_labelled(data)
    indices = _classes(clf, classes, labels)
    images = _select(clf, images, labels, indices)
    need = _images_needed(int(n_concepts), cfg["holdout"])
    if len(images) < need:
        raise ValueError(f"got {len(images)} images of the classes {[clf.label(c) for c in indices]} for "
                         f"{n_concepts} concepts; give at least {need}, so that after holding out "
                         f"{cfg['holdout']:.0%} more images than concepts remain to train on")
    chosen = feature_layer(clf, layer, layout, reshape, "to show concepts as heatmaps")
    cfg["layout"] = str(chosen.layout)
    start = time.perf_counter()
    z_raw, y_raw = _features(clf, images, chosen, indices, cache, progress)
    split = _split(len(images), cfg["holdout"], seed)
    tr = torch.as_tensor(split["train"], device=z_raw.device)
    stats = {"z_mean": z_raw[tr].mean(0), "z_std": z_raw[tr].std(0).clamp_min(1e-6),
             "y_mean": float(y_raw[tr].mean()), "y_std": float(y_raw[tr].std().clamp_min(1e-6))}
    z = (z_raw - stats["z_mean"]) / stats["z_std"]
    y = (y_raw - stats["y_mean"]) / stats["y_std"]
    net, history = train(z[tr], y[tr], int(n_concepts), cfg, seed, progress)
    history["seconds"] = time.perf_counter() - start
    model = XNN(clf, net, chosen, indices, stats, cfg, history, split, {"z": z, "logits": y_raw})
    _add_examples(model, images, int(cfg["examples"]))
    return model


def _add_examples(model, images, per_concept):
    """Keep the images that activate each concept most, explained (for the ConceptBoard)."""
    with torch.no_grad():
        e = model.net.embed(model.features["z"]).cpu().numpy()
    n = min(per_concept, len(e))
    best = np.argsort(-e, axis=0, kind="stable")[:n].T          # k x n image indices
    chosen = list(dict.fromkeys(int(i) for i in best.ravel()))
    model.examples = model.explain([images[i] for i in chosen])
    model.top = np.array([[chosen.index(int(i)) for i in row] for row in best], dtype=np.int64)


def load(path, clf, reshape=None):
    """Deprecated: :func:`xviz.load` reads every result, ``xviz.load(path, clf)`` an XNN
    (``xviz.load(path, clf, reshape=...)`` one fitted with ``reshape=``)."""
    deprecated("xviz.xnn.load(path, clf)", "xviz.load(path, clf)")
    if not isinstance(clf, Classifier):
        raise ValueError(f"clf must be an xviz.Classifier (the model the XNN was fitted on), got {type(clf).__name__}")
    return load_as(XNN, path, clf, reshape=reshape)


def _layer(clf, meta, reshape, path):
    """The fitted layer with its recorded layout (older files: the one the model makes certain)."""
    recorded = meta["settings"].get("layout")
    if reshape is None and recorded and recorded.startswith("reshape="):
        raise ValueError(f"'{path}' was fitted with {recorded}: give the same function again, "
                         f"xviz.load(path, clf, reshape=...)")
    return feature_layer(clf, meta["layer"], None if reshape is not None else recorded, reshape)


def _check_channels(clf, layer, fitted, path):
    """A model of the same name whose layer has another width would fail only at explain()."""
    with clf.session():
        channels = clf.activations(torch.zeros(1, 3, *clf.size, device=clf.device), layer).shape[1]
    if channels != fitted:
        raise ValueError(f"'{path}' was fitted on {fitted} channels of layer {layer.name!r}; this model's has {channels}")


def _assemble(clf, layer, meta, weights, stats, features, split, examples, top):
    """An XNN from the parts of its file."""
    dev = clf.device
    net = SRAE(weights["embed.0.weight"].shape[1], meta["n_concepts"], len(meta["classes"]), meta["settings"]["hidden"])
    net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    net = net.to(dev).eval().requires_grad_(False)
    stats = {"z_mean": torch.from_numpy(stats["z_mean"]).to(dev), "z_std": torch.from_numpy(stats["z_std"]).to(dev),
             "y_mean": float(stats["y_mean"]), "y_std": float(stats["y_std"])}
    features = {k: torch.from_numpy(v).to(dev) for k, v in features.items()}
    model = XNN(clf, net, layer, meta["classes"], stats, meta["settings"], meta["history"],
                {k: v for k, v in split.items()}, features)
    if examples:
        model.examples = ConceptExplanation(**examples, classes=list(model.classes),
                                            class_labels=list(model.class_labels))
        model.top = top
    return model
