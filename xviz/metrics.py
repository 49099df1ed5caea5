"""How faithful is a heatmap? Deletion and insertion curves, and the pointing game.

Deletion and insertion follow RISE and the I-GOS papers: rank the cells of a low-resolution
grid by the mask's importance, switch ``max(1, cells // 50)`` cells per step (about 50
steps), upsample the binary grid mask bilinearly (as I-GOS upsamples its own masks), and
score the explained class after each step. Deletion moves from the image towards the
baseline, insertion from the baseline towards the image; the AUC is the mean score over
the points. A faithful heatmap gives a low deletion AUC and a high insertion AUC.

Many results are scored together: the two ends of every curve (the image itself and the
baseline itself) once per distinct image and target, the points between in groups of whole
chunks across results, made a result at a time so that memory holds one group, not every
result's images.

Examples
--------
>>> import xviz
>>> from xviz import metrics
>>> clf = xviz.zoo.digits_cnn()
>>> sal = xviz.gradcam(clf, xviz.zoo.image("digit-3"))
>>> dele, ins = metrics.curves(clf, sal)
>>> bool(dele.auc < ins.auc)
True
"""
import warnings
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from .core import images
from .core.checks import checked_int
from .methods.heatmap import Saliency

KINDS = ("deletion", "insertion")
STEPS = 50  # about this many steps per curve, as in RISE and I-GOS


@dataclass
class Curve:
    """A deletion or insertion curve of one explanation.

    Attributes
    ----------
    kind : str
        ``"deletion"`` or ``"insertion"``.
    fractions : numpy.ndarray
        Fraction of grid cells switched at each point, from 0 to 1.
    scores : numpy.ndarray
        Probability of the target class at each point.
    auc : float
        Mean of ``scores``: lower is better for deletion, higher for insertion.
    target, label :
        The scored class and its name.
    method : str
        The explained result's method (``""`` for a plain mask).
    grid : tuple
        ``(gh, gw)``, the grid the mask was ranked on.
    step : int
        Cells switched per step (the last step may be shorter).
    baseline : str
        What the switched cells become (deletion) or start from (insertion): ``"blur"`` or ``"black"``.
    order : numpy.ndarray
        Cell indices (row-major in the grid), most important first.

    Examples
    --------
    >>> import json, xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> curve = deletion(clf, xviz.gradcam(clf, xviz.zoo.image("digit-3")), grid=8)
    >>> len(curve.scores), curve.step, float(curve.fractions[-1])
    (65, 1, 1.0)
    >>> Curve.from_dict(json.loads(json.dumps(curve.to_dict()))).auc == curve.auc
    True
    """

    kind: str
    fractions: np.ndarray
    scores: np.ndarray
    auc: float
    target: int
    label: str
    method: str
    grid: tuple
    step: int
    baseline: str
    order: np.ndarray

    def __repr__(self):
        return (f"Curve({self.kind}, auc={self.auc:.3f}, target={self.target} ({self.label!r}), "
                f"method={self.method!r}, grid={self.grid[0]}x{self.grid[1]}, {len(self.scores)} points, "
                f"baseline={self.baseline!r})")

    def to_dict(self):
        """The curve as plain JSON-safe data (lists, no numpy)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(fractions=self.fractions.tolist(), scores=self.scores.tolist(), order=self.order.tolist(),
                   grid=[int(g) for g in self.grid], auc=float(self.auc), target=int(self.target),
                   step=int(self.step))
        return out

    @classmethod
    def from_dict(cls, d):
        """Rebuild a curve from :meth:`to_dict`'s output."""
        return cls(**{**d, "fractions": np.asarray(d["fractions"], dtype=np.float64),
                      "scores": np.asarray(d["scores"], dtype=np.float64),
                      "order": np.asarray(d["order"], dtype=np.int64), "grid": tuple(d["grid"])})


