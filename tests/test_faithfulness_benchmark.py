"""The faithfulness benchmark's own deletion/insertion scorer (benchmarks/faithfulness.py),
which is written apart from xviz.metrics so that it measures xviz independently."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import xviz
from xviz import metrics
from xviz.core.images import blur

SPEC = importlib.util.spec_from_file_location(
    "faithfulness_benchmark", Path(__file__).resolve().parents[1] / "benchmarks" / "faithfulness.py")
fb = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(fb)


def test_hand_worked_aucs():
    # check() asserts the hard and pixel AUCs of two orders against values worked out by
    # hand (see its comments) and returns them; here the same numbers, written out again.
    got = fb.check()
    assert got["best"]["hard"] == pytest.approx((2.5 / 17, 14.5 / 17))
    assert got["worst"]["hard"] == pytest.approx((14.5 / 17, 2.5 / 17))
    counts = np.append(np.arange(0, 256, 5), 256)  # 53 points: 5 pixels a step, all 256 at the end
    assert got["best"]["pixel"][0] == pytest.approx(np.clip(1 - counts / 64, 0, 1).mean())


def test_ties_follow_one_fixed_random_order_not_position():
    flat = torch.zeros(8, 8)
    order = fb.ranked(flat)
    assert torch.equal(order, fb.tie_order(64))  # a constant map: the fixed order itself
    assert not torch.equal(order, torch.arange(64))  # not row-major
    one = flat.clone()
    one[5, 3] = 1.0
    assert int(fb.ranked(one)[0]) == 5 * 8 + 3


def test_hard_cells_are_switched_whole_and_soft_ones_blend():
    order = fb.ranked(torch.arange(16.0).flip(0).view(4, 4))  # cell 0 first
    hard = fb.switched_masks(order, [1], (4, 4), (16, 16), "nearest")[0, 0]
    soft = fb.switched_masks(order, [1], (4, 4), (16, 16), "bilinear")[0, 0]
    assert hard[:4, :4].eq(1).all() and hard.sum() == 16  # exactly the first 4 x 4 cell
    assert soft[0, 0] == 1 and 0 < soft.sum() < 16 and soft[4:, 4:].lt(1).all()


def test_the_baseline_is_xvizs_blur():
    x = torch.rand(2, 3, 64, 64)
    assert torch.allclose(fb.gaussian_blur(x), blur(x), atol=1e-5)


def test_soft_protocol_agrees_with_xviz_metrics():
    # The soft protocol is xviz.metrics' protocol written again; on a map without ties the two
    # must give the same AUCs (a check of both).
    clf = xviz.zoo.digits_cnn()
    x, _ = clf.prepare(xviz.zoo.image("digit-3"))
    heat = torch.rand(32, 32, generator=torch.Generator().manual_seed(1))
    score = fb.Scorer(clf.model, clf.mean, clf.std)
    target = int(clf.logits(x).argmax(1))
    masks = fb.protocol_masks(heat, (32, 32), grid=8)
    ours = fb.aucs(score, x, fb.gaussian_blur(x), target, {"soft": masks["soft"]})["soft"]
    dele, ins = metrics.curves(clf, heat.numpy(), image=x[0], target=target, grid=8)
    assert ours == pytest.approx((dele.auc, ins.auc), abs=1e-5)
