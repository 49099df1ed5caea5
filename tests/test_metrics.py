"""Deletion / insertion curves against models whose probabilities are known by hand, and the pointing game."""
import json

import numpy as np
import pytest
import torch
from torch import nn

import xviz
from xviz import metrics
from xviz.methods import Saliency


class RegionMean(nn.Module):
    """Class 1's probability is exactly the mean brightness of ``region`` (rows, cols slices)."""

    def __init__(self, region):
        super().__init__()
        self.region = region

    def forward(self, x):
        m = x[(slice(None), slice(None)) + self.region].mean(dim=(1, 2, 3)).clamp(1e-6, 1 - 1e-6)
        return torch.stack([torch.log(1 - m), torch.log(m)], dim=1)  # softmax gives [1 - m, m]


def region_clf(region=(slice(0, 2), slice(0, 2))):
    return xviz.Classifier(RegionMean(region), mean=0.0, std=1.0, size=4, labels=["dark", "bright"], device="cpu")


ONES = np.ones((4, 4, 3), dtype=np.float32)
TOP_LEFT = np.zeros((4, 4))
TOP_LEFT[:2, :2] = 1  # the 2x2 region RegionMean looks at, marked important


def auc(clf, mask, kind, image=ONES):
    return getattr(metrics, kind)(clf, mask, image=image, target=1, baseline="black", grid=4).auc


# -- hand-computed AUCs ------------------------------------------------------------------
def test_deleting_the_region_first_or_last():
    clf = region_clf()
    # 16 cells, step 1, 17 points. Region first: p = 4/4, 3/4, 2/4, 1/4, then 0 for 13 points.
    assert auc(clf, TOP_LEFT, "deletion") == pytest.approx((1 + 0.75 + 0.5 + 0.25) / 17, abs=1e-5)
    # Region last: the 12 other cells go first, so p = 1 at 13 points, then 3/4, 2/4, 1/4, 0.
    assert auc(clf, 1 - TOP_LEFT, "deletion") == pytest.approx((13 + 0.75 + 0.5 + 0.25) / 17, abs=1e-5)


def test_inserting_the_region_first_or_last():
    clf = region_clf()
    # Region first: p = 0, 1/4, 2/4, 3/4, then 1 for 13 points.
    assert auc(clf, TOP_LEFT, "insertion") == pytest.approx((0.25 + 0.5 + 0.75 + 13) / 17, abs=1e-5)
    # Region last: p = 0 at 13 points, then 1/4, 2/4, 3/4, 1.
    assert auc(clf, 1 - TOP_LEFT, "insertion") == pytest.approx((0.25 + 0.5 + 0.75 + 1) / 17, abs=1e-5)


def test_whole_image_mean_gives_one_half_in_any_order(rng):
    clf = region_clf((slice(None), slice(None)))
    # p = k/16 after k cells inserted: sum over k = 0..16 of k/16 = (16 * 17 / 2) / 16 = 8.5 over 17 points.
    for mask in (TOP_LEFT, rng.random((4, 4))):
        assert auc(clf, mask, "insertion") == pytest.approx(8.5 / 17, abs=1e-5)
        assert auc(clf, mask, "deletion") == pytest.approx(8.5 / 17, abs=1e-5)


def test_curve_points_and_fields():
    clf = region_clf()
    dele = metrics.deletion(clf, TOP_LEFT, image=ONES, target="bright", baseline="black", grid=4)
    assert dele.scores == pytest.approx([1, 0.75, 0.5, 0.25] + [0] * 13, abs=1e-5)
    assert np.array_equal(dele.fractions, np.arange(17) / 16)
    assert (dele.kind, dele.target, dele.label, dele.method, dele.grid, dele.step, dele.baseline) == \
        ("deletion", 1, "bright", "", (4, 4), 1, "black")
    assert dele.auc == pytest.approx(dele.scores.mean())
    assert list(dele.order[:4]) == [0, 1, 4, 5]


