"""Comparing models on the same images by their explanations: the two methods of Jiang,
Khorram and Li, "Comparing the decision-making mechanisms by Transformers and CNNs via
explanation methods" (CVPR 2024), which the authors did not publish code for.

**Sub-explanation counting** (:func:`sub_explanations`). The minimal sufficient explanations
(MSEs) of an image are the SAG's roots (:func:`xviz.sag`, a beam search over a grid of
patches: sets of patches that keep at least ``threshold`` (0.9) of the full image's
confidence, none of whose patches can be dropped). A sub-explanation of an MSE is a
non-empty proper subset of its patches that still keeps ``fraction`` of the full image's
confidence. A *compositional* model needs its patches together, so few subsets keep much;
a *disjunctive* model is satisfied by many smaller subsets. The paper's numbers for the
two fractions are not in xviz's sources (the seeds and ALGORITHMS.md hold its abstract
only); xviz takes SAG's 0.9 for the MSEs, as the paper builds on SAG, and 0.5 for the
sub-explanations (half the confidence kept), and reports the count for any list of
fractions at once so that the choice can be seen not to decide the comparison. The grid is
the store's SAG setting (the paper's 7 x 7 on 224-pixel images; 4 x 4 suits the 8 x 8
digits).

How subsets are counted: from each MSE downwards, one patch removed at a time, keeping only
the subsets that keep ``fraction`` (the others are not expanded): the subsets reachable
through sufficient subsets, every one scored once (the search's own scores are reused).
Where confidence does not rise when patches are removed this is every sufficient subset;
a subset reached only through an insufficient one is not counted. ``max_subsets`` bounds
the work per MSE (a count that reaches it is marked ``capped``).

**Cross-testing** (:func:`cross_test`). The evidence model A finds sufficient on an image,
its MSEs (the SAG's diverse roots) or the smallest top of its heatmap that keeps
``threshold`` of its confidence (cells of the same grid, ranked by the heatmap), is shown
alone (the rest replaced by the baseline) to model B. B's accuracy, and its confidence on
that evidence relative to its confidence on the whole image, form a matrix over models;
a symmetric similarity of feature use from it places the models on a 2-D landscape
(classical multidimensional scaling of 1 - similarity).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..core.images import baseline as make_baseline
from ..core.images import compose, to_tensor
from ..methods.sag import region_footprints, subset_masks
from .analysis import pooled
from .store import tensors

BLOCK = 256  # shown images per model call


def _model(store):
    if store.clf is None:
        raise ValueError(f"the store '{store.path}' was opened without its model: xviz.dataset.open(path, clf)")
    return store.clf


def _names(stores, names):
    names = list(names) if names is not None else [s.manifest["model"] for s in stores]
    if len(names) != len(stores):
        raise ValueError(f"got {len(names)} names for {len(stores)} stores")
    seen = {}
    for i, n in enumerate(names):  # two stores of models with one name: numbered
        seen[n] = seen.get(n, 0) + 1
        names[i] = n if seen[n] == 1 else f"{n} ({seen[n]})"
    return names


def _probs(clf, shown):
    """clf's probabilities of N x 3 x H x W shown images, in blocks."""
    return torch.cat([clf.probs(shown[i:i + BLOCK]) for i in range(0, len(shown), BLOCK)]) if len(shown) else \
        torch.zeros(0)


def _scorer(clf, g):
    """p(target) of subsets of a SAG's regions, shown as the search showed them."""
    x = to_tensor(g.image).to(clf.device)
    base = to_tensor(g.baseline_image()).to(clf.device)
    footprints = g.footprints().to(clf.device)

    def score(subsets):
        out = {}
        for i in range(0, len(subsets), BLOCK):
            block = subsets[i:i + BLOCK]
            p = clf.probs(compose(x, base, subset_masks(footprints, block)))[:, g.target].tolist()
            out.update(zip(block, p))
        return out

    return score


