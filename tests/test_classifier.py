"""The Classifier: targets, chunked scoring, and leaving the user's model as it was."""
import numpy as np
import pytest
import torch
from torch import nn

import xviz
from xviz.core.state import preserved


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(4, 3))


def snapshot(model):
    return ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()],
            [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()],
            {k: v.clone() for k, v in model.state_dict().items()})


def assert_same(before, after):
    assert before[0] == after[0], "training flags changed"
    assert before[1] == after[1], "requires_grad changed"
    assert before[2] == after[2], "hooks changed"
    for k in before[3]:
        assert torch.equal(before[3][k], after[3][k]), f"{k} changed"


@pytest.fixture
def user_model():
    """A model as a user might hand it over: in training mode, with a hook of their own."""
    net = small_net().train()
    net[0].weight.requires_grad_(False)  # a frozen layer must stay frozen
    calls = []
    net[2].register_forward_hook(lambda m, i, o: calls.append(1))
    return net, calls


def test_state_is_restored_after_every_kind_of_call(user_model):
    net, calls = user_model
    before = snapshot(net)
    clf = xviz.Classifier(net, size=8, labels=["a", "b", "c"], device="cpu")
    x = torch.rand(5, 3, 8, 8)
    clf.logits(x)
    clf.gradients(x, 1)
    clf.layer_gradients(x, [0, 1, 2, 0, 1], "2")
    xviz.gradcam(clf, x)
    clf.predict(x)
    assert_same(before, snapshot(net))
    assert calls, "the user's own hook must keep running inside xviz"
    n = len(calls)
    net(x)
    assert len(calls) == n + 1, "the user's hook must still be registered afterwards"


def test_state_is_restored_after_an_exception(user_model):
    net, _ = user_model
    before = snapshot(net)
    with pytest.raises(RuntimeError, match="boom"):
        with preserved(net):
            net[1].register_forward_hook(lambda *a: None)
            net[0].weight.requires_grad_(True)
            raise RuntimeError("boom")
    assert_same(before, snapshot(net))


class Exploding(nn.Module):
    """Fails in the middle of a forward pass, after hooks were registered."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        self.features(x)
        raise RuntimeError("model failed")


def test_state_is_restored_when_the_model_raises_inside_a_method():
    net = Exploding().train()
    before = snapshot(net)
    clf = xviz.Classifier(net, size=8, device="cpu")
    with pytest.raises(RuntimeError, match="model failed"):
        clf.layer_gradients(torch.rand(2, 3, 8, 8), 0, "features")
    assert_same(before, snapshot(net))


def test_chunked_scoring_equals_one_batch():
    net = small_net()
    x = torch.rand(23, 3, 8, 8)
    one = xviz.Classifier(net, size=8, chunk_size=100, device="cpu")
    chunked = xviz.Classifier(net, size=8, chunk_size=4, device="cpu")
    assert torch.allclose(one.logits(x), chunked.logits(x), atol=1e-6)
    s1, g1 = one.gradients(x, 2)
    s2, g2 = chunked.gradients(x, 2)
    assert torch.allclose(s1, s2, atol=1e-6) and torch.allclose(g1, g2, atol=1e-6)
    assert chunked.images_scored == 2 * 23


class RunsOutOfMemory(nn.Module):
    """Raises CUDA's out-of-memory error for batches larger than ``limit``."""

    def __init__(self, limit):
        super().__init__()
        self.limit, self.batches = limit, []
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        self.batches.append(len(x))
        if len(x) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.fc(x.mean(dim=(2, 3)))


def test_out_of_memory_halves_the_chunk_and_retries():
    net = RunsOutOfMemory(limit=5)
    clf = xviz.Classifier(net, mean=0.0, std=1.0, size=4, chunk_size=16, device="cpu")
    x = torch.rand(20, 3, 4, 4)
    out = clf.logits(x)
    reference = net.fc(x.mean(dim=(2, 3)))
    assert torch.allclose(out, reference, atol=1e-6)
    assert net.batches[:3] == [16, 8, 4] and max(b for b in net.batches[3:]) <= 4


def test_out_of_memory_with_a_chunk_of_one_is_raised():
    clf = xviz.Classifier(RunsOutOfMemory(limit=0), size=4, chunk_size=2, device="cpu")
    with pytest.raises(torch.OutOfMemoryError):
        clf.logits(torch.rand(2, 3, 4, 4))


