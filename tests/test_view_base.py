"""What every view shares: the widget that hosts a view in any notebook front end, kept in step
with its pages; closing the widgets of a cell run again."""
import json

from xviz.views import base


def test_on_load_runs_in_every_page_and_leaves_the_layout_free():
    from bokeh.embed import file_html
    from bokeh.layouts import row
    from bokeh.models import CustomJS, Div
    from bokeh.resources import INLINE

    draw = CustomJS(code="/* draw from the state */")
    a, b = base.View(Div(text="a"), on_load=draw), base.View(Div(text="b"), on_load=draw)
    # the exported page holds it as the document's document_ready callback (nothing else refers to it)
    assert draw.id in a.to_html()
    assert a.layout.document is None  # exporting kept no document: the layout can still be composed
    file_html(row(a.layout, b.layout), resources=INLINE)
    c = base.View(Div(text="c"), on_load=draw)
    doc, made = c._document()
    assert made and c._document() == (doc, False)  # registered once, however often it is asked
    assert doc.callbacks._js_event_callbacks["document_ready"] == [draw]


def _text(obj):
    from bokeh.core.json_encoder import serialize_json

    return (obj if isinstance(obj, str) else serialize_json(obj)).replace(" ", "")


def _sent(widget):
    """What a widget sends to its pages: a list of (content, buffers) that grows with each message."""
    log = []
    widget.send = lambda content, buffers=None: log.append((content, buffers or []))
    return log


def _ask(widget, kind, view="page-1", **content):
    """A page asks the widget for something (``document`` or ``bokehjs``); returns the reply."""
    log = _sent(widget)
    widget._received(widget, {"kind": kind, "view": view, "request": "r-1", **content}, [])
    (reply, buffers), = log
    assert reply["request"] == "r-1"
    json.dumps(reply)  # what the comm does with it
    return reply, buffers


def _page_changes(widget, view, model, attr, value, event=None):
    """A page of ``widget`` sets ``model.attr`` (or makes another bokeh ``event``): the patch
    BokehJS sends, binary arrays as buffers."""
    from bokeh.core.json_encoder import serialize_json
    from bokeh.core.serialization import Serializer
    from bokeh.document.events import ModelChangedEvent

    doc = model.document
    serializer = Serializer(references=doc.models.synced_references, deferred=True)
    patch = serializer.encode({"events": [event or ModelChangedEvent(doc, model, attr, value)]})
    widget._received(widget, {"kind": "patch", "view": view, "patch": serialize_json(patch),
                              "buffers": [b.id for b in serializer.buffers]},
                     [memoryview(b.to_bytes()) for b in serializer.buffers])


def test_each_display_opens_as_the_view_is_now_and_pages_stay_in_step():
    from bokeh.models import ColumnDataSource, Div

    state = ColumnDataSource({"selected": [[1, 1, 0]]}, name="state")
    view = base.View(Div(text="x", tags=[state]))
    first = view._new_widget()
    state.data = {"selected": [[0, 0, 1]]}  # set from Python after the first display
    second = view._new_widget()
    reply, _ = _ask(second, "document")
    assert "[0,0,1]" in _text(reply["doc"])
    # A page of the first widget toggles a region: the second widget's pages are told, the
    # first's are not sent their own change.
    _ask(first, "document", view="first-page")
    to_first, to_second = _sent(first), _sent(second)
    _page_changes(first, "first-page", state, "data", {"selected": [[1, 0, 1]]})
    assert state.data["selected"] == [[1, 0, 1]]
    assert to_first == [] and len(to_second) == 1
    assert "[1,0,1]" in to_second[0][0]["fragments"][2] and to_second[0][0]["origin"] is None


def test_a_page_opened_later_gets_the_document_as_it_is_now():
    from bokeh.models import ColumnDataSource, Div

    state = ColumnDataSource({"selected": [[1, 1, 0]]}, name="state")
    view = base.View(Div(text="x", tags=[state]))
    widget = view.widget
    assert view.widget is widget
    assert "[1,1,0]" in _text(_ask(widget, "document")[0]["doc"])
    sent = _sent(widget)
    state.data = {"selected": [[0, 1, 0]]}
    assert len(sent) == 1 and "[0,1,0]" in sent[0][0]["fragments"][2]  # the open page is patched
    reply, _ = _ask(widget, "document", view="page-2")  # what a reloaded page asks the kernel for
    assert "[0,1,0]" in _text(reply["doc"])


