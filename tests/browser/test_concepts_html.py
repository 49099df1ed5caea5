"""The ConceptBoard's standalone HTML in a real browser, offline: it renders without errors;
clicking a concept column shows that concept on both images, and choosing a class redraws the
bars, exactly as Python draws the same choices."""
from pathlib import Path

import pytest

import xviz
from xviz.widgets.concepts import ConceptBoard

from .conftest import click_data, model
from .test_summary_html import contrast

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    clf = xviz.zoo.digits_cnn(device="cpu")
    xnn = xviz.xnn.fit(clf, xviz.zoo.digits("train"), classes=[3, 5, 8], n_concepts=4, epochs=200, progress=False)
    board = ConceptBoard(xnn)
    return board.to_html(tmp_path_factory.mktemp("html") / "concepts.html"), board


def open_board(page, path):
    page.goto(path.as_uri())
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                           "Bokeh.documents[0].get_model_by_name('concept-info') !== null")
    page.wait_for_timeout(500)


def read(page, expression):
    return page.evaluate(f"() => {expression}")


def bars(page, name="concept-bars"):
    return read(page, f"Array.from({model(name)}.data.value)")


def test_renders_offline_without_errors(page, exported):
    path, board = exported
    open_board(page, path)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "concept_board.png"), full_page=True)
    assert page.errors == []
    assert read(page, f"{model('concept-info')}.text") == board.infos[0].text
    assert bars(page) == pytest.approx(board.bars[0].data["value"], abs=1e-6)
    # the JPEG pictures are drawn (not a blank canvas)
    assert contrast(page, "concept-picture") > 20 and contrast(page, "concept-column-0") > 20


def test_clicking_a_column_switches_the_concept(page, exported):
    path, board = exported
    open_board(page, path)
    before = read(page, f"{model('concept-picture-source')}.data.url[0]")
    click_data(page, "concept-column-2", 0.5, 1.5)
    assert read(page, f"{model('concept-state')}.data.concept[0]") == 2
    after = read(page, f"{model('concept-picture-source')}.data.url[0]")
    assert after != before
    board.concept = 2  # Python draws the same choice
    assert after == board.pictures[0].data["url"][0]
    assert read(page, f"{model('concept-picture-other-source')}.data.url[0]") == board.pictures[1].data["url"][0]
    assert read(page, f"{model('concept-mark-2')}.data.left.length") == 1
    assert read(page, f"{model('concept-mark-0')}.data.left.length") == 0
    assert page.errors == []


def test_choosing_a_class_redraws_the_bars(page, exported):
    path, board = exported
    open_board(page, path)
    first = bars(page)
    chosen = next(lab for lab in board.labels if lab != board.klass)
    page.locator("select").first.select_option(label=chosen)
    page.wait_for_timeout(300)
    board.klass = chosen
    assert bars(page) != first
    assert bars(page) == pytest.approx(board.bars[0].data["value"], abs=1e-6)
    assert bars(page, "concept-bars-other") == pytest.approx(board.bars[1].data["value"], abs=1e-6)
    assert read(page, f"{model('concept-column-0')}.title.text") == board.columns[0].title.text
    assert read(page, f"{model('concept-info')}.text") == board.infos[0].text
    page.screenshot(path=str(ARTIFACTS / "concept_board_class.png"), full_page=True)
    assert page.errors == []
