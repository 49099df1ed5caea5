"""Feature maps in every layout, and the classifier's outputs in every form: what xviz reads,
and the errors where it cannot be sure (no silent wrong answer)."""
import types
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import xviz
from xviz.core import capture
from xviz.core.maps import Layout, as_layout, readings


# -- Layout ---------------------------------------------------------------------------------------
def test_every_layout_reads_the_same_maps():
    maps = torch.arange(2 * 3 * 2 * 4.0).view(2, 3, 2, 4)  # N x C x h x w
    tokens = maps.flatten(2).transpose(1, 2)                 # N x (h w) x C, row by row
    with_class = torch.cat([torch.full((2, 1, 3), -1.0), tokens], 1)
    assert torch.equal(Layout("NCHW").maps(maps), maps)
    assert torch.equal(Layout("NHWC").maps(maps.permute(0, 2, 3, 1)), maps)
    assert torch.equal(Layout("NLC", grid=(2, 4), extra=0).maps(tokens), maps)
    assert torch.equal(Layout("NLC", grid=(2, 4), extra=1).maps(with_class), maps)
    assert torch.equal(Layout("NCL", grid=(2, 4), extra=1).maps(with_class.transpose(1, 2)), maps)


def test_a_layout_that_does_not_fit_the_output_is_an_error():
    with pytest.raises(ValueError, match="expects 1 \\+ 2 x 4 = 9 tokens, the output has 8"):
        Layout("NLC", grid=(2, 4), extra=1).maps(torch.zeros(2, 8, 3))
    with pytest.raises(ValueError, match="does not fit an output of shape \\(2, 8, 3\\)"):
        Layout("NHWC").maps(torch.zeros(2, 8, 3))
    with pytest.raises(ValueError, match="reshape=.* gave \\(2, 24\\)"):
        Layout(reshape=lambda t: t.flatten(1)).maps(torch.zeros(2, 8, 3))
    with pytest.raises(ValueError, match="unknown layout 'NWHC'"):
        Layout("NWHC")
    with pytest.raises(ValueError, match="extra .* is for token layouts"):
        Layout("NCHW", extra=1)


def test_recorded_layouts_read_back():
    for layout in (Layout("NCHW", grid=(7, 7)), Layout("NHWC", grid=(7, 9)), Layout("NLC", grid=(14, 14), extra=1),
                   Layout("NCL", grid=(4, 4), extra=0)):
        assert as_layout(str(layout)) == layout
    assert as_layout("tokens") == Layout("NLC") and as_layout("nchw") == Layout("NCHW")
    with pytest.raises(ValueError, match="unknown layout 'maps'"):
        as_layout("maps")


def test_readings_of_shapes():
    square = (32, 32)
    assert [str(r) for r in readings((2, 64, 8, 8), square, set())] == ["NCHW 8x8"]
    assert [str(r) for r in readings((2, 8, 8, 64), square, set())] == ["NHWC 8x8"]
    assert len(readings((2, 8, 8, 8), square, set())) == 2           # h = w = C: either
    assert [str(r) for r in readings((2, 17, 32), square, {(4, 4)})] == ["NLC 1+4x4"]  # a class token
    assert [str(r) for r in readings((2, 16, 32), square, {(4, 4)})] == ["NLC 4x4"]
    assert readings((2, 16), square, {(4, 4)}) == []                  # a vector that factors is no map
    assert readings((2, 1, 16), square, {(4, 4)}) == []               # nor is one channel of it
    assert readings((2, 64, 8, 6), square, set()) == []               # not the input's aspect


# -- models whose layouts xviz must find, or refuse to guess -----------------------------------
class Block(nn.Module):
    """x + MLP(LayerNorm(x)) on the last dimension, for tokens or channels-last maps."""

    def __init__(self, dim):
        super().__init__()
        self.norm, self.fc = nn.LayerNorm(dim), nn.Linear(dim, dim)

    def forward(self, x):
        return x + self.fc(self.norm(x))