def test_step_rule(square_clf, rng):
    mask = rng.random((32, 32))
    c28 = metrics.deletion(square_clf, mask, image=rng.random((32, 32, 3)), grid=28, baseline="black")
    assert c28.step == 15 and len(c28.scores) == 54  # 784 cells: 0, 15, ..., 780, then 784
    assert c28.fractions[-1] == 1.0 and c28.fractions[-2] == 780 / 784
    c10 = metrics.insertion(square_clf, mask, image=rng.random((32, 32, 3)), grid=10, baseline="black")
    assert c10.step == 2 and len(c10.scores) == 51 and c10.fractions[-1] == 1.0


def test_plain_mask_target_defaults_to_top1():
    clf = region_clf()
    dark = np.zeros((4, 4, 3), dtype=np.float32)
    dark[:2, :2] = 0.2  # p(bright) = 0.2, so top-1 is "dark"
    assert metrics.deletion(clf, TOP_LEFT, image=dark, baseline="black", grid=4).target == 0


# -- ranking -------------------------------------------------------------------------------
def test_ranking_ties_keep_row_major_order():
    assert list(metrics.ranking(np.zeros((4, 4)), grid=4)) == list(range(16))
    mask = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0.5]])
    assert list(metrics.ranking(mask, grid=3)) == [1, 3, 5, 7, 8, 0, 2, 4, 6]
    big = np.zeros((28, 28))
    big.flat[::7] = 1  # long runs of ties, where an unstable sort would shuffle them
    assert list(metrics.ranking(big, grid=28)) == list(range(0, 784, 7)) + [i for i in range(784) if i % 7]


def test_ranking_pools_a_full_resolution_mask():
    mask = np.linspace(0, 0.1, 32 * 32).reshape(32, 32)  # a faint ramp, so no ties
    mask[8:16, 16:24] = 0.9  # on an 8 x 8 grid of 4-pixel cells: rows 2-3, cols 4-5
    mask[30, 1] = 1  # one bright pixel: its cell averages to (1 + ~0.1 * 15) / 16, below the block
    order = metrics.ranking(mask, grid=8)
    assert list(order[:4]) == [2 * 8 + 4, 2 * 8 + 5, 3 * 8 + 4, 3 * 8 + 5]
    assert order[4] == 7 * 8 + 0  # then the cell with the bright pixel (max pooling would put it first)


def test_cell_mask_switches_the_first_cells():
    m = metrics.cell_mask(np.array([3, 0, 1, 2]), 2, grid=2, size=(2, 2))
    assert m.shape == (1, 1, 2, 2) and m[0, 0].tolist() == [[1, 0], [0, 1]]


# -- a model that only sees one square -----------------------------------------------------
def test_square_mask_beats_its_complement_and_random(square_clf, square_box, rng):
    top, left, h, w = square_box
    square = np.zeros((32, 32))
    square[top:top + h, left:left + w] = 1
    img = rng.random((32, 32, 3))
    run = dict(image=img, target="on", baseline="black", grid=8)
    good, bad, rand = (metrics.curves(square_clf, m, **run) for m in (square, 1 - square, rng.random((32, 32))))
    assert good[0].auc < rand[0].auc < bad[0].auc
    assert good[1].auc > bad[1].auc


def test_batch_equals_single_calls_and_curves_equals_both(square_clf, rng):
    sals = xviz.gradcam(square_clf, [rng.random((32, 32, 3)) for _ in range(2)], target=[1, 0])
    run = dict(grid=8, baseline="black")
    batch = metrics.deletion(square_clf, sals, **run)
    pairs = metrics.curves(square_clf, sals, **run)
    assert isinstance(batch, list) and len(batch) == len(pairs) == 2
    for curve, (dele, ins), sal in zip(batch, pairs, sals):
        single = metrics.deletion(square_clf, sal, **run)
        assert np.allclose(curve.scores, single.scores, atol=1e-6)
        assert np.allclose(dele.scores, single.scores, atol=1e-6)
        assert np.allclose(ins.scores, metrics.insertion(square_clf, sal, **run).scores, atol=1e-6)
        assert (curve.target, curve.method) == (sal.target, "gradcam")


