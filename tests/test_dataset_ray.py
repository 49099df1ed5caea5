"""The Ray engine, on a local Ray of 2 CPUs: the same store as in this process, with 1 worker
or 2, and a worker whose model differs from the driver's stops the run."""
import numpy as np
import pytest

pytest.importorskip("pyarrow", reason="xviz.dataset needs pyarrow (pip install -e '.[dataset]')")
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install -e '.[ray]')")

from test_dataset import same_tables  # noqa: E402

import xviz  # noqa: E402
from xviz import dataset  # noqa: E402


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def local_ray(monkeypatch_module):
    # As xviz.dataset starts Ray: workers at normal priority (Ray's nice 15 starves them on a busy machine).
    monkeypatch_module.setenv("RAY_worker_niceness", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data():
    d = xviz.zoo.digits("test")
    return d.images[:10], d.labels[:10]


ARGS = dict(methods=["gradcam", ("rise", {"n_masks": 100})], metrics={"grid": 8}, batch_size=3, progress=False)


@pytest.fixture(scope="module")
def here(data, tmp_path_factory):
    return dataset.explain(xviz.zoo.digits_cnn(device="cpu"), data, store=tmp_path_factory.mktemp("here") / "s", **ARGS)


def test_two_workers_give_the_store_of_one_and_of_this_process(local_ray, data, here, tmp_path):
    one = dataset.explain(xviz.zoo.digits_cnn, data, store=tmp_path / "one", engine="ray", workers=1, **ARGS)
    two = dataset.explain(xviz.zoo.digits_cnn, data, store=tmp_path / "two", engine="ray", workers=2, **ARGS)
    assert len(one.to_pandas()) == 20 and one.to_pandas().error.isna().all()
    same_tables(one, two)
    same_tables(one, here)
    np.testing.assert_allclose(two.result("000007", "rise").raw, here.result("000007", "rise").raw, atol=1e-5)


def test_a_ray_run_resumes_a_store_begun_in_this_process(local_ray, data, here, tmp_path):
    clf = xviz.zoo.digits_cnn(device="cpu")
    half = (data[0][:4], data[1][:4])
    folder = tmp_path / "s"
    dataset.explain(clf, half, store=folder, **ARGS)
    both = dataset.explain(clf, data, store=folder, engine="ray", workers=2, **ARGS)  # a Classifier, sent by Ray
    same_tables(both, here)


def test_a_worker_with_other_weights_stops_the_run(local_ray, data, tmp_path):
    import torch

    calls = {"n": 0}

    def drifting():  # a factory that does not build the same model twice
        clf = xviz.zoo.digits_cnn(device="cpu")
        calls["n"] += 1
        with torch.no_grad():
            next(clf.model.parameters())[0] += 0.01 * calls["n"]
        return clf

    with pytest.raises(Exception, match="other weights than the driver's"):
        dataset.explain(drifting, data, store=tmp_path / "s", engine="ray", **ARGS)
