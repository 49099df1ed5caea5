"""Dataset answers and model comparison against models whose answers are known: faithfulness
and disagreement tables, sub-explanation counts of a compositional and an additive model,
and cross-testing of models that look at the same or at other places."""
import numpy as np
import pytest
from scipy.stats import spearmanr

pytest.importorskip("pyarrow", reason="xviz.dataset needs pyarrow (pip install -e '.[dataset]')")

from test_sag import BOTH, SUM, WHITE, windows_clf  # noqa: E402

import xviz  # noqa: E402
from conftest import SquareNet  # noqa: E402
from xviz import dataset  # noqa: E402
from xviz.dataset.analysis import pooled  # noqa: E402

SAG = ("sag", {"grid": 4, "q": 16, "order_iterations": 0})


@pytest.fixture(scope="module")
def digits_store(tmp_path_factory):
    d = xviz.zoo.digits("test")
    return dataset.explain(xviz.zoo.digits_cnn(device="cpu"), (d.images[:12], d.labels[:12]),
                           ["gradcam", "ig"], store=tmp_path_factory.mktemp("d") / "s", metrics={"grid": 8},
                           progress=False)


def test_the_faithfulness_table_holds_each_class_and_method(digits_store):
    table = dataset.faithfulness(digits_store)
    df = digits_store.to_pandas()
    assert table.method.unique().tolist() == ["gradcam", "ig"]
    for (method, label), group in df.groupby(["method", "target_label"]):
        row = table[(table.method == method) & (table["class"] == label)].iloc[0]
        assert row.n == len(group)
        assert row.deletion_mean == pytest.approx(group.deletion_auc.mean())
        assert row.insertion_std == pytest.approx(group.insertion_auc.std(), nan_ok=True)
    overall = table[table["class"] == "all"].set_index("method")
    assert overall.loc["ig", "n"] == 12
    assert overall.loc["ig", "insertion_sem"] == pytest.approx(df[df.method == "ig"].insertion_auc.std() / 12 ** 0.5)


def test_disagreement_is_one_minus_the_rank_correlation_most_first(digits_store):
    table = dataset.disagreement(digits_store, grid=8)
    assert len(table) == 12 and table.disagreement.is_monotonic_decreasing
    first = table.iloc[0]
    a, b = (pooled(digits_store.result(first.image_id, m).mask, 8) for m in ("gradcam", "ig"))
    assert first["gradcam~ig"] == pytest.approx(spearmanr(a, b).statistic)
    assert first.disagreement == pytest.approx(1 - spearmanr(a, b).statistic)
    with pytest.raises(ValueError, match="two or more"):
        dataset.disagreement(digits_store, methods=["gradcam"])


def test_a_compositional_model_keeps_no_sub_explanation_an_additive_one_keeps_many(tmp_path):
    both = dataset.explain(windows_clf([0, 15], BOTH), [WHITE], [SAG], store=tmp_path / "both", progress=False)
    added = dataset.explain(windows_clf([0, 3, 12, 15], SUM), [WHITE], [SAG], store=tmp_path / "sum", progress=False)
    counts = dataset.sub_explanations([both, added], fraction=[0.5, 0.9], names=["both", "sum"])
    mine = counts[counts.model == "both"]
    assert mine.root.tolist() == [[0, 15]] and mine["sub@0.5"].tolist() == [0]  # either window alone: p 0.05
    theirs = counts[counts.model == "sum"]
    # any three windows are sufficient (p 0.99); each of their three pairs keeps p 0.70 > half of p_full
    found = set(map(tuple, theirs.root))  # the beam (width 3) finds three of the four
    assert len(found) >= 3 and found <= {(0, 3, 12), (0, 3, 15), (0, 12, 15), (3, 12, 15)}
    assert (theirs["sub@0.5"] == 3).all() and (theirs["sub@0.9"] == 0).all()
    summary = dataset.compare.per_image(counts)
    assert summary.set_index("model").sub_explanations.to_dict() == {"both": 0.0, "sum": 3.0}


def test_cross_testing_knows_which_models_look_at_the_same_place(tmp_path):
    models = {"A": windows_clf([0, 3], BOTH), "B": windows_clf([12, 15], BOTH), "A again": windows_clf([0, 3], BOTH)}
    stores = [dataset.explain(clf, [WHITE], [SAG], store=tmp_path / name, progress=False)
              for name, clf in models.items()]
    cross = dataset.cross_test(stores, names=list(models))
    expected = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]  # A's evidence (windows 0 and 3) is nothing to B
    np.testing.assert_array_equal(cross.accuracy.to_numpy(), expected)
    assert cross.confidence.loc["A", "B"] < 0.1 < 0.9 < cross.confidence.loc["A", "A again"]
    where = cross.landscape().set_index("model")
    near = np.hypot(*(where.loc["A"] - where.loc["A again"]))
    far = np.hypot(*(where.loc["A"] - where.loc["B"]))
    assert near < 0.05 < 0.5 < far


def test_cross_testing_with_heatmap_evidence_and_images_that_differ(tmp_path, rng):
    pictures = [rng.random((32, 32, 3)).astype(np.float32) for _ in range(3)]

    def spot(box):
        return xviz.Classifier(SquareNet(box=box, decisive=True), mean=0.0, std=1.0, size=32, labels=["off", "on"],
                               device="cpu")

    rise = ("rise", {"n_masks": 300, "cells": 4})
    a = dataset.explain(spot((8, 16, 8, 8)), pictures, [rise], store=tmp_path / "a", metrics=False, progress=False)
    b = dataset.explain(spot((20, 0, 8, 8)), pictures, [rise], store=tmp_path / "b", metrics=False, progress=False)
    cross = dataset.cross_test([a, b], evidence="rise", names=["a", "b"], grid=4)
    assert cross.confidence.loc["a", "a"] >= 0.9 and cross.confidence.loc["b", "b"] >= 0.9
    assert cross.accuracy.loc["a", "b"] == 0 and cross.accuracy.loc["b", "a"] == 0
    other = dataset.explain(spot((8, 16, 8, 8)), pictures[::-1], [rise], store=tmp_path / "c", metrics=False,
                            progress=False)
    with pytest.raises(ValueError, match="other images under the same keys"):
        dataset.cross_test([a, other], evidence="rise")
    with pytest.raises(ValueError, match="no 'sag'"):
        dataset.cross_test([a, b])
    with pytest.raises(ValueError, match="opened without its model"):
        dataset.cross_test([dataset.open(tmp_path / "a"), b], evidence="rise")
