"""What every heatmap method shares: one calling convention and one result type.

A method is a function ``compute(clf, x, targets) -> N x h x w tensor`` (its raw map, at
whatever resolution it works in) plus its settings; :func:`explain` does the rest: loading
and batching the images, resolving ``target=``, scoring the full images, and turning raw
maps into :class:`Saliency` results.
"""
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..core.files import DamagedFile, json_text, read_npz, write_npz
from ..core.images import to_numpy

FORMAT = "xviz.saliency/1"


@dataclass
class Saliency:
    """A heatmap explanation of one image.

    Attributes
    ----------
    method : str
        Which method made it (``"gradcam"``, ...).
    mask : numpy.ndarray
        H x W in [0, 1] at the classifier's input size; 1 marks what matters most.
    lowres : numpy.ndarray
        The method's raw map at its own resolution (e.g. 7 x 7 for Grad-CAM), unscaled.
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

    method: str
    mask: np.ndarray
    lowres: np.ndarray
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
                f"mask {h}x{w}, lowres {'x'.join(map(str, self.lowres.shape))})")


    def save(self, path):
        """Write to ``path`` as .npz: arrays, plus the rest as JSON (no pickle).

        Returns the path written (".npz" is added to a name without it).

        Examples
        --------
        >>> import tempfile, os, xviz
        >>> clf = xviz.zoo.digits_cnn()
        >>> sal = xviz.gradcam(clf, xviz.zoo.image("digit-3"))
        >>> path = os.path.join(tempfile.mkdtemp(), "sal.npz")
        >>> sal.save(path).name
        'sal.npz'
        >>> bool((Saliency.load(path).mask == sal.mask).all())
        True
        """
        meta = {"format": FORMAT, "method": self.method, "target": self.target, "label": self.label,
                "score": self.score, "settings": self.settings, "history": self.history,
                "passes": self.passes, "seconds": self.seconds}
        return write_npz(path, mask=self.mask, lowres=self.lowres, image=self.image, meta=np.array(json_text(meta)))

    @classmethod
    def load(cls, path):
        """Read a result written by :meth:`save`."""
        data, meta = read_npz(path, FORMAT, "saliency")
        return cls(method=meta["method"], target=meta["target"], label=meta["label"], score=meta["score"],
                   settings=meta["settings"], history=meta["history"], passes=meta.get("passes", 0),
                   seconds=meta.get("seconds", 0.0), **_shaped(data))


def _shaped(data):
    """A saliency file's arrays (its :class:`Parts`), checked to fit together (a mask of shape
    (3,) made a result that failed only when shown)."""
    arrays = {k: data[k] for k in ("mask", "lowres", "image")}
    mask, lowres, image = arrays["mask"], arrays["lowres"], arrays["image"]
    if mask.ndim != 2 or lowres.ndim != 2 or image.shape != mask.shape + (3,):
        raise DamagedFile(f"'{data.path}' is a damaged xviz saliency file: mask {mask.shape}, lowres {lowres.shape}, "
                          f"image {image.shape} do not fit (expected H x W, h x w and H x W x 3)")
    return arrays


def scale_rows(m):
    """Each row of an N x D tensor scaled to [0, 1]; a flat row (its spread within float
    rounding of its values, as bilinear upsampling leaves on a constant map) becomes zeros,
    not a full-contrast pattern of that rounding noise."""
    lo, hi = m.min(1, keepdim=True).values, m.max(1, keepdim=True).values
    flat = hi - lo <= 1e-5 * torch.maximum(hi.abs(), lo.abs())
    return torch.where(flat, torch.zeros_like(m), (m - lo) / (hi - lo).clamp_min(1e-30))


def normalize_map(raw, size):
    """Upsample N x h x w raw maps to ``size`` (bilinear) and scale each to [0, 1]."""
    up = F.interpolate(raw[:, None].float(), size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
    return scale_rows(up.flatten(1)).view_as(up)


def explain(clf, images, target, compute, method, settings):
    """Run ``compute`` on images in any accepted form and wrap its maps as results.

    ``compute(clf, x, targets)`` returns the raw maps (N x h x w), or a pair
    ``(raw, heat)`` when the raw map is signed or otherwise not a heat: ``heat`` (N x h' x w',
    high = important) is what becomes the [0, 1] mask, ``raw`` is kept as ``lowres``; it may
    also return ``(raw, heat, history)`` with one dict of per-iteration traces per image.

    Returns one :class:`Saliency` for a single image, a list for a batch.
    """
    x, batch = clf.prepare(images)
    start, passes = time.perf_counter(), clf.images_scored
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
    spent = {"passes": clf.images_scored - passes, "seconds": time.perf_counter() - start}
    results = [Saliency(method=method, mask=m, lowres=r, image=p, target=t, label=clf.label(t), score=s,
                        settings=settings, history=h, **spent)
               for m, r, p, t, s, h in zip(masks, raw.detach().cpu().numpy(), pictures, targets, scores, histories)]
    return results if batch else results[0]
