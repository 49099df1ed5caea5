"""A bokeh layout as an anywidget: one widget that JupyterLab, Notebook 7, Voila, VS Code, Colab
and marimo all render, with the page and the kernel kept in step both ways.

The page asks the kernel for what it needs by custom messages, so nothing large travels in a
trait: BokehJS (inline, from the installed bokeh: classrooms are often offline) once per page,
and the layout's document as it is at that moment, whenever a page opens the widget (a reload
or a second tab gets the view as it was left, not as it was made). From then on each side sends
its changes to the other as bokeh patches, the protocol bokeh's own server speaks: a page's
change runs the Python callbacks of the models it touched (once), and reaches every other
widget showing the same document, never the page it came from.

Messages, page to kernel: ``{"kind": "document"}``, ``{"kind": "bokehjs", "components": [...]}``
(each with a ``request`` id the reply repeats) and ``{"kind": "patch", "view": id, "patch": JSON}``
with its buffers; kernel to page: the replies, and ``{"kind": "patch", "fragments": [...]}``,
a PATCH-DOC message cut as bokeh's protocol receiver reads it.
"""
import json

import anywidget
from bokeh import __version__ as BOKEH_VERSION
from bokeh.core.serialization import Buffer, Serialized
from bokeh.protocol import Protocol
from bokeh.resources import INLINE

ESM = r"""
// BokehJS of one version, loaded at most once per page however many widgets ask at once:
// window.__xvizBokehJS maps "version/component" to the promise of it being loaded.
const PROBES = {  // a module each BokehJS plugin registers, to see whether it is loaded already
  "bokeh-widgets": "models/widgets/main", "bokeh-tables": "models/widgets/tables/main",
  "bokeh-gl": "models/glyphs/webgl/main", "bokeh-mathjax": "models/text/mathjax/main",
};

function bokeh(version) {  // BokehJS registers itself under its version, beside any other version
  const B = window.Bokeh;
  return B == null ? null : (B[version] ?? (B.version === version ? B : null));
}

function has(version, component) {
  const B = bokeh(version);
  if (B == null || component === "bokeh") return B != null;
  try { B.require(PROBES[component]); return true; } catch { return false; }
}

function bytes(buffer) {  // front ends hand buffers over as DataView, ArrayBuffer or typed arrays
  if (buffer instanceof ArrayBuffer) return buffer;
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
}

let requests = 0;
function request(model, content, received = () => {}) {
  // Replies go to every view of the model (other pages too): each takes only its own.
  // `received` runs as the reply arrives, before any later message is handled.
  const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${++requests}`;
  return new Promise((resolve, reject) => {
    const on = (msg, buffers) => {
      if (msg == null || msg.request !== id) return;
      model.off("msg:custom", on);
      received();
      if (msg.error != null) reject(new Error(`xviz: ${msg.error}`));
      else resolve({ msg, buffers: (buffers ?? []).map(bytes) });
    };
    model.on("msg:custom", on);
    model.send({ ...content, request: id });
  });
}

function run(code) {  // a script element runs in the page's global scope, as BokehJS expects
  const script = document.createElement("script");
  script.textContent = code;
  document.head.appendChild(script);
  script.remove();
}

function load(model, version, components) {
  const loading = (window.__xvizBokehJS ??= {});
  const missing = components.filter((c) => !(`${version}/${c}` in loading) && !has(version, c));
  if (missing.length > 0) {
    const before = Object.values(loading);  // earlier requests run first: the core before its plugins
    const done = request(model, { kind: "bokehjs", components: missing }).then(async ({ buffers }) => {
      await Promise.allSettled(before);
      const text = new TextDecoder();
      for (const buffer of buffers) run(text.decode(buffer));
      if (!missing.every((c) => has(version, c))) throw new Error(`xviz: BokehJS ${version} did not load`);
    });
    for (const c of missing) loading[`${version}/${c}`] = done;
    done.catch(() => { for (const c of missing) delete loading[`${version}/${c}`]; });  // a later view retries
  }
  return Promise.all(components.map((c) => loading[`${version}/${c}`]));
}

function apply(B, doc, msg, buffers) {  // a PATCH-DOC from the kernel, read as bokeh's server client does
  const { Receiver } = B.require("protocol/receiver");
  const receiver = new Receiver();
  for (const fragment of msg.fragments) receiver.consume(fragment);
  buffers.forEach((buffer, i) => { receiver.consume(msg.buffer_headers[i]); receiver.consume(buffer); });
  const message = receiver.message;
  doc.apply_json_patch(message.content, message.buffers);  // its events are not sync: not sent back
}

function sender(B, doc, model, view) {  // the page's own changes, as a patch with binary buffers
  const { DocumentEventBatch } = B.require("document/events");
  const { Buffer } = B.require("core/serialization");
  return (event) => {
    const events = (event instanceof DocumentEventBatch ? (event.sync ? event.events : []) : [event])
      .filter((e) => e.sync);
    if (events.length === 0) return;
    const ids = [], buffers = [];
    const patch = JSON.stringify(doc.create_json_patch(events), (_, value) => {
      if (!(value instanceof Buffer)) return value;
      ids.push(`${ids.length}`);
      buffers.push(value.buffer);
      return { id: ids[ids.length - 1] };
    });
    model.send({ kind: "patch", view, patch, buffers: ids }, undefined, buffers);
  };
}

async function render({ model, el }) {
  const view = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  // Patches sent before the document reply are in it; those sent after wait until it is built.
  let state = "asking", queue = [], doc = null, views = null, B = null;
  const on = (msg, buffers) => {
    if (msg?.kind !== "patch" || msg.origin === view) return;
    if (state === "building") queue.push([msg, (buffers ?? []).map(bytes)]);
    else if (state === "live") apply(B, doc, msg, (buffers ?? []).map(bytes));
  };
  model.on("msg:custom", on);
  el.textContent = "xviz: waiting for the kernel...";
  let listener = null;
  try {
    const { msg } = await request(model, { kind: "document", view }, () => { state = "building"; });
    await load(model, msg.version, msg.components);
    if (state === "closed") return;
    B = bokeh(msg.version);
    doc = B.require("document").Document.from_json(msg.doc);
    for (const [m, b] of queue) apply(B, doc, m, b);
    queue = [];
    state = "live";
    listener = sender(B, doc, model, view);
    doc.on_change(listener, true);
    el.textContent = "";
    views = await B.require("embed/standalone").add_document_standalone(doc, el, [], false);
  } catch (error) {
    el.textContent = String(error.message ?? error);
    throw error;
  }
  return () => {
    state = "closed";
    model.off("msg:custom", on);
    doc?.remove_on_change(listener);
    views?.clear();
    if (B != null && doc != null) {
      const all = B.require("document").documents, i = all.indexOf(doc);
      if (i >= 0) all.splice(i, 1);  // Bokeh.documents lists the documents shown on the page
    }
  };
}

export default { render };
"""