def _count(score, known, root, limit, cap):
    """Sub-explanations of ``root`` keeping ``limit``: (count, capped)."""
    level, seen, count = [root], {root}, 0
    while level:
        children = sorted({tuple(r for r in s if r != drop) for s in level for drop in s if len(s) > 1} - seen)
        seen.update(children)
        known.update(score([c for c in children if c not in known]))
        level = [c for c in children if known[c] >= limit]
        count += len(level)
        if count >= cap:
            return cap, True
    return count, False


def sub_explanations(stores, fraction=0.5, names=None, max_subsets=4096):
    """Count the sub-explanations of every minimal sufficient explanation, per model.

    Parameters
    ----------
    stores : list of xviz.dataset.Store
        Stores with a ``"sag"`` method, each opened with its model (``explain`` returns it
        so; else ``xviz.dataset.open(path, clf)``), the subsets being scored by it.
    fraction : float or list of float
        A subset counts when it keeps at least this share of the full image's confidence
        (a list gives a column of counts per fraction).
    names : list of str, optional
        The models' names in the table (their own by default).
    max_subsets : int
        Counting stops at this many per MSE (``capped`` says where).

    Returns
    -------
    pandas.DataFrame
        One row per model, image and MSE: ``model``, ``image_id``, ``label``, ``p_full``,
        ``root`` (its patches), ``size``, then per fraction ``f`` the count
        ``sub@f`` and ``capped@f``.

    Examples
    --------
    >>> import tempfile, xviz
    >>> from xviz import dataset
    >>> d = xviz.zoo.digits("test")
    >>> store = dataset.explain(xviz.zoo.digits_cnn(), (d.images[:2], d.labels[:2]), [("sag", {"grid": 4})],
    ...                         store=tempfile.mkdtemp() + "/s", progress=False)
    >>> table = sub_explanations([store], fraction=[0.5, 0.9])
    >>> list(table.columns[-4:]), bool((table["sub@0.9"] == 0).all())  # an MSE is minimal at 0.9
    (['sub@0.5', 'capped@0.5', 'sub@0.9', 'capped@0.9'], True)
    """
    fractions = [float(f) for f in (fraction if isinstance(fraction, (list, tuple)) else [fraction])]
    if not all(0 < f <= 1 for f in fractions):
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    rows = []
    for store, name in zip(stores, _names(stores, names)):
        if "sag" not in store.methods:
            raise ValueError(f"the store '{store.path}' has no SAG (its methods: {', '.join(store.methods)}); "
                             f"explain with the method 'sag'")
        clf = _model(store)
        labels = dict(zip(*(store.to_pandas(["image_id", "label"])[c] for c in ("image_id", "label"))))
        for key, g in store.results("sag"):
            score, known = _scorer(clf, g), dict(g.cache)
            for root in g.roots:
                row = {"model": name, "image_id": key, "label": labels.get(key), "p_full": g.p_full,
                       "root": list(root), "size": len(root)}
                for f in fractions:
                    row[f"sub@{f:g}"], row[f"capped@{f:g}"] = _count(score, known, root, f * g.p_full, max_subsets)
                rows.append(row)
    return pd.DataFrame(rows)


def per_image(counts, fraction=0.5):
    """Per model and image: MSEs, their mean size and mean sub-explanation count at ``fraction``."""
    column = f"sub@{float(fraction):g}"
    return (counts.groupby(["model", "image_id"], sort=False)
            .agg(mses=("size", "size"), mse_size=("size", "mean"), sub_explanations=(column, "mean"))
            .reset_index())


# -- cross-testing ---------------------------------------------------------------------------
def _evidence_sag(store, keys):
    for key, g in store.results("sag", keys):
        yield key, [g.mask(r) for r in g.diverse], g.settings.get("baseline", "black")


