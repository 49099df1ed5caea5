"""Grad-CAM against a model whose answer is known, its layer lookup, and result round trips."""
import numpy as np
import pytest
import torch

import xviz
from xviz.core.capture import find_layer, spatial_layers
from xviz.methods import Saliency


def mass_inside(mask, box, margin=0):
    top, left, h, w = box
    inside = mask[max(top - margin, 0):top + h + margin, max(left - margin, 0):left + w + margin].sum()
    return inside / mask.sum()


def test_gradcam_finds_the_only_square_the_model_sees(square_clf, square_box, rng):
    img = rng.random((32, 32, 3))
    sal = xviz.gradcam(square_clf, img, target="on")
    assert sal.target == 1 and sal.label == "on"
    # The features are zero outside the square (plus the 3x3 conv's one-pixel rim), so at
    # least 95% of the heatmap's mass must fall within one pixel of it.
    assert mass_inside(sal.mask, square_box, margin=1) > 0.95
    assert sal.mask.max() == 1.0 and sal.mask.min() == 0.0


def test_gradcam_batch_returns_one_result_per_image(square_clf, rng):
    imgs = [rng.random((32, 32, 3)) for _ in range(3)]
    out = xviz.gradcam(square_clf, imgs, target=[0, 1, None])
    assert isinstance(out, list) and len(out) == 3
    assert [s.target for s in out[:2]] == [0, 1]


def test_gradcam_score_is_the_full_image_probability(square_clf, rng):
    img = rng.random((32, 32, 3))
    sal = xviz.gradcam(square_clf, img, target=1)
    x, _ = square_clf.prepare(img)
    assert sal.score == pytest.approx(float(square_clf.probs(x)[0, 1]), abs=1e-6)


def test_layer_lookup(square_clf, digits_clf):
    assert spatial_layers(square_clf) == ["conv", "features"]
    assert find_layer(square_clf)[0] == "features"
    assert find_layer(square_clf, square_clf.model.conv)[0] == "conv"
    with pytest.raises(ValueError, match="no layer named 'featurs'.*Did you mean 'features'"):
        find_layer(square_clf, "featurs")
    with pytest.raises(ValueError, match="not part of"):
        find_layer(square_clf, torch.nn.Conv2d(1, 1, 1))
    assert find_layer(digits_clf)[0] == "features"


def test_gradcam_on_a_named_layer(square_clf, rng):
    sal = xviz.gradcam(square_clf, rng.random((32, 32, 3)), layer="conv")
    assert sal.settings["layer"] == "conv"


def test_gradcam_refuses_a_layer_without_maps_before_any_pass(digits_clf):
    passes = digits_clf.images_backpropagated
    with pytest.raises(ValueError, match="layer 'fc' .* gives no spatial maps .* to weight.*features"):
        xviz.gradcam(digits_clf, xviz.zoo.image("digit-3"), layer="fc")
    assert digits_clf.images_backpropagated == passes


def test_the_layer_lookup_follows_a_swapped_module():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 3, padding=1),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    clf = xviz.Classifier(net, size=16, device="cpu")
    assert spatial_layers(clf) == ["0", "1"]
    net[1] = torch.nn.AdaptiveAvgPool2d(1)  # same number of modules, now 1 x 1 output
    assert spatial_layers(clf) == ["0"]


def test_a_flat_map_stays_flat():
    from xviz.methods.heatmap import normalize_map

    flat = normalize_map(torch.full((1, 4, 4), 0.3), (32, 32))
    assert float(flat.abs().max()) == 0.0  # not the upsampling's rounding noise stretched to [0, 1]
    ramp = normalize_map(torch.arange(16.0).view(1, 4, 4) * 1e-3 + 0.3, (32, 32))
    assert float(ramp.min()) == 0.0 and float(ramp.max()) == pytest.approx(1.0)


def test_gradcam_bad_target(square_clf, rng):
    with pytest.raises(ValueError, match="unknown label 'of'"):
        xviz.gradcam(square_clf, rng.random((32, 32, 3)), target="of")
    with pytest.raises(ValueError, match="out of range"):
        xviz.gradcam(square_clf, rng.random((32, 32, 3)), target=7)


def test_saliency_save_load_round_trip(square_clf, rng, tmp_path):
    sal = xviz.gradcam(square_clf, rng.random((32, 32, 3)))
    sal.save(tmp_path / "s.npz")
    back = xviz.load(tmp_path / "s.npz")
    assert np.array_equal(back.mask, sal.mask) and np.array_equal(back.raw, sal.raw)
    assert np.array_equal(back.image, sal.image)
    assert (back.method, back.target, back.label, back.settings) == (sal.method, sal.target, sal.label, sal.settings)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as data:  # no pickled objects inside
        assert set(data.files) == {"mask", "raw", "image", "meta"}


