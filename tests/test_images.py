"""Every accepted input form, and every rejected one with a message that says what was wrong."""
import numpy as np
import pytest
import torch
from PIL import Image

from xviz.core import images
from xviz.core.images import baseline, blur, is_batch, load_image, load_images


def test_uint8_rgb_is_scaled_to_unit_range():
    a = np.full((4, 6, 3), 255, np.uint8)
    out = load_image(a)
    assert out.shape == (4, 6, 3) and out.dtype == np.float32 and out.max() == 1.0


def test_float_rgb_passes_through():
    a = np.random.default_rng(0).random((5, 5, 3))
    assert np.allclose(load_image(a), a)


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1)])
def test_grayscale_becomes_three_equal_channels(shape):
    a = np.random.default_rng(1).random(shape)
    out = load_image(a)
    assert out.shape == (5, 7, 3)
    assert np.allclose(out[..., 0], out[..., 1]) and np.allclose(out[..., 1], out[..., 2])


def test_rgba_becomes_rgb_composited_over_white():
    a = np.zeros((2, 2, 4), np.uint8)
    a[0, 0] = (10, 20, 30, 255)  # opaque: kept
    a[1, 1] = (10, 20, 30, 0)    # transparent: white
    out = load_image(a)
    assert out.shape == (2, 2, 3)
    assert np.allclose(out[0, 0], np.array([10, 20, 30]) / 255)
    assert np.allclose(out[1, 1], 1.0)


def test_bool_image():
    assert load_image(np.eye(3, dtype=bool)).max() == 1.0


def test_pil_image_and_file(tmp_path):
    a = (np.random.default_rng(2).random((6, 8, 3)) * 255).astype(np.uint8)
    im = Image.fromarray(a)
    assert np.allclose(load_image(im), a / 255, atol=1e-6)
    path = tmp_path / "x.png"
    im.save(path)
    assert np.allclose(load_image(path), a / 255, atol=1e-6)
    assert np.allclose(load_image(str(path)), a / 255, atol=1e-6)


def test_pil_grayscale_and_palette(tmp_path):
    gray = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4) * 10, mode="L")
    assert load_image(gray).shape == (4, 4, 3)
    assert load_image(gray.convert("P")).shape == (4, 4, 3)


def test_grey_images_deeper_than_8_bits_keep_their_values(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)  # a 16-bit grey PNG (PIL reopens it in mode I or I;16)
    assert np.allclose(load_image(path)[..., 0], ramp / 65535, atol=1e-6)
    assert np.allclose(load_image(ramp)[..., 1], ramp / 65535, atol=1e-6)  # the same as an array
    eight = Image.fromarray(np.full((8, 8), 200, np.int32), mode="I")  # 8-bit values in 32-bit pixels
    assert np.allclose(load_image(eight), 200 / 255)
    flat = tmp_path / "quarter.tif"
    Image.fromarray(np.full((8, 8), 0.25, np.float32), mode="F").save(flat)
    assert np.allclose(load_image(flat), 0.25)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        load_image(Image.fromarray(np.full((8, 8), 3.0, np.float32), mode="F"))


@pytest.mark.parametrize("t, shape", [
    (torch.rand(3, 5, 6, dtype=torch.bfloat16), (5, 6, 3)),
    (torch.rand(3, 5, 6), (5, 6, 3)),
    (torch.rand(1, 5, 6), (5, 6, 3)),
    (torch.rand(5, 6), (5, 6, 3)),
    (torch.randint(0, 255, (3, 4, 4), dtype=torch.uint8), (4, 4, 3)),
])
def test_tensors(t, shape):
    assert load_image(t).shape == shape


def test_tensor_channels_first_is_transposed():
    t = torch.zeros(3, 2, 2)
    t[0] = 1.0  # red
    out = load_image(t)
    assert np.allclose(out[..., 0], 1.0) and np.allclose(out[..., 1:], 0.0)