def test_a_change_from_one_page_reaches_the_other_pages_of_the_same_widget():
    """Two pages may show the same widget (a second tab of a saved notebook): a change made in
    one is sent to the widget, marked with the page it came from, which alone skips it."""
    from bokeh.models import Div

    div = Div(text="x")
    widget = base.View(div).widget
    _ask(widget, "document", view="tab-1")
    _ask(widget, "document", view="tab-2")
    sent = _sent(widget)
    _page_changes(widget, "tab-1", div, "text", "from tab 1")
    assert div.text == "from tab 1"
    (content, _), = sent
    assert content["origin"] == "tab-1" and "from tab 1" in content["fragments"][2]


def test_a_page_change_runs_the_python_callbacks_once():
    """jupyter_bokeh ran ``on_change`` callbacks twice per browser change; the host runs them once."""
    from bokeh.models import Button, Div

    div, button = Div(text="x"), Button(label="go")
    changes, clicks = [], []
    div.on_change("text", lambda attr, old, new: changes.append((old, new)))
    button.on_event("button_click", lambda event: clicks.append(event))
    view = base.View(__import__("bokeh.layouts", fromlist=["column"]).column(div, button))
    widget = view.widget
    _page_changes(widget, "page-1", div, "text", "typed")
    assert changes == [("x", "typed")]
    # A click is a bokeh event, sent as a MessageSent patch event, as BokehJS sends it.
    event = {"events": [{"kind": "MessageSent", "msg_type": "bokeh_event", "msg_data": {
        "type": "event", "name": "button_click", "values": {"type": "map", "entries": [
            ["model", {"id": button.id}]]}}}]}
    widget._received(widget, {"kind": "patch", "view": "page-1", "patch": _text(event), "buffers": []}, [])
    assert len(clicks) == 1 and clicks[0].model is button


def test_patches_carry_arrays_as_binary_buffers_both_ways():
    import numpy as np
    from bokeh.models import ColumnDataSource, Div

    source = ColumnDataSource({"image": [np.arange(12, dtype=np.uint32).reshape(3, 4)]})
    widget = base.View(Div(text="x", tags=[source])).widget
    reply, buffers = _ask(widget, "document")
    assert buffers == [] and '"dtype":"uint32"' in _text(reply["doc"])  # the document: gzipped, in the JSON
    new = np.full((3, 4), 7, dtype=np.uint32)
    _page_changes(widget, "page-1", source, "data", {"image": [new]})  # arrives as a buffer
    assert np.array_equal(source.data["image"][0], new)
    sent = _sent(widget)
    source.data = {"image": [new + 1]}
    (content, buffers), = sent
    assert len(content["buffer_headers"]) == len(buffers) == 1 and bytes(buffers[0]) == (new + 1).tobytes()


def test_columns_streamed_and_patched_in_a_page_reach_python_and_the_other_pages():
    from bokeh.document.events import ColumnsPatchedEvent, ColumnsStreamedEvent
    from bokeh.models import ColumnDataSource, Div

    source = ColumnDataSource({"x": [1, 2], "y": [3, 4]})
    view = base.View(Div(text="x", tags=[source]))
    first, second = view._new_widget(), view._new_widget()
    to_second = _sent(second)
    doc = source.document
    _page_changes(first, "page-1", source, None, None, ColumnsStreamedEvent(doc, source, "data", {"x": [5], "y": [6]}))
    _page_changes(first, "page-1", source, None, None, ColumnsPatchedEvent(doc, source, "data", {"y": [(0, 30)]}))
    assert source.data == {"x": [1, 2, 5], "y": [30, 4, 6]}
    kinds = [json.loads(content["fragments"][2])["events"][0]["kind"] for content, _ in to_second]
    assert kinds == ["ColumnsStreamed", "ColumnsPatched"]


def test_every_page_gets_the_same_patch_with_a_new_model_defined():
    """bokeh marks a model known to the pages once a patch carried it: serialised per widget,
    the second widget's pages would get a reference to a model they never saw."""
    from bokeh.models import Div

    div = Div(text="x")
    view = base.View(div)
    first, second = view._new_widget(), view._new_widget()
    to_first, to_second = _sent(first), _sent(second)
    div.tags = [Div(text="new", name="brand-new")]
    assert len(to_first) == len(to_second) == 1
    assert to_first[0][0]["fragments"] == to_second[0][0]["fragments"]
    assert '"name":"brand-new"' in to_second[0][0]["fragments"][2].replace(" ", "")


def test_bokehjs_is_sent_as_asked_in_load_order(monkeypatch):
    from bokeh.models import Div
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    from xviz.views import host

    widget = base.View(Div(text="x")).widget
    reply, _ = _ask(widget, "document")
    assert reply["components"] == ["bokeh", "bokeh-widgets"]  # a Div is a widget; no table, GL, MathJax
    plot = figure()
    plot.scatter([1], [1])
    assert host.components(base.View(plot)._document()[0]) == ["bokeh"]
    monkeypatch.setattr(host, "bokehjs_sent", [])
    reply, scripts = _ask(widget, "bokehjs", components=["bokeh-widgets", "bokeh"])
    assert reply["kind"] == "bokehjs" and host.bokehjs_sent == [("bokeh", "bokeh-widgets")]
    core, widgets = (INLINE.clone(components=[c]).js_raw[0] for c in ("bokeh", "bokeh-widgets"))
    assert scripts[:2] == [core.encode(), widgets.encode()]  # the core first: the plugins register in it


