"""What every heatmap method shares: one calling convention and one result type.

A method is a function ``compute(clf, x, targets) -> N x h x w tensor`` (its raw map, at
whatever resolution it works in) plus its settings; :func:`explain` does the rest: loading
and batching the images, resolving ``target=``, scoring the full images, and turning raw
maps into :class:`Saliency` results.
"""
import json
import math
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..images import is_int, is_number, to_numpy

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

    def _ipython_display_(self):
        """In a notebook, a result shows itself in a HeatmapView (imported here: results hold no widget)."""
        from ..widgets import show

        show(self)._ipython_display_()

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


def npz_file(path, reading=False):
    """The file an .npz result lives in: numpy's savez adds ".npz" to a name without it, so
    ``save("m")`` writes ``m.npz`` and ``load("m")`` reads that (or ``m`` itself, when only
    ``m`` exists: a file someone named so)."""
    path = Path(path)
    if path.suffix == ".npz":
        return path
    named = path.with_name(path.name + ".npz")
    return path if reading and not named.is_file() and path.is_file() else named


def _plain(value):
    if isinstance(value, np.generic):  # a numpy number given as a setting
        return value.item()
    raise TypeError(f"a {type(value).__name__} cannot be saved as JSON")


def json_text(data):
    """``json.dumps`` that writes numpy numbers as plain ones (settings may hold them)."""
    return json.dumps(data, default=_plain)


def _folder_exists(path):
    if not path.parent.is_dir():  # said plainly: numpy and open() name only the file
        why = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise FileNotFoundError(f"cannot write '{path}': the folder '{path.parent}' {why}")
    return path


def write_npz(path, **arrays):
    """Write arrays to a compressed .npz (no pickle); return the path written."""
    path = _folder_exists(npz_file(path))
    np.savez_compressed(path, **arrays)
    return path


def write_json(path, data):
    """Write ``data`` as JSON (numpy numbers as plain ones); return the path written."""
    path = _folder_exists(Path(path))
    path.write_text(json_text(data))
    return path


def read_meta(data, path, fmt, what):
    """The JSON metadata of an open .npz result, checked to be of format ``fmt``; a clear
    error for any other file (``what`` names the kind expected, e.g. "saliency")."""
    if "meta" not in data.files:
        raise ValueError(f"'{path}' is not an xviz {what} file (it has no xviz metadata)")
    try:
        meta = json.loads(str(data["meta"]))
    except (json.JSONDecodeError, *DAMAGE) as error:
        raise DamagedFile(f"'{path}' is a damaged xviz {what} file (its metadata: {error})") from error
    return _checked(meta, path, fmt, what)


def _checked(meta, path, fmt, what):
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"'{path}' is not an xviz {what} file (format {found!r}, expected {fmt!r})")
    return meta


class DamagedFile(ValueError):
    """A result file that is cut off or damaged (or from another xviz version)."""


class Parts(dict):
    """A result file's arrays or metadata: a part it lacks is a DamagedFile naming the file,
    not a bare KeyError from deep inside a loader."""

    def __init__(self, items, path, what):
        super().__init__(items)
        self.path, self.what = path, what

    def __missing__(self, key):
        raise DamagedFile(f"'{self.path}' is an incomplete xviz {self.what} file, or one from another xviz "
                          f"version: it has no {key!r}")


def _not_npz(file, what):
    """The error for a file that numpy cannot open as an .npz, saying what it looks like."""
    with open(file, "rb") as f:
        head = f.read(64)
    if not head or head.startswith(b"PK"):
        return DamagedFile(f"'{file}' is a damaged or incomplete xviz {what} file "
                           f"({'it is empty' if not head else 'a cut-off or damaged zip archive'})")
    if head.startswith(b"\x93NUMPY"):
        kind = "it is a single .npy array"
    elif head.lstrip()[:1] in (b"{", b"["):
        kind = "it is JSON text: xviz.SAG.from_json and GlobalExplanation.from_json read JSON results"
    else:
        kind = "it is not an .npz archive"
    return ValueError(f"'{file}' is not an xviz {what} file ({kind})")


# What numpy, zipfile and zlib raise on a file damaged inside: a bad CRC, cut-off data.
DAMAGE = (EOFError, OSError, zlib.error, zipfile.BadZipFile, ValueError)


def read_npz(path, fmt, what):
    """The arrays and the metadata of an .npz result written by :func:`write_npz` (``path``
    with or without ".npz"), its format checked; never unpickles. Anything but a whole result
    of that kind gives a ValueError that names the file and says what it is instead (a
    :class:`DamagedFile` where it is cut off or damaged, or lacks a part)."""
    file = npz_file(path, reading=True)
    try:
        data = np.load(file, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile, OSError) as error:
        if isinstance(error, FileNotFoundError) or not file.is_file():
            raise
        raise _not_npz(file, what) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise _not_npz(file, what)
    with data:
        meta = read_meta(data, file, fmt, what)
        try:  # everything now, so that only reading the file is said to be its damage
            arrays = {k: data[k] for k in data.files if k != "meta"}
        except DAMAGE as error:
            raise DamagedFile(f"'{file}' is a damaged xviz {what} file ({type(error).__name__}: {error})") from error
    return Parts(arrays, file, what), Parts(meta, file, what)


def read_json(path, fmt, what):
    """The JSON result at ``path``, checked to be of format ``fmt``; a ValueError naming the
    file for anything else (an .npz, cut-off JSON, another kind of result)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw.startswith(b"PK"):
        raise ValueError(f"'{path}' is not an xviz {what} file (it is a zip archive; if it is an .npz result, "
                         f"it has a load() of its own, e.g. xviz.Saliency.load)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DamagedFile(f"'{path}' is a damaged or cut-off xviz {what} file ({error})") from error
    return Parts(_checked(data, path, fmt, what), path, what)


def whole(value, name, minimum, none=None):
    """``value`` as a Python int of at least ``minimum`` (None: any int), or a clear ValueError.

    Numpy integers pass (and come back as ``int``, so settings stay JSON-safe); bools,
    floats and strings do not: ``2.0`` beams would fail deep in a loop, after minutes.
    ``none``: the meaning of None where None is allowed (it then passes), e.g. "no limit".

    Examples
    --------
    >>> whole(np.int64(3), "q", 1), whole(None, "max_nodes", 1, none="no limit")
    (3, None)
    >>> whole(2.0, "beam_width", 1)
    Traceback (most recent call last):
    ...
    ValueError: beam_width must be an int, got 2.0
    """
    if value is None and none:
        return None
    if not is_int(value):
        raise ValueError(f"{name} must be an int{', or None for ' + none if none else ''}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}{', or None for ' + none if none else ''}, got {value!r}")
    return int(value)


def real(value, name, minimum=None, above=None):
    """``value`` as a finite Python float of at least ``minimum`` / more than ``above``, or a
    ValueError naming it (bools, strings and NaN are refused).

    Examples
    --------
    >>> real(np.float32(0.5), "p", above=0)
    0.5
    """
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    if above is not None and value <= above:
        raise ValueError(f"{name} must be more than {above}, got {value!r}")
    return float(value)


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


def progress(iterable, total=None, desc=None, enabled=True):
    """A tqdm.auto progress bar (a notebook widget in Jupyter, text in a shell), or none."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)


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
