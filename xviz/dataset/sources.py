"""Where a dataset's images come from: every accepted form becomes one stream of :class:`Item`.

An item carries a stable key (``id``), its position, its file (if any), its true label (if
known), a content hash and, unless it is a file that a worker reads itself, the image. Keys:

- a folder: the file's path relative to the folder (``"cat/001.jpg"``), so adding files
  later does not move the others' keys;
- a list of paths: the path as given (the same path twice is refused);
- arrays, an :class:`~xviz.zoo.ImageSet`, a torch ``Dataset`` or ``DataLoader``: the position,
  zero-padded (``"000042"``).

The hash (SHA-1 of the file's bytes, or of the image array as float32) is what lets a store
refuse a different image set under the same keys: a resumed run checks every image it meets
against the hash the store holds for that key.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import images as _images


@dataclass
class Item:
    """One image of a dataset, before it is explained."""

    index: int
    id: str
    path: str | None
    label: object  # the true class (an int index or a name), or None
    hash: str
    image: np.ndarray | None  # H x W x 3 float32 in [0, 1]; None for a file read where it is explained
    error: str | None = None  # why the image could not be read (its rows then say so)

    def pixels(self, near=None):
        """The image as H x W x 3 float32 in [0, 1] (read from the file when not held)."""
        if self.error:
            raise ValueError(self.error)
        return self.image if self.image is not None else _images.load_image(self.path, near)


def file_hash(path):
    """SHA-1 of a file's bytes, read in blocks."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def array_hash(image):
    """SHA-1 of an H x W x 3 float32 image and its shape."""
    a = np.ascontiguousarray(image, dtype=np.float32)
    return hashlib.sha1(repr(a.shape).encode() + a.tobytes()).hexdigest()


def encode_array(a):
    """An array as .npy bytes (no pickle): how images travel to Ray workers."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(a), allow_pickle=False)
    return buffer.getvalue()


def decode_array(data):
    """The array of :func:`encode_array`'s bytes (never unpickles)."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def _is_torch_loader(data):
    return type(data).__name__ == "DataLoader" and hasattr(data, "dataset") and hasattr(data, "batch_size")


def _is_torch_dataset(data):
    import torch.utils.data as tud

    return isinstance(data, tud.Dataset) and hasattr(data, "__len__") and hasattr(data, "__getitem__")


def _label(value):
    if value is None:
        return None
    if hasattr(value, "item") and np.ndim(value) == 0:
        value = value.item()
    return value if isinstance(value, (str, int)) else int(value) if float(value).is_integer() else str(value)


def _array_item(index, image, label):
    try:
        picture = _images.load_image(image)
    except ValueError as error:  # kept as the image's error: the run goes on without it
        return Item(index, f"{index:06d}", None, _label(label), hashlib.sha1(str(error).encode()).hexdigest(), None,
                    str(error))
    return Item(index, f"{index:06d}", None, _label(label), array_hash(picture), picture)


def _file_item(index, key, path, label):
    try:
        digest = file_hash(path)
    except OSError as error:  # a missing or unreadable file: its rows say so, the run goes on
        return Item(index, key, str(path), _label(label), "", None, f"cannot read '{path}': {error.strerror}")
    return Item(index, key, str(path), _label(label), digest, None)


def _folder(path):
    files, labels = _images._folder(path)
    labels = labels or [None] * len(files)
    return ((_file_item(i, f.relative_to(path).as_posix(), f.resolve(), lab)
             for i, (f, lab) in enumerate(zip(files, labels))), len(files), f"folder {path}")


def _paths(paths, labels):
    keys = [str(p) for p in paths]
    seen = {}
    for i, key in enumerate(keys):
        if key in seen:
            raise ValueError(f"the path '{key}' is given twice (images {seen[key]} and {i}); each image once")
        seen[key] = i
    return (_file_item(i, key, Path(key).resolve(), lab) for i, (key, lab) in enumerate(zip(keys, labels)))


def _pairs(sample):
    """(image, label) from a torch Dataset's sample: a pair, or an image alone."""
    if isinstance(sample, (tuple, list)) and len(sample) == 2:
        return sample[0], sample[1]
    return sample, None


def _loader(loader):
    index = 0
    for batch in loader:
        pictures, labels = _pairs(batch)
        labels = [None] * len(pictures) if labels is None else list(labels)
        for image, label in zip(pictures, labels):
            yield _array_item(index, image, label)
            index += 1


def stream(images, labels=None):
    """The items of a dataset in any accepted form: ``(iterator of Item, count or None, what)``.

    Parameters
    ----------
    images : folder, list of paths, list or N-D array of images, ImageSet, (images, labels),
        torch Dataset or DataLoader
        A folder with one subfolder per class (the subfolder names are the labels) or with
        the images directly; a list of file paths; a list (or an N x H x W (x C) array) of
        images in any form :func:`xviz.images.load_image` accepts; an object with ``.images``
        and ``.labels`` (:func:`xviz.zoo.digits`); a pair (images, labels); a torch
        ``Dataset`` whose items are images or (image, label) pairs; a ``DataLoader`` over
        one (its batches are split into images; it is iterated once, in its own order).
    labels : list, optional
        True labels (class indices or names), one per image, for a list of images or paths.

    Examples
    --------
    >>> from xviz import zoo
    >>> items, count, what = stream(zoo.digits("test"))
    >>> first = next(items)
    >>> count, first.id, first.label, first.image.shape
    (450, '000000', 2, (8, 8, 3))
    """
    if hasattr(images, "images") and hasattr(images, "labels"):
        images, labels = images.images, images.labels
    elif isinstance(images, tuple) and len(images) == 2 and labels is None and (
            _images.is_batch(images[0]) or (isinstance(images[0], np.ndarray) and images[0].ndim == 3)):
        images, labels = images
    if isinstance(images, (str, Path)):
        path = Path(images)
        if not path.is_dir():
            raise ValueError(f"'{path}' is not a folder; give a folder of images (one subfolder per class), a list "
                             f"of images or paths, an ImageSet, a torch Dataset or DataLoader")
        return _folder(path)
    if _is_torch_loader(images):
        count = len(images.dataset) if hasattr(images.dataset, "__len__") else None
        return _loader(images), count, "a torch DataLoader"
    if not isinstance(images, (list, tuple, np.ndarray)) and _is_torch_dataset(images):
        count = len(images)
        return (_array_item(i, *_pairs(images[i])) for i in range(count)), count, "a torch Dataset"
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = list(images)  # N x H x W grey images, as scikit-learn's digits
    if not _images.is_batch(images):
        raise ValueError(f"cannot read a dataset from {type(images).__name__}; give a folder, a list of images or "
                         f"paths, an ImageSet, (images, labels), a torch Dataset or a DataLoader")
    count = len(images)
    if count == 0:
        raise ValueError("the dataset is empty; give at least one image")
    labels = [None] * count if labels is None else [lab for lab in labels]
    if len(labels) != count:
        raise ValueError(f"got {count} images but {len(labels)} labels; give one label per image")
    if all(isinstance(im, (str, Path)) for im in images):
        return _paths(images, labels), count, f"{count} files"
    return (_array_item(i, im, lab) for i, (im, lab) in enumerate(zip(images, labels))), count, f"{count} images"


def batches(items, size):
    """The items in lists of ``size`` (the last may be shorter)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