# -- ranking and step masks -------------------------------------------------------------
def _as_mask(mask):
    if isinstance(mask, Saliency):
        mask = mask.mask
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    m = np.asarray(mask, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"a mask must be 2-D (H x W), got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError("the mask contains NaN or infinite values")
    return m


def _pair(value, what):
    pair = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(pair) != 2 or not all(images.is_int(v) for v in pair):
        raise ValueError(f"{what} must be an int or (height, width), got {value!r}")
    return int(pair[0]), int(pair[1])


def _grid(grid, size):
    """Check ``grid`` against an image (or mask) of ``size``; return ``(gh, gw)``."""
    gh, gw = _pair(grid, "grid")
    h, w = size
    if not (1 <= gh <= h and 1 <= gw <= w):
        raise ValueError(f"grid must be at least 1 x 1 and at most the image's {h} x {w}, got {grid!r}")
    return gh, gw


def ranking(mask, grid=28):
    """Grid cells ordered from most to least important.

    The mask is pooled to the grid by area averaging; ties keep row-major order.

    Parameters
    ----------
    mask : numpy.ndarray or Saliency
        H x W importance (high = important), or already gh x gw.
    grid : int or (int, int)
        Cells per side, or ``(gh, gw)``.

    Returns
    -------
    numpy.ndarray
        ``gh * gw`` cell indices, row-major in the grid.

    Examples
    --------
    >>> ranking(np.array([[0, 2], [1, 2]]), grid=2)
    array([1, 3, 2, 0])
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> ranking(xviz.gradcam(clf, xviz.zoo.image("digit-3")), grid=8).shape
    (64,)
    """
    m = _as_mask(mask)
    gh, gw = _grid(grid, m.shape)
    pooled = F.adaptive_avg_pool2d(torch.from_numpy(m)[None, None], (gh, gw)).flatten().numpy()
    return np.argsort(-pooled, kind="stable")


def _switched(order, counts, grid, size, device=None):
    """N x 1 x H x W: for each count, the first ``count`` cells of ``order`` at 1, upsampled."""
    gh, gw = _pair(grid, "grid")
    cells = gh * gw
    order = torch.as_tensor(np.asarray(order), dtype=torch.long, device=device)
    if order.shape != (cells,) or not torch.equal(order.sort().values, torch.arange(cells, device=device)):
        raise ValueError(f"order must list each of the grid's {cells} cells once, got {tuple(order.shape)} entries")
    counts = torch.as_tensor(np.asarray(counts), dtype=torch.long, device=device).view(-1)
    if counts.min() < 0 or counts.max() > cells:
        raise ValueError(f"switched must lie between 0 and the grid's {cells} cells, got {counts.tolist()}")
    rank = torch.empty_like(order)
    rank[order] = torch.arange(cells, device=device)
    on = (rank[None] < counts[:, None]).float().view(-1, 1, gh, gw)
    return images.upsample_mask(on, _pair(size, "size"))


def cell_mask(order, switched, grid, size):
    """The mask of one step: the first ``switched`` cells of ``order`` at 1, upsampled to ``size``.

    Parameters
    ----------
    order : numpy.ndarray
        Cell indices, most important first (see :func:`ranking`).
    switched : int
        How many cells are switched.
    grid : int or (int, int)
        The grid ``order`` refers to.
    size : int or (int, int)
        Output height and width.

    Returns
    -------
    torch.Tensor
        1 x 1 x H x W in [0, 1], upsampled bilinearly as I-GOS does.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> order = ranking(xviz.gradcam(clf, xviz.zoo.image("digit-3")), grid=8)
    >>> cell_mask(order, 16, grid=8, size=clf.size).shape
    torch.Size([1, 1, 32, 32])
    """
    return _switched(order, [switched], grid, size)


def _blend(x, base, u, kind):
    if kind == "deletion":
        return images.compose(base, x, u)
    if kind == "insertion":
        return images.compose(x, base, u)
    raise ValueError(f"unknown kind {kind!r}; accepted: {', '.join(map(repr, KINDS))}")


def perturbed(image, order, switched, kind, grid=28, baseline="blur"):
    """The image at one step of a deletion or insertion sweep, to show or scrub through.

    Parameters
    ----------
    image :
        The explained image in any form :func:`xviz.images.load_image` accepts (for a
        curve's own steps, at the classifier's input size, e.g. ``Saliency.image``).
    order, switched, grid :
        As for :func:`cell_mask`.
    kind : str
        ``"deletion"`` (switched cells become the baseline) or ``"insertion"`` (switched
        cells show the image, the rest the baseline).
    baseline : str
        ``"blur"`` or ``"black"``.

    Returns
    -------
    numpy.ndarray
        H x W x 3 in [0, 1].

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.gradcam(clf, xviz.zoo.image("digit-3"))
    >>> order = ranking(sal, grid=8)
    >>> perturbed(sal.image, order, 10, "insertion", grid=8).shape
    (32, 32, 3)
    """
    x = images.to_tensor(images.load_image(image))
    _grid(grid, x.shape[-2:])
    u = _switched(order, [switched], grid, x.shape[-2:])
    return images.to_numpy(_blend(x, images.baseline(x, baseline), u, kind))[0]


# -- curves -----------------------------------------------------------------------------
def _counts(cells):
    """Cells switched at each point: 0, step, 2 step, ..., always ending at ``cells``."""
    step = max(1, cells // STEPS)
    return np.append(np.arange(0, cells, step), cells), step


def _inputs(clf, saliency, image, target):
    """``(masks, x, targets, methods, batch)`` from results or a plain mask."""
    batch = isinstance(saliency, (list, tuple))
    results = list(saliency) if batch else [saliency]
    if not results:
        raise ValueError("got an empty list of results; give at least one Saliency")
    own = image is None
    if own:
        if not all(isinstance(r, Saliency) for r in results):
            raise ValueError("a plain mask needs image=: the image it explains")
        image = [r.image for r in results] if batch else results[0].image
    x, many = clf.prepare(image)
    if many != batch or len(x) != len(results):
        raise ValueError(f"got {len(x)} image{'s' if many else ''} for {len(results)} "
                         f"mask{'s' if batch else ''}; give one image per mask")
    if not own:
        _same_images(clf, results, x)
    given = list(target) if isinstance(target, (list, tuple)) else [target] * len(results)
    if len(given) != len(results):
        raise ValueError(f"got {len(given)} targets for {len(results)} masks; give one per mask or a single target")
    given = [getattr(r, "target", None) if t is None else t for t, r in zip(given, results)]
    methods = [getattr(r, "method", "") for r in results]
    return [_as_mask(r) for r in results], x, clf.targets_for(x, given), methods, batch


# Mean absolute difference (pixels in [0, 1]) above which image= is not the image a result
# explains: a JPEG re-encode of the same photo stays near 0.01, another photo is near 0.2.
OTHER_IMAGE = 0.04


def _same_images(clf, results, x):
    """Refuse image= that is not the image a result explains: its curves would score the mask
    on a photo it says nothing about, silently."""
    explained = [i for i, r in enumerate(results) if isinstance(r, Saliency)]
    if not explained:
        return
    own = clf.prepare([results[i].image for i in explained])[0].to(x.device)
    gaps = (own - x[explained]).abs().flatten(1).mean(1).tolist()
    for i, gap in zip(explained, gaps):
        if gap > OTHER_IMAGE:
            which = f"result {i}" if len(results) > 1 else "the result"
            raise ValueError(f"image= differs from the image {which} explains (mean pixel difference {gap:.3f}); "
                             "leave image= out to score a result on its own image, or pass the mask as a plain "
                             "array (result.mask) to score it on another image on purpose")


def _warn_constant(masks, methods):
    """A constant mask has no order: its cells would be switched row by row, a curve about the
    grid and not about the model."""
    for i, (m, method) in enumerate(zip(masks, methods)):
        if m.size and m.max() == m.min():
            name = f"the {method} mask" if method else f"mask {i}" if len(masks) > 1 else "the mask"
            warnings.warn(f"{name} is constant ({float(m.flat[0]):g} everywhere): it ranks no cell above another, "
                          "so its deletion and insertion curves follow the grid's row-major order and say "
                          "nothing about the model", UserWarning, stacklevel=4)


def _checked(mask, size, grid):
    if mask.shape not in (tuple(size), tuple(grid)):
        raise ValueError(f"the mask is {mask.shape[0]} x {mask.shape[1]}; expected the image's "
                         f"{size[0]} x {size[1]} at the classifier's input size or the grid's {grid[0]} x {grid[1]}")
    return mask


def _distinct(x, targets):
    """For each image, the index of the first image equal to it with the same target: results
    of several methods on one photo share the two ends of their curves."""
    first = []
    for i, t in enumerate(targets):
        first.append(next((j for j in first if targets[j] == t and torch.equal(x[j], x[i])), i))
    return first


def _end_scores(clf, x, base, targets):
    """N x 2: the score of each image and of its baseline, each distinct pair scored once. These
    are the two ends of both curves (nothing switched, everything switched)."""
    first = _distinct(x, targets)
    unique = sorted(set(first))
    where = {j: k for k, j in enumerate(unique)}
    ts = [targets[j] for j in unique]
    scores = clf.scores(torch.cat([x[unique], base[unique]]), ts + ts).view(2, -1)
    return scores[:, [where[j] for j in first]].T


def _inner_scores(clf, x, base, targets, orders, counts, grid, kinds, progress):
    """Scores of the points between the ends, for every result and kind: N x kinds x len(counts).

    The perturbed images are made a result at a time and scored in groups of whole chunks
    across results, so the model always sees full chunks while memory holds one group."""
    group = 4 * clf.chunk_size
    stacks, owed, parts = [], 0, []

    def flush():
        images_, ts = torch.cat([s for s, _ in stacks]), torch.cat([t for _, t in stacks])
        parts.append(clf.scores(images_, ts, progress=progress))
        stacks.clear()

    for order, xi, bi, t in zip(orders, x, base, targets):
        if len(counts):
            u = _switched(order, counts, grid, clf.size, x.device)
            stack = torch.cat([_blend(xi[None], bi[None], u, kind) for kind in kinds])
            stacks.append((stack, torch.full((len(stack),), t, dtype=torch.long, device=x.device)))
            owed += len(stack)
        if owed >= group:
            flush()
            owed = 0
    if stacks:
        flush()
    scores = torch.cat(parts) if parts else torch.zeros(0, device=x.device)
    return scores.view(len(orders), len(kinds), len(counts))


def _sweep(clf, saliency, image, target, baseline, grid, kinds, progress):
    """Curves of each kind for each mask. The ends of the curves (the image, the baseline) are
    scored once per distinct image, the points between in groups of whole chunks."""
    grid = _grid(grid, clf.size)
    masks, x, targets, methods, batch = _inputs(clf, saliency, image, target)
    _warn_constant(masks, methods)
    counts, step = _counts(grid[0] * grid[1])
    base = images.baseline(x, baseline)
    orders = [ranking(_checked(m, clf.size, grid), grid) for m in masks]
    with clf.session():
        ends = _end_scores(clf, x, base, targets)
        inner = _inner_scores(clf, x, base, targets, orders, counts[1:-1], grid, kinds, progress)
    # deletion runs from the image to the baseline, insertion from the baseline to the image
    first = {"deletion": 0, "insertion": 1}
    scores = torch.stack([torch.cat([ends[:, first[k], None], inner[:, i], ends[:, 1 - first[k], None]], 1)
                          for i, k in enumerate(kinds)], 1).double().cpu().numpy()
    name = baseline if isinstance(baseline, str) else "custom"
    out = [tuple(Curve(kind=kind, fractions=counts / counts[-1], scores=s, auc=float(s.mean()), target=t,
                       label=clf.label(t), method=method, grid=grid, step=step, baseline=name, order=order)
                 for kind, s in zip(kinds, rows))
           for rows, t, method, order in zip(scores, targets, methods, orders)]
    return out if batch else out[0]


_PARAMETERS = """
    Parameters
    ----------
    clf : Classifier
        The explained classifier.
    saliency : Saliency, list of Saliency, or numpy.ndarray
        One result, a batch (each result's points scored in one batched call), or a
        plain 2-D mask (high = important) at the classifier's input size or the grid's.
    image : optional
        The explained image in any form :meth:`Classifier.prepare` accepts; required for a
        plain mask, the result's own ``image`` by default (one per result for a batch).
    target : int, str or list, optional
        The scored class; the result's own target by default, top-1 for a plain mask.
    baseline : str
        ``"blur"`` (the I-GOS baseline) or ``"black"``.
    grid : int or (int, int)
        The grid the mask is ranked on (at most the input size).
    progress : bool or str
        Show a progress bar over the scored images.
"""


def deletion(clf, saliency, image=None, target=None, baseline="blur", grid=28, progress=False):
    """The deletion curve: the most important cells turn into the baseline first.
    {parameters}
    Returns
    -------
    Curve or list of Curve
        One per result; a lower AUC is better.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.gradcam(clf, xviz.zoo.image("digit-3"))
    >>> curve = deletion(clf, sal)
    >>> curve.kind, curve.grid, len(curve.scores)
    ('deletion', (28, 28), 54)
    """
    out = _sweep(clf, saliency, image, target, baseline, grid, ("deletion",), progress)
    return [c for (c,) in out] if isinstance(out, list) else out[0]


def insertion(clf, saliency, image=None, target=None, baseline="blur", grid=28, progress=False):
    """The insertion curve: the most important cells appear on the baseline first.
    {parameters}
    Returns
    -------
    Curve or list of Curve
        One per result; a higher AUC is better.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.gradcam(clf, xviz.zoo.image("digit-3"))
    >>> curve = insertion(clf, sal, baseline="black")
    >>> bool(abs(curve.scores[-1] - sal.score) < 1e-4)  # the whole image is back at the end
    True
    """
    out = _sweep(clf, saliency, image, target, baseline, grid, ("insertion",), progress)
    return [c for (c,) in out] if isinstance(out, list) else out[0]


def curves(clf, saliency, image=None, target=None, baseline="blur", grid=28, progress=False):
    """Deletion and insertion curves together, scored in one batched call.
    {parameters}
    Returns
    -------
    (Curve, Curve) or list of (Curve, Curve)
        ``(deletion, insertion)`` for each result.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.gradcam(clf, xviz.zoo.image("digit-3"))
    >>> dele, ins = curves(clf, sal, grid=8)
    >>> dele.kind, ins.kind, len(ins.scores)
    ('deletion', 'insertion', 65)
    """
    return _sweep(clf, saliency, image, target, baseline, grid, KINDS, progress)


for _f in (deletion, insertion, curves):
    _f.__doc__ = (_f.__doc__ or "").replace("{parameters}", _PARAMETERS)


# -- pointing game ----------------------------------------------------------------------
def pointing_game(saliency, box, tolerance=15):
    """Whether the mask's maximum falls on the object (Zhang et al., 2016).

    Parameters
    ----------
    saliency : Saliency or numpy.ndarray
        A result or an H x W mask.
    box : xviz.images.Box
        The object's box in the mask's pixels, ``Box(top, left, bottom, right)`` or
        ``Box.sized(top, left, height, width)``; it must lie within the mask. A plain 4-tuple
        is still read as ``(top, left, height, width)``, with a deprecation warning: xviz's
        one box convention is the corners, as :attr:`Region.box <xviz.summaries.Region>`.
    tolerance : int
        Pixels the box is grown by on every side before testing.

    Returns
    -------
    bool
        True when the maximum (the first in row-major order if several) lies within the
        grown box.

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.gradcam(clf, xviz.zoo.image("digit-3"))
    >>> pointing_game(sal, xviz.images.Box(0, 0, 32, 32))
    True
    """
    m = _as_mask(saliency)
    box = _box(box, m.shape)
    tolerance = checked_int(tolerance, "tolerance (pixels)", 0)
    r, c = np.unravel_index(np.argmax(m), m.shape)
    return box.contains(int(r), int(c), grow=tolerance)


def _box(box, shape):
    """A ``Box`` from a Box, or from a plain 4-tuple read as (top, left, height, width) as before."""
    values = tuple(box) if isinstance(box, (tuple, list, np.ndarray)) else ()
    if len(values) != 4 or not all(images.is_int(v) for v in values):
        raise ValueError(f"box must be an xviz.images.Box: four ints (top, left, bottom, right), got {box!r}")
    values = tuple(int(v) for v in values)
    if isinstance(box, images.Box):
        box = images.Box(*values)
    else:
        warnings.warn("a plain 4-tuple box is read as (top, left, height, width), unlike xviz's other boxes "
                      "(top, left, bottom, right); pass xviz.images.Box.sized(top, left, height, width) or "
                      "Box(top, left, bottom, right). Plain tuples will be refused in the next release.",
                      DeprecationWarning, stacklevel=3)
        box = images.Box.sized(*values)
    if box.height < 1 or box.width < 1:
        raise ValueError(f"box height and width must be positive, got {box!r}")
    if box.top < 0 or box.left < 0 or box.bottom > shape[0] or box.right > shape[1]:
        raise ValueError(f"{box!r} is not within the {shape[0]} x {shape[1]} mask")
    return box


__all__ = ["Curve", "cell_mask", "curves", "deletion", "insertion", "perturbed", "pointing_game", "ranking"]
