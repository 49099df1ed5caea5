"""Explaining a dataset into a store: rows, results back, resume after a kill, errors kept,
and every way a store could be mixed with another one refused."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("pyarrow", reason="xviz.dataset needs pyarrow (pip install -e '.[dataset]')")

import xviz  # noqa: E402
from conftest import SPOT_BOX, SquareNet  # noqa: E402
from xviz import dataset  # noqa: E402
from xviz.core.files import DamagedFile  # noqa: E402
from xviz.dataset.store import SCALARS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VOLATILE = ["seconds"]  # wall time: the one column two runs may not share


@pytest.fixture(scope="module")
def clf():
    return xviz.zoo.digits_cnn(device="cpu")


@pytest.fixture(scope="module")
def digits():
    data = xviz.zoo.digits("test")
    return data.images[:8], data.labels[:8]


def spot():
    """The decisive spot net: only rows 8..15, cols 16..23 of 32 decide."""
    return xviz.Classifier(SquareNet(box=SPOT_BOX, decisive=True), mean=0.0, std=1.0, size=32,
                           labels=["off", "on"], device="cpu")


def same_tables(a, b):
    """Two stores' tables are equal, row for row, but for wall time (floats to rounding)."""
    ta, tb = a.table().drop_columns(VOLATILE), b.table().drop_columns(VOLATILE)
    assert ta.column_names == tb.column_names and ta.num_rows == tb.num_rows
    for name in ta.column_names:
        x, y = ta.column(name).to_pylist(), tb.column(name).to_pylist()
        if name in ("mask", "image"):
            for u, v in zip(x, y):
                assert (u is None) == (v is None), name
                if u is not None:
                    np.testing.assert_allclose(u, v, atol=1e-5, err_msg=name)
        elif name in ("confidence", "score", "deletion_auc", "insertion_auc"):
            np.testing.assert_allclose(np.array(x, float), np.array(y, float), atol=1e-5, err_msg=name)
        elif name not in ("meta", "arrays", "thumbnail"):  # float noise inside; compared as results below
            assert x == y, name


def test_a_store_has_one_row_per_image_and_method_and_gives_the_results_back(clf, digits, tmp_path):
    store = dataset.explain(clf, digits, ["gradcam", ("rise", {"n_masks": 100})], store=tmp_path / "s",
                            metrics={"grid": 8}, batch_size=3, progress=False)
    df = store.to_pandas()
    assert len(df) == 16 and list(df.columns) == [n for n, _ in SCALARS]
    assert df.groupby("image_id").method.apply(list).tolist() == [["gradcam", "rise"]] * 8
    assert df.label_index.tolist() == np.repeat(digits[1], 2).tolist()
    assert (df.error.isna()).all() and df.deletion_auc.between(0, 1).all()
    assert len(store.parts()) == 3  # one part per batch of 3 images
    # each result is the method's own (made in a batch of 3 here: equal to float rounding)
    direct = xviz.gradcam(clf, digits[0][5])
    back = store.result("000005", "gradcam")
    np.testing.assert_allclose(back.mask, direct.mask, atol=1e-6)
    np.testing.assert_array_equal(back.image, direct.image)
    np.testing.assert_allclose(back.raw, direct.raw, atol=1e-6)
    assert back.settings == direct.settings and back.target == direct.target
    assert np.isclose(df.deletion_auc[10], xviz.metrics.deletion(clf, direct, grid=8).auc, atol=1e-6)
    # the image is kept once per image, in the first method's row
    images = store.table(["image"]).column("image").to_pylist()
    assert [x is None for x in images] == [False, True] * 8
    again = dataset.open(tmp_path / "s", clf)
    assert [i for i, _ in again.results("rise")] == [f"{i:06d}" for i in range(8)]


def test_the_heatmaps_of_a_known_answer_model_point_at_its_spot(tmp_path, rng):
    net = spot()
    pictures = [rng.random((32, 32, 3)).astype(np.float32) for _ in range(6)]
    store = dataset.explain(net, pictures, ["gradcam", ("rise", {"n_masks": 300, "cells": 4})], store=tmp_path / "s",
                            metrics={"grid": 8, "baseline": "black"}, progress=False)
    masks = store.table(["mask"]).column("mask")
    top, left, h, w = SPOT_BOX
    for mask in dataset.store.tensors(masks):
        r, c = np.unravel_index(np.argmax(mask), mask.shape)
        assert top - 2 <= r < top + h + 2 and left - 2 <= c < left + w + 2
    df = store.to_pandas()  # the spot removed first: the class goes at once; shown first: it comes at once
    assert (df.deletion_auc < 0.3).all() and (df.insertion_auc > 0.7).all()