def _evidence_heatmap(store, method, keys, threshold, grid, baseline):
    """The smallest top of each heatmap (cells of a grid x grid, by its pooled values) that
    keeps ``threshold`` of the model's confidence, scored by the model itself."""
    clf = _model(store)
    footprints = region_footprints("grid", clf.size, grid=grid).to(clf.device)
    for key, sal in store.results(method, keys):
        order = np.argsort(-pooled(sal.mask, grid), kind="stable")
        prefixes = [tuple(sorted(order[:k].tolist())) for k in range(1, grid * grid + 1)]
        x = to_tensor(sal.image).to(clf.device)
        base = make_baseline(x, baseline)
        p = torch.cat([clf.probs(compose(x, base, subset_masks(footprints, prefixes[i:i + BLOCK])))[:, sal.target]
                       for i in range(0, len(prefixes), BLOCK)])
        enough = torch.nonzero(p >= threshold * p[-1]).flatten()  # the last prefix is every cell
        chosen = prefixes[int(enough[0])] if len(enough) and int(enough[0]) < len(prefixes) - 1 else None
        masks = [] if chosen is None else [subset_masks(footprints.cpu(), [chosen])[0, 0].numpy()]
        yield key, masks, baseline


@dataclass
class CrossTest:
    """What each model makes of the others' evidence.

    Attributes
    ----------
    rows : pandas.DataFrame
        One row per evidence model, tested model, image and piece of evidence: ``correct``
        (the tested model's top-1 on the evidence is the true class, or without labels its
        own class on the whole image), ``p`` and ``relative`` (p on the evidence / p on
        the whole image, of that class).
    accuracy, confidence : pandas.DataFrame
        Model x model means of ``correct`` and ``relative``: row = whose evidence, column =
        who is tested on it.
    """

    rows: pd.DataFrame
    accuracy: pd.DataFrame
    confidence: pd.DataFrame

    def similarity(self):
        """Symmetric feature-use similarity in [0, 1]: B's relative confidence on A's evidence as
        a share of B's on its own (so a model is 1 to itself and to a copy of itself), averaged
        both ways."""
        c = self.confidence.to_numpy()
        own = np.diag(c)
        share = np.clip(c / np.maximum(own[None, :], 1e-12), 0, 1)  # column B scaled by B's own evidence
        return pd.DataFrame((share + share.T) / 2, index=self.confidence.index, columns=self.confidence.columns)

    def landscape(self):
        """The models on a plane: classical MDS of 1 - :meth:`similarity` (``x``, ``y`` per model)."""
        d = 1 - self.similarity().to_numpy()
        np.fill_diagonal(d, 0)
        n = len(d)
        j = np.eye(n) - np.ones((n, n)) / n
        b = -0.5 * j @ (d ** 2) @ j
        values, vectors = np.linalg.eigh(b)
        top = np.argsort(values)[::-1][:2]
        coords = vectors[:, top] * np.sqrt(np.clip(values[top], 0, None))
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        coords *= np.where(coords[np.abs(coords).argmax(0), range(2)] < 0, -1, 1)  # a fixed orientation
        return pd.DataFrame({"model": list(self.confidence.index), "x": coords[:, 0], "y": coords[:, 1]})


def _aligned(stores):
    """The image ids every store holds, with the same image (hash) in each; refused otherwise."""
    tables = [s.to_pandas(["image_id", "image_hash", "error"]).drop_duplicates("image_id") for s in stores]
    common = set.intersection(*(set(t.image_id) for t in tables))
    hashes = [dict(zip(t.image_id, t.image_hash)) for t in tables]
    differ = sorted(k for k in common if len({h[k] for h in hashes}) > 1)
    if differ:
        raise ValueError(f"the stores hold other images under the same keys (e.g. '{differ[0]}'): they explain "
                         f"different image sets")
    if not common:
        raise ValueError("the stores share no image")
    return sorted(common)


def _truth(store, keys):
    """Per image: (class index the tested model is scored on, whether it is the true label)."""
    df = store.to_pandas(["image_id", "label_index", "prediction", "error"]).drop_duplicates("image_id")
    df = df.set_index("image_id").loc[keys]
    known = df.label_index.notna()
    return {k: int(li) if ok else int(pr) for k, li, pr, ok in zip(keys, df.label_index, df.prediction, known)}


def _pictures(store, keys):
    wanted, out = set(keys), {}
    for part in store.parts():
        t = store._read(part, ["image_id", "image"])
        out.update({k: v for k, v in zip(t.column("image_id").to_pylist(), tensors(t.column("image")))
                    if v is not None and k in wanted})
    return out


