"""The SummaryView's standalone HTML in a real browser, offline: it renders without errors, and
clicking a crop shows that crop's image with its region drawn, exactly as Python draws it."""
import io

import numpy as np
import pytest
from PIL import Image

import xviz
from xviz.methods import summaries
from xviz.views.summary import SummaryView

from .conftest import click_data, model, open_html, shot


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    clf = xviz.zoo.digits_cnn(device="cpu")
    digits = xviz.zoo.digits("test")
    threes = [im for im, y in zip(digits.images, digits.labels) if y == 3][:5]
    summ = summaries.fit(clf, threes, target="3", smooth_iterations=20, sharp_iterations=10, progress=False)
    view = SummaryView(summ)
    return view.to_html(tmp_path_factory.mktemp("html") / "summary.html"), summ, view


def open_view(page, path):
    open_html(page, path, "summary-info")


def image_data(page, name):
    return np.array(page.evaluate(f"() => Array.from({model(name)}.data.image[0])"), dtype=np.uint32)


def contrast(page, figure):
    """Standard deviation of the grey levels inside the named figure's frame (title excluded), on screen."""
    box = page.evaluate(f"""() => {{ const v = Bokeh.index.find_one({model(figure)}), f = v.frame.bbox;
        const r = v.canvas_view.el.getBoundingClientRect();
        return {{x: r.left + f.left + 4, y: r.top + f.top + 4, width: f.width - 8, height: f.height - 8}}; }}""")
    picture = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("L")
    return float(np.asarray(picture, dtype=float).std())


def photo_url(page):
    return page.evaluate(f"() => {model('summary-photo')}.data.url[0]")


def test_renders_offline_without_errors(page, exported):
    path, summ, view = exported
    open_view(page, path)
    shot(page, "html_summary_view")
    assert page.errors == []
    assert page.evaluate(f"() => {model('summary-info')}.text") == view.info.text
    assert page.evaluate(f"() => {model('summary-state')}.data.cluster[0]") == 0
    # the JPEG pictures (loaded asynchronously from data URLs) are drawn: not a blank canvas
    assert contrast(page, "summary-image") > 40 and contrast(page, "cluster-0") > 30  # blank: about 15 and 12


def test_clicking_a_crop_shows_its_image_and_region(page, exported):
    path, summ, view = exported
    open_view(page, path)
    before = photo_url(page)
    k = next(k for k, c in enumerate(view.rows) if len(c) > 1 and c[1].image != c[0].image)
    click_data(page, f"cluster-{k}", 1.5, 0.5)  # the second crop of that row
    state = page.evaluate(f"() => [{model('summary-state')}.data.cluster[0], {model('summary-state')}.data.member[0]]")
    assert state == [k, 1]
    after = photo_url(page)
    assert after != before
    view.choose(k, 1)  # Python draws the same choice: the browser's picture must match it
    assert after == view.photo.data["url"][0]
    np.testing.assert_array_equal(image_data(page, "summary-overlay"), view.overlay.data["image"][0].ravel())
    box = page.evaluate(f"() => {{ const d = {model('summary-box')}.data; "
                        f"return [d.left[0], d.right[0], d.bottom[0], d.top[0]]; }}")
    assert box == [view.box.data[key][0] for key in ("left", "right", "bottom", "top")]
    assert page.evaluate(f"() => {model('summary-info')}.text") == view.info.text
    shot(page, "html_summary_view_clicked")
    assert page.errors == []
