"""Integrated Gradients and RISE against models whose answer is known, completeness, and arguments."""
import numpy as np
import pytest
import torch

import xviz
from xviz.methods.rise import BLOCK


def box_mask(box, size=32, margin=0):
    top, left, h, w = box
    inside = np.zeros((size, size), dtype=bool)
    inside[max(top - margin, 0):top + h + margin, max(left - margin, 0):left + w + margin] = True
    return inside


def square_image(rng, box):
    """Dark noise with a bright square: blurring it changes what the square shows."""
    img = rng.random((32, 32, 3)) * 0.5
    img[box_mask(box)] += 0.5
    return img


def recording(sizes, fn):
    """``fn``, noting how many images each call gets."""
    def wrapper(x, *args, **kwargs):
        sizes.append(len(x))
        return fn(x, *args, **kwargs)

    return wrapper


def relative_gap(sal):
    h = sal.history
    change = h["f_x"][0] - h["f_baseline"][0]
    return abs(float(sal.raw.sum()) - change) / abs(change)


# -- Integrated Gradients -----------------------------------------------------------------

def test_ig_heat_stays_in_the_square(square_clf, square_box, rng):
    sal = xviz.integrated_gradients(square_clf, rng.random((32, 32, 3)), target="on")
    assert sal.method == "integrated_gradients" and sal.raw.shape == (32, 32)
    # The input is multiplied by the square's 0/1 window, so the gradient outside it is
    # zero; allow the one-pixel rim as for Grad-CAM.
    assert sal.mask[box_mask(square_box, margin=1)].sum() / sal.mask.sum() > 0.95


@pytest.mark.parametrize("output", ["prob", "logit"])
@pytest.mark.parametrize("baseline", ["black", "blur"])
def test_ig_completeness_on_the_square(square_clf, square_box, rng, baseline, output):
    img = square_image(rng, square_box)
    sal = xviz.integrated_gradients(square_clf, img, target="on", baseline=baseline, steps=64, output=output)
    # The logit is linear in the input, the probability a sigmoid of it: measured gaps are
    # below 3e-5 of f(x) - f(baseline) at 64 steps.
    assert relative_gap(sal) < 1e-3
    x, _ = square_clf.prepare(img)
    base = xviz.images.baseline(x, baseline)
    expected = square_clf.scores(torch.cat([x, base]), 1, output)
    assert sal.history["f_x"][0] == pytest.approx(float(expected[0]), abs=1e-6)
    assert sal.history["f_baseline"][0] == pytest.approx(float(expected[1]), abs=1e-6)
    change = sal.history["f_x"][0] - sal.history["f_baseline"][0]
    assert sal.history["completeness_gap"][0] == pytest.approx(float(sal.raw.sum()) - change, abs=1e-5)


@pytest.mark.parametrize("baseline", ["black", "blur"])
def test_ig_completeness_on_digits(digits_clf, baseline):
    # Not digit 1: the black image is itself read as a 1, so f(x) - f(baseline) is near 0.
    digits = [0, 2, 3, 4, 5, 6, 7, 8, 9]
    images = [xviz.zoo.image(f"digit-{d}") for d in digits]
    out = xviz.integrated_gradients(digits_clf, images, target=digits, baseline=baseline, steps=64)
    # Measured at 64 steps: at most 0.5% (black) and 0.8% (blur); ReLU kinks keep it above 0.
    assert max(relative_gap(s) for s in out) < 0.02


def test_ig_midpoint_error_falls_as_one_over_steps_squared(square_clf, square_box, rng):
    img = square_image(rng, square_box)
    gap = [xviz.integrated_gradients(square_clf, img, target="on", steps=s).history["completeness_gap"][0]
           for s in (8, 16)]
    # Midpoints: doubling the steps quarters the error (an end-point rule would halve it).
    assert 3.5 < gap[0] / gap[1] < 4.5


@pytest.mark.filterwarnings("ignore:integrated gradients")  # 12 steps are few
def test_ig_runs_every_path_point_in_one_gradient_call(digits_clf, monkeypatch):
    calls = []
    monkeypatch.setattr(digits_clf, "gradients", recording(calls, digits_clf.gradients))
    xviz.integrated_gradients(digits_clf, [xviz.zoo.image("digit-2"), xviz.zoo.image("digit-5")], steps=12)
    assert calls == [2 * 12]