def test_many_results_share_the_ends_and_match_single_calls(square_clf, rng):
    # Six maps on two images (three methods' worth each): more points than one scoring group
    # (4 chunks of 32), so the grouping across results is exercised too.
    imgs = [rng.random((32, 32, 3)) for _ in range(2)]
    maps = [rng.random((32, 32)) for _ in range(6)]
    images = [imgs[i % 2] for i in range(6)]
    run = dict(grid=8, baseline="black", target=1)
    before = square_clf.images_scored
    pairs = metrics.curves(square_clf, maps, image=images, **run)
    inner = 2 * (65 - 2)  # 64 cells, one a step: 65 points a curve, two curves, ends apart
    # The ends (each image and its baseline) are scored once per distinct image, not per map.
    assert square_clf.images_scored - before == 6 * inner + 2 * 2
    for (dele, ins), m, im in zip(pairs, maps, images):
        alone = metrics.curves(square_clf, m, image=im, **run)
        assert np.allclose(dele.scores, alone[0].scores, atol=1e-6)
        assert np.allclose(ins.scores, alone[1].scores, atol=1e-6)
        assert dele.scores[0] == ins.scores[-1]  # both the image itself
        assert dele.scores[-1] == ins.scores[0]  # both the baseline itself


def test_perturbed_ends(rng):
    img = rng.random((16, 16, 3)).astype(np.float32)
    blurred = xviz.images.to_numpy(xviz.images.blur(xviz.images.to_tensor(img)))[0]
    order = metrics.ranking(rng.random((16, 16)), grid=8)
    ends = {("deletion", 0): img, ("deletion", 64): blurred, ("insertion", 0): blurred, ("insertion", 64): img}
    for (kind, switched), expected in ends.items():
        got = metrics.perturbed(img, order, switched, kind, grid=8)
        assert got.shape == (16, 16, 3) and np.allclose(got, expected, atol=1e-6), (kind, switched)


def test_digits_curves_start_and_end_at_the_full_image_score(digits_clf):
    sal = xviz.gradcam(digits_clf, xviz.zoo.image("digit-3"))
    dele, ins = metrics.curves(digits_clf, sal, grid=8)
    assert dele.scores[0] == pytest.approx(sal.score, abs=1e-5)
    assert ins.scores[-1] == pytest.approx(sal.score, abs=1e-5)
    assert dele.target == ins.target == sal.target and dele.method == "gradcam"


# -- pointing game -------------------------------------------------------------------------
def peak_at(row, col):
    mask = np.zeros((32, 32))
    mask[row, col] = 1
    return mask


def test_pointing_game_hit_miss_and_tolerance():
    box = xviz.images.Box.sized(8, 8, 16, 16)  # rows and cols 8..23
    assert box == xviz.images.Box(8, 8, 24, 24)
    assert metrics.pointing_game(peak_at(20, 12), box, tolerance=0)
    assert not metrics.pointing_game(peak_at(28, 12), box, tolerance=0)
    assert metrics.pointing_game(peak_at(28, 12), box, tolerance=5)  # 28 <= 23 + 5
    assert not metrics.pointing_game(peak_at(29, 12), box, tolerance=5)
    assert not metrics.pointing_game(peak_at(12, 2), box, tolerance=5)  # 2 < 8 - 5
    sal = Saliency(method="m", mask=peak_at(20, 12), raw=np.zeros((2, 2)), image=np.zeros((32, 32, 3)),
                   target=0, label="x", score=1.0)
    assert metrics.pointing_game(sal, box) is True


def test_a_plain_tuple_box_keeps_its_old_meaning_and_warns():
    with pytest.warns(DeprecationWarning, match=r"read as \(top, left, height, width\).*Box\.sized"):
        assert metrics.pointing_game(peak_at(20, 12), (8, 8, 16, 16), tolerance=0)
    with pytest.warns(DeprecationWarning):
        assert not metrics.pointing_game(peak_at(20, 12), (8, 8, 8, 8), tolerance=0)  # rows 8..15


Box = xviz.images.Box


@pytest.mark.parametrize("box, message", [
    (Box(8, 8, 8, 12), "must be positive"),
    (Box(-1, 0, 4, 4), "not within the 32 x 32 mask"),
    (Box(30, 0, 34, 4), "not within the 32 x 32 mask"),
    ((0, 0, 4), "four ints"),
    (Box(True, 0, 4, 4), "four ints"),  # a bool is no coordinate
    ("0 0 4 4", "four ints"),
])
def test_pointing_game_bad_boxes(box, message):
    with pytest.raises(ValueError, match=message):
        metrics.pointing_game(peak_at(0, 0), box)