class TokenNet(nn.Module):
    """A ViT in a few lines: patch embedding, a class token (or none), position embeddings
    (through ``bias``, a layer the same for every image), per-token blocks, then ``gather``,
    where the class token reads the grid by attention as a ViT's last block does, and a head
    on the class token alone (or, without one, on the mean of the tokens)."""

    def __init__(self, dim=12, patch=8, size=32, cls=True, blocks=2):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim)) if cls else None
        self.pos = nn.Parameter(torch.randn(1, (size // patch) ** 2 + int(cls), dim) * 0.1)
        self.bias = PositionBias(self.pos)
        self.blocks = nn.Sequential(*[Block(dim) for _ in range(blocks)])
        self.gather = Gather(dim)
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        if self.cls is None:
            return self.head(self.blocks(t + self.bias(t)).mean(1))
        t = torch.cat([self.cls.expand(len(t), -1, -1), t], 1)
        return self.head(self.gather(self.blocks(t + self.bias(t)))[:, 0])


class Gather(nn.Module):
    """The class token attends over the normalised tokens; the grid tokens pass unchanged."""

    def __init__(self, dim):
        super().__init__()
        self.norm, self.key, self.value = nn.LayerNorm(dim), nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, t):
        z = self.norm(t)
        attention = (self.key(z[:, 1:]) @ t[:, :1].transpose(1, 2)).softmax(1)
        cls = t[:, :1] + (attention * self.value(z[:, 1:])).sum(1, keepdim=True)
        return torch.cat([cls, t[:, 1:]], 1)


class PositionBias(nn.Module):
    def __init__(self, pos):
        super().__init__()
        self.pos = pos

    def forward(self, t):
        return self.pos.expand(len(t), -1, -1)


def tokens_clf(**kwargs):
    torch.manual_seed(0)
    return xviz.Classifier(TokenNet(**kwargs), size=32, device="cpu")


def test_tokens_with_a_class_token_are_read_past_it():
    clf = tokens_clf()
    layer = capture.feature_layer(clf, "blocks")
    assert str(layer.layout) == "NLC 1+4x4"
    x = torch.rand(2, 3, 32, 32)
    raw = []
    hook = clf.model.blocks.register_forward_hook(lambda m, i, o: raw.append(o.detach()))
    try:
        maps = clf.activations(x, "blocks")
    finally:
        hook.remove()
    assert torch.allclose(maps, raw[-1][:, 1:].transpose(1, 2).reshape(2, 12, 4, 4))
    assert str(capture.feature_layer(tokens_clf(cls=False), "blocks").layout) == "NLC 4x4"


def test_a_layer_the_same_for_every_image_is_never_read():
    clf = tokens_clf()
    assert "bias" not in capture.spatial_layers(clf)
    with pytest.raises(ValueError, match="layer 'bias' .* gives the same output for every image"):
        xviz.gradcam(clf, np.random.rand(32, 32, 3), layer="bias")


def test_the_automatic_layer_is_one_the_logits_depend_on():
    # What ``gather`` gives reaches the head through the class token alone: its grid says
    # nothing, and a Grad-CAM of it would be blank. Its input is read only through its
    # LayerNorm, whose output is taken (as a ViT's last block's first LayerNorm).
    clf = tokens_clf()
    assert str(capture.auto_layers(clf)[0]) == "gather.norm (NLC 1+4x4)"
    with pytest.warns(UserWarning, match="do not depend on the grid of layer 'gather'"):
        capture.feature_layer(clf, "gather")
    assert capture.probe(clf).facts["blocks"].read_through_norm(Layout("NLC", grid=(4, 4), extra=1))
    pooled = tokens_clf(cls=False)  # without a class token every block's grid counts
    assert capture.auto_layers(pooled)[0].name == "blocks"


class ChannelsLastNet(nn.Module):
    """Stem, then N x h x w x C blocks; ``fixed`` adds position embeddings of one grid size,
    so that the model takes no other input size."""

    def __init__(self, dim, fixed):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 4, stride=4)
        self.pos = nn.Parameter(torch.randn(1, 8, 8, dim) * 0.1) if fixed else None
        self.blocks = nn.Sequential(Block(dim), Block(dim))
        self.head = nn.Linear(dim, 2)

    def forward(self, x):
        x = self.stem(x).permute(0, 2, 3, 1)
        x = x + self.pos if self.pos is not None else x
        return self.head(self.blocks(x).mean((1, 2)))


def channels_last_clf(dim, fixed):
    torch.manual_seed(0)
    return xviz.Classifier(ChannelsLastNet(dim, fixed), size=32, device="cpu")


def test_channels_last_maps_are_permuted():
    clf = channels_last_clf(24, fixed=True)
    assert str(capture.auto_layers(clf)[0]) == "blocks (NHWC 8x8)"
    assert xviz.gradcam(clf, np.random.rand(32, 32, 3)).raw.shape == (8, 8)


def test_channels_last_or_first_when_h_equals_c():
    # 8 channels on an 8 x 8 grid: N x 8 x 8 x 8 reads both ways. A model that takes another
    # input size shows which dimensions follow it; one that does not gets an error naming layout=.
    assert str(capture.auto_layers(channels_last_clf(8, fixed=False))[0].layout) == "NHWC 8x8"
    fixed = channels_last_clf(8, fixed=True)
    with pytest.raises(ValueError, match="could be NCHW 8x8 .* or NHWC 8x8 .* give layout='NCHW' or layout='NHWC', whichever"):
        xviz.gradcam(fixed, np.random.rand(32, 32, 3))
    assert "blocks" not in capture.spatial_layers(fixed)
    sal = xviz.gradcam(fixed, np.random.rand(32, 32, 3), layout="NHWC")
    assert sal.settings["layout"] == "NHWC 8x8"
    by_hand = xviz.gradcam(fixed, np.random.rand(32, 32, 3), reshape=lambda t: t.permute(0, 3, 1, 2))
    assert by_hand.settings["layout"] == "reshape=<lambda>"


class FixedCNN(nn.Module):
    """Channels first only, with a head for one input size: 8 channels on an 8 x 8 grid."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 4, stride=4)
        self.act = nn.ReLU()
        self.fc = nn.Linear(8 * 8 * 8, 2)

    def forward(self, x):
        return self.fc(self.act(self.conv(x)).flatten(1))


def test_a_model_with_only_channels_first_maps_reads_them_so():
    torch.manual_seed(0)
    clf = xviz.Classifier(FixedCNN(), size=32, device="cpu")
    found = capture.probe(clf).facts["act"]
    assert [str(r) for r in found.layouts] == ["NCHW 8x8"] and found.how != "shape"  # settled by the model
    assert capture.auto_layers(clf)[0].name == "act"


def test_an_output_that_is_no_map_is_refused_naming_layout():
    clf = tokens_clf()
    with pytest.raises(ValueError, match="layer 'head' .* gives no spatial maps .* 4 x 3 .* give layout="):
        xviz.gradcam(clf, np.random.rand(32, 32, 3), layer="head")
    with pytest.raises(ValueError, match="layout='NHWC' is for 4-D outputs; layer 'blocks' gives 4 x 17 x 12"):
        xviz.gradcam(clf, np.random.rand(32, 32, 3), layer="blocks", layout="NHWC")
    with pytest.raises(ValueError, match="layout .* 2 \\+ 4 x 4 tokens; layer 'blocks' gives 17"):
        xviz.gradcam(clf, np.random.rand(32, 32, 3), layer="blocks", layout=Layout("NLC", grid=(4, 4), extra=2))


class Windows(nn.Module):
    """An output with the batch folded into windows, and one with a batch of one (a bias)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 4, stride=4)
        self.windows = nn.Identity()
        self.table = nn.Identity()
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        m = self.conv(x)
        self.windows(m.reshape(len(x) * 4, 4, 4, 4))
        self.table(torch.zeros(1, 2, 8, 8))
        return self.head(m.mean((2, 3)))