def test_a_name_without_npz_saves_and_loads_as_numpy_writes_it(square_clf, rng, tmp_path):
    sal = xviz.gradcam(square_clf, rng.random((32, 32, 3)))
    assert sal.save(tmp_path / "s") == tmp_path / "s.npz" and (tmp_path / "s.npz").is_file()
    assert np.array_equal(xviz.load(tmp_path / "s").mask, sal.mask)
    (tmp_path / "s.npz").rename(tmp_path / "s.data")  # a file that exists is read as it is named
    assert np.array_equal(xviz.load(tmp_path / "s.data").mask, sal.mask)


def test_loading_something_else_fails(tmp_path):
    np.savez(tmp_path / "other.npz", mask=np.zeros(2), raw=np.zeros(2), image=np.zeros(2),
             meta=np.array('{"format": "nope"}'))
    with pytest.raises(ValueError, match="not an xviz result file .format .nope."):
        xviz.load(tmp_path / "other.npz")


@pytest.mark.parametrize("load", [xviz.load, lambda path: xviz.load(path, xviz.zoo.digits_cnn())])
def test_an_npz_without_xviz_metadata_says_so(tmp_path, load):
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="foreign.npz' is not an xviz .* file .it has no xviz metadata"):
        load(tmp_path / "foreign.npz")


LOADERS = [xviz.load, lambda path: xviz.load(path, xviz.zoo.digits_cnn())]


@pytest.fixture
def saved(square_clf, rng, tmp_path):
    """The bytes of a saved Saliency file."""
    return xviz.gradcam(square_clf, rng.random((32, 32, 3))).save(tmp_path / "s.npz").read_bytes()


@pytest.mark.parametrize("load", LOADERS)
@pytest.mark.parametrize("make, message", [
    (lambda b, p: p.write_bytes(b[:len(b) // 2]), "damaged or incomplete xviz .* file .a cut-off or damaged zip"),
    (lambda b, p: p.write_bytes(b""), "damaged or incomplete xviz .* file .it is empty"),
    (lambda b, p: np.save(p.with_suffix(".npy"), np.zeros(3)) or p.with_suffix(".npy").rename(p),
     "not an xviz .* file .it is a single .npy array"),
    (lambda b, p: p.write_text('{"format": "xviz.sag/1"}'), "incomplete xviz SAG file, or one from another xviz version"),
    (lambda b, p: p.write_text('{"format": "mine"}'), "not an xviz result file .format 'mine', expected one of"),
    (lambda b, p: p.write_text("hello"), "not an xviz .* file .it is not an .npz archive"),
])
def test_files_that_are_no_result_get_one_clear_error(saved, tmp_path, load, make, message):
    # numpy's own words were "BadZipFile", "EOFError", "load it unsafely with allow_pickle=" and a TypeError
    path = tmp_path / "bad.npz"
    make(saved, path)
    with pytest.raises(ValueError, match=message) as caught:
        load(path)
    assert "bad.npz" in str(caught.value)


def test_damage_inside_an_array_or_a_missing_array_is_named(saved, tmp_path):
    flipped = bytearray(saved)
    at = saved.index(b"mask.npy") + 200  # inside the compressed mask, past its local header
    flipped[at:at + 16] = bytes(16)
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    with pytest.raises(xviz.core.files.DamagedFile, match="flipped.npz' is a damaged xviz saliency file"):
        xviz.load(tmp_path / "flipped.npz")
    with np.load(tmp_path / "s.npz") as data:
        parts = {k: data[k] for k in data.files if k != "raw"}
    np.savez(tmp_path / "partial.npz", **parts)  # a file from another version, without one array
    with pytest.raises(ValueError, match="partial.npz' is an incomplete xviz saliency file, or one from another xviz version: it has no .raw."):
        xviz.load(tmp_path / "partial.npz")
    parts["raw"], parts["mask"] = np.zeros((7, 7)), np.zeros(3)
    np.savez(tmp_path / "shapes.npz", **parts)
    with pytest.raises(ValueError, match=r"mask \(3,\), raw \(7, 7\), image \(32, 32, 3\) do not fit"):
        xviz.load(tmp_path / "shapes.npz")


def test_json_results_name_the_file_for_anything_else(saved, tmp_path):
    read = xviz.load
    (tmp_path / "s.json").write_bytes(saved)  # a saliency named .json: read for what it is
    assert read(tmp_path / "s.json").method == "gradcam"
    for name, text in [("cut.json", '{"format": "xviz.sag/1", "image'), ("list.json", "[]"), ("str.json", '"x"')]:
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=f"{name}' is (not an xviz|a damaged)"):
            read(tmp_path / name)


def test_saving_into_a_missing_folder_names_the_folder(square_clf, rng, tmp_path):
    sal = xviz.gradcam(square_clf, rng.random((32, 32, 3)))
    with pytest.raises(FileNotFoundError, match="the folder '.*nowhere' does not exist"):
        sal.save(tmp_path / "nowhere" / "s.npz")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileNotFoundError, match="the folder '.*afile' is a file, not a folder"):
        sal.save(tmp_path / "afile" / "s.npz")
