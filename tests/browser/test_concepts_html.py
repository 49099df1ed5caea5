"""The ConceptBoard's standalone HTML in a real browser, offline: it renders without errors;
clicking a concept column, choosing a class and choosing images change what is shown, exactly
as Python draws the same choices."""
import numpy as np
import pytest

import xviz
from xviz.views.concepts import GAP, ConceptBoard

from .conftest import click_data, model, open_html, shot
from .test_summary_html import contrast


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    clf = xviz.zoo.digits_cnn(device="cpu")
    xnn = xviz.xnn.fit(clf, xviz.zoo.digits("train"), classes=[3, 5, 8], n_concepts=4, epochs=150, progress=False)
    board = ConceptBoard(xnn)
    return board.to_html(tmp_path_factory.mktemp("html") / "concepts.html"), board


def open_board(page, path):
    open_html(page, path, "concepts-info")


def read(page, expression):
    return page.evaluate(f"() => {expression}")


def heat(page, name="concepts-heat"):
    return np.array(read(page, f"Array.from({model(name)}.data.image[0])"), dtype=np.uint8)


def tops(page, name="concepts-bars"):
    return read(page, f"Array.from({model(name)}.data.top)")


def state(page):
    return read(page, f"{model('concepts-state')}.data")


def same_as_python(page, board):
    """Set the Python board to the page's state, then check that both show the same."""
    s = {key: value[0] for key, value in state(page).items()}
    board.klass = board.labels[s["klass"]]
    board.concept, board.image, board.other = s["concept"], s["image"], s["other"]
    for suffix, p in (("", 0), ("-other", 1)):
        np.testing.assert_array_equal(heat(page, f"concepts-heat{suffix}"), board.heats[p].data["image"][0].ravel())
        assert tops(page, f"concepts-bars{suffix}") == pytest.approx(board.bar_sources[p].data["top"], abs=1e-9)
        assert read(page, f"{model('concepts-photo' + suffix)}.data.url[0]") == board.photos[p].data["url"][0]
        assert read(page, f"{model('concepts-info' + suffix)}.text") == board.infos[p].text
        assert read(page, f"{model('concepts-picture' + suffix)}.title.text") == board.pictures[p].title.text
        assert read(page, f"{model('concepts-chart' + suffix)}.title.text") == board.charts[p].title.text
    assert read(page, f"Array.from({model('concepts-heads')}.data.weight)") == board.heads.data["weight"]
    assert read(page, f"Array.from({model('concepts-heads')}.data.alpha)") == board.heads.data["alpha"]
    assert read(page, f"{model('concepts-mark')}.data.left[0]") == board.mark.data["left"][0]


def test_renders_offline_without_errors(page, exported):
    path, board = exported
    open_board(page, path)
    shot(page, "html_concept_board")
    assert page.errors == []
    assert state(page) == {"klass": [board.labels.index(board.klass)], "concept": [0], "image": [0], "other": [1]}
    assert read(page, f"{model('concepts-info')}.text") == board.infos[0].text
    # the JPEG pictures (loaded asynchronously from data URLs) are drawn: not a blank canvas
    assert contrast(page, "concepts-picture") > 30 and contrast(page, "concepts-board") > 30


def test_tapping_a_column_shows_that_concept(page, exported):
    path, board = exported
    open_board(page, path)
    before = heat(page)
    step = board.heads.data["right"][0] - board.heads.data["left"][0] + GAP
    click_data(page, "concepts-board", 2.5 * step, board.board.y_range.end / 2)
    assert state(page)["concept"] == [2]
    assert (heat(page) != before).any()
    same_as_python(page, board)
    assert board.concept == 2
    assert page.errors == []


def test_choosing_a_class_redraws_bars_and_weights(page, exported):
    path, board = exported
    open_board(page, path)
    first, weights = tops(page), read(page, f"Array.from({model('concepts-heads')}.data.weight)")
    current = board.labels[state(page)["klass"][0]]
    chosen = next(label for label in board.labels if label != current)
    page.locator("select").nth(0).select_option(label=chosen)
    page.wait_for_timeout(300)
    assert state(page)["klass"] == [board.labels.index(chosen)]
    assert tops(page) != first
    assert read(page, f"Array.from({model('concepts-heads')}.data.weight)") != weights
    same_as_python(page, board)
    shot(page, "html_concept_board_class")
    assert page.errors == []


def test_choosing_images_changes_both_panels(page, exported):
    path, board = exported
    open_board(page, path)
    page.locator("select").nth(1).select_option(index=3)
    page.locator("select").nth(2).select_option(index=6)
    page.wait_for_timeout(300)
    assert state(page)["image"] == [3] and state(page)["other"] == [6]
    same_as_python(page, board)
    assert page.errors == []
