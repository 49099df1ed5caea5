"""RISE (Petsiuk et al., BMVC 2018): importance as the mean score of randomly masked copies."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..core.checks import checked_float, checked_int, checked_seed, is_int
from ..core.classifier import Classifier
from ..core.images import baseline as make_baseline
from ..core.images import baseline_setting
from ..core.progress import progress as progress_bar
from ..core.types import Baseline, Images, Target
from .heatmap import Saliency, run_heatmap

# Masked images made and scored at a time (one per image when a batch has more images):
# bounds memory however many masks are asked for.
BLOCK = 256


def rise(clf: Classifier, images: Images, target: Target = None, n_masks: int = 4000, cells: int = 7, p: float = 0.5,
         baseline: Baseline = "black", seed: int = 0, progress: bool = True) -> Saliency | list[Saliency]:
    """RISE heatmap of the ``target`` class.

    The image is scored under ``n_masks`` random masks, each a ``cells`` x ``cells`` grid
    of cells kept with probability ``p``, upsampled bilinearly and shifted by a random
    fraction of a cell; masked-out pixels show ``baseline``. A pixel's importance is the
    mean probability of the target over the masks, weighted by how much each mask kept it.

    Parameters
    ----------
    clf : xviz.Classifier
    images : image or list of images
        Any form :func:`xviz.images.load_image` accepts; a list gives a list of results.
    target : int, str, list or None
        Class index or label; None explains each image's top-1 class.
    n_masks : int
        Random masks; the map's noise falls as 1 / sqrt(n_masks).
    cells : int
        Grid cells per side, from 2 to the classifier's smaller input side (one cell would
        give every pixel the same saliency).
    p : float
        Probability of keeping a cell, strictly between 0 and 1.
    baseline : "black", "blur", float or torch.Tensor
        What masked-out pixels show; see :func:`xviz.images.baseline`.
    seed : int
        Seeds the masks: the same seed gives the same map. Every image of a batch gets
        the same masks.
    progress : bool
        Show a progress bar over the blocks of masks.

    Returns
    -------
    Saliency or list of Saliency
        ``raw`` is the saliency at the classifier's input size, ``mask`` it scaled to [0, 1].

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.rise(clf, xviz.zoo.image("digit-7"), n_masks=200, progress=False)
    >>> sal.label, sal.mask.shape, sal.settings["n_masks"]
    ('7', (32, 32), 200)
    """
    size = clf.size
    n_masks, cells, p = _checked(n_masks, cells, p, size)
    seed = checked_seed(seed)

    def compute(clf, x, targets):
        grids, shifts = random_grids(n_masks, cells, p, size, seed)
        base = make_baseline(x, baseline)
        saliency = torch.zeros(len(x), *size, device=x.device)
        per_block = max(1, BLOCK // len(x))
        starts = range(0, n_masks, per_block)
        for start in progress_bar(starts, total=len(starts), desc="RISE", enabled=progress):
            block = slice(start, start + per_block)
            masks = masks_from_grids(grids[block].to(x.device), shifts[block].to(x.device), size)
            scores = _masked_scores(clf, x, base, masks, targets)
            saliency += torch.einsum("nb,bhw->nhw", scores, masks)
        return saliency / (n_masks * p)

    settings = {"n_masks": n_masks, "cells": cells, "p": p, "baseline": baseline_setting(baseline), "seed": seed}
    return run_heatmap(clf, images, target, compute, "rise", settings)


def _checked(n_masks, cells, p, size):
    n_masks = checked_int(n_masks, "n_masks", 1)
    # One cell is the whole image, shown or hidden: every pixel gets the same saliency.
    if not is_int(cells) or not 2 <= cells <= min(size):
        raise ValueError(f"cells must be an int between 2 and {min(size)} (the classifier's smaller input side), "
                         f"got {cells!r}")
    p = checked_float(p, "p")
    if not 0 < p < 1:
        raise ValueError(f"p, the probability of keeping a cell, must lie strictly between 0 and 1, got {p!r}")
    return n_masks, int(cells), p


def _cell_size(cells, size):
    return [math.ceil(s / cells) for s in size]


def random_grids(n, cells, p, size, seed):
    """``n`` binary ``cells`` x ``cells`` grids and their (row, column) shifts in pixels.

    Drawn on the CPU from a generator seeded with ``seed``, so the masks are the same on
    every device and however they are later split into blocks.
    """
    gen = torch.Generator().manual_seed(int(seed))
    grids = (torch.rand(n, cells, cells, generator=gen) < p).float()
    shifts = torch.stack([torch.randint(0, c, (n,), generator=gen) for c in _cell_size(cells, size)], 1)
    return grids, shifts


def masks_from_grids(grids, shifts, size):
    """Upsample B x cells x cells grids to (cells + 1) cells and crop ``size`` at each shift: B x H x W.

    Bilinear with half-pixel centres, as the paper's ``skimage.transform.resize``; the
    extra cell lets every shift crop a full image.
    """
    cells = grids.shape[-1]
    big = [(cells + 1) * c for c in _cell_size(cells, size)]
    up = F.interpolate(grids[:, None], size=big, mode="bilinear", align_corners=False)[:, 0]
    rows = shifts[:, :1] + torch.arange(size[0], device=up.device)
    cols = shifts[:, 1:] + torch.arange(size[1], device=up.device)
    picks = torch.arange(len(up), device=up.device)[:, None, None]
    return up[picks, rows[:, :, None], cols[:, None, :]]


def _masked_scores(clf, x, base, masks, targets):
    """Target probabilities of every image under every mask: N x B."""
    masked = base[:, None] + masks[None, :, None] * (x - base)[:, None]
    per_copy = torch.as_tensor(targets, device=x.device).repeat_interleave(len(masks))
    return clf.scores(masked.flatten(0, 1), per_copy).view(len(x), len(masks))
