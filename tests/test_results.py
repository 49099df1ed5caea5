"""One result contract: every kind saves with save(), comes back with xviz.load(), gives
to_dict() for JSON, and is refused for another model; the old names still work, with a warning."""
import json

import numpy as np
import pytest
import torch

import xviz
from xviz.core.files import DamagedFile
from xviz.methods import layers as L
from xviz.methods import summaries
from xviz.methods import xnn as X
from xviz.zoo.examples import digit_summary


@pytest.fixture(scope="module")
def clf():
    return xviz.zoo.digits_cnn(device="cpu")


@pytest.fixture(scope="module")
def results(clf):
    """One result of every kind, made small."""
    img = xviz.zoo.image("digit-8")
    lay = L.explain(clf, img, progress=False)
    lay.label("features", 0, "loop")
    return {
        "Saliency": xviz.gradcam(clf, img),
        "SAG": xviz.sag(clf, img, grid=4, progress=False),
        "XNN": X.fit(clf, xviz.zoo.digits("train"), classes=[3, 8], n_concepts=2, epochs=20, progress=False),
        "Summary": digit_summary(),
        "LayerExplanation": lay,
        "GlobalExplanation": L.aggregate([lay], text_model="words"),
    }


KINDS = ["Saliency", "SAG", "XNN", "Summary", "LayerExplanation", "GlobalExplanation"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_comes_back_from_xviz_load(results, clf, kind, tmp_path):
    result = results[kind]
    assert isinstance(result, xviz.Result)
    path = result.save(tmp_path / "r")
    back = xviz.load(path, clf)
    assert type(back) is type(result)
    assert json.dumps(back.to_dict()) == json.dumps(result.to_dict())  # everything that is saved came back


@pytest.mark.parametrize("kind", KINDS)
def test_to_dict_is_json_with_the_format_tag(results, kind):
    d = results[kind].to_dict()
    assert d["format"] == type(results[kind]).FORMAT
    assert json.loads(json.dumps(d)) == d


def test_an_xnn_needs_its_classifier(results, tmp_path):
    path = results["XNN"].save(tmp_path / "xnn")
    with pytest.raises(ValueError, match="xnn.npz' is an xviz XNN, which explains new images with the model it was "
                                         r"made with: give it, xviz.load\(path, clf\)"):
        xviz.load(path)


def test_a_result_of_another_model_is_refused(results, tmp_path):
    other = xviz.Classifier(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)), size=32,
                            name="mine", device="cpu")
    for kind in ("Saliency", "SAG", "Summary", "LayerExplanation"):
        path = results[kind].save(tmp_path / kind)
        with pytest.raises(ValueError, match=f"{kind}.* was made with 'digits CNN', not 'mine'"):
            xviz.load(path, other)
        assert type(xviz.load(path)) is type(results[kind])  # without clf nothing is checked


def test_deprecated_names_warn_and_still_work(results, clf, tmp_path):
    sal, g, glob = results["Saliency"], results["SAG"], results["GlobalExplanation"]
    paths = {k: results[k].save(tmp_path / k) for k in ("Saliency", "XNN", "Summary", "LayerExplanation")}
    calls = [
        (lambda: xviz.Saliency.load(paths["Saliency"]), "Saliency.load"),
        (lambda: sal.lowres, "Saliency.lowres"),
        (lambda: g.to_json(tmp_path / "g.json"), "SAG.to_json"),
        (lambda: xviz.SAG.from_json(tmp_path / "g.json"), "SAG.from_json"),
        (lambda: glob.to_json(tmp_path / "glob.json"), "GlobalExplanation.to_json"),
        (lambda: L.GlobalExplanation.from_json(tmp_path / "glob.json"), "GlobalExplanation.from_json"),
        (lambda: L.LayerExplanation.load(paths["LayerExplanation"]), "LayerExplanation.load"),
        (lambda: summaries.load(paths["Summary"]), "xviz.summaries.load"),
        (lambda: X.load(paths["XNN"], clf), "xviz.xnn.load"),
    ]
    for call, name in calls:
        with pytest.warns(DeprecationWarning, match=f"{name}.* is deprecated and goes in xviz 0.3: use"):
            assert call() is not None
    assert np.array_equal(xviz.load(tmp_path / "g.json").segments, g.segments)
    with pytest.warns(DeprecationWarning):
        assert np.array_equal(sal.lowres, sal.raw)


def test_a_file_from_before_raw_was_named_so_still_loads(results, tmp_path):
    sal = results["Saliency"]
    path = sal.save(tmp_path / "s")
    with np.load(path) as data:
        parts = dict(data)
    parts["lowres"] = parts.pop("raw")
    np.savez(tmp_path / "old.npz", **parts)
    assert np.array_equal(xviz.load(tmp_path / "old.npz").raw, sal.raw)


