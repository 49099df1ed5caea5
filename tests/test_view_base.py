"""What every view shares: BokehJS goes into each notebook page once (a reloaded page again)."""
import bokeh.io

from xviz.views import base


def test_bokehjs_is_loaded_once_per_page(monkeypatch):
    loads, page = [], ["tab-1"]
    monkeypatch.setattr(bokeh.io, "output_notebook", lambda *a, **k: loads.append(page[0]))
    monkeypatch.setattr(base, "_page", lambda: page[0])
    monkeypatch.setattr(base, "_bokeh_pages", set())
    base.load_bokeh()
    base.load_bokeh()
    assert loads == ["tab-1"]
    page[0] = "tab-1-reloaded"  # a reload is a new client session on the same kernel
    base.load_bokeh()
    base.load_bokeh()
    assert loads == ["tab-1", "tab-1-reloaded"]


def test_the_page_is_the_client_session_of_the_running_cell(monkeypatch):
    class Shell:
        def get_parent(self):
            return {"header": {"session": "abc", "msg_type": "execute_request"}}

    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    assert base._page() == "abc"
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)  # plain Python: no page
    assert base._page() is None


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


def _text(bundle):
    from bokeh.core.json_encoder import serialize_json

    return (bundle if isinstance(bundle, str) else serialize_json(bundle)).replace(" ", "")


def _sent(widget):
    """What a jupyter_bokeh widget sends to its pages: a list that grows with each message."""
    log = []
    widget.send = lambda content, buffers=None: log.append(content)
    return log


def test_each_display_opens_as_the_view_is_now_and_pages_stay_in_step():
    from bokeh.models import ColumnDataSource, Div

    state = ColumnDataSource({"selected": [[1, 1, 0]]}, name="state")
    view = base.View(Div(text="x", tags=[state]))
    first = view._new_widget()
    state.data = {"selected": [[0, 0, 1]]}  # set from Python after the first display
    second = view._new_widget()
    assert "[0,0,1]" in _text(second.render_bundle)
    # A page of the first widget toggles a region: jupyter_bokeh applies it with that widget as
    # the setter; the second widget's pages are told, the first's are not sent their own change.
    to_first, to_second = _sent(first), _sent(second)
    type(state).data.__set__(state, {"selected": [[1, 0, 1]]}, setter=first)
    assert to_first == [] and len(to_second) > 0


def test_a_page_opened_later_gets_the_document_as_it_is_now():
    from bokeh.models import ColumnDataSource, Div

    state = ColumnDataSource({"selected": [[1, 1, 0]]}, name="state")
    view = base.View(Div(text="x", tags=[state]))
    widget = view.widget
    assert view.widget is widget
    sent = _sent(widget)
    state.data = {"selected": [[0, 1, 0]]}
    assert "[1,1,0]" in _text(widget.render_bundle)  # open pages were patched instead
    patches = len(sent)
    full = widget.get_state()  # what a reloaded page asks the kernel for
    assert "[0,1,0]" in _text(full["render_bundle"])
    assert len(sent) == patches  # no message to the pages already open


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
    monkeypatch.setattr(base, "load_bokeh", lambda: None)
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
    request.clear()  # no cell id (a front end that sends none): nothing is closed
    view._ipython_display_()
    assert last.comm is not None
