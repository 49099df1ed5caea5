"""Visual summaries on a classifier whose answer is known: it only responds to a checkerboard
patch and a striped patch, wherever they are; the masks must find both, and the checkerboards
of all the images must form one summary that no stripe joins."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xviz
from xviz.methods import summaries

SIDE = 6  # patch side in pixels, on 32 x 32 images
FAST = {"smooth_size": 8, "smooth_iterations": 100, "sharp_iterations": 50}  # 4-pixel cells for 6-pixel patches


def _filters():
    r = torch.arange(4)
    checker = ((r.view(-1, 1) + r.view(1, -1)) % 2).float() * 2 - 1
    stripes = (r.view(-1, 1) % 2).float().expand(4, 4) * 2 - 1
    flat = torch.ones(4, 4)
    return torch.stack([checker, stripes, flat]) / 16


class PatchNet(nn.Module):
    """Class 1 ("patch") = 10 x (peak checkerboard response + peak stripe response, each less
    0.1) - 4.

    ``features`` holds three fixed 4 x 4 filters on the grey image (checkerboard, horizontal
    stripes, brightness) and a ReLU; a full patch peaks at 0.5, so each pattern alone takes
    the logit from 4 to 0, both to -4. Responses under 0.1 (smooth backgrounds, the rim of a
    deleted patch) do not count, so nothing but the two patches can lower the score.
    ``stripes=False`` gives a model blind to the stripes (20 x the checkerboard's, - 4).
    """

    def __init__(self, stripes=True):
        super().__init__()
        conv = nn.Conv2d(3, 3, 4, bias=False)
        with torch.no_grad():
            conv.weight.copy_(_filters()[:, None].expand(3, 3, 4, 4) / 3)
        self.features = nn.Sequential(conv, nn.ReLU())
        self.weights = (10.0, 10.0) if stripes else (20.0, 0.0)

    def forward(self, x):
        peak = (self.features(x).amax((2, 3)) - 0.1).clamp_min(0)
        on = self.weights[0] * peak[:, 0] + self.weights[1] * peak[:, 1] - 4
        return torch.stack([torch.zeros_like(on), on], 1)


def pattern(kind):
    r = np.arange(SIDE)
    p = (r[:, None] + r[None]) % 2 if kind == "checker" else np.broadcast_to(r[:, None] % 2, (SIDE, SIDE))
    return np.repeat(p[..., None], 3, -1).astype(np.float32)


def scene(rng, size=32):
    """A smooth random background with a checkerboard and a striped patch at random places."""
    low = torch.from_numpy(rng.uniform(0.25, 0.75, (1, 3, 4, 4)).astype(np.float32))
    image = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=True)[0].permute(1, 2, 0).numpy()
    image = image.copy()
    while True:
        a, b = rng.integers(0, size - SIDE + 1, 2), rng.integers(0, size - SIDE + 1, 2)
        if abs(a[0] - b[0]) >= SIDE + 2 or abs(a[1] - b[1]) >= SIDE + 2:
            break
    image[a[0]:a[0] + SIDE, a[1]:a[1] + SIDE] = pattern("checker")
    image[b[0]:b[0] + SIDE, b[1]:b[1] + SIDE] = pattern("stripes")
    return image, (int(a[0]), int(a[1])), (int(b[0]), int(b[1]))


def patch_clf(stripes=True):
    return xviz.Classifier(PatchNet(stripes), mean=0.0, std=1.0, size=32, labels=["none", "patch"], device="cpu")


def box_mask(corner):
    m = np.zeros((32, 32), bool)
    m[corner[0]:corner[0] + SIDE, corner[1]:corner[1] + SIDE] = True
    return m


@pytest.fixture(scope="module")
def scenes():
    rng = np.random.default_rng(0)
    return [scene(rng) for _ in range(6)]


@pytest.fixture(scope="module")
def summary(scenes):
    return summaries.fit(patch_clf(), [s[0] for s in scenes], target="patch", progress=False, **FAST)


def test_masks_cover_both_patches_and_remove_the_class(summary, scenes):
    for i, (_, checker, stripes) in enumerate(scenes):
        # Most of each patch (deleting three quarters of a pattern silences its filter) ...
        assert summary.masks[i][box_mask(checker)].mean() > 0.6
        assert summary.masks[i][box_mask(stripes)].mean() > 0.6
        # ... and little else: the two patches are 7% of the image.
        assert (summary.masks[i] > 0.5).mean() < 0.15
    assert summary.scores.min() > 0.95
    assert summary.masked_scores.max() < 0.1
    assert summary.smooth.shape == (6, 8, 8) and summary.labels.shape == (6, 32, 32)


def test_regions_are_ranked_by_drop_and_the_patches_matter(summary, scenes):
    for i, (_, checker, stripes) in enumerate(scenes):
        regions = summary.regions[i]
        assert [r.drop for r in regions] == sorted((r.drop for r in regions), reverse=True)
        assert summary.ranked(i, "drop_per_area")[0].drop_per_area == max(r.drop_per_area for r in regions)
        on_patch = [r for r in regions if (r.mask & (box_mask(checker) | box_mask(stripes))).any()]
        assert on_patch and max(r.drop for r in on_patch) > 0.1
        for r in regions:
            assert r.kind == "component" and (summary.labels[i][r.mask] == r.component).all()


def _on(region, corner):
    return bool((region.mask & box_mask(corner)).any())


def test_the_repeated_checkerboard_forms_one_cluster_that_no_stripe_joins(summary, scenes):
    def checkers(c):
        return all(_on(r, scenes[r.image][1]) for r in c.members)

    found = [c for c in summary.clusters if checkers(c)]
    assert len(found) >= 1
    best = max(found, key=lambda c: len(c.images))
    assert len(best.images) >= 5  # the checkerboard of (almost) every image, one region each
    assert len(best.members) == len(best.images)
    assert not any(_on(r, scenes[r.image][2]) for r in best.members)  # no stripe region joined it
    assert best.members[0].similarity == pytest.approx(1.0, abs=1e-6)
    # and the stripes have a summary of their own
    assert any(all(_on(r, scenes[r.image][2]) for r in c.members) and len(c.images) >= 3 for c in summary.clusters)
    coherences = [c.coherence for c in summary.clusters]
    assert coherences == sorted(coherences, reverse=True)
    assert all(len(c.images) >= 2 for c in summary.clusters)


def test_agglomerative_clustering_finds_the_checkerboards_too(scenes):
    summ = summaries.fit(patch_clf(), [s[0] for s in scenes], target=1, progress=False, method="agglomerative",
                         **FAST)
    assert summ.history["method"] == "agglomerative"
    assert any(len(c.images) >= 4 and all(_on(r, scenes[r.image][1]) for r in c.members) for c in summ.clusters)


def test_an_image_gets_the_same_mask_alone_or_in_a_batch(scenes):
    torch.manual_seed(0)
    images = [s[0] for s in scenes]
    settings = {**FAST, "smooth_iterations": 40, "sharp_iterations": 20}
    big = summaries.fit(patch_clf(), images[:4], target="patch", progress=False, **settings)
    small = summaries.fit(patch_clf(), [images[0], images[5]], target="patch", progress=False, **settings)
    np.testing.assert_allclose(big.masks[0], small.masks[0], atol=1e-4)
    np.testing.assert_allclose(big.smooth[0], small.smooth[0], atol=1e-4)
    assert (big.labels[0] == small.labels[0]).all()


def test_save_and_load_round_trip(summary, tmp_path):
    path = tmp_path / "summary.npz"
    summary.save(path)
    back = xviz.load(path)
    for name in ("images", "masks", "smooth", "labels", "scores", "masked_scores"):
        np.testing.assert_array_equal(getattr(back, name), getattr(summary, name))
    assert (back.target, back.label, back.settings, back.passes) == (summary.target, summary.label,
                                                                     summary.settings, summary.passes)
    assert back.history["sharp"]["score"] == summary.history["sharp"]["score"]
    assert len(back.clusters) == len(summary.clusters)
    for c, d in zip(summary.clusters, back.clusters):
        assert c.coherence == d.coherence
        for r, s in zip(c.members, d.members):
            assert (r.image, r.box, r.kind, r.component, r.drop, r.similarity) == \
                   (s.image, s.box, s.kind, s.component, s.drop, s.similarity)
            assert (r.mask == s.mask).all()
    assert [[r.drop for r in per] for per in back.regions] == [[r.drop for r in per] for per in summary.regions]
    assert repr(back) == repr(summary) and "clusters kept" in repr(back)


def test_the_deprecated_loader_refuses_other_kinds(tmp_path, digits_clf):
    path = tmp_path / "sal.npz"
    xviz.gradcam(digits_clf, xviz.zoo.image("digit-3")).save(path)
    with pytest.warns(DeprecationWarning, match="xviz.summaries.load"), \
            pytest.raises(ValueError, match="is an xviz saliency file, not an xviz summary file"):
        summaries.load(path)


def test_the_users_model_is_left_as_it_was(scenes):
    clf = patch_clf()
    model = clf.model.train()
    calls = []
    handle = model.features.register_forward_hook(lambda *args: calls.append(1))
    flags = [p.requires_grad for p in model.parameters()]
    summaries.fit(clf, [s[0] for s in scenes[:2]], target="patch", progress=False, smooth_size=8,
                  smooth_iterations=3, sharp_iterations=2)
    assert model.training and all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert len(model.features._forward_hooks) == 1
    n = len(calls)
    model(torch.zeros(1, 3, 32, 32))
    assert len(calls) == n + 1
    handle.remove()


def test_bad_input_gives_clear_errors(scenes):
    clf = patch_clf()
    images = [s[0] for s in scenes[:2]]
    with pytest.raises(ValueError, match="empty list"):
        summaries.fit(clf, [], target="patch")
    with pytest.raises(ValueError, match="at least 2 images"):
        summaries.fit(clf, images[0], target="patch")
    with pytest.raises(ValueError, match="at least 2 images"):
        summaries.fit(clf, images[:1], target="patch")
    with pytest.raises(ValueError, match="unknown label 'cat'"):
        summaries.fit(clf, images, target="cat")
    with pytest.raises(ValueError, match="out of range"):
        summaries.fit(clf, images, target=5)
    with pytest.raises(ValueError, match="one target"):
        summaries.fit(clf, images, target=[1, 1])
    with pytest.raises(ValueError, match="unknown setting"):
        summaries.fit(clf, images, target="patch", iterations=3)
    with pytest.raises(ValueError, match="unknown preset"):
        summaries.fit(clf, images, target="patch", preset="slow")
    with pytest.raises(ValueError, match="method"):
        summaries.fit(clf, images, target="patch", method="kmeans")
    for setting, message in [({"mask_blur": -1}, "mask_blur must be at least 0"),
                             ({"min_area": 2}, r"min_area must be in \[0, 1\]"),
                             ({"keep": float("nan")}, "keep must be a finite number"),
                             ({"lr": "x"}, "lr must be a finite number, got 'x'"),
                             ({"min_images": 3}, "min_images=3 but there are 2 images: no cluster could be kept")]:
        with pytest.raises(ValueError, match=message):
            summaries.fit(clf, images, target="patch", **setting)


def test_max_clusters_keeps_the_most_coherent_ones(summary, scenes):
    assert len(summary.clusters) >= 2 and summary.settings["max_clusters"] is None
    best = summaries.fit(patch_clf(), [s[0] for s in scenes], target="patch", progress=False, max_clusters=1, **FAST)
    (only,) = best.clusters
    assert only.coherence == summary.clusters[0].coherence
    assert [(r.image, r.box) for r in only.members] == [(r.image, r.box) for r in summary.clusters[0].members]
    assert best.history["clusters_found"] == summary.history["clusters_found"]
    with pytest.raises(ValueError, match="max_clusters must be at least 1, or None"):
        summaries.fit(patch_clf(), [s[0] for s in scenes[:2]], target="patch", max_clusters=0)


def test_target_none_takes_the_class_most_images_get(scenes):
    summ = summaries.fit(patch_clf(), [s[0] for s in scenes[:2]], progress=False, smooth_size=8,
                         smooth_iterations=2, sharp_iterations=1)
    assert summ.target == 1 and summ.label == "patch"


def test_auto_layer_picks_a_whole_block():
    assert summaries.auto_layer(patch_clf()) == "features"


def test_saliency_of_one_image(summary):
    sal = summary.saliency(2)
    assert isinstance(sal, xviz.Saliency) and sal.method == "summary-mask"
    assert (sal.mask == summary.masks[2]).all() and sal.target == summary.target
    with pytest.raises(ValueError, match="does not exist"):
        summary.saliency(6)


def test_compare_two_models_finds_the_shared_and_the_unique_summaries(summary, scenes):
    # A model that ignores the stripes sees only the checkerboards on the same images.
    other = summaries.fit(patch_clf(stripes=False), [s[0] for s in scenes], target="patch", progress=False, **FAST)
    assert all(not any(_on(r, scenes[r.image][2]) for r in c.members) for c in other.clusters)
    result = summaries.compare(summary, other)
    stripe_clusters = [k for k, c in enumerate(summary.clusters)
                       if all(_on(r, scenes[r.image][2]) for r in c.members)]
    assert stripe_clusters and set(stripe_clusters) <= set(result.only_a)
    matched = {i for i, _, _ in result.matches}
    assert any(all(_on(r, scenes[r.image][1]) for r in summary.clusters[i].members) for i in matched)
    assert result.overlap.shape == (len(summary.clusters), len(other.clusters))
    assert "matched" in repr(result)
    same = summaries.compare(summary, summary)
    assert len(same.matches) == len(summary.clusters) and not same.only_a and not same.only_b


def test_compare_refuses_summaries_of_different_images(summary, scenes):
    rng = np.random.default_rng(1)
    other = summaries.fit(patch_clf(), [scene(rng)[0] for _ in range(6)], target="patch", progress=False,
                          smooth_size=8, smooth_iterations=2, sharp_iterations=1)
    with pytest.raises(ValueError, match="same images"):
        summaries.compare(summary, other)
