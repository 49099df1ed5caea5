"""SummaryView: one row of crops per cluster; choosing a crop shows its region in its image."""
import numpy as np
import pytest

import xviz
from xviz.methods import summaries
from xviz.views.host import BokehWidget
from xviz.views.summary import REGION_RGBA, SummaryView, jpeg, overlay, runs


@pytest.fixture(scope="module")
def summary():
    clf = xviz.zoo.digits_cnn(device="cpu")
    digits = xviz.zoo.digits("test")
    threes = [im for im, y in zip(digits.images, digits.labels) if y == 3][:5]
    summ = summaries.fit(clf, threes, target="3", smooth_iterations=20, sharp_iterations=10, progress=False)
    assert summ.clusters and len(summ.clusters[0].members) >= 2
    return summ


def _rgba(array):
    """bokeh uint32 RGBA (bottom-up rows) -> H x W x 4 uint8, top-down."""
    return np.asarray(array).view(np.uint8).reshape(array.shape + (4,))[::-1]


def test_one_row_of_crops_per_cluster(summary):
    view = SummaryView(summary, max_members=3, thumb=40)
    assert len(view.rows) == len(summary.clusters) == len(view.marks)
    for k, members in enumerate(view.rows):
        assert members == summary.clusters[k].members[:3]
        crops = view.layout.select_one({"name": f"cluster-{k}-crops"})
        assert crops.glyph.w == len(members)  # one unit of the row per crop
        assert crops.data_source.data["url"][0].startswith("data:image/jpeg;base64,")
    assert len(view.table.data["cluster"]) == sum(len(m) for m in view.rows)


def test_starts_on_the_best_clusters_exemplar(summary):
    view = SummaryView(summary)
    assert view.chosen == (0, 0) and view.region is summary.clusters[0].exemplar
    assert view.shown_image == summary.clusters[0].exemplar.image
    assert "cluster 1" in view.info.text and "exemplar" in view.info.text
    assert view.marks[0].data["left"] == [0]
    # A tap draws the tint in the browser only; every page opened later draws it from the state.
    assert view._on_load is view.render


def test_choosing_a_crop_shows_its_image_with_the_region_tinted_and_outlined(summary):
    view = SummaryView(summary)
    r = summary.clusters[0].members[1]
    view.choose(0, 1)
    assert view.chosen == (0, 1) and view.region is r
    assert view.photo.data["url"] == [jpeg(summary.images[r.image])]
    tint = _rgba(view.overlay.data["image"][0])
    np.testing.assert_array_equal((tint == REGION_RGBA).all(-1), r.mask)  # exactly the region's pixels
    H = summary.images.shape[1]
    t, l, b, rr = r.box
    assert view.box.data == {"left": [l], "right": [rr], "bottom": [H - b], "top": [H - t]}
    assert view.marks[0].data["left"] == [1]
    assert all(not m.data["left"] for m in view.marks[1:])
    assert f"image {r.image}" in view.info.text and "member 2" in view.info.text


def test_overlay_of_a_box_marks_the_masks_pixels_inside_it(summary):
    labels = np.zeros((8, 8), np.int32)
    labels[2:6, 2:6] = 1
    tint = _rgba(overlay(labels, "box", 0, (0, 0, 4, 4)))
    region = (tint == REGION_RGBA).all(-1)
    expected = np.zeros((8, 8), bool)
    expected[2:4, 2:4] = True
    np.testing.assert_array_equal(region, expected)
    assert tint[5, 5, 3] > 0 and tint[0, 0, 3] == 0  # the rest of the mask faint, outside it clear


def test_run_length_code_of_a_label_map():
    labels = np.array([[0, 0, 1], [1, 1, 0]])
    values, lengths = runs(labels)
    assert (values, lengths) == ([0, 1, 0], [2, 3, 1])
    assert (np.repeat(values, lengths).reshape(2, 3) == labels).all()


def test_bad_choices_are_refused(summary):
    view = SummaryView(summary)
    with pytest.raises(ValueError, match="does not exist"):
        view.choose(len(summary.clusters), 0)
    with pytest.raises(ValueError, match="members"):
        view.choose(0, 99)
    with pytest.raises(ValueError, match="max_members"):
        SummaryView(summary, max_members=0)


def test_a_summary_without_clusters_still_shows(summary):
    empty = summaries.Summary(**{**summary.__dict__, "clusters": []})
    view = SummaryView(empty)
    assert view.chosen is None and view.region is None
    assert "No cluster" in view.layout.select_one({"name": "summary-header"}).text
    with pytest.raises(ValueError, match="no clusters"):
        view.choose(0, 0)
    assert view.to_html().startswith("<!DOCTYPE html>")


def test_exports_standalone_html_with_named_models(summary, tmp_path):
    view = SummaryView(summary)
    path = view.to_html(tmp_path / "summary.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    for name in ("summary-image", "summary-photo", "summary-overlay", "summary-box", "summary-info",
                 "summary-state", "cluster-0"):
        assert f'"{name}"' in text
    assert "cdn.bokeh.org" not in text  # BokehJS inline: opens offline


def test_the_notebook_widget_and_the_results_display(summary):
    view = SummaryView(summary)
    assert isinstance(view.widget, BokehWidget)
    assert "Summary(" in repr(summary) and not any("bokeh" in type(v).__module__ for v in summary.__dict__.values())