def test_a_folder_of_class_subfolders_gives_keys_paths_and_labels(clf, digits, tmp_path):
    for i, (image, label) in enumerate(zip(*digits)):
        folder = tmp_path / "data" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / f"{i}.png")
    store = dataset.explain(clf, tmp_path / "data", ["gradcam"], store=tmp_path / "s", metrics=False, progress=False)
    df = store.to_pandas()
    assert df.image_id.tolist()[0] == f"{sorted(digits[1])[0]}/{int(np.argmin(digits[1]))}.png"
    assert all(Path(p).is_file() for p in df.path)
    assert (df.label == df.image_id.str.split("/").str[0]).all() and df.correct.all()
    assert df.deletion_auc.isna().all()  # metrics=False


def test_a_torch_dataset_and_a_dataloader_give_the_rows_of_the_arrays(clf, digits, tmp_path):
    tensors = torch.from_numpy(np.stack(digits[0]))[:, None].expand(-1, 3, -1, -1)
    pairs = torch.utils.data.TensorDataset(tensors, torch.from_numpy(digits[1]))
    runs = {"arrays": digits, "dataset": pairs, "loader": torch.utils.data.DataLoader(pairs, batch_size=3)}
    stores = {k: dataset.explain(clf, v, ["gradcam"], store=tmp_path / k, metrics=False, progress=False)
              for k, v in runs.items()}
    same_tables(stores["arrays"], stores["dataset"])
    same_tables(stores["arrays"], stores["loader"])


def test_an_image_that_fails_keeps_its_error_and_the_run_goes_on(clf, digits, tmp_path):
    good = digits[0][0]
    pictures = [good, np.full((8, 8), np.nan, np.float32), str(tmp_path / "missing.png"), digits[0][1]]
    store = dataset.explain(clf, [good, np.full((8, 8), np.nan, np.float32), digits[0][1]], ["gradcam"],
                            store=tmp_path / "a", metrics=False, progress=False)
    df = store.to_pandas()
    assert df.error.isna().tolist() == [True, False, True]
    assert "NaN" in df.error[1] and df.target.isna()[1]
    with pytest.raises(ValueError, match="'000001' has no gradcam result: it failed"):
        store.result("000001", "gradcam")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ok.png")
    files = dataset.explain(clf, [str(tmp_path / "ok.png"), pictures[2]], ["gradcam"], store=tmp_path / "b",
                            metrics=False, progress=False).to_pandas()
    assert files.error.isna().tolist() == [True, False] and "cannot read" in files.error[1]


def test_a_method_that_fails_on_one_image_fails_only_there(tmp_path, rng, monkeypatch):
    from xviz.dataset import work

    real = work.RUNNERS["gradcam"]

    def fragile(clf, images, target=None, **kw):
        batch = isinstance(images, list)
        if any(float(np.asarray(im).max()) > 0.999 for im in (images if batch else [images])):
            raise RuntimeError("bright image")
        return real(clf, images, target=target, **kw)

    monkeypatch.setitem(work.RUNNERS, "gradcam", fragile)
    pictures = [rng.random((32, 32, 3)).astype(np.float32) * 0.9 for _ in range(4)]
    pictures[2][0, 0] = 1.0
    df = dataset.explain(spot(), pictures, ["gradcam"], store=tmp_path / "s", metrics=False,
                         progress=False).to_pandas()
    assert df.error.isna().tolist() == [True, True, False, True]
    assert "RuntimeError: bright image" in df.error[2]


KILLED = r"""
import sys, xviz
from xviz import dataset
d = xviz.zoo.digits("test")
dataset.explain(xviz.zoo.digits_cnn(device="cpu"), (d.images[:12], d.labels[:12]),
                ["gradcam", ("rise", {"n_masks": 400})], store=sys.argv[1], metrics={"grid": 8}, batch_size=2,
                progress=False)
"""


def test_a_run_killed_and_started_again_ends_as_a_run_never_stopped(clf, tmp_path):
    data = xviz.zoo.digits("test")
    args = dict(methods=["gradcam", ("rise", {"n_masks": 400})], metrics={"grid": 8}, batch_size=2, progress=False)
    folder = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(folder)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while len(list((folder / "parts").glob("part-*.parquet"))) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(list((folder / "parts").glob("part-*.parquet")))
    assert 2 <= written < 6, "the run was not stopped half-way"
    assert (folder / "lock").exists()  # left by the killed run: taken over below
    (folder / "parts" / ".part-000000010.parquet.0bad.tmp").write_bytes(b"half a part")
    resumed = dataset.explain(clf, (data.images[:12], data.labels[:12]), store=folder, **args)
    assert not list((folder / "parts").glob(".*.tmp")) and not (folder / "lock").exists()
    whole = dataset.explain(clf, (data.images[:12], data.labels[:12]), store=tmp_path / "whole", **args)
    df = resumed.to_pandas()
    assert len(df) == 24 and not df.duplicated(["image_id", "method"]).any()
    same_tables(resumed, whole)
    for i in ("000001", "000011"):
        np.testing.assert_allclose(resumed.result(i, "rise").raw, whole.result(i, "rise").raw, atol=1e-5)
    # a finished store run again does nothing
    before = sorted(p.name for p in resumed.parts())
    dataset.explain(clf, (data.images[:12], data.labels[:12]), store=folder, **args)
    assert sorted(p.name for p in resumed.parts()) == before