def test_outputs_without_one_row_per_image_are_refused():
    clf = xviz.Classifier(Windows(), size=32, device="cpu")
    for layer in ("windows", "table"):
        with pytest.raises(ValueError, match=f"layer '{layer}' .* not one row per image"):
            xviz.gradcam(clf, np.random.rand(32, 32, 3), layer=layer)
    assert capture.spatial_layers(clf) == ["conv"]


def test_the_probe_leaves_the_model_as_it_was():
    net = TokenNet().train()
    calls = []
    net.blocks.register_forward_hook(lambda m, i, o: calls.append(1))
    flags = [m.training for m in net.modules()]
    clf = xviz.Classifier(net, size=32, device="cpu")
    capture.probe(clf)
    assert [m.training for m in net.modules()] == flags and all(p.requires_grad for p in net.parameters())
    n = len(calls)
    net(torch.rand(1, 3, 32, 32))
    assert len(calls) == n + 1 and len(net.blocks._forward_hooks) == 1


# -- what the model returns ---------------------------------------------------------------------
class Returns(nn.Module):
    def __init__(self, wrap):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
        self.wrap = wrap

    def forward(self, x):
        features = self.conv(x)
        return self.wrap(self.fc(features.mean((2, 3))), features)


@pytest.mark.parametrize("wrap", [
    lambda z, f: types.SimpleNamespace(logits=z, hidden_states=(f,)),  # as transformers' ModelOutput
    lambda z, f: {"logits": z, "features": f},
    lambda z, f: (z, f),
    lambda z, f: [z],
])
def test_every_common_output_is_read(wrap):
    torch.manual_seed(0)
    plain = xviz.Classifier(Returns(lambda z, f: z), size=8, device="cpu")
    torch.manual_seed(0)
    wrapped = xviz.Classifier(Returns(wrap), size=8, device="cpu")
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(wrapped.logits(x), plain.logits(x))
    assert np.allclose(xviz.gradcam(wrapped, x[0].permute(1, 2, 0).numpy()).mask,
                       xviz.gradcam(plain, x[0].permute(1, 2, 0).numpy()).mask)


def test_an_output_it_cannot_read_names_output():
    torch.manual_seed(0)
    scores = Returns(lambda z, f: {"scores": z, "features": f})
    clf = xviz.Classifier(scores, size=8, device="cpu")
    with pytest.raises(ValueError, match="returned dict with 'scores': tensor 2 x 3, 'features': tensor 2 x 4 x 8 x 8 "
                                         ".* output=lambda out"):
        clf.logits(torch.rand(2, 3, 8, 8))
    told = xviz.Classifier(scores, size=8, device="cpu", output=lambda out: out["scores"])
    assert told.logits(torch.rand(2, 3, 8, 8)).shape == (2, 3)
    features_first = xviz.Classifier(Returns(lambda z, f: (f, z)), size=8, device="cpu")
    with pytest.raises(ValueError, match="returned tuple of 2: tensor 2 x 4 x 8 x 8, tensor 2 x 3, whose logits "
                                         "have shape \\(2, 4, 8, 8\\).*\\(give output="):
        features_first.logits(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="output must be a function"):
        xviz.Classifier(scores, size=8, output="scores")
