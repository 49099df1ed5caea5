"""The HeatmapView's standalone HTML in a real browser, offline: it renders and stays interactive."""
import numpy as np
import pytest

import xviz
from xviz import metrics
from xviz.views import HeatmapView, plots

from .conftest import drag, model, shot


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    clf = xviz.zoo.digits_cnn(device="cpu")
    img = xviz.zoo.image("digit-3")
    results = [xviz.gradcam(clf, img), xviz.integrated_gradients(clf, img)]
    view = HeatmapView(results, clf=clf, grid=8)
    path = view.to_html(tmp_path_factory.mktemp("html") / "heatmaps.html")
    return path, view


def open_view(page, path):
    page.goto(path.as_uri())
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
    page.locator(".noUi-handle").first.wait_for()


def handle(page, title):
    """The slider handle under the label that starts with ``title``."""
    return page.locator(f".bk-Slider:has(:text('{title}')) .noUi-handle, "
                        f"div:has(> .bk-slider-title:text-matches('^{title}')) .noUi-handle").first


def test_renders_offline_without_errors(page, exported):
    path, _ = exported
    open_view(page, path)
    shot(page, "html_heatmap_view")
    assert page.errors == []
    assert page.evaluate(f"() => {model('main')}.title.text").startswith("gradcam: 3")


def test_dragging_the_opacity_slider_changes_the_heatmap(page, exported):
    path, _ = exported
    open_view(page, path)
    # a dataspec: {value: 0.5} as built, a plain number once the slider has set it
    alpha = f"() => (a => typeof a == 'object' ? a.value : a)({model('heatmap')}.glyph.global_alpha)"
    assert page.evaluate(alpha) == 0.5
    drag(page, page.locator(".noUi-handle").nth(0), 60)
    assert page.evaluate(f"() => {model('opacity')}.value") > 0.5
    assert page.evaluate(alpha) == page.evaluate(f"() => {model('opacity')}.value")
    assert page.errors == []


def test_scrubbing_shows_the_perturbed_image_of_that_step(page, exported):
    path, view = exported
    open_view(page, path)
    handles = page.locator(".noUi-handle")
    drag(page, handles.nth(handles.count() - 1), 120)  # the step slider is the last one
    step = int(page.evaluate(f"() => {model('step')}.value"))
    assert step > 0
    text = page.evaluate(f"() => {model('scrub-info')}.text")
    d = view.curves[0][0]
    assert f"step {step} of" in text and f"{d.scores[step]:.3f}" in text
    shown = np.array(page.evaluate(f"() => Array.from({model('perturbed')}.data.image[0])"), dtype=np.uint32)
    counts = np.rint(d.fractions * 64).astype(int)
    expected = plots.to_rgba(metrics.perturbed(view.results[0].image, d.order, counts[step], "deletion", grid=8))
    diff = shown.view(np.uint8).astype(int) - expected.ravel().view(np.uint8).astype(int)
    assert np.abs(diff).max() <= 1  # the browser's blend equals xviz.metrics.perturbed to rounding
    assert page.errors == []


def test_choosing_another_method_swaps_the_heatmap(page, exported):
    path, view = exported
    open_view(page, path)
    page.locator("select").first.select_option("integrated_gradients")
    page.wait_for_timeout(300)
    assert page.evaluate(f"() => {model('main')}.title.text").startswith("integrated_gradients: 3")
    shown = np.array(page.evaluate(f"() => Array.from({model('heatmap')}.data_source.data.image[0])"))
    assert np.allclose(shown, view.results[1].mask[::-1].ravel(), atol=1e-6)
    assert page.errors == []


def test_a_scrubber_state_set_before_export_is_what_the_page_shows(page, exported, tmp_path):
    _, view = exported
    again = HeatmapView(view.results, curves=view.curves)
    again.step_slider.value, again.mode.active = 20, 1
    open_view(page, again.to_html(tmp_path / "step.html"))
    text = page.evaluate(f"() => {model('scrub-info')}.text")
    assert text.startswith("<b>insertion</b>, step 20 of") and f"{view.curves[0][1].scores[20]:.3f}" in text
    assert page.errors == []
