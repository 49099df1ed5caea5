"""Standalone HTML: one file, BokehJS inline, that opens in a browser with no kernel or network."""
from bokeh.embed import file_html
from bokeh.resources import INLINE

from ..core.files import writable


def to_html(layout, title):
    """Render a bokeh layout to one standalone HTML string with BokehJS inline."""
    return file_html(layout, resources=INLINE, title=title)


def write_html(layout, title, path):
    """Write :func:`to_html` to ``path``; returns the path as a :class:`pathlib.Path`."""
    path = writable(path)  # a missing folder is named, not a bare FileNotFoundError
    path.write_text(to_html(layout, title), encoding="utf-8")
    return path
