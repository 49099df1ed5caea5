"""XNN: recovering known factors, faithfulness on the digits, reproducibility, saving, bad input."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.optimize import linear_sum_assignment

import xviz
from xviz.core.images import load_labelled
from xviz.methods import xnn as X


def synthetic(n=600, C=40, k=3, seed=0):
    """Features made of k sparse, independent, non-negative factors; logits linear in them."""
    g = torch.Generator().manual_seed(seed)
    f = torch.rand(n, k, generator=g) * (torch.rand(n, k, generator=g) < 0.4)
    z = f @ torch.randn(k, C, generator=g) + 0.05 * torch.randn(n, C, generator=g)
    y = f @ torch.tensor([[2.0, -1.0, 0.5], [-1.0, 2.0, 0.0], [0.0, 0.5, 2.0]]).T
    return f, (z - z.mean(0)) / z.std(0), (y - y.mean()) / y.std()


def test_the_srae_recovers_known_factors_and_is_faithful():
    f, z, y = synthetic()
    net, history = X.train(z, y, 3, X.DEFAULTS, seed=0)
    e = net.embed(z)
    corr = np.abs(np.corrcoef(np.hstack([e.numpy(), f.numpy()]).T)[:3, 3:])
    rows, cols = linear_sum_assignment(-corr)           # one concept per factor
    assert corr[rows, cols].min() > 0.9                 # the bound: every factor found with |r| > 0.9
    r2 = 1 - (net.head(e) - y).pow(2).sum() / (y - y.mean()).pow(2).sum()
    assert r2 > 0.95
    assert X.mean_offdiagonal(X.column_cosines(e)) < 0.2
    assert history["loss"][-1] < history["loss"][0] / 5


def test_locality_is_the_share_of_mass_in_the_top_pixels():
    m = np.ones((10, 10))
    m[:2] = 3.0  # the top 20 pixels hold 60 of 140
    assert X.locality(m) == pytest.approx(60 / 140)
    assert X.locality(m, share=0.5) == pytest.approx((60 + 30) / 140)
    assert X.locality(np.stack([m, np.zeros((10, 10))])) == pytest.approx(60 / 140)  # empty maps left out
    assert X.locality(np.zeros((2, 10, 10))) is None


@pytest.fixture(scope="module")
def digits_xnn():
    clf = xviz.zoo.digits_cnn(device="cpu")
    return clf, X.fit(clf, xviz.zoo.digits("train"), classes=[3, 5, 8], n_concepts=4, progress=False)


def test_digits_targets_agreement_and_orthogonality(digits_xnn):
    clf, model = digits_xnn
    test = xviz.zoo.digits("test")
    keep = np.isin(test.labels, [3, 5, 8])
    ex = model.explain(list(test.images[keep]))
    assert (ex.predicted == ex.model_predicted).mean() >= 0.95    # the target, on held-out digits
    report = model.report()
    assert report.rows["SRAE"]["agreement"] >= 0.95
    assert report.rows["SRAE"]["orthogonality"] < 0.2
    assert set(report.rows) == {"SRAE", "PCA", "NMF"} and "agreement" in str(report)
    # contributions add up to the head's logits; heatmaps are maps in [0, 1]
    assert np.allclose(ex.contributions.sum(-1) + ex.bias, ex.logits, atol=1e-4)
    assert ex.heatmaps.shape == (keep.sum(), 4, 32, 32) and ex.heatmaps.min() >= 0 and ex.heatmaps.max() <= 1


def test_examples_are_the_most_active_images(digits_xnn):
    _, model = digits_xnn
    acts = model.examples.activations
    for j, rows in enumerate(model.top):
        assert list(acts[rows, j]) == sorted(acts[rows, j], reverse=True)
        with torch.no_grad():
            every = model.net.embed(model.features["z"])[:, j].numpy()
        assert acts[rows[0], j] == pytest.approx(every.max(), rel=1e-4)


def test_same_seed_same_numbers_other_seed_other_numbers(digits_xnn):
    clf, _ = digits_xnn
    data = xviz.zoo.digits("train")
    a = X.fit(clf, data, classes=[3, 8], n_concepts=3, epochs=60, progress=False, seed=1)
    b = X.fit(clf, data, classes=[3, 8], n_concepts=3, epochs=60, progress=False, seed=1)
    c = X.fit(clf, data, classes=[3, 8], n_concepts=3, epochs=60, progress=False, seed=2)
    assert a.history["loss"] == b.history["loss"] and a.report().rows == b.report().rows
    assert a.history["loss"] != c.history["loss"]


def test_save_and_load_give_identical_outputs(digits_xnn, tmp_path):
    clf, model = digits_xnn
    model.save(tmp_path / "xnn.npz")
    again = xviz.load(tmp_path / "xnn.npz", clf)
    imgs = [xviz.zoo.image("digit-3"), xviz.zoo.image("digit-5")]
    a, b = model.explain(imgs), again.explain(imgs)
    for key in ("activations", "contributions", "logits", "heatmaps"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    assert again.report().rows == model.report().rows
    assert np.array_equal(again.top, model.top) and np.array_equal(again.examples.heatmaps, model.examples.heatmaps)
    with pytest.raises(ValueError, match="made with .digits CNN., not .other."):
        xviz.load(tmp_path / "xnn.npz", xviz.Classifier(torch.nn.Sequential(), name="other"))
    retrained = xviz.zoo.digits_cnn(device="cpu")
    with torch.no_grad():
        next(retrained.model.parameters()).add_(0.1)
    with pytest.raises(ValueError, match="made with other weights of 'digits CNN'"):
        xviz.load(tmp_path / "xnn.npz", retrained)
    assert model.save(tmp_path / "plain") == tmp_path / "plain.npz"  # numpy's suffix, said and found
    assert np.array_equal(xviz.load(tmp_path / "plain", clf).top, model.top)


def test_the_users_model_is_unchanged(digits_xnn):
    clf, _ = digits_xnn
    model = clf.model.train()
    try:
        X.fit(clf, xviz.zoo.digits("train"), classes=[3, 8], n_concepts=2, epochs=20, progress=False).explain(
            xviz.zoo.image("digit-8"))
        assert all(m.training for m in model.modules())
        assert all(p.requires_grad for p in model.parameters())
        assert not any(m._forward_hooks for m in model.modules())
    finally:
        model.eval()


def test_cache_reuses_the_activations(digits_xnn, tmp_path):
    clf, _ = digits_xnn
    data = xviz.zoo.digits("train")
    first = X.fit(clf, data, classes=[3, 8], epochs=20, cache=tmp_path / "acts.npz", progress=False)
    before = clf.images_scored
    second = X.fit(clf, data, classes=[3, 8], epochs=20, cache=tmp_path / "acts.npz", progress=False)
    examples = len(second.examples.activations)
    assert clf.images_scored - before == 2 * examples  # only the examples' explanation passes
    assert torch.equal(first.features["z"], second.features["z"])
    # A name without .npz: numpy writes acts.npz, and the cache finds it again.
    X.fit(clf, data, classes=[3, 8], epochs=20, cache=tmp_path / "acts", progress=False)
    assert (tmp_path / "acts.npz").is_file()
    before = clf.images_scored
    X.fit(clf, data, classes=[3, 8], epochs=20, cache=tmp_path / "acts", progress=False)
    assert clf.images_scored - before == 2 * examples
    # A retrained model under the same name does not reuse the old activations.
    changed = xviz.zoo.digits_cnn(device="cpu")
    with torch.no_grad():
        next(changed.model.parameters()).add_(0.1)
    assert changed.name == clf.name and changed.fingerprint() != clf.fingerprint()
    before = changed.images_scored
    X.fit(changed, data, classes=[3, 8], epochs=20, cache=tmp_path / "acts", progress=False)
    assert changed.images_scored - before > np.isin(data.labels, [3, 8]).sum()


def test_a_damaged_cache_is_made_again_and_another_file_is_refused(digits_xnn, tmp_path):
    clf, _ = digits_xnn
    data = xviz.zoo.digits("train")
    cache = tmp_path / "acts.npz"
    X.fit(clf, data, classes=[3, 8], epochs=5, cache=cache, progress=False)
    whole = cache.read_bytes()
    cache.write_bytes(whole[:len(whole) // 2])  # a fit killed while writing it
    before = clf.images_scored
    X.fit(clf, data, classes=[3, 8], epochs=5, cache=cache, progress=False)
    assert clf.images_scored - before > np.isin(data.labels, [3, 8]).sum()  # made again
    assert cache.read_bytes()[:2] == b"PK" and len(cache.read_bytes()) > len(whole) // 2  # and written whole
    saliency = xviz.gradcam(clf, xviz.zoo.image("digit-3")).save(tmp_path / "sal.npz")
    with pytest.raises(ValueError, match="sal.npz' is not an xviz XNN feature cache file"):
        X.fit(clf, data, classes=[3, 8], epochs=5, cache=saliency, progress=False)  # not written over
    assert xviz.load(saliency).method == "gradcam"
    np.savez(cache, key=np.array("old"), z=np.zeros((2, 3)), logits=np.zeros((2, 2)))  # before caches had a tag
    X.fit(clf, data, classes=[3, 8], epochs=5, cache=cache, progress=False)
    with np.load(cache) as written:
        assert "meta" in written.files  # made again and written over


def test_load_checks_the_classifier_and_its_layer_width(digits_xnn, tmp_path):
    clf, model = digits_xnn
    path = model.save(tmp_path / "xnn.npz")
    with pytest.raises(ValueError, match="clf must be an xviz.Classifier .* got str"):
        xviz.load(path, "digits")

    def net(channels):  # one name ("Sequential") for two widths
        return torch.nn.Sequential(torch.nn.Conv2d(3, channels, 3, padding=1), torch.nn.ReLU(),
                                   torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(channels, 2))

    torch.manual_seed(0)
    narrow, wide = (xviz.Classifier(net(c), size=8, labels=["a", "b"], device="cpu") for c in (8, 12))
    images = list(np.random.default_rng(0).random((40, 8, 8, 3)))
    labels = narrow.logits(narrow.prepare(images)[0]).argmax(1).numpy()
    fitted = X.fit(narrow, (images, labels), n_concepts=2, epochs=5, progress=False).save(tmp_path / "narrow")
    with pytest.raises(ValueError, match="made with other weights of 'Sequential'"):
        xviz.load(fitted, wide)  # it failed only at explain(), on a tensor size
    with np.load(fitted) as data:  # a file from before the fingerprint was kept: the width is checked
        parts = dict(data)
    meta = json.loads(str(parts["meta"]))
    del meta["fingerprint"]
    np.savez(tmp_path / "older.npz", **{**parts, "meta": np.array(json.dumps(meta))})
    with pytest.raises(ValueError, match="fitted on 8 channels of layer .*; this model's has 12"):
        xviz.load(tmp_path / "older.npz", wide)
    assert xviz.load(fitted, narrow).explain(images[0]).activations.shape[-1] == 2

    def broken(module, inputs, output):
        return output.no_such_attribute  # a bug in the user's hook, not in the file

    hook = narrow.model[0].register_forward_hook(broken)
    try:  # the older file: loading it runs the model, to check the layer's width
        with pytest.raises(AttributeError, match="no_such_attribute"):
            xviz.load(tmp_path / "older.npz", narrow)
    finally:
        hook.remove()


def test_folders_lists_and_mixed_sizes(digits_xnn, tmp_path):
    clf, _ = digits_xnn
    data = xviz.zoo.digits("train")
    for label in (3, 8):
        (tmp_path / str(label)).mkdir()
        for i in np.flatnonzero(data.labels == label)[:6]:
            side = 8 * (1 + i % 3)  # 8, 16 and 24 pixels: a photo folder has many sizes
            Image.fromarray((data.images[i] * 255).astype(np.uint8)).resize((side, side)).save(
                tmp_path / str(label) / f"{i}.png")
    images, labels = load_labelled(tmp_path)
    assert len(images) == 12 and sorted(set(labels)) == ["3", "8"] and len({im.shape for im in images}) == 3
    model = X.fit(clf, tmp_path, n_concepts=2, epochs=20, progress=False)
    assert model.class_labels == ["3", "8"]
    listed = X.fit(clf, (images, [int(lab) for lab in labels]), classes=[3, 8], n_concepts=2, epochs=20,
                   progress=False)
    assert torch.allclose(listed.features["z"], model.features["z"])


def test_bad_input_says_what_is_wrong(digits_xnn, tmp_path):
    clf, _ = digits_xnn
    data = xviz.zoo.digits("train")
    with pytest.raises(ValueError, match="out of range"):
        X.fit(clf, data, classes=[3, 12], progress=False)
    with pytest.raises(ValueError, match="unknown label 'cat'"):
        X.fit(clf, data, classes=["cat"], progress=False)
    threes = list(data.images[data.labels == 3])
    for n in (3, 4, 5):  # 5 images hold out 1 and train on 4: no more than the 4 concepts
        with pytest.raises(ValueError, match=f"got {n} images .* for 4 concepts; give at least 6, so that after "
                                             "holding out 20% more images than concepts remain"):
            X.fit(clf, (threes[:n], [3] * n), classes=[3], n_concepts=4, progress=False)
    least = X.fit(clf, (threes[:6], [3] * 6), classes=[3], n_concepts=4, epochs=5, progress=False)
    with pytest.warns(UserWarning, match="the report rests on 1 held-out image"):
        rough = least.report()
    assert rough.n_train == 5  # the PCA and NMF baselines fit too
    srae = rough.rows["SRAE"]  # one held-out image: no variance to explain, no pair of rows
    assert np.isnan(srae["reconstruction_r2"]) and np.isnan(srae["logit_r2"]) and np.isnan(srae["orthogonality"])
    with pytest.raises(ValueError, match="no layer named 'featurez'.*Did you mean 'features'"):
        X.fit(clf, data, classes=[3, 8], layer="featurez", progress=False)
    passes = clf.images_scored
    with pytest.raises(ValueError, match="layer 'fc' .* gives no spatial maps .* to show concepts as heatmaps"):
        X.fit(clf, data, classes=[3, 8], layer="fc", epochs=5, progress=False)
    assert clf.images_scored - passes <= 1  # refused before the features (one probe at most)
    with pytest.raises(ValueError, match="got 5 images but 4 labels"):
        X.fit(clf, (list(data.images[:5]), [3, 8, 3, 8]), progress=False)
    with pytest.raises(ValueError, match="images have no labels"):
        X.fit(clf, list(data.images[:5]), progress=False)
    with pytest.raises(ValueError, match="unknown setting"):
        X.fit(clf, data, classes=[3, 8], epoch=5, progress=False)
    with pytest.raises(ValueError, match="holds no images"):
        X.fit(clf, tmp_path, classes=[3], progress=False)