def cross_test(stores, evidence="sag", names=None, threshold=0.9, grid=7, baseline="black"):
    """Show each model's sufficient evidence to every model: accuracy and confidence matrices.

    Parameters
    ----------
    stores : list of xviz.dataset.Store
        Two or more stores of the same images (checked by hash), each opened with its model.
    evidence : str
        ``"sag"``: each model's minimal sufficient explanations (the diverse roots of its
        SAGs); or a heatmap method of the stores (``"gradcam"``, ...): the smallest top of
        each heatmap, on a ``grid`` x ``grid`` of cells, that keeps ``threshold`` of that
        model's confidence (an image where no top short of the whole image does is left out).
    names : list of str, optional
        The models' names (their own by default).
    threshold, grid, baseline :
        For heatmap evidence: the share of confidence kept, the cells, and what hidden
        cells show. SAG evidence is shown on the baseline its SAG used.

    Returns
    -------
    CrossTest

    Examples
    --------
    >>> import tempfile, xviz
    >>> from xviz import dataset
    >>> d = xviz.zoo.digits("test")
    >>> a = dataset.explain(xviz.zoo.digits_cnn(), (d.images[:3], d.labels[:3]), ["gradcam"],
    ...                     store=tempfile.mkdtemp() + "/a", metrics=False, progress=False)
    >>> cross = cross_test([a, a], evidence="gradcam", names=["A", "B"], grid=4)
    >>> cross.accuracy.shape, float(cross.confidence.loc["A", "A"]) >= 0.9  # A keeps 0.9 on its own evidence
    ((2, 2), True)
    """
    if len(stores) < 2:
        raise ValueError("cross-testing compares two or more stores (models) of the same images")
    names = _names(stores, names)
    keys = _aligned(stores)
    for s in stores:
        _model(s)
        if evidence not in s.methods:
            raise ValueError(f"the store '{s.path}' has no {evidence!r} (its methods: {', '.join(s.methods)})")
    truths = [_truth(s, keys) for s in stores]
    pictures = [_pictures(s, keys) for s in stores]
    rows = []
    for a, name_a in zip(stores, names):
        found = (_evidence_sag(a, keys) if evidence == "sag"
                 else _evidence_heatmap(a, evidence, keys, threshold, grid, baseline))
        for key, masks, kind in found:
            for b, name_b, truth, shown in zip(stores, names, truths, pictures):
                rows += _tested(_model(b), shown[key], masks, kind, truth[key], name_a, name_b, key)
    table = pd.DataFrame(rows, columns=["evidence_of", "tested", "image_id", "piece", "correct", "p", "relative"])
    order = pd.Index(names)
    accuracy = table.pivot_table(index="evidence_of", columns="tested", values="correct", aggfunc="mean")
    confidence = table.pivot_table(index="evidence_of", columns="tested", values="relative", aggfunc="mean")
    return CrossTest(table, accuracy.reindex(index=order, columns=order), confidence.reindex(index=order, columns=order))


def _tested(clf, picture, masks, kind, truth, name_a, name_b, key):
    """Rows of model ``clf`` shown each mask of evidence over ``picture`` (its own input size)."""
    if not masks:
        return []
    x = to_tensor(picture).to(clf.device)
    m = torch.as_tensor(np.stack(masks), dtype=torch.float32)[:, None].to(clf.device)
    if tuple(m.shape[-2:]) != tuple(clf.size):  # the evidence of a model of another input size
        m = F.interpolate(m, size=tuple(clf.size), mode="bilinear", align_corners=False).clamp(0, 1)
    probs = clf.probs(torch.cat([x, compose(x, make_baseline(x, kind), m)]))
    full = float(probs[0, truth])
    return [{"evidence_of": name_a, "tested": name_b, "image_id": key, "piece": k, "correct": int(row.argmax()) == truth,
             "p": float(row[truth]), "relative": float(row[truth]) / max(full, 1e-12)}
            for k, row in enumerate(probs[1:])]


__all__ = ["CrossTest", "cross_test", "per_image", "sub_explanations"]
