"""The Gallery in Python: what a click in a live page opens (the page sets the state; the
kernel opens the image's view), a SAG store opens a SAGExplorer, and xviz.show(store)."""
import pytest

pytest.importorskip("pyarrow", reason="xviz.dataset needs pyarrow (pip install -e '.[dataset]')")

import xviz  # noqa: E402
from xviz import dataset  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = xviz.zoo.digits("test")
    return dataset.explain(xviz.zoo.digits_cnn(device="cpu"), (d.images[:5], d.labels[:5]),
                           ["gradcam", "ig", ("sag", {"grid": 4})], store=tmp_path_factory.mktemp("g") / "s",
                           metrics={"grid": 8}, progress=False)


def test_a_click_in_the_page_opens_the_images_heatmaps_below_the_grid(store):
    gallery = xviz.show(store)
    assert type(gallery).__name__ == "Gallery" and gallery.visible() == [f"{i:06d}" for i in range(5)]
    gallery.state.data = {"image_id": ["000003"], "method": ["ig"]}  # what the page's tap sends
    view = gallery.view
    assert type(view).__name__ == "HeatmapView" and view.methods == ["integrated_gradients", "gradcam"]
    assert view.curves is not None  # the store's model was given: curves, on the store's grid
    assert view.curves[0][0].grid == (8, 8)
    assert gallery.detail.children[-1] is view.layout and gallery.opened == ("000003", "ig")
    assert view.results[0].image.shape == (32, 32, 3)


def test_a_sag_row_opens_the_sag_explorer(store):
    gallery = xviz.Gallery(store)
    gallery.set(method="sag")
    explorer = gallery.open(gallery.visible()[0])
    assert type(explorer).__name__ == "SAGExplorer" and explorer.sag.roots
    with pytest.raises(ValueError, match="sort by must be one of"):
        gallery.set(sort="size")