class _Origin:
    """The setter of a change a page made: which widget, and which view of it (one per page)."""

    def __init__(self, widget, view):
        self.widget, self.view = widget, view


class _Hub:
    """The widgets showing one bokeh document. Each change of the document is serialised once
    and sent to every widget but the page it came from (bokeh marks a model as known to the
    pages once one patch carried it, so the pages must all get the same patch)."""

    _hubs: dict = {}  # document -> its hub, while widgets show it

    @classmethod
    def of(cls, doc):
        if doc not in cls._hubs:
            cls._hubs[doc] = cls(doc)
        return cls._hubs[doc]

    def __init__(self, doc):
        self.doc, self.widgets = doc, []
        doc.on_change_dispatch_to(self)

    def add(self, widget):
        self.widgets.append(widget)

    def discard(self, widget):
        self.widgets = [w for w in self.widgets if w is not widget and not w.closed]
        if not self.widgets and self._hubs.get(self.doc) is self:  # the last one: let the document go
            self.doc.remove_on_change(self)
            del self._hubs[self.doc]

    def _document_patched(self, event):
        origin = event.setter if isinstance(event.setter, _Origin) else None
        self.widgets = [w for w in self.widgets if not w.closed]
        to = [w for w in self.widgets if not (origin and w is origin.widget and w._views <= {origin.view})]
        if not to:
            return
        msg = Protocol().create("PATCH-DOC", [event])
        content = {"kind": "patch", "fragments": [msg.header_json, msg.metadata_json, msg.content_json],
                   "buffer_headers": [json.dumps(b.ref) for b in msg.buffers]}
        buffers = [b.to_bytes() for b in msg.buffers]
        for w in to:
            # The widget the change came from has other views (another page): the one it came from skips it.
            w.send({**content, "origin": origin.view if origin and w is origin.widget else None}, buffers)


