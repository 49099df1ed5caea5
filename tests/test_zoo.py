"""The bundled models give the known answers on the bundled images, offline."""
import numpy as np
import pytest
import torch

import xviz
from xviz import zoo
from xviz.zoo.digits_model import WEIGHTS_PATH, upsample


@pytest.mark.parametrize("name, index, label, p_min", [
    ("chelsea", 285, "Egyptian cat", 0.7),
    ("coffee", 967, "espresso", 0.8),
])
def test_efficientnet_lite0_on_bundled_photos(effnet, name, index, label, p_min):
    (top_label, p), *_ = effnet.predict(zoo.image(name), top=5)
    assert top_label == label and p > p_min
    x, _ = effnet.prepare(zoo.image(name))
    assert int(effnet.probs(x).argmax()) == index


def test_efficientnet_lite0_batch_matches_single(effnet):
    photos = [zoo.image(n) for n in ("chelsea", "coffee", "rocket")]
    batch = effnet.predict(photos, top=1)
    assert [row[0][0] for row in batch] == [effnet.predict(p, top=1)[0][0] for p in photos]


def test_efficientnet_lite0_architecture_loads_strictly():
    from xviz.zoo.efficientnet import build_efficientnet_lite0

    model = build_efficientnet_lite0(fold_bn=False)
    n = sum(p.numel() for p in model.parameters())
    assert 4.6e6 < n < 4.7e6  # 4.65 M parameters, as the state dict holds
    assert not model.training


def test_folding_batchnorm_keeps_the_outputs():
    from xviz.zoo.efficientnet import build_efficientnet_lite0

    plain, folded = build_efficientnet_lite0(fold_bn=False), build_efficientnet_lite0()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 3, 224, 224) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(plain(x), folded(x), atol=1e-4)


def test_imagenet_labels():
    labels = zoo.imagenet_labels()
    assert len(labels) == 1000
    shown = [names[0] for names in labels]
    assert len(set(shown)) == 1000, "shown names must be unique"
    assert shown[285] == "Egyptian cat" and "tabby cat" in labels[281]


def test_digits_model_accuracy_on_held_out_digits(digits_clf):
    test = zoo.digits("test")
    x, _ = digits_clf.prepare(list(test.images))
    accuracy = float((digits_clf.logits(x).argmax(1).cpu().numpy() == test.labels).mean())
    assert accuracy >= 0.97


def test_digits_preprocessing_matches_training(digits_clf):
    """The Classifier's resize must give exactly the pixels the model was trained on."""
    test = zoo.digits("test")
    x, _ = digits_clf.prepare(list(test.images[:5]))
    assert torch.allclose(x, upsample(torch.from_numpy(test.images[:5])), atol=1e-6)


def test_digits_weights_are_small():
    assert WEIGHTS_PATH.stat().st_size < 1_000_000


def test_digits_splits():
    train, test, every = zoo.digits("train"), zoo.digits("test"), zoo.digits("all")
    assert len(train) + len(test) == len(every) == 1797
    assert train.images.min() >= 0 and train.images.max() <= 1
    with pytest.raises(ValueError, match="split"):
        zoo.digits("validation")


@pytest.mark.parametrize("name", zoo.sample_names())
def test_every_sample_image_loads(name):
    img = zoo.image(name)
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1


def test_digit_samples_are_the_first_held_out_digit_of_each_class(digits_clf):
    test = zoo.digits("test")
    right = 0
    for d in range(10):
        first = test.images[np.flatnonzero(test.labels == d)[0]]
        assert np.array_equal(zoo.image(f"digit-{d}")[..., 0], first)
        right += digits_clf.predict(zoo.image(f"digit-{d}"), top=1)[0][0] == str(d)
    assert right >= 9  # the first held-out 5 is one of the model's four mistakes (it says 8)


def test_unknown_sample_name():
    with pytest.raises(ValueError, match="no bundled image named 'chelsey'; did you mean 'chelsea'"):
        zoo.image("chelsey")


@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("groups", [1, 4])
def test_same_conv_pads_like_tensorflow(kernel, groups):
    """Strided "same" convolutions equal an explicit TensorFlow pad (more at the bottom/right)
    on even, odd and mixed sizes, also where the kernel is grown instead of the input padded."""
    import math

    import torch.nn.functional as F

    from xviz.zoo.efficientnet import SameConv2d

    torch.manual_seed(0)
    conv = SameConv2d(4, 8, kernel, stride=2, groups=groups)
    for h, w in [(16, 16), (15, 15), (16, 15), (15, 16), (2, 2), (1, 1)]:
        x = torch.randn(2, 4, h, w)
        pads = []
        for size, k in ((w, kernel), (h, kernel)):
            total = max((math.ceil(size / 2) - 1) * 2 + k - size, 0)
            pads += [total // 2, total - total // 2]
        expected = F.conv2d(F.pad(x, pads), conv.weight, conv.bias, 2, 0, 1, groups)
        assert conv(x).shape == expected.shape
        assert torch.allclose(conv(x), expected, atol=1e-5), (h, w)


def test_digits_vit_accuracy_and_the_tokens_it_is_explained_by():
    vit = zoo.digits_vit(device="cpu")
    test = zoo.digits("test")
    x, _ = vit.prepare(list(test.images))
    accuracy = float((vit.logits(x).argmax(1).cpu().numpy() == test.labels).mean())
    assert accuracy >= 0.97
    n = sum(p.numel() for p in vit.model.parameters())
    assert 70_000 < n < 90_000
    sal = xviz.gradcam(vit, zoo.image("digit-4"))
    # The last block's normalised input: 64 patch tokens after the class token, on an 8 x 8 grid.
    assert (sal.settings["layer"], sal.settings["layout"], sal.raw.shape) == ("blocks.3.norm1", "NLC 1+8x8", (8, 8))
