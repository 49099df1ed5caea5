"""Property-based: every public function, given a wrong value for one argument, answers with a
clear error (ValueError, TypeError, or FileNotFoundError for a path) or a correct result, never
another exception, a hang or a changed model.

Each case replaces one argument of a call that works by a value drawn from bad values: wrong
types, NaN and infinities, huge and negative numbers, empty and misshapen arrays, images out of
range. Hypothesis runs derandomised, so CI sees the same cases every time.
"""
import hashlib

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install -e '.[test]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import xviz  # noqa: E402
from xviz import metrics  # noqa: E402
from xviz.methods import layers as L  # noqa: E402

CLF = xviz.zoo.digits_cnn(device="cpu")
IMG = xviz.zoo.image("digit-3")
SAL = xviz.gradcam(CLF, IMG)
CLEAR = (ValueError, TypeError, FileNotFoundError, IsADirectoryError)

SCALARS = [None, True, False, "", "abc", "auto ", -1, 0, 1, 2**70, -(2**70), 0.5, 1.5, -0.5, float("nan"),
           float("inf"), -float("inf"), np.int64(3), np.float32(np.nan), [], [1, 2], (1,), {}, {"a": 1},
           object(), b"bytes", 3 + 1j, torch.tensor(2.0), torch.zeros(2), np.zeros(0)]


def arrays():
    """Arrays of any small shape and dtype, with NaN, infinities and out-of-range values."""
    dtype = st.sampled_from([np.float32, np.float64, np.uint8, np.int64, np.bool_])
    return dtype.flatmap(lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))


def bad_values():
    return st.one_of(st.sampled_from(SCALARS), arrays(), arrays().map(torch.from_numpy),
                     st.text(max_size=6), st.integers(), st.floats())


# One working call each, with one argument left open: small settings, so that each runs in well
# under a second on the digits CNN.
CALLS = {
    "Classifier.mean": lambda v: xviz.Classifier(CLF.model, mean=v, size=32),
    "Classifier.std": lambda v: xviz.Classifier(CLF.model, std=v, size=32),
    "Classifier.size": lambda v: xviz.Classifier(CLF.model, size=v),
    "Classifier.labels": lambda v: xviz.Classifier(CLF.model, size=32, labels=v, device="cpu").predict(IMG),
    "Classifier.device": lambda v: xviz.Classifier(CLF.model, size=32, device=v),
    "Classifier.name": lambda v: repr(xviz.Classifier(CLF.model, size=32, name=v)),
    "predict.images": lambda v: CLF.predict(v),
    "predict.top": lambda v: CLF.predict(IMG, top=v),
    "gradcam.images": lambda v: xviz.gradcam(CLF, v),
    "gradcam.target": lambda v: xviz.gradcam(CLF, IMG, target=v),
    "gradcam.layer": lambda v: xviz.gradcam(CLF, IMG, layer=v),
    "gradcam.rule": lambda v: xviz.gradcam(CLF, IMG, rule=v),
    "ig.steps": lambda v: xviz.integrated_gradients(CLF, IMG, steps=v),
    "ig.baseline": lambda v: xviz.integrated_gradients(CLF, IMG, baseline=v, steps=4),
    "ig.output": lambda v: xviz.integrated_gradients(CLF, IMG, output=v, steps=4),
    "rise.n_masks": lambda v: xviz.rise(CLF, IMG, n_masks=v, progress=False) if not _big(v) else None,
    "rise.cells": lambda v: xviz.rise(CLF, IMG, n_masks=8, cells=v, progress=False),
    "rise.p": lambda v: xviz.rise(CLF, IMG, n_masks=8, p=v, progress=False),
    "rise.baseline": lambda v: xviz.rise(CLF, IMG, n_masks=8, baseline=v, progress=False),
    "igos.preset": lambda v: xviz.igos(CLF, IMG, preset=v, iterations=1, steps=2, progress=False),
    "igos.size": lambda v: xviz.igos(CLF, IMG, size=v, iterations=1, steps=2, progress=False),
    "igos.iterations": lambda v: xviz.igos(CLF, IMG, iterations=v, steps=2, progress=False) if not _big(v) else None,
    "igos.l1": lambda v: xviz.igos_pp(CLF, IMG, l1=v, iterations=1, steps=2, progress=False),
    "igos.noise": lambda v: xviz.igos_pp(CLF, IMG, noise=v, iterations=1, steps=2, progress=False),
    "igos.baseline": lambda v: xviz.igos(CLF, IMG, baseline=v, iterations=1, steps=2, progress=False),
    "sag.target": lambda v: xviz.sag(CLF, IMG, target=v, grid=2, progress=False),
    "sag.grid": lambda v: xviz.sag(CLF, IMG, grid=v, progress=False) if not _big(v) else None,
    "sag.threshold": lambda v: xviz.sag(CLF, IMG, grid=2, threshold=v, progress=False),
    "sag.regions": lambda v: xviz.sag(CLF, IMG, grid=2, regions=v, progress=False),
    "sag.baseline": lambda v: xviz.sag(CLF, IMG, grid=2, baseline=v, progress=False),
    "layers.layers": lambda v: L.explain(CLF, IMG, layers=v, progress=False),
    "layers.clusters": lambda v: L.explain(CLF, IMG, layers="features", clusters=v, progress=False),
    "layers.components": lambda v: L.explain(CLF, IMG, layers="features", components=v, progress=False),
    "layers.embedding": lambda v: L.explain(CLF, IMG, layers="features", embedding=v, progress=False),
    "deletion.saliency": lambda v: metrics.deletion(CLF, v, grid=4),
    "deletion.grid": lambda v: metrics.deletion(CLF, SAL, grid=v),
    "deletion.baseline": lambda v: metrics.deletion(CLF, SAL, baseline=v, grid=4),
    "pointing_game.box": lambda v: metrics.pointing_game(SAL, v),
    "pointing_game.tolerance": lambda v: metrics.pointing_game(SAL, xviz.images.Box(4, 4, 8, 8), tolerance=v),
    "images.load_image": lambda v: xviz.images.load_image(v),
    "images.baseline": lambda v: xviz.images.baseline(torch.zeros(1, 3, 8, 8), v),
    "show.result": lambda v: xviz.show(v),
    "show.width": lambda v: xviz.show(SAL, width=v),
    "load.path": lambda v: xviz.load(v),
}