# -- bad input and round trips ---------------------------------------------------------------
def test_bad_inputs(square_clf, rng):
    img = rng.random((32, 32, 3))
    mask = rng.random((32, 32))
    with pytest.raises(ValueError, match=r"must be 2-D \(H x W\), got shape \(32, 32, 3\)"):
        metrics.deletion(square_clf, img, image=img)
    with pytest.raises(ValueError, match="the mask is 20 x 20; expected the image's 32 x 32 .* or the grid's 28 x 28"):
        metrics.deletion(square_clf, rng.random((20, 20)), image=img)
    for grid in (0, 40):
        with pytest.raises(ValueError, match=f"at most the image's 32 x 32, got {grid}"):
            metrics.insertion(square_clf, mask, image=img, grid=grid)
    with pytest.raises(ValueError, match=r"grid must be an int or \(height, width\), got 2.5"):
        metrics.deletion(square_clf, mask, image=img, grid=2.5)
    with pytest.raises(ValueError, match="unknown baseline 'grey'"):
        metrics.curves(square_clf, mask, image=img, baseline="grey")
    with pytest.raises(ValueError, match="a plain mask needs image="):
        metrics.deletion(square_clf, mask)
    with pytest.raises(ValueError, match="got 1 image for 2 masks; give one image per mask"):
        metrics.deletion(square_clf, [mask, mask], image=img)
    with pytest.raises(ValueError, match="unknown kind 'both'"):
        metrics.perturbed(img, np.arange(16), 3, "both", grid=4)
    with pytest.raises(ValueError, match="switched must lie between 0 and the grid's 16 cells"):
        metrics.perturbed(img, np.arange(16), 17, "deletion", grid=4)
    with pytest.raises(ValueError, match="order must list each of the grid's 16 cells once"):
        metrics.cell_mask(np.arange(15), 3, grid=4, size=32)


def test_curve_json_round_trip():
    curve = metrics.insertion(region_clf(), TOP_LEFT, image=ONES, baseline="black", grid=4)
    back = metrics.Curve.from_dict(json.loads(json.dumps(curve.to_dict())))
    assert np.array_equal(back.scores, curve.scores) and np.array_equal(back.order, curve.order)
    assert np.array_equal(back.fractions, curve.fractions)
    assert (back.kind, back.auc, back.target, back.label, back.grid, back.step, back.baseline) == \
        (curve.kind, curve.auc, curve.target, curve.label, curve.grid, curve.step, curve.baseline)


def test_an_image_other_than_the_explained_one_is_refused(digits_clf):
    three, seven = xviz.zoo.image("digit-3"), xviz.zoo.image("digit-7")
    sal = xviz.gradcam(digits_clf, three)
    # The result's own image given again is fine, and scores as leaving it out does.
    assert metrics.deletion(digits_clf, sal, image=three).auc == pytest.approx(metrics.deletion(digits_clf, sal).auc)
    with pytest.raises(ValueError, match=r"image= differs from the image the result explains .*result\.mask"):
        metrics.deletion(digits_clf, sal, image=seven)
    with pytest.raises(ValueError, match="differs from the image result 1 explains"):
        metrics.curves(digits_clf, [sal, sal], image=[three, seven])
    # On purpose, as a plain mask, it is scored.
    assert 0 <= metrics.deletion(digits_clf, sal.mask, image=seven).auc <= 1


def test_a_constant_mask_warns_that_its_order_means_nothing():
    clf = region_clf()
    with pytest.warns(UserWarning, match=r"the mask is constant \(0\.5 everywhere\).*row-major"):
        auc(clf, np.full((4, 4), 0.5), "deletion")
    sal = Saliency(mask=np.zeros((4, 4)), raw=np.zeros((2, 2)), score=0.5, image=ONES, target=1, label="bright", method="gradcam")
    with pytest.warns(UserWarning, match="the gradcam mask is constant"):
        metrics.insertion(clf, sal, baseline="black", grid=4)