@pytest.mark.parametrize("change, message", [
    (lambda p: p.update(mask=np.full_like(p["mask"], np.nan)), "its mask is not all finite floats"),
    (lambda p: p.update(image=p["image"] * 255), r"its image has values outside \[0, 1\] \(0..2\d\d\)"),
    (lambda p: p.update(raw=p["raw"].astype(np.int64)), "its raw is not all finite floats"),
])
def test_a_saliency_file_with_impossible_values_is_refused(results, tmp_path, change, message):
    path = results["Saliency"].save(tmp_path / "s")
    with np.load(path) as data:
        parts = dict(data)
    change(parts)
    np.savez(tmp_path / "bad.npz", **parts)
    with pytest.raises(DamagedFile, match=f"bad.npz' is a damaged xviz saliency file: {message}"):
        xviz.load(tmp_path / "bad.npz")


def test_a_folder_or_a_missing_file_is_named_as_given(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"'{tmp_path}' is a folder; give the file of a saved result"):
        xviz.load(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no file '.*nothing' \(nor '.*nothing.npz'\)"):
        xviz.load(tmp_path / "nothing")


def test_a_format_of_another_version_says_so(results, tmp_path):
    path = results["Saliency"].save(tmp_path / "s")
    with np.load(path) as data:
        parts = dict(data)
    parts["meta"] = np.array(json.dumps({**json.loads(str(parts["meta"])), "format": "xviz.saliency/9"}))
    np.savez(tmp_path / "newer.npz", **parts)
    with pytest.raises(ValueError, match="newer.npz' is an xviz result file of format 'xviz.saliency/9', which this "
                                         "xviz reads not .* made by another version of xviz"):
        xviz.load(tmp_path / "newer.npz")


def test_the_two_cluster_classes_have_names_of_their_own():
    assert L.MapCluster is not summaries.RegionCluster
    with pytest.warns(DeprecationWarning, match="xviz.methods.layers.Cluster is deprecated .* use xviz.methods.layers.MapCluster"):
        assert L.Cluster is L.MapCluster
    with pytest.warns(DeprecationWarning, match="use xviz.methods.summaries.RegionCluster"):
        assert summaries.Cluster is summaries.RegionCluster


def _rewritten(path, tmp_path, change):
    """A copy of an .npz result with ``change(parts)`` applied to its arrays."""
    with np.load(path) as data:
        parts = dict(data)
    change(parts)
    np.savez(tmp_path / "bad.npz", **parts)
    return tmp_path / "bad.npz"


@pytest.mark.parametrize("kind, change, message", [
    ("Summary", lambda p: p.update(masks=p["masks"] * 3), "its masks has values outside"),
    ("Summary", lambda p: p.update(scores=p["scores"][:1]), r"its scores has shape \(1,\), expected \(4,\)"),
    ("Summary", lambda p: p.update(labels=p["labels"].astype(np.float32)), "its labels is not all non-negative ints"),
    ("LayerExplanation", lambda p: p.update(image=p["image"] - 1), "its image has values outside"),
    ("LayerExplanation", lambda p: p.update(l0_shares=p["l0_shares"] * np.nan), "its l0_shares is not all finite"),
    ("XNN", lambda p: p.update({"net.head.bias": p["net.head.bias"] * np.inf}), "its head.bias is not all finite"),
    ("XNN", lambda p: p.update({"split.test": p["split.test"] + 10_000}), "its split names images past"),
])
def test_npz_results_with_impossible_contents_are_refused(results, clf, tmp_path, kind, change, message):
    bad = _rewritten(results[kind].save(tmp_path / kind), tmp_path, change)
    with pytest.raises(DamagedFile, match=f"bad.npz' is a damaged xviz .* file: {message}"):
        xviz.load(bad, clf)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["image"].update(base64=d["image"]["base64"][:-12]), "its arrays"),
    (lambda d: d.update(p_full=1.5), "its p_full is 1.5, not a number in"),
    (lambda d: d.update(roots=[[0, 999]]), r"its roots name regions outside 0..15"),
    (lambda d: d["segments"].update(dtype="<f4"), "its segments is not all non-negative ints"),
])
def test_a_sag_file_with_impossible_contents_is_refused(results, tmp_path, change, message):
    data = json.loads(results["SAG"].save(tmp_path / "g.json").read_text())
    change(data)
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(DamagedFile, match=f"bad.json' is a damaged xviz SAG file.*{message}"):
        xviz.load(tmp_path / "bad.json")