def test_a_request_that_fails_is_answered_with_the_error():
    import pytest
    from bokeh.models import Div

    view = base.View(Div(text="x"))
    widget = view.widget
    view.layout.document.remove_root(view.layout)  # the layout left its document
    log = _sent(widget)
    with pytest.raises(AttributeError):
        widget._received(widget, {"kind": "document", "view": "p", "request": "r-9"}, [])
    (reply, _), = log
    assert reply["request"] == "r-9" and "AttributeError" in reply["error"]  # the page shows it, not a spinner


def test_the_widget_needs_its_layout_alone_in_a_document():
    import pytest
    from bokeh.document import Document
    from bokeh.models import Div

    from xviz.views.host import BokehWidget

    with pytest.raises(ValueError, match="root= is in no Document"):
        BokehWidget(Div())
    doc, div = Document(), Div()
    doc.add_root(div)
    doc.add_root(Div())
    with pytest.raises(ValueError, match="root= is one of several roots"):
        BokehWidget(div)


def test_a_widget_whose_comm_the_front_end_closed_is_sent_nothing():
    """marimo closes the comms of a cell that runs again, without closing the widget."""
    from bokeh.models import Div

    div = Div(text="x")
    view = base.View(div)
    gone, kept = view._new_widget(), view._new_widget()
    to_gone, to_kept = _sent(gone), _sent(kept)
    gone.comm.close()
    assert gone.closed and not kept.closed
    div.text = "y"
    assert to_gone == [] and len(to_kept) == 1
    widget = view.widget
    widget.comm.close()
    assert view.widget is not widget and not view.widget.closed  # a live one in its place


def test_a_cell_run_again_closes_the_widgets_its_last_run_showed(monkeypatch):
    """Running a cell again clears its output; the widgets it showed are closed (they would
    keep their bundles and get every change), those of other cells and of this run are not."""
    import IPython
    from bokeh.models import ColumnDataSource, Div

    request = {}

    class Shell:
        display_pub = None

        def get_parent(self):
            return request

    shell = Shell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    displayed = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects: displayed.extend(objects))
    monkeypatch.setattr(base, "_shown", {})
    state = ColumnDataSource({"selected": [[1, 0]]})
    view, other = base.View(Div(text="x", tags=[state])), base.View(Div(text="y"))

    def run(cell, msg_id, *views, page="page"):
        request.update(header={"msg_id": msg_id, "session": page}, metadata={"cellId": cell})
        for v in views:
            v._ipython_display_()
        return base._shown[page, cell][1]

    first = run("cell-a", "run-1", view, view)  # one run showing the view twice keeps both
    assert len(first) == 2 and all(w.comm is not None for w in first)
    beside = run("cell-b", "run-2", other)
    again = run("cell-a", "run-3", view)
    assert all(w.comm is None for w in first)  # closed: ipywidgets forgets them
    assert len(again) == 1 and again[0].comm is not None and beside[0].comm is not None
    told = [_sent(w) for w in first + again]
    state.data = {"selected": [[0, 1]]}
    assert [len(t) > 0 for t in told] == [False, False, True]  # the closed ones are told nothing
    tab = run("cell-a", "run-4", view, page="second-tab")  # the same cell run in another page
    assert again[0].comm is not None and len(tab) == 1  # the first page still shows its output
    from ipywidgets import Output

    out = Output()
    out.msg_id = "run-5"  # what `with out:` sets: this run's displays go into an Output widget
    run("cell-a", "run-5", view)
    inside = displayed[-1]
    assert again[0].comm is None  # the cell's own output of run 3 was cleared by this run
    last = run("cell-a", "run-6", view)[-1]
    assert inside.comm is not None  # the Output widget may be shown by another cell: kept
    out.close()
    from IPython.core.displaypub import CapturingDisplayPublisher

    shell.display_pub = CapturingDisplayPublisher()  # %%capture: shown later, by cap.show() in any cell
    run("cell-a", "run-7", view)
    kept, shell.display_pub = displayed[-1], None
    last = run("cell-a", "run-8", view)[-1]
    assert kept.comm is not None
    first[0].close()  # closing again is harmless (jupyter_bokeh's own close raised KeyError)
    first[1].close()
    request.clear()  # no cell id (a front end that sends none): nothing is closed
    view._ipython_display_()
    assert last.comm is not None
