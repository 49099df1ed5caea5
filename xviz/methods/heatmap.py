"""What every heatmap method shares: one calling convention and one result type.

A method is a function ``compute(clf, x, targets) -> N x h x w tensor`` (its raw map, at
whatever resolution it works in) plus its settings; :func:`run_heatmap` does the rest: loading
and batching the images, resolving ``target=``, scoring the full images, and turning raw
maps into :class:`Saliency` results.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..core.files import DamagedFile, valid
from ..core.images import to_numpy
from ..core.result import OldLoad, Result, deprecated


@dataclass
class Saliency(OldLoad, Result):
    """A heatmap explanation of one image.

    Attributes
    ----------
    method : str
        Which method made it (``"gradcam"``, ...).
    mask : numpy.ndarray
        H x W in [0, 1] at the classifier's input size; 1 marks what matters most.
    raw : numpy.ndarray
        The method's own map before it became the mask: at the method's resolution (7 x 7
        for Grad-CAM's layer, the mask's cells for I-GOS, the full input for RISE and IG), in
        its own units (IG's is signed); see each method's docstring.
    image : numpy.ndarray
        The explained image as the classifier saw it: H x W x 3 in [0, 1].
    target, label, score :
        The explained class, its name, and its probability on the full image.
    settings : dict
        The method's parameters and the model's name, enough to make it again, except a
        baseline given as a tensor: that is recorded as ``"tensor"`` (keep it yourself).
    history : dict
        Per-iteration traces of iterative methods (empty otherwise).
    passes : int
        Images passed through the model to make it (for the whole batch it came in).
    seconds : float
        Wall time to make it (for the whole batch it came in).
    """

    FORMAT = "xviz.saliency/1"
    WHAT = "saliency"

    method: str
    mask: np.ndarray
    raw: np.ndarray
    image: np.ndarray
    target: int
    label: str
    score: float
    settings: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    passes: int = 0
    seconds: float = 0.0

    def __repr__(self):
        h, w = self.mask.shape
        return (f"Saliency(method={self.method!r}, target={self.target} ({self.label!r}, p={self.score:.3f}), "
                f"mask {h}x{w}, raw {'x'.join(map(str, self.raw.shape))})")

    @property
    def lowres(self):
        """Deprecated name of :attr:`raw` (it is full size for RISE and IG)."""
        deprecated("Saliency.lowres", "Saliency.raw")
        return self.raw

    def _parts(self):
        meta = {"method": self.method, "target": self.target, "label": self.label, "score": self.score,
                "settings": self.settings, "history": self.history, "passes": self.passes, "seconds": self.seconds}
        return meta, {"mask": self.mask, "raw": self.raw, "image": self.image}

    @classmethod
    def _from_parts(cls, meta, arrays, clf=None):
        return cls(method=meta["method"], target=meta["target"], label=meta["label"], score=meta["score"],
                   settings=meta["settings"], history=meta["history"], passes=meta.get("passes", 0),
                   seconds=meta.get("seconds", 0.0), **_checked_arrays(arrays))


def _checked_arrays(data):
    """A saliency file's arrays (its :class:`~xviz.core.files.FileParts`), checked: shapes that
    fit together (a mask of shape (3,) made a result that failed only when shown), finite
    values, the mask and the image in [0, 1] (a 0-255 image or a NaN mask was read silently)."""
    name = "lowres" if "lowres" in data and "raw" not in data else "raw"  # "lowres" before 0.2
    mask, raw, image = data["mask"], data[name], data["image"]
    if mask.ndim != 2 or raw.ndim != 2 or image.shape != mask.shape + (3,):
        raise DamagedFile(f"'{data.path}' is a damaged xviz saliency file: mask {mask.shape}, raw {raw.shape}, "
                          f"image {image.shape} do not fit (expected H x W, h x w and H x W x 3)")
    return {"mask": valid(data, "mask", unit=True), "raw": valid(data, name), "image": valid(data, "image", unit=True)}


def scale_rows(m):
    """Each row of an N x D tensor scaled to [0, 1]; a flat row (its spread within float
    rounding of its values, as bilinear upsampling leaves on a constant map) becomes zeros,
    not a full-contrast pattern of that rounding noise."""
    lo, hi = m.min(1, keepdim=True).values, m.max(1, keepdim=True).values
    flat = hi - lo <= 1e-5 * torch.maximum(hi.abs(), lo.abs())
    return torch.where(flat, torch.zeros_like(m), (m - lo) / (hi - lo).clamp_min(1e-30))


def upsample_map(raw, size):
    """Upsample N x h x w raw maps to ``size``, bilinearly: how a result's mask is made from them."""
    return F.interpolate(raw[:, None].float(), size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def normalize_map(raw, size):
    """Upsample N x h x w raw maps to ``size`` (bilinear) and scale each to [0, 1]."""
    up = upsample_map(raw, size)
    return scale_rows(up.flatten(1)).view_as(up)


def run_heatmap(clf, images, target, compute, method, settings):
    """Run ``compute`` on images in any accepted form and wrap its maps as results.

    ``compute(clf, x, targets)`` returns the raw maps (N x h x w), or a pair
    ``(raw, heat)`` when the raw map is signed or otherwise not a heat: ``heat`` (N x h' x w',
    high = important) is what becomes the [0, 1] mask, ``raw`` is kept as :attr:`Saliency.raw`; it may
    also return ``(raw, heat, history)`` with one dict of per-iteration traces per image.

    Returns one :class:`Saliency` for a single image, a list for a batch.
    """
    x, batch = clf.prepare(images)
    with clf.metered() as spent:
        with clf.session():
            logits = clf.logits(x)
            targets = clf.targets_for(x, target, logits)
            scores = logits.softmax(1).gather(1, torch.as_tensor(targets, device=logits.device).view(-1, 1))[:, 0].tolist()
            out = compute(clf, x, targets)
        raw, heat, histories = (out, out, None) if isinstance(out, torch.Tensor) else (tuple(out) + (None,))[:3]
        masks = normalize_map(heat, clf.size).cpu().numpy()
    pictures = to_numpy(x)
    settings = {"model": clf.name, **settings}
    histories = histories or [{} for _ in targets]
    results = [Saliency(method=method, mask=m, raw=r, image=p, target=t, label=clf.label(t), score=s,
                        settings=settings, history=h, passes=spent.passes, seconds=spent.seconds)
               for m, r, p, t, s, h in zip(masks, raw.detach().cpu().numpy(), pictures, targets, scores, histories)]
    return results if batch else results[0]
