"""What a store says about its dataset: how faithful each method is per class, and the images
on which the methods disagree most. Tables (pandas), read part by part, so memory stays that
of one part whatever the store's size."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

from .store import tensors


def faithfulness(store):
    """Deletion and insertion AUCs per method and explained class: mean, spread, count.

    A faithful heatmap has a low deletion AUC and a high insertion AUC
    (:mod:`xviz.metrics`). One row per method and class, then one per method over every
    class (``class`` = ``"all"``); ``*_std`` is the standard deviation over the images,
    ``*_sem`` its standard error (std / sqrt(n)). Failed rows and methods without AUCs (a
    SAG) are left out.

    Examples
    --------
    >>> import tempfile, xviz
    >>> from xviz import dataset
    >>> d = xviz.zoo.digits("test")
    >>> store = dataset.explain(xviz.zoo.digits_cnn(), (d.images[:6], d.labels[:6]), ["gradcam"],
    ...                         store=tempfile.mkdtemp() + "/s", metrics={"grid": 8}, progress=False)
    >>> table = faithfulness(store)
    >>> list(table.columns[:4]), table.iloc[-1]["class"], int(table.iloc[-1]["n"])
    (['method', 'class', 'n', 'deletion_mean'], 'all', 6)
    """
    df = store.to_pandas(["method", "target_label", "deletion_auc", "insertion_auc", "error"])
    df = df[df.error.isna() & df.deletion_auc.notna()]
    order = {m: i for i, m in enumerate(store.methods)}
    per_class = _summary(df.groupby(["method", "target_label"]))
    overall = _summary(df.groupby(["method"])).assign(target_label="all")
    table = pd.concat([per_class, overall], ignore_index=True).rename(columns={"target_label": "class"})
    table["_m"], table["_all"] = table.method.map(order), table["class"] == "all"
    return table.sort_values(["_m", "_all", "class"]).drop(columns=["_m", "_all"]).reset_index(drop=True)


def _summary(groups):
    out = groups.agg(n=("deletion_auc", "size"), deletion_mean=("deletion_auc", "mean"),
                     deletion_std=("deletion_auc", "std"), insertion_mean=("insertion_auc", "mean"),
                     insertion_std=("insertion_auc", "std")).reset_index()
    root = np.sqrt(out["n"].astype(float))
    out["deletion_sem"], out["insertion_sem"] = out.deletion_std / root, out.insertion_std / root
    columns = ["n", "deletion_mean", "deletion_std", "deletion_sem", "insertion_mean", "insertion_std", "insertion_sem"]
    return out[[c for c in out.columns if c not in columns] + columns]


def pooled(mask, grid):
    """An H x W mask averaged over a grid x grid of cells (as the deletion metric ranks it)."""
    t = torch.tensor(np.asarray(mask, np.float32))[None, None]  # a copy: column arrays are read-only
    return F.adaptive_avg_pool2d(t, (grid, grid)).flatten().numpy()


def rank_correlation(a, b):
    """Spearman's correlation of two vectors (ties share their mean rank); NaN when either is flat."""
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def disagreement(store, methods=None, grid=8, top=None):
    """The images on which the heatmap methods disagree most, most first.

    Each pair of methods is compared by the rank correlation (Spearman) of their masks
    pooled to a ``grid`` x ``grid`` of cells, the cells the deletion metric ranks; an image's
    disagreement is 1 minus the mean correlation over the pairs (0: the same ranking, 1:
    unrelated, up to 2: reversed). A flat mask ranks nothing, so its pairs are left out.

    Parameters
    ----------
    store : xviz.dataset.Store
    methods : list of str, optional
        The methods to compare (every heatmap method of the store by default; at least two).
    grid : int
        Cells per side.
    top : int, optional
        Keep only this many images.

    Returns
    -------
    pandas.DataFrame
        ``image_id``, ``index``, ``label``, ``target_label``, ``disagreement`` and one
        column of correlation per pair of methods (``"gradcam~rise"``).

    Examples
    --------
    >>> import tempfile, xviz
    >>> from xviz import dataset
    >>> d = xviz.zoo.digits("test")
    >>> store = dataset.explain(xviz.zoo.digits_cnn(), (d.images[:4], d.labels[:4]), ["gradcam", "ig"],
    ...                         store=tempfile.mkdtemp() + "/s", metrics=False, progress=False)
    >>> table = disagreement(store)
    >>> len(table), list(table.columns[-2:]), bool(table.disagreement.is_monotonic_decreasing)
    (4, ['disagreement', 'gradcam~ig'], True)
    """
    methods = [m for m in store.methods if m != "sag"] if methods is None else list(methods)
    unknown = set(methods) - set(store.methods)
    if unknown or len(methods) < 2:
        raise ValueError(f"give two or more of the store's methods ({', '.join(store.methods)}); got {methods}")
    pairs = list(itertools.combinations(methods, 2))
    rows = []
    for part in store.parts():
        t = store._read(part, ["image_id", "index", "label", "target_label", "method", "error", "mask"])
        masks = {}
        for (key, method, error), mask in zip(zip(*(t.column(c).to_pylist() for c in ("image_id", "method", "error"))),
                                              tensors(t.column("mask"))):
            if method in methods and error is None and mask is not None:
                masks.setdefault(key, {})[method] = pooled(mask, grid)
        info = {k: (i, lab, tl) for k, i, lab, tl in zip(*(t.column(c).to_pylist()
                                                             for c in ("image_id", "index", "label", "target_label")))}
        for key, by_method in masks.items():
            corr = {f"{a}~{b}": rank_correlation(by_method[a], by_method[b]) if a in by_method and b in by_method
                    else float("nan") for a, b in pairs}
            values = [v for v in corr.values() if not np.isnan(v)]
            index, label, target_label = info[key]
            rows.append({"image_id": key, "index": index, "label": label, "target_label": target_label,
                         "disagreement": 1 - float(np.mean(values)) if values else float("nan"), **corr})
    table = pd.DataFrame(rows, columns=["image_id", "index", "label", "target_label", "disagreement",
                                        *[f"{a}~{b}" for a, b in pairs]])
    table = table.sort_values(["disagreement", "index"], ascending=[False, True], na_position="last")
    return (table if top is None else table.head(top)).reset_index(drop=True)
