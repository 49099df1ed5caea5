"""Input loading, resizing and the baselines that explanations perturb towards.

Every image a user hands to xviz passes through :func:`load_image`, which turns the common
forms into one: a float32 numpy array of shape H x W x 3 with values in [0, 1].
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, NoReturn, Sequence, cast

import numpy as np
import torch
import torch.nn.functional as F

from .checks import is_int, is_number
from .types import Baseline, Image, Images

ACCEPTED = (
    "a file path, a PIL image, a numpy array (H x W, H x W x 3 or H x W x 4; uint8, uint16, bool, "
    "or float in [0, 1]) or a torch tensor (H x W or C x H x W with C in 1, 3, 4; uint8 or "
    "float in [0, 1])"
)


def _describe(image):
    name = getattr(image, "filename", "")  # a PIL image opened from a file: its path says more
    if name:
        return f"the file '{name}' ({image.mode}, {image.size[0]} x {image.size[1]})"
    if isinstance(image, (np.ndarray, torch.Tensor)):
        return f"a {type(image).__module__.split('.')[0]} {type(image).__name__} of shape {tuple(image.shape)} and dtype {image.dtype}"
    text = repr(image)
    return f"{type(image).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def _reject(image, why) -> NoReturn:
    raise ValueError(f"cannot use {_describe(image)} as an image: {why}. Accepted: {ACCEPTED}.")


def _read_file(path, near=None):
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no image file at '{path}' (accepted: {ACCEPTED})")
    try:
        with Image.open(path) as im:
            f = _reduction(im.size[::-1], near)
            if f > 1:
                im.draft(im.mode, (im.size[0] // f, im.size[1] // f))  # JPEG: decode at a fraction of the size
            return _from_pil(im, near)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"'{path}' is not an image file PIL can read ({err})") from err


def _from_pil(im, near=None):
    f = _reduction(im.size[::-1], near)
    if f > 1 and im.mode in ("L", "RGB", "RGBA", "I", "F"):
        im = im.reduce(f)  # a box average in PIL: no full-size array is made here
    # Grey images of more than 8 bits keep their depth: convert("RGB") would clip them to 255.
    if im.mode.startswith("I;16"):
        return _from_numpy(np.asarray(im).astype(np.uint16), im, near)
    if im.mode == "I":  # 32-bit integers: some readers' 16-bit grey, or 8-bit values converted
        array = np.asarray(im)
        if array.min() < 0 or array.max() > 65535:
            _reject(im, f"32-bit integer pixels must lie in 0..65535, got {array.min()}..{array.max()}")
        # Values that fit in 8 bits are read as 8-bit, as PIL's convert("RGB") did (a 16-bit image
        # that dark, under 0.4% of its range, would read too bright: say so by giving uint16).
        return _from_numpy(array.astype(np.uint16 if array.max() > 255 else np.uint8), im, near)
    if im.mode in ("RGB", "F"):  # as they are (floats are checked to lie in [0, 1])
        return _from_numpy(np.asarray(im), im, near)
    return _from_numpy(np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB")), im, near)


def _to_unit_float(array, original):
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        _reject(original, f"integer images must be uint8 or uint16, got {array.dtype}")
    if not np.all(np.isfinite(array)):
        _reject(original, "it contains NaN or infinite values")
    lo, hi = float(array.min()), float(array.max())
    if lo < 0.0 or hi > 1.0:
        _reject(original, f"float values must lie in [0, 1] but range over [{_exact(lo)}, {_exact(hi)}] "
                          "(divide 8-bit values by 255)")
    return array.astype(np.float32)


def _exact(value):
    """A number shown short where that is exact, else in full: 1.0000002 must not read as 1."""
    return f"{value:.3g}" if float(f"{value:.3g}") == value else repr(value)


REDUCE_ABOVE = 4  # times the model's input side: larger images are reduced while they are read
STRIP = 2**22  # pixels converted to float at a time when reducing


def _reduction(shape, near):
    """The whole factor a ``shape`` (h, w) image is reduced by, to stay at least twice
    ``near``; 1 (none) unless it is over REDUCE_ABOVE times larger on both sides."""
    if near is None:
        return 1
    ratio = min(shape[0] / near[0], shape[1] / near[1])
    return int(ratio // 2) if ratio >= REDUCE_ABOVE else 1


def _from_numpy(array, original, near=None):
    """H x W, H x W x 1, H x W x 3 or H x W x 4 -> H x W x 3 float32 in [0, 1]; reduced by a
    whole factor, in strips, when it is far larger than ``near`` (see :func:`load_image`)."""
    if array.size == 0:
        _reject(original, "it is empty")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        _reject(original, f"expected H x W, H x W x 3 or H x W x 4, got {array.ndim} dimensions {tuple(array.shape)}")
    if min(array.shape[:2]) < 2:
        _reject(original, "it must be at least 2 x 2 pixels")
    f = _reduction(array.shape[:2], near)
    if f == 1:
        return _unit_rgb(array, original)
    h, w = array.shape[0] // f, array.shape[1] // f
    rows = max(1, STRIP // (w * f * f))  # output rows per strip
    out = np.empty((h, w, 3), np.float32)
    for r in range(0, h, rows):  # each strip is made float, averaged and let go before the next
        strip = _unit_rgb(array[r * f:min(r + rows, h) * f, :w * f], original)
        out[r:r + rows] = strip.reshape(-1, f, w, f, 3).mean((1, 3))
    return out


def _unit_rgb(array, original):
    """H x W (grey), H x W x 3 or H x W x 4 -> H x W x 3 float32 in [0, 1]."""
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    rgb = _to_unit_float(array, original)
    if rgb.shape[-1] == 4:
        # Composite over white: a transparent background then looks as it does in a viewer.
        alpha = rgb[..., 3:]
        rgb = rgb[..., :3] * alpha + (1.0 - alpha)
    return np.ascontiguousarray(rgb)


def _from_tensor(tensor, near=None):
    t = tensor.detach().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16
        t = t.float()
    if t.ndim == 3 and t.shape[0] in (1, 3, 4):
        t = t.permute(1, 2, 0)
    elif t.ndim != 2:
        _reject(tensor, "tensors must be H x W or C x H x W with C in 1, 3, 4")
    return _from_numpy(t.numpy(), tensor, near)


def load_image(image: Image, near: tuple[int, int] | None = None) -> np.ndarray:
    """Turn one image in any accepted form into an H x W x 3 float32 array in [0, 1].

    Grayscale becomes three channels; RGBA is composited over white.

    Parameters
    ----------
    image : str, pathlib.Path, PIL.Image.Image, numpy.ndarray or torch.Tensor
        Numpy arrays are H x W, H x W x 3 or H x W x 4 (uint8, bool or float in [0, 1]);
        tensors are H x W or C x H x W.
    near : (int, int), optional
        The size the image will be brought to (a classifier's input). An image more than
        four times larger on both sides is then reduced while it is read, by a whole factor
        (a box average) to at least twice that size, so that no full-size float copy is made:
        a 10000 x 10000 photo costs about its decoded bytes, not 2.7 GB.

    Returns
    -------
    numpy.ndarray
        H x W x 3, float32, values in [0, 1].

    Raises
    ------
    ValueError
        For anything else, naming what was given and what is accepted.

    Examples
    --------
    >>> import numpy as np
    >>> load_image(np.zeros((4, 5), dtype=np.uint8)).shape
    (4, 5, 3)
    """
    near = None if near is None else (int(near[0]), int(near[1]))
    if isinstance(image, (str, Path)):
        return _read_file(image, near)
    if isinstance(image, torch.Tensor):
        return _from_tensor(image, near)
    if isinstance(image, np.ndarray):
        return _from_numpy(image, image, near)
    if type(image).__module__.startswith("PIL."):
        return _from_pil(image, near)
    _reject(image, "unsupported type")


def is_batch(images):
    """True for a list or tuple of images, a 4-D numpy array (N x H x W x C) or a 4-D tensor (N x C x H x W)."""
    if isinstance(images, (list, tuple)):
        return True
    return isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4


def load_images(images: Images, near: tuple[int, int] | None = None) -> tuple[list[np.ndarray], bool]:
    """Load a single image or a batch; return ``(list of H x W x 3 arrays, is_batch)``
    (``near``: see :func:`load_image`)."""
    if not is_batch(images):
        return [load_image(images, near)], False
    batch = cast(Sequence, images)  # a list, tuple, or 4-D array or tensor: it has a length
    if len(batch) == 0:
        raise ValueError(f"got an empty batch of images; give at least one image ({ACCEPTED})")
    return [load_image(im, near) for im in batch], True


def to_tensor(array):
    """H x W x 3 numpy array -> 1 x 3 x H x W float tensor."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].float()


def to_numpy(x):
    """N x 3 x H x W (or 3 x H x W) tensor -> N x H x W x 3 (or H x W x 3) float32 array."""
    x = x.detach().cpu().float()
    return (x.permute(0, 2, 3, 1) if x.ndim == 4 else x.permute(1, 2, 0)).numpy()


def resize(x, size):
    """Resize an N x C x H x W tensor to ``size`` (h, w) with antialiased bilinear interpolation."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)


def compose(shown: Any, hidden: Any, weight: Any) -> Any:
    """``shown`` where ``weight`` is 1, ``hidden`` where it is 0, blended in between: the one
    way every method and metric puts a photo and its baseline together (numpy or torch).

    Examples
    --------
    >>> compose(np.ones(3), np.zeros(3), np.array([1.0, 0.25, 0.0]))
    array([1.  , 0.25, 0.  ])
    """
    return shown * weight + hidden * (1 - weight)


def mask_side(size: int | str, image_size: tuple[int, int], name: str = "size", cells_at_224: int = 28,
              grow: bool = False) -> int:
    """The side, in cells, of a coarse mask optimised on an image of ``image_size``.

    ``"auto"`` gives ``cells_at_224`` cells for a 224 x 224 input, as in the papers, and a
    share as large of a smaller input (at least 2); of a larger one too when ``grow``, else
    ``cells_at_224``. An int is checked to lie in 2..the input side (a mask of one cell has no
    neighbours: its total variation, a mean over none, would be NaN).

    Examples
    --------
    >>> mask_side("auto", (224, 224)), mask_side("auto", (32, 32)), mask_side("auto", (448, 448), grow=True)
    (28, 4, 56)
    """
    side = min(image_size)
    if isinstance(size, str) and size == "auto":
        return max(2, round(cells_at_224 * side / 224) if grow or side < 224 else cells_at_224)
    if isinstance(size, str) or not is_int(size) or not 2 <= size <= side:
        raise ValueError(f"{name} must be 'auto' or an int in 2..{side}, got {size!r}")
    return int(size)


def upsample_mask(mask, size):
    """Upsample N x 1 x h x w masks to ``size`` bilinearly, as I-GOS does (align_corners=True).

    The one upsampling that both the optimised masks and the deletion/insertion metric use,
    so a mask is evaluated exactly as it was optimised.
    """
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask, size=tuple(size), mode="bilinear", align_corners=True)


def _gaussian_kernel(ksize, sigma, device):
    r = torch.arange(ksize, dtype=torch.float32, device=device) - (ksize - 1) / 2
    k = torch.exp(-(r**2) / (2 * sigma**2))
    return k / k.sum()


def blur(x, ksize=51, sigma=50.0):
    """Gaussian blur of an N x C x H x W tensor, separable, with mirrored borders.

    The default (51 x 51, sigma 50) is the I-GOS baseline. The kernel shrinks to fit images
    smaller than it, so tiny inputs (the digits) still get a valid blur.

    Examples
    --------
    >>> x = torch.rand(1, 3, 16, 16)
    >>> blur(x).shape
    torch.Size([1, 3, 16, 16])
    """
    n, c, h, w = x.shape
    ksize = min(ksize, 2 * min(h, w) - 1)
    ksize -= 1 - ksize % 2  # odd
    pad = ksize // 2
    k = _gaussian_kernel(ksize, sigma, x.device).to(x.dtype)
    y = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, ksize), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, ksize, 1), groups=c)


BASELINES = ("blur", "black")


def baseline(x: torch.Tensor, kind: Baseline = "blur") -> torch.Tensor:
    """The image an explanation perturbs towards, shaped like ``x`` (N x 3 x H x W).

    Parameters
    ----------
    x : torch.Tensor
        The images, in [0, 1].
    kind : "blur", "black", a number in [0, 1] (a grey level), or a tensor
        A tensor must be shaped like one image of ``x`` (3 x H x W) or like ``x``.

    Examples
    --------
    >>> x = torch.ones(2, 3, 8, 8)
    >>> float(baseline(x, 0.5).mean()), tuple(baseline(x, "blur").shape)
    (0.5, (2, 3, 8, 8))
    """
    if isinstance(kind, np.ndarray):
        raise ValueError("a baseline image must be a torch tensor shaped like the model's input (3 x H x W); "
                         "convert an H x W x 3 array with xviz.images.to_tensor(array)[0]")
    if isinstance(kind, torch.Tensor):
        if kind.shape[-3:] != x.shape[-3:]:
            raise ValueError(f"a baseline tensor must have shape {tuple(x.shape[-3:])}, got {tuple(kind.shape)}")
        return kind.to(x.device, x.dtype).expand_as(x)
    if is_number(kind):
        if not 0 <= kind <= 1:
            raise ValueError(f"a number baseline is a grey level in [0, 1] (images are in [0, 1]), got {kind!r}")
        return torch.full_like(x, float(kind))
    if kind == "blur":
        return blur(x)
    if kind == "black":
        return torch.zeros_like(x)
    raise ValueError(f"unknown baseline {kind!r}; accepted: {', '.join(map(repr, BASELINES))}, a number in [0, 1] or a tensor")


def baseline_setting(kind):
    """A baseline as a JSON-safe setting: its name, its number (a numpy number as float), or "tensor"."""
    if isinstance(kind, torch.Tensor):
        return "tensor"
    return float(kind) if is_number(kind) else kind


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _folder(path):
    """Images of a folder: one subfolder per class (labels are the subfolder names), or flat."""
    files = lambda d: sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    subfolders = sorted(d for d in path.iterdir() if d.is_dir() and files(d))
    if subfolders:
        pairs = [(f, d.name) for d in subfolders for f in files(d)]
        return [f for f, _ in pairs], [name for _, name in pairs]
    if not files(path):
        raise ValueError(f"'{path}' holds no images ({', '.join(IMAGE_SUFFIXES)}), neither directly nor in "
                         f"one subfolder per class")
    return files(path), None


def load_labelled(data):
    """Images with optional labels, from the forms a labelled image set comes in.

    Parameters
    ----------
    data : folder, (images, labels), object with ``.images`` and ``.labels``, or images
        A folder with one subfolder per class (the subfolder names are the labels) or with
        the images directly (no labels); a pair of a list (or array) of images and their
        labels (class indices or names); an :class:`xviz.zoo.ImageSet`; or a list of images
        without labels.

    Returns
    -------
    images : list of H x W x 3 float32 arrays in [0, 1]
        Sizes may differ; a Classifier resizes every image to its input size.
    labels : list or None
        One label (int or str) per image.

    Examples
    --------
    >>> from xviz import zoo
    >>> images, labels = load_labelled(zoo.digits("test"))
    >>> len(images) == len(labels), images[0].shape
    (True, (8, 8, 3))
    """
    if hasattr(data, "images") and hasattr(data, "labels"):
        data = (data.images, data.labels)
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_dir():
            raise ValueError(f"'{path}' is not a folder; give a folder of images (one subfolder per class), "
                             f"(images, labels), an ImageSet or a list of images")
        data = _folder(path)
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], np.ndarray) and data[0].ndim == 3:
        data = (list(data[0]), data[1])  # N x H x W grayscale, as sklearn's digits
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], (str, Path)) and is_batch(data[0]):
        images, labels = data
        labels = None if labels is None else [lab.item() if hasattr(lab, "item") else lab for lab in labels]
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"got {len(images)} images but {len(labels)} labels; give one label per image")
    else:
        images, labels = data, None
    return load_images(images if is_batch(images) else [images])[0], labels


class Box(NamedTuple):
    """A box in pixels: ``(top, left, bottom, right)``, bottom and right exclusive; xviz's one
    box convention (summary regions, the pointing game).

    Examples
    --------
    >>> box = Box.sized(2, 3, height=4, width=5)
    >>> box, box.height, box.width
    (Box(top=2, left=3, bottom=6, right=8), 4, 5)
    >>> box.contains(5, 7), box.contains(6, 7), box.contains(6, 7, grow=1)
    (True, False, True)
    """

    top: int
    left: int
    bottom: int
    right: int

    @classmethod
    def sized(cls, top: int, left: int, height: int, width: int) -> Box:
        """The box of ``height`` x ``width`` pixels whose top-left pixel is ``(top, left)``."""
        return cls(top, left, top + height, left + width)

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def contains(self, row: int, col: int, grow: int = 0) -> bool:
        """Whether pixel ``(row, col)`` lies in the box grown by ``grow`` pixels on every side."""
        return (self.top - grow <= row < self.bottom + grow) and (self.left - grow <= col < self.right + grow)
