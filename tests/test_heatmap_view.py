"""HeatmapView at the Python level: what it shows, its controls, and its standalone HTML.

The JavaScript of the view (scrubbing, method switching) is checked in a real browser in
tests/browser/.
"""
import numpy as np
import pytest

import xviz
from xviz import metrics
from xviz.views import HeatmapView


@pytest.fixture(scope="module")
def digit_results():
    clf = xviz.zoo.digits_cnn(device="cpu")
    img = xviz.zoo.image("digit-3")
    return clf, [xviz.gradcam(clf, img), xviz.integrated_gradients(clf, img)]


def test_view_shows_each_result_and_its_curves(digit_results):
    clf, results = digit_results
    view = HeatmapView(results, clf=clf, grid=8)
    assert view.methods == ["gradcam", "integrated_gradients"]
    expected = metrics.curves(clf, results, grid=8)
    for k, (d, i) in enumerate(expected):
        assert view.store.data["deletion"][k] == pytest.approx(list(d.scores))
        assert view.store.data["insertion"][k] == pytest.approx(list(i.scores))
        assert f"deletion {d.auc:.3f}" in view.store.data["title"][k]
    assert np.array_equal(view.heat.data["image"][0], results[0].mask[::-1])
    assert view.step_slider.end == len(expected[0][0].scores) - 1


def test_controls_change_what_is_shown(digit_results):
    clf, results = digit_results
    view = HeatmapView(results, clf=clf, grid=8)
    view.method = "integrated_gradients"
    assert np.array_equal(view.heat.data["image"][0], results[1].mask[::-1])
    assert view.main.title.text.startswith("integrated_gradients")
    view.opacity = 0.8
    assert view.heat_renderer.glyph.global_alpha == 0.8 and view.opacity_slider.value == 0.8
    view.colormap = "Viridis256"
    assert view.mapper.palette[0] == "#440154"
    with pytest.raises(ValueError, match="no result of method 'rise'"):
        view.method = "rise"
    with pytest.raises(ValueError, match="unknown colormap 'jet'"):
        view.colormap = "jet"


def test_without_a_classifier_there_are_no_curves(digit_results):
    _, results = digit_results
    view = xviz.show(results[0])
    assert view.curves is None and not hasattr(view, "step_slider")


def test_the_html_is_standalone_and_carries_the_scrubber(digit_results, tmp_path):
    clf, results = digit_results
    view = HeatmapView(results, clf=clf, grid=8)
    path = view.to_html(tmp_path / "view.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "Bokeh.embed.embed_items" in text
    assert "replaced by the baseline" in text and "heatmap opacity" in text


def test_results_of_different_images_or_classes_are_refused(digit_results):
    clf, results = digit_results
    with pytest.raises(ValueError, match="one image and one class"):
        HeatmapView([results[0], xviz.gradcam(clf, xviz.zoo.image("digit-3"), target=5)])
    with pytest.raises(ValueError, match="same image: False"):
        HeatmapView([results[0], xviz.gradcam(clf, xviz.zoo.image("digit-5"), target=3)])
    with pytest.raises(ValueError, match="at least one"):
        HeatmapView([])


def test_show_refuses_other_objects():
    with pytest.raises(ValueError, match=r"no view for a int \(3\)"):
        xviz.show(3)


def test_results_of_the_same_method_get_distinct_names(digit_results):
    clf, results = digit_results
    img = xviz.zoo.image("digit-3")
    again = xviz.integrated_gradients(clf, img, steps=8)
    view = HeatmapView([results[1], again], clf=clf, grid=8)
    assert view.methods == ["integrated_gradients", "integrated_gradients (2)"]
    view.method = "integrated_gradients (2)"  # the second can be chosen
    assert np.array_equal(view.heat.data["image"][0], again.mask[::-1])
    assert view.main.title.text.startswith("integrated_gradients (2): 3")


def test_one_curve_tooltip_holds_every_methods_score(digit_results):
    from bokeh.models import HoverTool

    clf, results = digit_results
    view = HeatmapView(results, clf=clf, grid=8)
    from bokeh.models import Plot

    assert len(list(view.layout.select({"type": HoverTool}))) == 2  # deletion, insertion: one each
    deletion = next(f for f in view.layout.select({"type": Plot}) if f.title.text.startswith("deletion"))
    (tool,) = deletion.select({"type": HoverTool})
    (columns,) = tool.renderers
    steps = columns.data_source.data
    d = [c[0] for c in view.curves]
    k = 10
    assert steps["x"][k] == pytest.approx(d[0].fractions[k])
    assert steps["values"][k] == (f"gradcam: <b>{d[0].scores[k]:.3f}</b><br>"
                                  f"integrated_gradients: <b>{d[1].scores[k]:.3f}</b>")


def test_the_scrubber_is_drawn_from_its_state_when_the_page_opens(digit_results):
    clf, results = digit_results
    view = HeatmapView(results, clf=clf, grid=8)
    assert view._on_load is view.scrub is not None  # see tests/test_view_base.py for on_load itself
    assert HeatmapView(results).scrub is None and HeatmapView(results)._on_load is None  # no curves
    label = results[0].label
    try:
        for r in results:
            r.label = "<b>3</b>"
        assert HeatmapView(results, clf=clf, grid=8).scrub.args["label"] == "&lt;b&gt;3&lt;/b&gt;"
    finally:
        for r in results:
            r.label = label