def _big(v):
    """A count so large that a correct answer would take minutes: not a fair case for a test."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 1000


def _state(model):
    digest = hashlib.sha1()
    for t in model.state_dict().values():
        digest.update(t.detach().cpu().numpy().tobytes())
    flags = [m.training for m in model.modules()] + [p.requires_grad for p in model.parameters()]
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())
    return digest.hexdigest(), flags, hooks


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(name=st.sampled_from(sorted(CALLS)), value=bad_values())
def test_a_wrong_argument_gets_a_clear_error_or_a_result(name, value):
    CLF.model.train()  # the user's mode, to be given back
    before = _state(CLF.model)
    try:
        CALLS[name](value)
    except CLEAR as error:
        assert str(error), f"{name}={value!r}: an error without a message"
    except Exception as error:  # noqa: BLE001 - the point: nothing else may escape
        pytest.fail(f"{name}={value!r} raised {type(error).__name__}: {error}")
    finally:
        CLF.model.eval()
    assert _state(CLF.model)[0] == before[0], f"{name}={value!r} changed the model's weights"
    CLF.model.train()
    assert _state(CLF.model)[1:] == before[1:], f"{name}={value!r} left the model's flags or hooks changed"
    CLF.model.eval()


@pytest.mark.parametrize("cut", [0, 1, 10, 100, 1000, -100, -1])
def test_a_result_file_cut_anywhere_is_a_clear_error(tmp_path, cut):
    for result in (SAL, xviz.sag(CLF, IMG, grid=2, progress=False)):
        data = result.save(tmp_path / "r").read_bytes()
        (tmp_path / "cut").write_bytes(data[:cut] if cut >= 0 else data[:len(data) + cut])
        with pytest.raises(ValueError):
            xviz.load(tmp_path / "cut")
