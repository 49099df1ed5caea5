"""The Gallery's standalone HTML in a real browser, offline: it renders the thumbnails with no
error; choosing a method, a sort and a class in the page's own controls shows exactly the
images Python's Gallery.visible() gives for them; clicking a thumbnail shows that image."""
import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pyarrow", reason="xviz.dataset needs pyarrow (pip install -e '.[dataset]')")

import xviz  # noqa: E402
from xviz import dataset  # noqa: E402

from .conftest import click_data, model, open_html, shot  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = xviz.zoo.digits("test")
    folder = tmp_path_factory.mktemp("gallery")
    store = dataset.explain(xviz.zoo.digits_cnn(device="cpu"), (d.images[:14], d.labels[:14]), ["gradcam", "ig"],
                            store=folder / "s", metrics={"grid": 8}, progress=False)
    gallery = xviz.Gallery(store, columns=4, per_page=8)
    return gallery.to_html(folder / "gallery.html"), gallery


def shown_ids(page):
    return page.evaluate(f"() => Array.from({model('gallery-cells')}.data.image_id)")


def choose(page, option, value):
    """Pick ``value`` in the page's <select> that offers ``option``, as a user does."""
    select = next(s for s in page.locator("select:visible").all()
                  if option in s.evaluate("e => Array.from(e.options).map(o => o.value)"))
    select.select_option(value)
    page.wait_for_timeout(300)


def contrast(page, name):
    box = page.evaluate(f"""() => {{ const v = Bokeh.index.find_one({model(name)}), f = v.frame.bbox;
        const r = v.canvas_view.el.getBoundingClientRect();
        return {{x: r.left + f.left, y: r.top + f.top, width: f.width, height: f.height}}; }}""")
    picture = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("L")
    return float(np.asarray(picture, dtype=float).std())


def test_renders_the_first_page_offline(page, exported):
    path, gallery = exported
    open_html(page, path, "gallery-grid")
    shot(page, "html_gallery")
    assert page.errors == []
    gallery.set(method="gradcam", klass="all", shown="all", sort="position", order="ascending")
    assert shown_ids(page) == gallery.visible() == [f"{i:06d}" for i in range(8)]
    assert "<b>14</b> of 14 images" in page.evaluate(f"() => {model('gallery-count')}.text")
    assert contrast(page, "gallery-grid") > 30  # the PNG thumbnails are drawn, not a blank canvas


def test_the_page_filters_and_sorts_as_python_does(page, exported):
    path, gallery = exported
    open_html(page, path, "gallery-grid")
    choose(page, "ig", "ig")
    choose(page, "insertion AUC", "insertion AUC")
    choose(page, "descending", "descending")
    gallery.set(method="ig", sort="insertion AUC", order="descending")
    assert shown_ids(page) == gallery.visible()
    aucs = [r["insertion_auc"] for i in gallery.visible() for r in gallery.rows if r["image_id"] == i
            and r["method"] == "ig"]
    assert aucs == sorted(aucs, reverse=True) and len(aucs) == 8
    label = gallery.rows[0]["klass"]
    choose(page, "all", label)
    gallery.set(klass=label)
    assert shown_ids(page) == gallery.visible() and len(gallery.visible()) >= 1
    assert all(r["klass"] == label for i in gallery.visible() for r in gallery.rows if r["image_id"] == i)
    choose(page, "disagreement", "disagreement")
    gallery.set(sort="disagreement")
    assert shown_ids(page) == gallery.visible()
    assert page.errors == []


def test_clicking_a_thumbnail_shows_that_image(page, exported):
    path, gallery = exported
    open_html(page, path, "gallery-grid")
    click_data(page, "gallery-grid", 1.5, -0.5)  # second thumbnail of the first row
    gallery.set(method="gradcam", klass="all", shown="all", sort="position", order="ascending")  # as the page opens
    expected = gallery.visible()[1]
    state = page.evaluate(f"() => [{model('gallery-state')}.data.image_id[0], {model('gallery-state')}.data.method[0]]")
    assert state == [expected, "gradcam"]
    view = gallery.open(expected, "gradcam")  # what Python opens for that click, with a kernel
    assert type(view).__name__ == "HeatmapView" and view.results[0].method == "gradcam"
    assert page.evaluate(f"() => {model('gallery-info')}.text") == gallery.info.text
    assert page.evaluate(f"() => {model('gallery-big')}.data.url[0]") == gallery.big.data["url"][0]
    shot(page, "html_gallery_clicked")
    assert page.errors == []