def components(doc):
    """The BokehJS bundles a document needs, chosen as ``bokeh.embed.file_html`` chooses them."""
    from bokeh.embed import bundle

    objs = bundle._all_objs([doc])
    optional = {"bokeh-widgets": bundle._use_widgets, "bokeh-tables": bundle._use_tables,
                "bokeh-gl": bundle._use_gl, "bokeh-mathjax": bundle._use_mathjax}
    return [c for c in INLINE.components if c not in optional or optional[c](objs)]


class BokehWidget(anywidget.AnyWidget):
    """A bokeh layout shown live in any notebook front end that runs anywidgets.

    Each ``BokehWidget`` is a widget of its own on the layout's one document: several may show
    it (in several cells or pages) and stay in step. The layout must be the only root of its
    document.

    Parameters
    ----------
    root : bokeh.models.LayoutDOM
        A layout in a bokeh ``Document``.

    Examples
    --------
    >>> from bokeh.document import Document
    >>> from bokeh.models import Div
    >>> div = Div(text="hello")
    >>> Document().add_root(div)
    >>> widget = BokehWidget(div)
    >>> widget.root is div
    True
    >>> widget.close()
    """

    _esm = ESM

    def __init__(self, root, **kwargs):
        doc = root.document
        if doc is None or list(doc.roots) != [root]:
            raise ValueError("BokehWidget shows a bokeh layout that is the only root of its Document "
                             f"(root= is {'in no Document' if doc is None else 'one of several roots'})")
        super().__init__(**kwargs)
        self.root = root
        self._views = set()  # the pages' views of this widget that asked for the document or sent a change
        self._hub = _Hub.of(doc)
        self._hub.add(self)
        self.on_msg(self._received)

    @property
    def closed(self):
        """Whether the widget, or only its comm, was closed (marimo closes the comms of a cell
        that runs again, not the widgets): the document sends it nothing more."""
        return self.comm is None or getattr(self.comm, "_closed", False)

    def close(self):
        """Close the widget (again: harmless); the document stops sending it changes."""
        super().close()
        if hasattr(self, "_hub"):  # not when __init__ refused the layout
            self._hub.discard(self)

    def _received(self, _, content, buffers):
        kind = content.get("kind")
        if kind == "patch":
            self._apply(content, buffers)
            return
        try:
            reply, data = {"document": self._document, "bokehjs": _bokehjs}[kind](content)
        except Exception as error:  # the page waits for an answer: tell it what went wrong
            self.send({"request": content.get("request"), "error": f"{type(error).__name__}: {error}"})
            raise
        self.send({**reply, "request": content.get("request")}, data)

    def _document(self, content):
        """The document as it is now, as bokeh's JSON. Its arrays are gzipped and base64-encoded in
        it, as in an exported file: a SAGExplorer's images take 4.5 times fewer bytes than as
        raw buffers (195 kB against 875 kB), in the same time."""
        self._views.add(content["view"])
        doc = self.root.document
        return ({"kind": "document", "version": BOKEH_VERSION, "components": components(doc),
                 "doc": doc.to_json(deferred=False)}, [])

    def _apply(self, content, buffers):
        """A change a page made: applied with that page as the setter, so that bokeh runs the
        Python callbacks once and the change goes to every page but that one."""
        self._views.add(content["view"])
        given = [Buffer(i, bytes(b)) for i, b in zip(content["buffers"], buffers)]
        patch = Serialized(content=json.loads(content["patch"]), buffers=given)
        self.root.document.apply_json_patch(patch, setter=_Origin(self, content["view"]))


bokehjs_sent: list = []  # the components of each BokehJS reply, for the tests: once per page


def _bokehjs(content):
    """BokehJS from the installed bokeh, inline: the scripts of the asked components, in order."""
    names = [c for c in INLINE.components if c in content["components"]]
    bokehjs_sent.append(tuple(names))
    return {"kind": "bokehjs"}, [code.encode() for code in INLINE.clone(components=names).js_raw]
