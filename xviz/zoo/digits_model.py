"""A tiny bundled classifier for sklearn's 8x8 handwritten digits.

The model is small enough to ship inside the package (well under 1 MB) so
that examples, tests and notebooks can run offline on a CPU. Weights are
produced by ``scripts/train_digits.py`` and stored as a plain ``.npz`` file
(no pickle).

Examples
--------
>>> import torch
>>> from xviz.zoo.digits_model import build_digits_cnn, load_digits_arrays, upsample
>>> images, labels = load_digits_arrays("test")
>>> model = build_digits_cnn()
>>> x = (upsample(torch.from_numpy(images[:4])) - 0.5) / 0.5
>>> model(x).shape
torch.Size([4, 10])
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "DIGITS_SIZE",
    "DIGITS_MEAN",
    "DIGITS_STD",
    "DIGITS_LABELS",
    "WEIGHTS_PATH",
    "DigitsCNN",
    "load_digits_arrays",
    "upsample",
    "build_digits_cnn",
]

DIGITS_SIZE = 32
DIGITS_MEAN = (0.5, 0.5, 0.5)
DIGITS_STD = (0.5, 0.5, 0.5)
DIGITS_LABELS = [str(digit) for digit in range(10)]

WEIGHTS_PATH = Path(__file__).parent / "data" / "digits_cnn.npz"
SPLITS = ("train", "test", "all")


class DigitsCNN(nn.Module):
    """Small convolutional network for 32x32 RGB renderings of 8x8 digits.

    Four 3x3 convolutions with ReLU and two max-pools, then global average
    pooling and a linear layer. There is no batch norm or dropout, so the
    last ReLU in ``features`` is a natural target layer for Grad-CAM.

    Input is ``N x 3 x 32 x 32``, already normalised as ``(x - 0.5) / 0.5``
    with ``x`` in ``[0, 1]``. Output is ``N x 10`` logits.

    Examples
    --------
    >>> model = DigitsCNN()
    >>> model(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, len(DIGITS_LABELS))

    def forward(self, x):
        """Return ``N x 10`` logits for a normalised ``N x 3 x 32 x 32`` batch."""
        x = self.pool(self.features(x))
        return self.fc(torch.flatten(x, 1))


def load_digits_arrays(split="train"):
    """Load sklearn's digits as float images in ``[0, 1]`` and integer labels.

    Parameters
    ----------
    split : {"train", "test", "all"}
        ``"train"`` and ``"test"`` are a fixed stratified 75/25 split
        (``random_state=0``); ``"all"`` returns every sample.

    Returns
    -------
    images : numpy.ndarray
        ``float32`` array of shape ``N x 8 x 8`` with values in ``[0, 1]``.
    labels : numpy.ndarray
        ``int64`` array of shape ``N``.

    Raises
    ------
    ValueError
        If ``split`` is not one of the accepted names.

    Examples
    --------
    >>> images, labels = load_digits_arrays("test")
    >>> images.shape, labels.dtype
    ((450, 8, 8), dtype('int64'))
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    if split == "all":
        return images, labels
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=0.25, random_state=0, stratify=labels
    )
    return (train_x, train_y) if split == "train" else (test_x, test_y)


def upsample(images):
    """Resize 8x8 gray digits to ``DIGITS_SIZE`` RGB images in ``[0, 1]``.

    Uses the same antialiased bilinear resize as the package's generic image
    preprocessing, so training and inference see identical pixels.

    Parameters
    ----------
    images : torch.Tensor
        Float tensor of shape ``N x 8 x 8`` or ``N x 1 x 8 x 8``.

    Returns
    -------
    torch.Tensor
        Tensor of shape ``N x 3 x 32 x 32``.

    Examples
    --------
    >>> upsample(torch.rand(5, 8, 8)).shape
    torch.Size([5, 3, 32, 32])
    """
    if images.dim() == 3:
        images = images.unsqueeze(1)
    resized = F.interpolate(
        images,
        size=(DIGITS_SIZE, DIGITS_SIZE),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
    return resized.repeat(1, 3, 1, 1)


def build_digits_cnn(pretrained=True):
    """Build a :class:`DigitsCNN` in eval mode, optionally with bundled weights.

    Parameters
    ----------
    pretrained : bool, default True
        Load the weights shipped in ``xviz/zoo/data/digits_cnn.npz``.

    Returns
    -------
    DigitsCNN
        The model, in eval mode.

    Examples
    --------
    >>> model = build_digits_cnn()
    >>> model.training
    False
    """
    model = DigitsCNN()
    if pretrained:
        with np.load(WEIGHTS_PATH, allow_pickle=False) as arrays:
            state = {name: torch.from_numpy(arrays[name]) for name in arrays.files}
        model.load_state_dict(state, strict=True)
    return model.eval()