def test_targets_by_index_label_synonym_and_top1():
    net = small_net()
    clf = xviz.Classifier(net, size=8, labels=["cat", ["dog", "puppy"], "bird"], device="cpu")
    x = torch.rand(3, 3, 8, 8)
    assert clf.target_index(2) == 2 and clf.target_index(np.int64(1)) == 1
    assert clf.target_index("dog") == 1 and clf.target_index("Puppy") == 1
    assert clf.labels == ["cat", "dog", "bird"]
    assert clf.targets_for(x, None) == clf.logits(x).argmax(1).tolist()
    assert clf.targets_for(x, "bird") == [2, 2, 2]
    assert clf.targets_for(x, [0, None, "dog"])[::2] == [0, 1]


def test_unknown_label_suggests_close_names():
    clf = xviz.Classifier(small_net(), size=8, labels=["tabby cat", "tiger cat", "dog"], device="cpu")
    with pytest.raises(ValueError, match="unknown label 'tabbby cat'; did you mean 'tabby cat'"):
        clf.target_index("tabbby cat")
    with pytest.raises(ValueError, match="'tabby cat', 'tiger cat'"):
        clf.target_index("cat")


@pytest.mark.parametrize("target, message", [
    (3, "out of range: the model has 3 classes"),
    (-1, "out of range"),
    (1.5, "class index or a label"),
    (True, "class index or a label"),
])
def test_bad_targets(target, message):
    clf = xviz.Classifier(small_net(), size=8, labels=["a", "b", "c"], device="cpu")
    with pytest.raises(ValueError, match=message):
        clf.target_index(target)


def test_wrong_number_of_targets():
    clf = xviz.Classifier(small_net(), size=8, device="cpu")
    with pytest.raises(ValueError, match="got 2 targets for 3 images"):
        clf.targets_for(torch.rand(3, 3, 8, 8), [0, 1])


def test_label_without_labels():
    clf = xviz.Classifier(small_net(), size=8, device="cpu")
    with pytest.raises(ValueError, match="has no labels"):
        clf.target_index("cat")
    assert clf.label(2) == "class 2"
    assert clf.target_index("2") == 2  # a folder named "2" holds class 2's images
    with pytest.raises(ValueError, match="out of range"):
        clf.target_index("7")


def test_digit_strings_are_labels_first_then_indices():
    clf = xviz.Classifier(small_net(), size=8, labels=["2", "b", "c "], device="cpu")
    assert clf.target_index("2") == 0 and clf.target_index("1") == 1
    assert clf.target_index("c") == 2 and clf.labels[2] == "c"  # names are stripped as targets are


def test_model_returning_the_wrong_shape():
    clf = xviz.Classifier(nn.Conv2d(3, 2, 1), size=8, device="cpu")
    with pytest.raises(ValueError, match=r"returned shape \(2, 2, 8, 8\) for a batch of 2 images"):
        clf.logits(torch.rand(2, 3, 8, 8))


