"""ConceptBoard at the Python level: what it shows follows the chosen class, concept and images."""
import numpy as np
import pytest

import xviz
from xviz.widgets.concepts import ConceptBoard


@pytest.fixture(scope="module")
def xnn():
    clf = xviz.zoo.digits_cnn(device="cpu")
    return xviz.xnn.fit(clf, xviz.zoo.digits("train"), classes=[3, 5, 8], n_concepts=4, epochs=150, progress=False)


@pytest.fixture
def board(xnn):
    return ConceptBoard(xnn)


def test_defaults_show_the_first_image_under_its_predicted_class(board, xnn):
    ex = xnn.examples
    assert board.klass == xnn.class_labels[int(ex.model_predicted[0])]
    assert (board.concept, board.image, board.other) == (0, 0, 1)
    assert len(board.columns) == xnn.n_concepts and board.marks[0].data["left"] == [0]
    assert all(m.data["left"] == [] for m in board.marks[1:])


def test_bars_are_the_contributions_and_bias_of_the_chosen_class(board, xnn):
    ex = xnn.examples
    for label in xnn.class_labels:
        board.klass = label
        c = xnn.class_labels.index(label)
        for side, i in ((0, board.image), (1, board.other)):
            value = board.bars[side].data["value"]
            np.testing.assert_allclose(value[:-1], ex.contributions[i, c], atol=1e-4)
            assert value[-1] == pytest.approx(float(ex.bias[c]))
            assert sum(value) == pytest.approx(float(ex.logits[i, c]), abs=1e-3)  # they add up to the head's logit
        assert f"'{label}'" in board.infos[0].text


def test_class_switch_changes_the_column_weights(board, xnn):
    board.klass = xnn.class_labels[0]
    first = [f.title.text for f in board.columns]
    board.klass = xnn.classes[2]  # by class id too
    assert board.klass == xnn.class_labels[2]
    assert [f.title.text for f in board.columns] != first
    w = board.weights[2][1]
    assert board.columns[1].title.text == f"concept 2: {'+' if w >= 0 else ''}{w:.2f}"


def test_concept_and_images_choose_the_pictures(board):
    urls = set()
    for j in range(board.k):
        board.concept = j
        assert board.pictures[0].data["url"] == [board.store.data["pictures"][board.image][j]]
        assert board.marks[j].data["left"] == [0]
        urls.add(board.pictures[0].data["url"][0])
    assert len(urls) == board.k  # a different heatmap per concept
    board.other = 3
    assert board.pictures[1].data["url"] == [board.store.data["pictures"][3][board.concept]]
    assert board.frames[1].title.text == f"concept {board.concept + 1} on image 3"
    assert board.selects[1].value == "3"


def test_new_images_are_explained(xnn):
    images = [xviz.zoo.image(f"digit-{d}") for d in (3, 5, 8)]
    board = ConceptBoard(xnn, images=images)
    assert len(board.store.data["pictures"]) == 3
    assert board.klass == "3"  # the classifier's answer for the first image
    np.testing.assert_allclose(board.bars[1].data["value"][:-1], xnn.explain(images[1]).contributions[0, 0], atol=1e-4)


def test_bad_input(board, xnn):
    with pytest.raises(ValueError, match="unknown class '7'"):
        board.klass = "7"
    with pytest.raises(ValueError, match="class ids"):
        board.klass = 7
    with pytest.raises(ValueError, match=r"concept must be an int in 0..3"):
        board.concept = 4
    with pytest.raises(ValueError, match="image must be"):
        board.image = -1
    with pytest.raises(TypeError, match="shows an XNN"):
        ConceptBoard(object())


def test_html_is_standalone_and_small(board):
    text = board.to_html()
    assert "cdn.bokeh.org" not in text and "concept-column-0" in text
    assert len(text) < 3_000_000


def test_show_picks_the_board(xnn):
    assert isinstance(xviz.show(xnn), xviz.ConceptBoard)
