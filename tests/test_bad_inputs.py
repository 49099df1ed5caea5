"""Inputs that gave a silent wrong result or an unhelpful error now get a clear one."""
import gc
import warnings

import numpy as np
import pytest
import torch

import xviz
from xviz.methods import layers as L


@pytest.fixture(scope="module")
def clf():
    return xviz.zoo.digits_cnn(device="cpu")


@pytest.mark.parametrize("chunk_size", ["8", 2.7, True, 0])
def test_chunk_size_is_not_coerced(chunk_size):
    with pytest.raises(ValueError, match="chunk_size must be"):
        xviz.Classifier(torch.nn.Linear(2, 2), chunk_size=chunk_size)


def test_min_share_that_keeps_no_map_is_refused(clf):
    with pytest.raises(ValueError, match=r"min_share=1000 keeps no map of layer .*: .* below the layer's C = \d+ maps"):
        L.explain(clf, xviz.zoo.image("digit-3"), min_share=1000, progress=False)


def test_slic_segments_smaller_than_a_few_pixels_are_refused(clf):
    with pytest.raises(ValueError, match=r"n_segments=5000 asks for regions of 0.2 pixels on the 32 x 32 input: "
                                         r"at most 64"):
        xviz.sag(clf, xviz.zoo.image("digit-3"), regions="slic", n_segments=5000, progress=False)


def test_an_empty_report_is_refused(clf, tmp_path):
    with pytest.raises(ValueError, match="results is empty"):
        xviz.report(clf, xviz.zoo.image("digit-3"), [], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_a_value_just_outside_the_unit_range_is_shown_in_full():
    img = np.full((8, 8, 3), 0.5, np.float32)
    img[0, 0, 0] = np.float32(1.0000002)
    with pytest.raises(ValueError, match=r"range over \[0.5, 1.000000\d+\]"):
        xviz.images.load_image(img)


@pytest.mark.parametrize("call", [
    lambda clf, img: xviz.rise(clf, img, n_masks=10, seed=2**70, progress=False),
    lambda clf, img: xviz.igos(clf, img, seed=-1, progress=False),
    lambda clf, img: L.explain(clf, img, seed=2**40, progress=False),
    lambda clf, img: xviz.sag(clf, img, seed=1.5, progress=False),
])
def test_seeds_out_of_range_are_refused_at_the_door(clf, call):
    with pytest.raises(ValueError, match=r"seed must be an int in 0..4294967295"):
        call(clf, xviz.zoo.image("digit-3"))


def test_a_cut_off_file_leaves_no_file_open(clf, tmp_path):
    path = xviz.gradcam(clf, xviz.zoo.image("digit-3")).save(tmp_path / "s")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="cut-off or damaged"):
            xviz.load(path)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]  # numpy left its handle open


def test_html_into_a_missing_folder_names_the_folder(clf, tmp_path):
    sal = xviz.gradcam(clf, xviz.zoo.image("digit-3"))
    with pytest.raises(FileNotFoundError, match="the folder '.*nowhere' does not exist"):
        xviz.show(sal).to_html(tmp_path / "nowhere" / "v.html")
    with pytest.raises(FileNotFoundError, match="the folder '.*nowhere' does not exist"):
        xviz.report(clf, xviz.zoo.image("digit-3"), [sal], tmp_path / "nowhere" / "r.html")


def test_show_names_the_item_it_cannot_show(clf):
    sal = xviz.gradcam(clf, xviz.zoo.image("digit-3"))
    with pytest.raises(ValueError, match=r"item 1 is a str \('x'\)"):
        xviz.show([sal, "x"])
    with pytest.raises(ValueError, match=r"no view for a int \(3\)"):
        xviz.show(3)