class Steep(torch.nn.Module):
    """p(on) is a steep sigmoid of the image's mean: on the path from black its gradient is
    a spike at alpha = 0.25 / mean, which 32 midpoints miss for a bright image."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 1)  # unused: a spatial layer, as a Classifier wants

    def forward(self, x):
        z = 160 * (x.mean((1, 2, 3)) - 0.25)
        return torch.stack([-z, z], 1)


def test_ig_auto_steps_take_more_points_only_where_needed_and_reuse_them(monkeypatch):
    clf = xviz.Classifier(Steep(), mean=0.0, std=1.0, size=16, labels=["off", "on"], device="cpu")
    images = [np.full((16, 16, 3), v) for v in (1.0, 0.5, 0.3)]  # the brighter, the steeper its path
    with pytest.warns(UserWarning, match="miss 87% .* with steps=32"):
        xviz.integrated_gradients(clf, images[0], target="on", steps=32)
    calls = []
    monkeypatch.setattr(clf, "gradients", recording(calls, clf.gradients))
    auto = xviz.integrated_gradients(clf, images, target="on")
    # Measured misses at 32 / 96 / 288 points: 87% / 6% / 0% (bright), 29% / 0% (middle), 2% (dim).
    assert [s.history["steps"][0] for s in auto] == [288, 96, 32]
    assert calls == [3 * 32, 2 * 64, 1 * 192]  # each round only the new midpoints, only for the images short
    assert max(relative_gap(s) for s in auto) < 0.05
    monkeypatch.undo()
    for sal, img in zip(auto, images):  # the points reused are the midpoint rule's at the final count
        fixed = xviz.integrated_gradients(clf, img, target="on", steps=sal.history["steps"][0])
        np.testing.assert_allclose(sal.raw, fixed.raw, rtol=1e-4, atol=1e-7)
    assert auto[0].settings["steps"] == "auto"


def test_ig_batch_equals_singles(digits_clf):
    images = [xviz.zoo.image(f"digit-{d}") for d in (2, 5, 7)]
    targets = [2, "5", None]
    batch = xviz.integrated_gradients(digits_clf, images, target=targets, steps=16)
    for sal, img, t in zip(batch, images, targets):
        single = xviz.integrated_gradients(digits_clf, img, target=t, steps=16)
        assert sal.target == single.target
        np.testing.assert_allclose(sal.raw, single.raw, atol=1e-6)
        assert sal.history["completeness_gap"][0] == pytest.approx(single.history["completeness_gap"][0], abs=1e-6)


def test_ig_settings_and_history_survive_saving(square_clf, rng, tmp_path):
    img = rng.random((32, 32, 3))
    for baseline, shown in [(0.5, 0.5), (torch.full((3, 32, 32), 0.2), "tensor")]:
        sal = xviz.integrated_gradients(square_clf, img, baseline=baseline, steps=4, output="logit")
        assert sal.settings == {"model": "SquareNet", "baseline": shown, "steps": 4, "output": "logit"}
        sal.save(tmp_path / "ig.npz")
        back = xviz.load(tmp_path / "ig.npz")
        assert back.history == sal.history and back.settings == sal.settings


# -- RISE -----------------------------------------------------------------------------------

def test_rise_finds_the_square(square_clf, square_box, rng):
    # RISE's noise grows with the mean score, so explain "off" against a white baseline:
    # it falls from 0.07 with the square shown to about 0 with it white. With 500 masks of
    # 4 x 4 cells the mean mask inside the square is 2.3 times that outside (median over
    # 100 seeds, lowest 1.93; 3.3 with 20000 masks: every outside pixel lies within one
    # cell of the square, which blurs RISE's map across it). Bound: 1.75.
    sal = xviz.rise(square_clf, rng.random((32, 32, 3)), target="off", baseline=1.0, n_masks=500, cells=4,
                    progress=False)
    inside = box_mask(square_box)
    assert sal.mask[inside].mean() > 1.75 * sal.mask[~inside].mean()


def test_rise_is_deterministic_given_the_seed(digits_clf):
    img = xviz.zoo.image("digit-4")
    first, again, other = (xviz.rise(digits_clf, img, n_masks=100, seed=s, progress=False) for s in (0, 0, 1))
    assert np.array_equal(first.raw, again.raw)
    assert not np.allclose(first.raw, other.raw)
    assert first.settings["seed"] == 0 and other.settings["seed"] == 1


def test_rise_batch_equals_singles_and_scores_in_bounded_blocks(digits_clf, monkeypatch):
    images = [xviz.zoo.image(f"digit-{d}") for d in (2, 5, 7)]
    singles = [xviz.rise(digits_clf, img, n_masks=300, progress=False) for img in images]
    sizes = []
    monkeypatch.setattr(digits_clf, "scores", recording(sizes, digits_clf.scores))
    batch = xviz.rise(digits_clf, images, n_masks=300, progress=False)
    for sal, single in zip(batch, singles):
        np.testing.assert_allclose(sal.raw, single.raw, atol=1e-5)
    # Every image sees every mask once, in blocks of at most BLOCK masked images.
    masked = sizes  # the full images are scored through clf.logits, so these are all masked blocks
    assert sum(masked) == 3 * 300 and max(masked) <= BLOCK


# -- both methods -----------------------------------------------------------------------------

METHODS = {
    "ig": lambda clf, img, **kw: xviz.integrated_gradients(clf, img, steps=4, **kw),
    "rise": lambda clf, img, **kw: xviz.rise(clf, img, n_masks=50, progress=False, **kw),
}


@pytest.mark.parametrize("method", METHODS)
def test_targets_by_label_and_index(method, square_clf, rng):
    img = rng.random((32, 32, 3))
    by_label, by_index = METHODS[method](square_clf, img, target="off"), METHODS[method](square_clf, img, target=0)
    assert (by_label.target, by_label.label) == (by_index.target, by_index.label) == (0, "off")
    np.testing.assert_array_equal(by_label.raw, by_index.raw)
    batch = METHODS[method](square_clf, [img, img], target=["on", 0])
    assert [s.target for s in batch] == [1, 0]


@pytest.mark.parametrize("method", METHODS)
def test_model_state_is_unchanged(method, square_clf, rng):
    net = square_clf.model.train()
    net.fc.weight.requires_grad_(False)  # a frozen layer must stay frozen
    flags = [m.training for m in net.modules()], [p.requires_grad for p in net.parameters()]
    METHODS[method](square_clf, rng.random((32, 32, 3)))
    assert ([m.training for m in net.modules()], [p.requires_grad for p in net.parameters()]) == flags
    assert flags[0][0] and flags[1] == [True, True, False, True]


@pytest.mark.parametrize("call, match", [
    (lambda clf, img: xviz.integrated_gradients(clf, img, steps=0), "steps must be .auto. or an int in 1..100000, got 0"),
    (lambda clf, img: xviz.integrated_gradients(clf, img, output="softmax"), "output must be one of 'prob', 'logit'"),
    (lambda clf, img: xviz.integrated_gradients(clf, img, baseline="grey"), "unknown baseline 'grey'"),
    (lambda clf, img: xviz.rise(clf, img, n_masks=0), "n_masks must be at least 1, got 0"),
    (lambda clf, img: xviz.rise(clf, img, cells=1), "cells must be an int between 2 and 32"),
    (lambda clf, img: xviz.rise(clf, img, cells=33), "cells must be an int between 2 and 32"),
    (lambda clf, img: xviz.rise(clf, img, n_masks=2.5), "n_masks must be an int, got 2.5"),
    (lambda clf, img: xviz.rise(clf, img, seed=None), "seed must be an int in 0..4294967295, got None"),
    (lambda clf, img: xviz.integrated_gradients(clf, img, steps=2.7), "steps must be .auto. or an int in 1..100000, got 2.7"),
    (lambda clf, img: xviz.integrated_gradients(clf, img, steps=True), "steps must be .auto. or an int in 1..100000, got True"),
    (lambda clf, img: xviz.rise(clf, img, p=1.0), "p, the probability of keeping a cell, must lie strictly"),
    (lambda clf, img: xviz.rise(clf, img, p=0), "strictly between 0 and 1, got 0"),
    (lambda clf, img: xviz.rise(clf, img, baseline="grey", n_masks=1), "unknown baseline 'grey'"),
])
def test_bad_arguments(call, match, square_clf, rng):
    with pytest.raises(ValueError, match=match):
        call(square_clf, rng.random((32, 32, 3)))


def test_both_are_registered():
    from xviz.methods import METHODS as registry

    assert registry["ig"] is xviz.integrated_gradients and registry["rise"] is xviz.rise
