"""Names for the types the public API takes, for its type hints (checked with mypy in CI)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, Union

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL.Image import Image as PILImage

    Image = Union[str, Path, np.ndarray, torch.Tensor, PILImage]
else:
    Image = Any
#: One image in any accepted form (a path, PIL image, H x W (x C) array or (C x) H x W tensor),
#: or a batch: a list of them, an N x H x W x C array or an N x C x H x W tensor.
Images = Union[Image, Sequence[Image]]
#: A class: its index, one of its labels, or None for each image's top-1 class; or one per image.
Target = Union[int, str, None, Sequence[Union[int, str]]]
#: A layer: its name in ``model.named_modules()``, the module itself, or "auto".
Layer = Any
#: A baseline: "blur", "black", a number (a grey level), or a tensor like the images.
Baseline = Any
PathLike = Union[str, Path]

__all__ = ["Baseline", "Image", "Images", "Layer", "PathLike", "Target"]
