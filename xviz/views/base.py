"""What every view shares: showing a bokeh layout in a notebook and exporting it to HTML.

A view builds one bokeh layout whose interactivity lives in small CustomJS callbacks, so the
same layout works in a notebook (hosted by an anywidget, :mod:`xviz.views.host`, which every
front end that runs anywidgets renders: JupyterLab, Notebook 7, Voila, VS Code, Colab, marimo)
and in a standalone HTML file with no kernel. Views read result objects; they compute nothing.
"""
import logging

from bokeh.document import Document

from .html import to_html, write_html


def _request():
    """The header and metadata of the running cell's execute request; {} outside a kernel."""
    from IPython import get_ipython

    get_parent = getattr(get_ipython(), "get_parent", None)
    return (get_parent() or {}) if get_parent else {}


_shown: dict = {}  # (page, cell id) -> (the run that showed them, the widgets it showed)


def _replace_in_cell(widget):
    """Close the widgets an earlier run of this cell in this page showed: running a cell again
    clears its output there, but ipywidgets keeps every widget alive, and ours would be sent
    every later change of their document. JupyterLab names the cell
    in each request; where no front end does, nothing is closed. Another page on the kernel
    (a second tab of the notebook) keeps its output, so its widgets are its own."""
    request = _request()
    header = request.get("header", {})
    cell, run = request.get("metadata", {}).get("cellId"), header.get("msg_id")
    if cell is None:
        return
    key = (header.get("session"), cell)
    last_run, widgets = _shown.get(key, (None, []))
    if last_run != run:
        for old in widgets:
            old.close()
        widgets = []
    _shown[key] = (run, widgets if _elsewhere(run) else widgets + [widget])


def _elsewhere(run):
    """Whether what this run displays may outlive the cell's output: an ``Output`` widget
    capturing it (perhaps shown by another cell), or ``%%capture`` (shown later by ``show()``)."""
    from IPython import get_ipython
    from IPython.core.displaypub import CapturingDisplayPublisher
    from ipywidgets import Output
    from ipywidgets.widgets import widget

    if isinstance(getattr(get_ipython(), "display_pub", None), CapturingDisplayPublisher):
        return True
    live = getattr(widget, "_instances", {})  # every live widget (Widget.widgets, deprecated, is the same)
    return any(isinstance(w, Output) and w.msg_id == run for w in list(live.values()))


class View:
    """A bokeh layout with a notebook face (:attr:`widget`) and an HTML face (:meth:`to_html`)."""

    title = "xviz"

    def __init__(self, layout, on_load=None):
        """``on_load``: a CustomJS that draws the page from the view's state. It runs when the
        page opens (notebook or exported file), so a state set from Python, or left by clicks
        whose drawing stayed in the browser, is what the page shows."""
        self.layout = layout
        self._widget = None
        self._on_load = on_load

    def _document(self):
        """The layout's bokeh document with ``on_load`` registered; (document, made here)."""
        made = self.layout.document is None
        doc = Document() if made else self.layout.document
        if made:
            doc.add_root(self.layout)
        if self._on_load is not None and self._on_load not in doc.callbacks._js_event_callbacks.get(
                "document_ready", []):
            doc.js_on_event("document_ready", self._on_load)
        return doc, made

    def _new_widget(self):
        from .host import BokehWidget

        self._document()  # the widget shows this document and keeps it in step with the pages
        return BokehWidget(self.layout)

    @property
    def widget(self):
        """The view as an ipywidget (an anywidget, :class:`xviz.views.host.BokehWidget`), to
        nest in HBox/VBox; the same one each time, until it is closed (marimo closes the
        widgets of a cell that runs again)."""
        if self._widget is None or self._widget.closed:
            self._widget = self._new_widget()
        return self._widget

    def _ipython_display_(self):
        """Each display is a widget of its own on the one document: it opens as the view is now,
        and what a page changes in one reaches the others (the host sends a page's change to
        every widget of the document but the page it came from)."""
        from IPython.display import display

        widget = self._new_widget()
        display(widget)
        _replace_in_cell(widget)

    def _display_(self):
        """marimo's display protocol: a view that ends a cell (or is given to ``mo.output``) is
        shown as a widget of its own, like :meth:`_ipython_display_`. marimo closes it when the
        cell runs again."""
        return self._new_widget()

    def to_html(self, path=None):
        """Standalone HTML (BokehJS inline, interactive without a kernel); written to ``path`` if given."""
        logger = logging.getLogger("bokeh.embed.util")
        level = logger.level
        # Views with a classifier also have Python callbacks; bokeh warns that they cannot run
        # in a file. That is expected: the JavaScript side carries the file on its own.
        logger.setLevel(logging.ERROR)
        doc, made = self._document()
        try:
            return to_html(self.layout, self.title) if path is None else write_html(self.layout, self.title, path)
        finally:
            logger.setLevel(level)
            if made:  # let the layout go: it may still be put in a larger layout of the user's
                doc.remove_root(self.layout)
