"""ConceptBoard at the Python level: what it shows follows the chosen class, concept and images."""
import numpy as np
import pytest

import xviz
from xviz.methods.xnn import XNN
from xviz.views.concepts import ConceptBoard
from xviz.views.host import BokehWidget


@pytest.fixture(scope="module")
def model():
    clf = xviz.zoo.digits_cnn(device="cpu")
    return xviz.xnn.fit(clf, xviz.zoo.digits("train"), classes=[3, 5, 8], n_concepts=4, epochs=150, progress=False)


@pytest.fixture
def board(model):
    return ConceptBoard(model)


def bare(model):
    """The same fitted network without stored examples (as an XNN saved before examples existed)."""
    return XNN(model.clf, model.net, model.layer, model.classes, model.stats, model.settings, model.history,
               model.split, model.features)


def heat(array):
    """A heatmap in [0, 1] as the board stores it: uint8, rows bottom-up for bokeh."""
    return np.ascontiguousarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8)[::-1])


def shown(board, i, j):
    """The heatmap of concept j on board image i as shown: faded by the concept's strength there."""
    ex = board.explanation
    return heat(ex.heatmaps[i, j] * ex.activations[i, j] / board.reference[j])


def test_starts_on_the_first_image_under_the_classifiers_class(board, model):
    ex = model.examples
    assert board.klass == model.class_labels[ex.model_predicted[0]]
    assert (board.concept, board.image, board.other) == (0, 0, 1)
    assert board.class_select.value == board.klass and board.selects[0].value.startswith("0: ")
    assert board.selects[1].value.startswith("1: ")
    assert board.mark.data["left"] == [board.heads.data["left"][0]]
    assert len(board.thumbs.data["url"]) == model.top.size  # every concept's top examples, in columns


def test_bars_are_the_contributions_and_bias_of_the_chosen_class(board, model):
    ex = model.examples
    for c, label in enumerate(model.class_labels):
        board.klass = label
        assert board.klass == label and board.class_select.value == label
        for bars, i in ((board.bars, board.image), (board.other_bars, board.other)):
            top = bars.data["top"]
            np.testing.assert_allclose(top[:-1], ex.contributions[i, c], rtol=1e-6)
            assert top[-1] == pytest.approx(float(ex.bias[c]))
            assert sum(top) == pytest.approx(float(ex.logits[i, c]), abs=1e-3)  # the bars add up to the head's logit
            assert bars.data["x"] == ["1", "2", "3", "4", "bias"]
        assert f"'{label}'" in board.charts[0].title.text
        assert f"<b>{ex.logits[board.image, c]:.2f}</b>" in board.infos[0].text
        assert f"<b>{ex.model_logits[board.image, c]:.2f}</b>" in board.infos[0].text


def test_switching_class_changes_the_column_weights(board, model):
    ex = model.examples
    shown = {}
    for c, label in enumerate(model.class_labels):
        board.klass = label
        shown[label] = list(board.heads.data["weight"])
        # the weight is what one unit of the concept adds to the class's logit
        for j, text in enumerate(shown[label]):
            w = float(text.split()[-1])
            rounding = 0.006 * ex.activations[:, j].max()  # the header shows two decimals
            np.testing.assert_allclose(ex.contributions[:, c, j], ex.activations[:, j] * w, atol=rounding)
    assert len({tuple(v) for v in shown.values()}) == len(model.class_labels)


def test_class_by_label_id_or_index(board, model):
    board.klass = 8  # a class id of model.classes
    assert board.klass == "8"
    board.klass = 1  # not a class id here: an index into model.classes
    assert board.klass == model.class_labels[1]
    board.klass = np.int64(3)
    assert board.klass == "3"


def test_choosing_a_concept_shows_its_heatmap_and_marks_its_column(board, model):
    ex = model.examples
    seen = []
    for j in range(model.n_concepts):
        board.concept = j
        np.testing.assert_array_equal(board.heats[0].data["image"][0], shown(board, board.image, j))
        np.testing.assert_array_equal(board.heats[1].data["image"][0], shown(board, board.other, j))
        assert board.mark.data["left"] == [board.heads.data["left"][j]]
        assert board.heads.data["alpha"][j] > max(a for n, a in enumerate(board.heads.data["alpha"]) if n != j)
        assert board.bars.data["line"][j] != board.bars.data["color"][j]  # its bar outlined
        assert board.pictures[0].title.text.startswith(f"image {board.image}: concept {j + 1}, activation "
                                                       f"{ex.activations[board.image, j]:.2f} (")
        seen.append(board.heats[0].data["image"][0].tobytes())
    # Concepts absent from the image show an empty map; the others differ from each other.
    present = [j for j in range(model.n_concepts) if shown(board, board.image, j).any()]
    assert len(present) >= 2 and len({seen[j] for j in present}) == len(present)


