"""The package's layers hold: compute imports no view, and the import contract is kept."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code):
    """The modules loaded in a fresh interpreter after running ``code``."""
    probe = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(out.stdout.split())


def test_computing_loads_neither_bokeh_nor_ipywidgets():
    loaded = _modules_after(
        "import xviz, xviz.methods, xviz.metrics\n"
        "clf = xviz.zoo.digits_cnn(device='cpu')\n"
        "sal = xviz.gradcam(clf, xviz.zoo.image('digit-3'))\n"
        "xviz.metrics.deletion(clf, sal)\n")
    assert "xviz.methods.cam" in loaded  # the probe did compute
    heavy = {m.split(".")[0] for m in loaded} & {"bokeh", "ipywidgets", "jupyter_bokeh", "anywidget", "marimo"}
    assert not heavy, f"computing imported {sorted(heavy)}"
    assert not any(m.startswith("xviz.views.") and m != "xviz.views.registry" for m in loaded)


def test_a_view_is_loaded_when_asked_for():
    loaded = _modules_after("import xviz\nxviz.HeatmapView")
    assert "xviz.views.heatmap" in loaded and "bokeh" in loaded


def test_a_widget_is_an_anywidget_and_needs_neither_marimo_nor_jupyter_bokeh():
    loaded = _modules_after("import xviz\nclf = xviz.zoo.digits_cnn(device='cpu')\n"
                            "xviz.show(xviz.gradcam(clf, xviz.zoo.image('digit-3'))).widget")
    assert "anywidget" in loaded and "xviz.views.host" in loaded
    assert not {m.split(".")[0] for m in loaded} & {"marimo", "jupyter_bokeh"}  # marimo finds _display_ itself


def test_the_layer_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    out = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout


def test_every_result_type_has_a_view_that_exists():
    import importlib

    from xviz.views.registry import VIEWS

    for (module, name), (view_module, view_name) in VIEWS.items():
        assert hasattr(importlib.import_module(module), name), (module, name)
        assert hasattr(importlib.import_module(view_module), view_name), (view_module, view_name)


def test_xviz_imports_without_the_dataset_extra_which_is_named_when_needed():
    probe = ("import sys\n\n\nclass NoArrow:  # as if pyarrow were not installed\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name.split('.')[0] == 'pyarrow':\n            raise ImportError('no pyarrow')\n\n\n"
             "sys.meta_path.insert(0, NoArrow())\nimport xviz\n"
             "xviz.gradcam(xviz.zoo.digits_cnn(device='cpu'), xviz.zoo.image('digit-3'))\n"
             "try:\n    xviz.dataset\nexcept ImportError as error:\n    print(error)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert 'xviz.dataset needs pyarrow and pandas, an extra of xviz: pip install -e ".[dataset]"' in out.stdout
