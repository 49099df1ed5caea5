"""What every view shares: BokehJS goes into each notebook page once (a reloaded page again)."""
import bokeh.io

from xviz.widgets import base


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
