"""The LayerExplorer and GlobalLabelsView from Python: what they show follows the state, and labels
typed in the view land in the result."""
import numpy as np
import pytest
import torch
from torch import nn

import xviz
from xviz.methods import layers as L
from xviz.views.layers import GlobalLabelsView, LayerExplorer, _fit


@pytest.fixture(scope="module")
def lay():
    return L.explain(xviz.zoo.digits_cnn(device="cpu"), xviz.zoo.image("digit-3"), progress=False)


def shown_map(lc, c, size):
    return np.ascontiguousarray(_fit(lc.clusters[c].map, size)[::-1], dtype=np.float32)


def test_starts_on_the_first_layer_and_its_heaviest_cluster(lay):
    view = LayerExplorer(lay)
    first = lay[0]
    assert (view.layer, view.cluster) == ("features.3", 0)
    assert np.allclose(view.heat.data["image"][0], shown_map(first, 0, view._map_size))
    assert len(view.thumbs.data["image"]) == len(first.clusters)
    assert view.bars.data["weight"] == pytest.approx([100 * c.weight for c in first.clusters])
    assert len(view.points.data["x"]) == len(first.kept)
    assert "features.3" in view.layer_info.text and view.main.title.text.startswith("features.3: cluster 1 of")


def test_setting_the_layer_and_cluster_changes_what_is_shown(lay):
    view = LayerExplorer(lay)
    before = view.heat.data["image"][0]
    view.layer = "features"
    deep = lay["features"]
    assert view.slider.value == 2 and view.state.data["layer"] == [2] and view.cluster == 0
    assert not np.allclose(view.heat.data["image"][0], before)
    assert np.allclose(view.heat.data["image"][0], shown_map(deep, 0, view._map_size))
    assert view.bars.data["weight"] == pytest.approx([100 * c.weight for c in deep.clusters])
    view.cluster = 1
    assert np.allclose(view.heat.data["image"][0], shown_map(deep, 1, view._map_size))
    assert view.thumbs.data["outline"][1] == "#e45756" and view.thumbs.data["outline"][0] == "#ffffff"
    sizes = dict(zip(view.points.data["cluster"], view.points.data["size"]))
    assert sizes["2"] == 11 and sizes["1"] == 7  # numbered from 1, as the thumbnails are
    assert view.thumbs.data["text"][1].startswith("2")
    view.layer = 0  # an index works too
    assert view.layer == "features.3" and view.cluster == 0


def test_bad_layers_and_clusters_are_refused(lay):
    view = LayerExplorer(lay)
    with pytest.raises(ValueError, match=r"no layer 'fc'; this view shows features\.3, features\.6, features"):
        view.layer = "fc"
    with pytest.raises(ValueError, match="layer 'features.3' has no cluster 9"):
        view.cluster = 9
    with pytest.raises(ValueError, match="LayerExplorer shows a LayerExplanation"):
        LayerExplorer(xviz.gradcam(xviz.zoo.digits_cnn(), xviz.zoo.image("digit-3")))


def test_typing_a_label_names_the_chosen_cluster_once(lay):
    view = LayerExplorer(lay)
    view.layer, view.cluster = "features", 1
    try:
        view.label_input.value = "  upper loop "  # what the browser does; the Python callback runs
        assert lay["features"].clusters[1].label == "upper loop"
        assert view.label_input.value == ""  # cleared for the next name, and the empty value ignored
        # run again (jupyter_bokeh ran on_change callbacks twice): the second run changes nothing
        view._typed("value", "", "upper loop")
        assert lay.labels() == {("features", 1): "upper loop"}
        assert view.store.data["labels"][2][1] == "upper loop"
        assert "upper loop" in view.bars.data["text"][1] and view.thumbs.data["text"][1] == "2: upper loop"
        assert "<b>upper loop</b>" in view.cluster_info.text
        view.label_input.value = "<img src=x onerror=alert(1)>"  # typed text is shown as text
        assert "<b>&lt;img src=x onerror=alert(1)&gt;</b>" in view.cluster_info.text
    finally:
        lay.label("features", 1, None)


def test_the_html_hides_the_text_box_and_keeps_the_labels(lay, tmp_path):
    lay.label("features.6", 0, "stroke")
    try:
        view = LayerExplorer(lay)
        text = view.to_html(tmp_path / "layers.html").read_text()
        assert "Labels are typed in a notebook" in text and "stroke" in text
        assert view.label_input.visible and not view.label_note.visible  # restored for the notebook
    finally:
        lay.label("features.6", 0, None)


class Dark(nn.Module):
    """Both logits are minus the mean of positive maps: no map has a positive gradient, so no cluster."""

    def __init__(self):
        super().__init__()
        self.maps = nn.Conv2d(3, 4, 3, padding=1)
        with torch.no_grad():
            self.maps.weight.fill_(0.1)
            self.maps.bias.fill_(0.1)

    def forward(self, x):
        return -torch.relu(self.maps(x)).mean(dim=(2, 3))[:, :2]


def test_a_layer_without_clusters_shows_no_heat_and_refuses_a_label():
    clf = xviz.Classifier(Dark(), mean=0.0, std=1.0, size=16, device="cpu")
    lay = L.explain(clf, np.full((16, 16, 3), 0.5, np.float32), progress=False)
    assert all(not lc.clusters for lc in lay.values())
    view = LayerExplorer(lay)
    assert np.isnan(view.heat.data["image"][0]).all() and view.thumbs.data["image"] == []
    assert view.cluster_info.text.startswith("No cluster in this layer")
    view.label_input.value = "anything"
    assert "has no cluster 0" in view.cluster_info.text and lay.labels() == {}


def test_a_result_displays_itself_in_a_layer_explorer(lay, monkeypatch):
    # Through IPython's formatter, registered by type name: the result class has no display method.
    from IPython.core.interactiveshell import InteractiveShell

    from xviz.views import registry

    shown = []
    monkeypatch.setattr(LayerExplorer, "_ipython_display_", lambda self: shown.append(self))
    shell = InteractiveShell.instance()
    registry.install()
    assert not hasattr(type(lay), "_ipython_display_")
    shell.display_formatter.format(lay)
    assert len(shown) == 1 and shown[0].result is lay


def test_global_labels_view_switches_between_classes_and_layers():
    clf = xviz.zoo.digits_cnn(device="cpu")
    lays = L.explain(clf, [xviz.zoo.image("digit-0"), xviz.zoo.image("digit-6")], layers=["features.6", "features"],
                     progress=False)
    lays[0].label("features", 0, "ring")
    lays[1].label("features", 0, "rings")
    lays[1].label("features.6", 0, "tail")
    glob = L.aggregate(lays, text_model="words")
    view = GlobalLabelsView(glob)
    assert view.keys == ["class: 0", "class: 6", "layer: features.6", "layer: features"]
    view.key = "class: 6"
    assert set(view.labels) == {"ring", "tail"}
    view.key = "layer: features"
    assert view.labels == ["ring"]
    assert view.bars.data["score"] == pytest.approx([glob.per_depth()["features"]["ring"]])
    with pytest.raises(ValueError, match="no 'class: 9' in this view"):
        view.key = "class: 9"