def test_labels_that_do_not_match_the_model():
    clf = xviz.Classifier(small_net(), size=8, labels=["a", "b"], device="cpu")
    with pytest.raises(ValueError, match="3 classes but 2 labels"):
        clf.logits(torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize("kwargs, message", [
    ({"mean": (0.1, 0.2)}, "mean must be one number or three"),
    ({"std": 0.0}, "std must be positive"),
    ({"size": (1, 2, 3)}, "size must be"),
    ({"size": 32.5}, "size must be"),
    ({"size": (8, True)}, "size must be"),
    ({"chunk_size": 0}, "chunk_size"),
] + ([] if torch.cuda.is_available() else [({"device": "cuda"}, "no CUDA device")]))
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        xviz.Classifier(small_net(), **kwargs)


def test_not_a_module():
    with pytest.raises(ValueError, match="torch.nn.Module"):
        xviz.Classifier(lambda x: x)


def test_prepare_resizes_any_input_to_the_model_size():
    clf = xviz.Classifier(small_net(), size=(8, 10), device="cpu")
    x, batch = clf.prepare([np.zeros((20, 30)), np.ones((5, 5, 3))])
    assert batch and x.shape == (2, 3, 8, 10)
    assert float(x[1].min()) == 1.0


def test_predict_single_and_batch():
    clf = xviz.Classifier(small_net(), size=8, labels=["a", "b", "c"], device="cpu")
    one = clf.predict(np.zeros((8, 8, 3)), top=2)
    assert len(one) == 2 and one[0][1] >= one[1][1]
    many = clf.predict([np.zeros((8, 8, 3))] * 3, top=5)
    assert len(many) == 3 and len(many[0]) == 3
    assert abs(sum(p for _, p in many[0]) - 1) < 1e-5


def test_default_device_follows_cuda():
    clf = xviz.Classifier(small_net())
    assert clf.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_several_layers_in_one_pass_match_one_at_a_time(digits_clf):
    x, _ = digits_clf.prepare([xviz.zoo.image("digit-3"), xviz.zoo.image("digit-8")])
    before = digits_clf.images_scored
    scores, acts, grads = digits_clf.layer_gradients(x, [3, 8], ["features.5", "features"])
    assert digits_clf.images_scored - before == 2  # one pass for both layers
    for name, a, g in zip(["features.5", "features"], acts, grads):
        s1, a1, g1 = digits_clf.layer_gradients(x, [3, 8], name)
        assert torch.allclose(s1, scores) and torch.allclose(a1, a) and torch.allclose(g1, g, atol=1e-6)
        assert torch.allclose(digits_clf.activations(x, name), a)
    assert [t.shape[1:] for t in digits_clf.activations(x, ["features.5", "features"])] == [a.shape[1:] for a in acts]
    assert not digits_clf.model.features._forward_hooks  # no hook left behind


def test_numpy_sizes_int_labels_and_array_targets():
    clf = xviz.Classifier(small_net(), size=np.int64(8), labels=[0, 1, 2], device="cpu")
    assert clf.size == (8, 8) and clf.labels == ["0", "1", "2"] and clf.target_index("2") == 2
    x = torch.rand(3, 3, 8, 8)
    assert clf.targets_for(x, np.array([2, 0, 1])) == [2, 0, 1]
    assert clf.targets_for(x, torch.tensor([1, 1, 0])) == [1, 1, 0]
    with pytest.raises(ValueError, match="top must be a positive int"):
        clf.predict(np.zeros((8, 8, 3)), top=0)


def test_a_layer_followed_by_an_inplace_activation():
    # conv -> ReLU(inplace=True): the hooks must see the conv's own output (with its negative
    # values) and its gradient, not the ReLU's, and the backward pass must not fail on it.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 3)).eval()
    clf = xviz.Classifier(net, size=8, device="cpu")
    x = torch.rand(2, 3, 8, 8)
    conv = net[0](clf.normalize(x)).detach()
    assert conv.min() < 0
    assert torch.allclose(clf.activations(x, "0"), conv)
    scores, acts, grads = clf.layer_gradients(x, [0, 2], "0", output="logit")
    a = conv.clone().requires_grad_(True)
    reference = net[1:](a.clone())
    expected, = torch.autograd.grad(reference[[0, 1], [0, 2]].sum(), a)
    assert torch.allclose(acts, conv) and torch.allclose(grads, expected, atol=1e-6)
    assert torch.allclose(scores, reference[[0, 1], [0, 2]].detach(), atol=1e-6)
    cam = xviz.gradcam(clf, x[0].permute(1, 2, 0).numpy(), layer="0")
    assert cam.mask.shape[-2:] == (8, 8)


class Head(nn.Module):
    def __init__(self, net, end):
        super().__init__()
        self.net, self.end = net, end

    def forward(self, x):
        return self.end(self.net(x))


def test_a_layer_the_forward_pass_never_runs():
    net = Head(small_net(), nn.Identity())
    net.aux = nn.Conv2d(4, 4, 1)  # registered, never called
    clf = xviz.Classifier(net, size=8, device="cpu")
    for call in (lambda: clf.activations(torch.rand(1, 3, 8, 8), "aux"),
                 lambda: clf.layer_gradients(torch.rand(1, 3, 8, 8), 0, "aux")):
        with pytest.raises(ValueError, match="did not run in the model's forward pass"):
            call()


@pytest.mark.parametrize("end, message", [
    (lambda z: z[:, :1], "one score per image"),
    (lambda z: z * float("nan"), "NaN or \\+inf"),
    (lambda z: z + float("inf"), "NaN or \\+inf"),
])
def test_outputs_that_cannot_be_explained(end, message):
    clf = xviz.Classifier(Head(small_net().eval(), end), size=8, device="cpu")
    with pytest.raises(ValueError, match=message):
        clf.predict(np.zeros((8, 8, 3)))


def test_a_model_that_ends_with_a_softmax_is_warned_about_once():
    clf = xviz.Classifier(Head(small_net().eval(), lambda z: z.softmax(1)), size=8, device="cpu")
    with pytest.warns(UserWarning, match="expects logits"):
        clf.predict(np.zeros((8, 8, 3)))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict(np.zeros((8, 8, 3)))  # once per classifier


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_models_in_other_float_types(dtype):
    net = small_net().eval().to(dtype)
    clf = xviz.Classifier(net, size=8, device="cpu")
    x = torch.rand(2, 3, 8, 8)
    logits = clf.logits(x)
    assert logits.dtype == torch.float32
    expected = net(clf.normalize(x).to(dtype)).float()
    assert torch.allclose(logits, expected)
    img = x[0].permute(1, 2, 0).numpy()
    assert xviz.integrated_gradients(clf, img, steps=4).mask.shape[-2:] == (8, 8)
    assert xviz.gradcam(clf, img, layer="0").mask.shape == (8, 8)  # layer outputs come back as float32
    scores, acts, grads = clf.layer_gradients(x, 0, "0")
    assert acts.dtype == grads.dtype == clf.activations(x, "0").dtype == torch.float32
    assert next(net.parameters()).dtype == dtype


def test_minus_infinity_is_a_masked_class_not_an_error():
    clf = xviz.Classifier(Head(small_net().eval(), lambda z: torch.cat([z[:, :2], torch.full_like(z[:, 2:], -float("inf"))], 1)),
                          size=8, device="cpu")
    (label, p), *rest = clf.predict(np.zeros((8, 8, 3)), top=3)
    assert rest[-1][1] == 0.0 and label != "class 2"


class GreyQuarter(nn.Module):
    """A grey-image model (N x 1 x H x W) whose class 1 logit is the top-left quarter's brightness."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(1, 4, 3, padding=1)
        with torch.no_grad():
            self.features.weight.zero_()
            self.features.weight[:, 0, 1, 1] = 1.0
            self.features.bias.zero_()

    def forward(self, z):
        assert z.shape[1] == 1
        a = torch.relu(self.features(z))
        quarter = a[:, :, : z.shape[2] // 2, : z.shape[3] // 2].mean((1, 2, 3))
        return torch.stack([torch.zeros_like(quarter), 8 * quarter - 2], 1)


def test_a_grey_model_gets_the_luma_and_is_explained_on_the_rgb_image():
    clf = xviz.Classifier(GreyQuarter(), mean=0.0, std=1.0, size=16, channels=1, device="cpu")
    img = np.zeros((16, 16, 3))
    img[:8, :8] = (0.2, 0.9, 0.4)  # a green patch in the quarter the model reads
    x, _ = clf.prepare(img)
    luma = 0.299 * 0.2 + 0.587 * 0.9 + 0.114 * 0.4
    assert float(clf.logits(x)[0, 1]) == pytest.approx(8 * luma - 2, abs=1e-5)  # the quarter is all patch
    sal = xviz.integrated_gradients(clf, img, target=1, steps=16)
    assert sal.mask[:8, :8].sum() > 0.9 * sal.mask.sum()
    cam = xviz.gradcam(clf, img, target=1)
    assert cam.mask[:8, :8].mean() > cam.mask[8:, 8:].mean()
    grey = np.full((16, 16), 0.5)
    assert float(clf.logits(clf.prepare(grey)[0])[0, 1]) == pytest.approx(8 * 0.5 - 2, abs=1e-5)
    with pytest.raises(ValueError, match="a grey model .channels=1. has one mean"):
        xviz.Classifier(GreyQuarter(), mean=(0.1, 0.2, 0.3), channels=1)
    with pytest.raises(ValueError, match="channels must be 3 .RGB. or 1"):
        xviz.Classifier(GreyQuarter(), channels=2)