@pytest.mark.parametrize("bad, words", [
    (np.zeros((2, 3, 4, 5, 6)), ["5 dimensions", "Accepted"]),
    (np.zeros((4, 4, 2)), ["H x W x 3", "(4, 4, 2)"]),
    (np.zeros((0, 4, 3)), ["empty"]),
    (np.full((4, 4, 3), np.nan), ["NaN"]),
    (np.full((4, 4, 3), np.inf), ["infinite"]),
    (np.full((4, 4, 3), 200.0), ["[0, 1]", "255"]),
    (np.full((4, 4, 3), 7, np.int32), ["uint8 or uint16", "int32"]),
    (np.zeros((1, 9, 3)), ["2 x 2"]),
    (torch.zeros(2, 5, 5), ["C x H x W"]),
    (42, ["int", "Accepted"]),
    ({"a": 1}, ["dict"]),
])
def test_rejected_inputs_name_what_was_given(bad, words):
    with pytest.raises(ValueError) as err:
        load_image(bad)
    for w in words:
        assert w in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no image file at .*nothing.png"):
        load_image(tmp_path / "nothing.png")


def test_non_image_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(ValueError, match="not an image file"):
        load_image(path)


def test_batches():
    assert is_batch([np.zeros((4, 4))]) and is_batch(np.zeros((2, 4, 4, 3))) and is_batch(torch.zeros(2, 3, 4, 4))
    assert not is_batch(np.zeros((4, 4, 3)))
    arrays, batch = load_images(torch.rand(2, 3, 4, 4))
    assert batch and len(arrays) == 2 and arrays[0].shape == (4, 4, 3)
    arrays, batch = load_images(np.zeros((4, 4)))
    assert not batch and len(arrays) == 1
    with pytest.raises(ValueError, match="empty batch"):
        load_images([])


def test_blur_keeps_mean_and_smooths():
    x = torch.zeros(1, 3, 32, 32)
    x[..., ::2, :] = 1.0  # stripes
    y = blur(x, ksize=11, sigma=5)
    assert y.shape == x.shape
    assert y.std() < 0.1 * x.std()
    assert abs(float(y.mean() - x.mean())) < 0.02


def test_blur_of_tiny_image_still_works():
    assert blur(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8, 8)


def test_baselines():
    x = torch.rand(2, 3, 16, 16)
    assert torch.all(baseline(x, "black") == 0)
    assert torch.allclose(baseline(x, 0.5), torch.full_like(x, 0.5))
    assert baseline(x, "blur").shape == x.shape
    assert torch.equal(baseline(x, torch.ones(3, 16, 16)), torch.ones_like(x))
    with pytest.raises(ValueError, match="unknown baseline 'noise'"):
        baseline(x, "noise")
    with pytest.raises(ValueError, match="shape"):
        baseline(x, torch.ones(3, 8, 8))


def test_a_far_larger_image_is_reduced_while_it_is_read(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    big = (rng.random((1200, 1000, 3)) * 255).astype(np.uint8)
    near = (64, 64)
    reduced = images.load_image(big, near=near)
    assert reduced.shape == (171, 142, 3)  # a whole factor (7) that keeps at least twice the size
    full = images.load_image(big)
    np.testing.assert_allclose(reduced, full[:1197, :994].reshape(171, 7, 142, 7, 3).mean((1, 3)), atol=1e-6)
    # Brought to the model's size, it is the same picture as the full-size path gives
    a = images.resize(images.to_tensor(reduced), near)
    b = images.resize(images.to_tensor(full), near)
    assert float((a - b).abs().mean()) < 0.01
    Image.fromarray(big).save(tmp_path / "big.png")
    assert images.load_image(tmp_path / "big.png", near=near).shape == (172, 143, 3)  # PIL keeps the edge blocks
    grey = images.load_image(big[..., 0].astype(np.float32) / 255, near=near)
    np.testing.assert_allclose(grey[..., 0], grey[..., 2])


def test_an_image_under_four_times_the_size_is_read_exactly():
    img = np.random.default_rng(1).random((250, 250, 3)).astype(np.float32)
    assert np.array_equal(images.load_image(img, near=(64, 64)), img)


def test_a_bad_pixel_in_a_reduced_image_is_still_refused():
    img = np.random.default_rng(1).random((1000, 1000, 3)).astype(np.float32)
    img[900, 10, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        images.load_image(img, near=(32, 32))