def test_other_image_drives_the_second_chart_on_the_same_scale(board, model):
    ex = model.examples
    c = model.class_labels.index(board.klass)
    first = list(board.bars.data["top"])
    board.other = 5
    np.testing.assert_allclose(board.other_bars.data["top"][:-1], ex.contributions[5, c], rtol=1e-6)
    assert board.bars.data["top"] == first  # the chosen image's chart stays
    assert board.photos[1].data["url"] == [board.store.data["photo"][5]]
    assert board.selects[1].value.startswith("5: ")
    assert board.charts[0].y_range is board.charts[1].y_range
    values = np.array(board.store.data["values"])
    assert board.charts[0].y_range.start <= values.min() and board.charts[0].y_range.end >= values.max()
    board.image = 5
    assert board.bars.data["top"] == board.other_bars.data["top"]


def test_new_images_are_explained(model):
    images = [xviz.zoo.image(f"digit-{d}") for d in (8, 3, 5)]
    board = ConceptBoard(model, images=images)
    ex = model.explain(images)
    assert board.n_images == 3 and len(board.selects[0].options) == 3
    assert board.klass == model.class_labels[ex.model_predicted[0]]
    c = model.class_labels.index(board.klass)
    np.testing.assert_allclose(board.bars.data["top"][:-1], ex.contributions[0, c], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(board.other_bars.data["top"][:-1], ex.contributions[1, c], rtol=1e-5, atol=1e-6)
    assert len(board.thumbs.data["url"]) == model.top.size  # the columns still show the model's examples
    with pytest.raises(ValueError, match="0..2"):
        board.image = 3
    single = ConceptBoard(model, images=images[0])
    assert (single.n_images, single.image, single.other) == (1, 0, 0)


def test_a_model_without_examples_needs_images(model):
    with pytest.raises(ValueError, match="keeps no example images"):
        ConceptBoard(bare(model))
    images = [xviz.zoo.image(f"digit-{d}") for d in (3, 5, 8, 3, 5)]
    board = ConceptBoard(bare(model), images=images)
    ex = model.explain(images)
    best = np.argsort(-ex.activations[:, 0], kind="stable")[:4]
    assert board.top[0].tolist() == best.tolist()  # the columns rank the board's own images
    assert board.thumbs.data["text"][0].startswith(f"image {best[0]}: ")


def test_bad_input_is_refused_with_clear_errors(board, model):
    with pytest.raises(ValueError, match="shows an XNN"):
        ConceptBoard(model.examples)
    with pytest.raises(ValueError, match="images= is empty"):
        ConceptBoard(model, images=[])
    with pytest.raises(ValueError, match="width"):
        ConceptBoard(model, width=50)
    with pytest.raises(ValueError, match=r"no class '7'.*'3', '5', '8'.*\[3, 5, 8\]"):
        board.klass = "7"
    for bad in (7, -1, True, 2.0):
        with pytest.raises(ValueError, match="no class"):
            board.klass = bad
    with pytest.raises(ValueError, match=r"concept 4 does not exist.*0\.\.3"):
        board.concept = 4
    with pytest.raises(ValueError, match="concept must be an int"):
        board.concept = "1"
    with pytest.raises(ValueError, match=r"image -1 does not exist.*0\.\.15"):
        board.image = -1
    with pytest.raises(ValueError, match="image 16 does not exist"):
        board.other = 16
    assert (board.concept, board.image, board.other) == (0, 0, 1)  # nothing changed


def test_html_is_standalone_small_and_named(board, tmp_path):
    path = board.to_html(tmp_path / "board.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "cdn.bokeh.org" not in text  # BokehJS inline: opens offline
    for name in ("concepts-board", "concepts-state", "concepts-heat", "concepts-bars-other", "concepts-class",
                 "concepts-info"):
        assert f'"{name}"' in text
    assert len(text) < 2_300_000  # BokehJS is about 1.8 MB of it


def test_show_and_the_results_display_pick_the_board(model):
    assert isinstance(xviz.show(model), ConceptBoard)
    assert isinstance(ConceptBoard(model).widget, BokehWidget)


def test_a_concept_absent_from_an_image_leaves_it_clear(board, model):
    from xviz.views.concepts import strength

    assert strength([[0.0, 0.5, 3.0]], [1.0, 1.0, 2.0]).tolist() == [[0.0, 0.5, 1.0]]
    ex = board.explanation
    i, j = np.unravel_index(np.argmin(ex.activations / board.reference), ex.activations.shape)
    assert ex.activations[i, j] / board.reference[j] < 0.1 and ex.heatmaps[i, j].max() == 1.0
    board.image, board.concept = int(i), int(j)
    assert board.heats[0].data["image"][0].max() <= 0.1 * 255 + 1  # its [0, 1] heatmap, faded to nearly nothing