def test_a_store_is_never_mixed_with_another(clf, digits, tmp_path):
    folder = tmp_path / "s"
    dataset.explain(clf, digits, ["gradcam"], store=folder, metrics=False, progress=False)
    other = xviz.zoo.digits_cnn(device="cpu")
    with torch.no_grad():
        next(other.model.parameters())[0] += 0.01  # retrained: same name, other weights
    with pytest.raises(ValueError, match="made with other settings.*fingerprint"):
        dataset.explain(other, digits, ["gradcam"], store=folder, metrics=False, progress=False)
    with pytest.raises(ValueError, match="methods: the store has"):
        dataset.explain(clf, digits, [("gradcam", {"rule": "max"})], store=folder, metrics=False, progress=False)
    with pytest.raises(ValueError, match="metrics"):
        dataset.explain(clf, digits, ["gradcam"], store=folder, progress=False)
    shuffled = (digits[0][::-1], digits[1][::-1])
    with pytest.raises(ValueError, match="image '000000' differs .* another image set"):
        dataset.explain(clf, shuffled, ["gradcam"], store=folder, metrics=False, progress=False)
    with pytest.raises(ValueError, match="was made with other weights of 'digits CNN'"):
        dataset.open(folder, other)
    # a part of another store put in this one is refused when read
    stranger = dataset.explain(clf, digits, ["gradcam"], store=tmp_path / "t", metrics=False, progress=False)
    os.replace(stranger.parts()[0], folder / "parts" / "part-000000100.parquet")
    with pytest.raises(DamagedFile, match="belongs to another store"):
        dataset.open(folder).to_pandas()


def test_a_live_run_holds_the_store(clf, digits, tmp_path):
    folder = tmp_path / "s"
    dataset.explain(clf, digits, ["gradcam"], store=folder, metrics=False, progress=False)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (folder / "lock").write_text(f"{sleeper.pid} {os.uname().nodename}")
        with pytest.raises(RuntimeError, match="another run .* is writing the store"):
            dataset.explain(clf, digits, ["gradcam"], store=folder, metrics=False, progress=False)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_bad_arguments_are_said_at_the_door(clf, digits, tmp_path, monkeypatch):
    cases = [(dict(methods=["gradcm"]), "unknown method 'gradcm'"),
             (dict(methods=["gradcam", "gradcam"]), "given twice"),
             (dict(methods=[("rise", {"n_mask": 3})]), "unknown setting.*n_mask.*accepted: n_masks"),
             (dict(methods=[("rise", {"target": 3})]), "set by the run"),
             (dict(metrics={"grid": 99}), "grid must be an int in 1..32"),
             (dict(target="truth"), "target must be"),
             (dict(engine="spark"), "unknown engine")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            dataset.explain(clf, digits, store=tmp_path / "s", progress=False, **{"methods": ["gradcam"], **kwargs})
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="exists and is not an xviz store"):
        dataset.explain(clf, digits, ["gradcam"], store=tmp_path / "full", progress=False)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[ray\]"'):
        dataset.explain(clf, digits, ["gradcam"], store=tmp_path / "r", engine="ray", progress=False)


def test_methods_by_name_or_pair_and_the_default(clf, digits, tmp_path):
    runs = {"default": {}, "name": {"methods": "gradcam"}, "pair": {"methods": ("gradcam", {"rule": "mean"})}}
    for name, kwargs in runs.items():
        store = dataset.explain(clf, digits, store=tmp_path / name, metrics=False, progress=False, **kwargs)
        assert store.methods == ["gradcam"], name


def test_the_store_is_a_table_for_duckdb_and_pandas(clf, digits, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    store = dataset.explain(clf, digits, ["gradcam"], store=tmp_path / "s", metrics={"grid": 8}, progress=False)
    rows = duckdb.sql(f"select label, count(*), avg(insertion_auc) from '{tmp_path}/s/parts/*.parquet' "
                      f"group by label order by label").fetchall()
    df = store.to_pandas()
    expected = df.groupby("label").insertion_auc.agg(["count", "mean"]).reset_index().values.tolist()
    assert [[r[0], r[1], pytest.approx(r[2])] for r in rows] == expected
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["methods"] == [{"name": "gradcam", "settings": {}}] and manifest["model"] == "digits CNN"
