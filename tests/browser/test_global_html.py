"""The GlobalLabelsView's standalone HTML in a real browser, offline: it renders, and choosing a
class or a layer in its menu shows that key's label scores."""
import pytest

import xviz
from xviz.methods.layers import aggregate, explain
from xviz.views.layers import GlobalLabelsView

from .conftest import model, open_html, shot


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    lays = explain(xviz.zoo.digits_cnn(device="cpu"), [xviz.zoo.image("digit-0"), xviz.zoo.image("digit-8")],
                   progress=False)
    lays[0].label("features", 0, "ring")
    lays[1].label("features", 0, "loops")
    lays[1].label("features.3", 0, "stroke")
    view = GlobalLabelsView(aggregate(lays, text_model="words"))
    return view.to_html(tmp_path_factory.mktemp("html") / "global.html"), view


def bars(page):
    return page.evaluate(f"() => {{ const d = {model('global-bars')}.data; "
                         "return {y: Array.from(d.y), score: Array.from(d.score), text: Array.from(d.text)}; }")


def test_choosing_a_class_or_layer_shows_its_label_scores(page, exported):
    path, view = exported
    open_html(page, path, "global-bars")
    assert page.evaluate(f"() => {model('global-key')}.value") == view.keys[0] == "class: 0"
    assert bars(page) == view._bars("class: 0")
    shot(page, "html_global_labels")
    shown = {}
    for key in ("class: 8", "layer: features", "layer: features.3"):
        page.locator("select:visible").select_option(key)  # as a user picks it in the menu
        page.wait_for_timeout(200)
        assert page.evaluate(f"() => {model('global-key')}.value") == key
        shown[key] = bars(page)
        assert shown[key] == view._bars(key)
    assert sorted(t.split()[0] for t in shown["layer: features"]["text"]) == ["loops", "ring"]
    assert [t.split()[0] for t in shown["layer: features.3"]["text"]] == ["stroke"]
    assert page.errors == []
