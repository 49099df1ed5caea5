"""The LayerExplorer's standalone HTML in a real browser, offline: it renders, the layer slider and
the thumbnails change the shown cluster maps, and the labels saved with the result are shown."""
import numpy as np
import pytest

import xviz
from xviz.methods.layers import explain
from xviz.views.layers import LayerExplorer

from .conftest import click_data, drag, model, open_html, shot


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    lay = explain(xviz.zoo.digits_cnn(device="cpu"), xviz.zoo.image("digit-3"), progress=False)
    lay.label("features", 0, "upper <i>curve</i>")  # typed text, shown as text, never as HTML
    view = LayerExplorer(lay)
    return view.to_html(tmp_path_factory.mktemp("html") / "layers.html"), view, lay


def open_view(page, path):
    open_html(page, path, "layer-state")
    page.locator(".noUi-handle").first.wait_for()


def state(page):
    return page.evaluate(f"() => [{model('layer-state')}.data.layer[0], {model('layer-state')}.data.cluster[0]]")


def heat(page):
    return np.array(page.evaluate(f"() => Array.from({model('cluster-heat')}.data.image[0])"), dtype=np.float32)


def stored_map(view, layer, cluster):
    return np.asarray(view.store.data["maps"][layer][cluster], dtype=np.float32).ravel()


def test_renders_offline_without_errors(page, exported):
    path, view, _ = exported
    open_view(page, path)
    shot(page, "html_layer_explorer")
    assert page.errors == []
    assert state(page) == [0, 0]
    assert np.allclose(heat(page), stored_map(view, 0, 0), atol=1e-6)
    assert page.evaluate(f"() => {model('cluster-main')}.title.text").startswith("features.3: cluster 1 of")
    assert not page.evaluate(f"() => {model('label-input')}.visible")  # naming needs a kernel


def test_dragging_the_layer_slider_changes_the_cluster_maps(page, exported):
    path, view, lay = exported
    open_view(page, path)
    before = heat(page)
    drag(page, page.locator(".noUi-handle").first, 400)  # to the deepest layer
    page.wait_for_timeout(300)
    assert page.evaluate(f"() => {model('layer-slider')}.value") == 2
    assert state(page) == [2, 0]
    shown = heat(page)
    assert not np.allclose(shown, before)
    assert np.allclose(shown, stored_map(view, 2, 0), atol=1e-6)
    thumbs = page.evaluate(f"() => {model('cluster-thumbs')}.data.image.length")
    assert thumbs == len(lay["features"].clusters)
    texts = page.evaluate(f"() => Array.from({model('cluster-bars')}.data.text)")
    assert texts[0].endswith("upper <i>curve</i>")  # the label saved with the result
    info = page.evaluate(f"() => {model('cluster-info')}.text")
    assert "label: <b>upper &lt;i&gt;curve&lt;/i&gt;</b>" in info
    view._texts(2, 0)  # the Python twin of the page's texts says the same
    assert view.cluster_info.text == info
    assert "features</b> (layer 3 of 3" in page.evaluate(f"() => {model('layer-info')}.text")
    assert page.errors == []


def test_clicking_a_thumbnail_picks_that_cluster(page, exported):
    path, view, _ = exported
    open_view(page, path)
    th = view._thumb_size[0]
    click_data(page, "cluster-grid", view._step + view._sizes["thumb"] / 2, th / 2)  # the second thumbnail
    assert state(page) == [0, 1]
    assert np.allclose(heat(page), stored_map(view, 0, 1), atol=1e-6)
    outline = page.evaluate(f"() => Array.from({model('cluster-thumbs')}.data.outline)")
    assert outline[:2] == ["#ffffff", "#e45756"]
    assert "<b>cluster 2</b>" in page.evaluate(f"() => {model('cluster-info')}.text")
    assert page.errors == []
