"""The standalone HTML report and the `xviz` command."""
import base64
import gzip
import importlib
import json
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

import xviz
from xviz import cli
from xviz.views import plots


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.json_scripts, self._in_json = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_json = tag == "script" and dict(attrs).get("type") == "application/json"

    def handle_data(self, data):
        if self._in_json:
            self.json_scripts.append(data)
            self._in_json = False


def parse(html):
    parser = Collect()
    parser.feed(html)
    parser.close()
    return parser


def embedded_arrays(doc):
    """Every ndarray bokeh serialised into the document, decoded."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "ndarray" and isinstance(node.get("array"), dict):
                raw = base64.b64decode(node["array"]["data"])
                raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw  # bokeh gzips big arrays
                found.append(np.frombuffer(raw, dtype=node["dtype"]).reshape(node["shape"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return found


def assert_standalone(html):
    parsed = parse(html)
    remote = [(tag, a) for tag, a in parsed.tags for key in ("src", "href")
              if str(a.get(key, "")).startswith(("http:", "https:", "//"))]
    assert not remote, f"remote resources: {remote}"
    assert html.startswith("<!DOCTYPE html>") and [t for t, _ in parsed.tags].count("html") == 1
    return parsed


@pytest.fixture
def digit_report(digits_clf, tmp_path):
    img = xviz.zoo.image("digit-3")
    sal = xviz.gradcam(digits_clf, img)
    path = xviz.report(digits_clf, img, [sal], tmp_path / "r.html")
    return path.read_text(), sal


def test_report_is_standalone_html_holding_image_and_labels(digit_report):
    html, sal = digit_report
    parsed = assert_standalone(html)
    assert "Bokeh.embed.embed_items" in html, "BokehJS must be inline"
    doc = json.loads(parsed.json_scripts[0])
    arrays = embedded_arrays(doc)
    assert any(a.shape == sal.image.shape[:2] and np.array_equal(a, plots.to_rgba(sal.image)) for a in arrays), \
        "the photo's pixels must be embedded"
    assert any(np.array_equal(a, plots.to_rgba(plots.colorize(sal.mask))) for a in arrays), "the heatmap must be embedded"
    text = json.dumps(doc)
    assert "digits CNN" in text and '"3"' in text and "gradcam" in text


def test_colorize_rejects_unknown_colormaps():
    with pytest.raises(ValueError, match="unknown colormap 'rainbow'"):
        plots.colorize(np.zeros((2, 2)), "rainbow")


def test_cli_explain_writes_report(tmp_path, capsys):
    out = tmp_path / "d.html"
    code = cli.main(["explain", "digit-5", "--model", "digits", "--target", "5", "--out", str(out)])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    assert_standalone(out.read_text())


def test_cli_explain_an_image_file(tmp_path, capsys):
    from PIL import Image

    path = tmp_path / "seven.png"
    Image.fromarray((xviz.zoo.image("digit-7") * 255).astype(np.uint8)).save(path)
    assert cli.main(["explain", str(path), "--model", "digits", "--out", str(tmp_path / "s.html")]) == 0
    assert (tmp_path / "s.html").exists()


@pytest.mark.parametrize("argv, message", [
    ([], "required: command"),
    (["explain"], "required: image"),
    (["explain", "digit-3", "--model", "resnet"], "invalid choice: 'resnet'"),
    (["explain", "digit-3", "--model", "digits", "--target", "11"], "out of range"),
    (["explain", "digit-3", "--model", "digits", "--target", "seven"], "unknown label 'seven'"),
    (["explain", "nothing.png"], "no image file at 'nothing.png'"),
    (["explain", "digit-3", "--out", "/no/such/folder/r.html"], "does not exist"),
    (["explain", "digit-3", "--top", "0"], "--top must be at least 1"),
    (["explain", "digit-3", "--out", "."], "it is a folder"),
    (["demo", "--image", "nosuch"], "no bundled sample of that name (samples: chelsea,"),
])
def test_cli_bad_arguments_give_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("xviz: error:") and message in err


def test_demo_command_in_a_subprocess(tmp_path):
    """`xviz demo` as a user runs it: the bundled model and photo, a report path printed."""
    out = tmp_path / "demo.html"
    done = subprocess.run([sys.executable, "-m", "xviz", "demo", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out.resolve())
    html = out.read_text()
    assert_standalone(html)
    assert "Egyptian cat" in html and "EfficientNet-Lite0" in html


def test_cli_warnings_are_one_line_notes(tmp_path, capsys, monkeypatch):
    import warnings

    from xviz import methods

    def gradcam_with_a_warning(clf, image, target=None):
        warnings.warn("raise steps for a faithful attribution")
        return xviz.gradcam(clf, image, target)

    monkeypatch.setitem(methods.METHODS, "gradcam", gradcam_with_a_warning)
    out = tmp_path / "g.html"
    assert cli.main(["explain", "digit-3", "--model", "digits", "--method", "gradcam", "--out", str(out)]) == 0
    assert capsys.readouterr().err == "xviz: note: raise steps for a faithful attribution\n"


def test_cli_a_file_that_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch):
    report_module = importlib.import_module("xviz.reports")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_module, "write_html", full)
    code = cli.main(["explain", "digit-3", "--model", "digits", "--method", "gradcam", "--out", str(tmp_path / "r.html")])
    assert code == 2 and capsys.readouterr().err == "xviz: error: cannot write " + str(tmp_path / "r.html") + \
        ": No space left on device\n"


def test_report_refuses_results_of_another_image_and_batches(digits_clf, tmp_path):
    three, seven = xviz.zoo.image("digit-3"), xviz.zoo.image("digit-7")
    sal = xviz.gradcam(digits_clf, three)
    assert xviz.report(digits_clf, three, sal, tmp_path / "one.html").exists()  # one result, not in a list
    with pytest.raises(ValueError, match="result 0 .gradcam. explains another image"):
        xviz.report(digits_clf, seven, [sal], tmp_path / "r.html")
    with pytest.raises(ValueError, match="a report is of one image, got a batch of 2"):
        xviz.report(digits_clf, [three, seven], [sal], tmp_path / "r.html")
    with pytest.raises(ValueError, match="item 0 is a str"):
        xviz.report(digits_clf, three, ["gradcam"], tmp_path / "r.html")
