"""SummaryView: a class's visual summaries, one row of crops per cluster; click a crop to see its image.

Every image a cluster refers to travels once, as a JPEG data URL with its component label map
run-length coded (a 20-photo summary exports to about 2.5 MB, 8 as raw RGBA); the
browser draws the chosen region over its image from those, so the exported HTML stays
interactive with no kernel. Python-side :meth:`SummaryView.choose` draws the same picture in
the kernel, for notebooks and tests.
"""
import base64
import html
import io

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, CustomJS, Div, Range1d
from bokeh.plotting import figure

from ..core.checks import checked_int
from . import plots
from .base import View

REGION_RGBA = (228, 87, 86, 120)  # the chosen region's pixels
MASK_RGBA = (76, 120, 168, 50)  # the rest of the image's mask

# Draw the chosen region: its pixels tinted, the rest of the image's mask lightly, its box outlined.
RENDER_JS = """
const k = state.data.cluster[0], j = state.data.member[0];
const t = table.data;
let at = -1;
for (let n = 0; n < t.cluster.length; n++) if (t.cluster[n] == k && t.member[n] == j) { at = n; break; }
if (at < 0) return;
const slot = t.slot[at], H = size[0], W = size[1];
const values = store.data.values[slot], lengths = store.data.lengths[slot], labels = new Int32Array(H * W);
for (let n = 0, p = 0; n < values.length; p += lengths[n], n++) labels.fill(values[n], p, p + lengths[n]);
photo.data = {url: [store.data.photo[slot]]};
const out = overlay.data.image[0];  // drawn in place: bokeh images are 2-D arrays with a shape
const o8 = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
o8.fill(0);
const top = t.top[at], left = t.left[at], bottom = t.bottom[at], right = t.right[at];
for (let r = 0; r < H; r++) {
  for (let c = 0; c < W; c++) {
    const lab = labels[r * W + c];
    if (lab == 0) continue;
    const inside = t.kind[at] == "component" ? lab == t.component[at]
                                            : (r >= top && r < bottom && c >= left && c < right);
    const colour = inside ? region_rgba : mask_rgba, q = ((H - 1 - r) * W + c) * 4;
    for (let ch = 0; ch < 4; ch++) o8[q + ch] = colour[ch];
  }
}
overlay.change.emit();
box.data = {left: [left], right: [right], bottom: [H - bottom], top: [H - top]};
for (let n = 0; n < marks.length; n++)
  marks[n].data = n == k ? {left: [j], right: [j + 1], bottom: [0], top: [1]}
                         : {left: [], right: [], bottom: [], top: []};
info.text = t.text[at];
"""

TAP_JS = """
const j = Math.floor(cb_obj.x);
if (j < 0 || j >= count) return;
state.data = {cluster: [k], member: [j]};
"""


def _rgba(array):
    """H x W x 4 uint8 -> H x W uint32, flipped for bokeh's bottom-left origin."""
    return np.ascontiguousarray(array[::-1]).view(np.uint32)[..., 0]


def jpeg(image, quality=90):
    """An H x W x 3 image (floats in [0, 1] or uint8) as a JPEG data URL."""
    from PIL import Image

    pixels = image if image.dtype == np.uint8 else (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def runs(labels):
    """Run-length code of a label map in row-major order: (values, lengths)."""
    flat = np.asarray(labels).ravel()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1])
    lengths = np.diff(np.concatenate([starts, [flat.size]]))
    return flat[starts].astype(int).tolist(), lengths.astype(int).tolist()


def _picture(width, height, title=None):
    """A figure with pixel coordinates and nothing else (no axes, grid or toolbar)."""
    fig = figure(width=width, height=height, title=title, x_range=Range1d(0, 1), y_range=Range1d(0, 1),
                 toolbar_location=None, tools="", min_border=0)
    fig.axis.visible = False
    fig.grid.visible = False
    return fig


def overlay(labels, kind, component, box):
    """The chosen region's tint over one image (H x W uint32 RGBA, bokeh orientation).

    The same picture RENDER_JS draws in the browser: the region's pixels in red, the rest of
    the image's mask in faint blue.
    """
    H, W = labels.shape
    out = np.zeros((H, W, 4), np.uint8)
    t, l, b, r = box
    if kind == "component":
        inside = labels == component
    else:
        inside = np.zeros((H, W), bool)
        inside[t:b, l:r] = True
        inside &= labels > 0
    out[(labels > 0) & ~inside] = MASK_RGBA
    out[inside] = REGION_RGBA
    return _rgba(out)


def crop(image, region, side):
    """The region's box cut from its image, pixels outside the region dimmed, fitted in side x side."""
    from PIL import Image

    t, l, b, r = region.box
    piece = image[t:b, l:r].copy()
    dim = ~region.mask[t:b, l:r]
    piece[dim] = 0.35 * piece[dim] + 0.65 * 0.2
    h, w = piece.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    pixels = Image.fromarray((np.clip(piece, 0, 1) * 255).round().astype(np.uint8))
    small = np.asarray(pixels.resize(size, Image.BILINEAR))
    cell = np.full((side, side, 3), 255, np.uint8)
    y, x = (side - size[1]) // 2, (side - size[0]) // 2
    cell[y:y + size[1], x:x + size[0]] = small
    return cell


def _describe(k, j, cluster, region):
    sim = "" if j == 0 else f", similarity to the exemplar {region.similarity:.2f}"
    role = "exemplar" if j == 0 else f"member {j + 1}"
    t, l, b, r = region.box
    return (f"<b>cluster {k + 1}</b> (coherence {cluster.coherence:.2f}, {len(cluster.images)} images), {role}: "
            f"image {region.image}, {region.kind} ({t}, {l})-({b}, {r}), {100 * region.area:.1f}% of the image; "
            f"blurring it changes p by <b>{-region.drop:+.3f}</b>{sim}")


class SummaryView(View):
    """The visual summaries of a class: one row of crops per cluster; click a crop to see its
    whole image with the region tinted and its box outlined.

    Parameters
    ----------
    summary : xviz.methods.summaries.Summary
    max_members : int
        Crops shown per cluster (the exemplar and the most similar members).
    thumb : int
        Side of a crop in pixels.
    width : int
        Width of the whole image in pixels.

    Examples
    --------
    >>> from xviz.zoo.examples import digit_summary
    >>> view = SummaryView(digit_summary())
    >>> view.chosen
    (0, 0)
    >>> view.choose(0, 1)
    >>> view.chosen, view.region.image == view.summary.clusters[0].members[1].image
    ((0, 1), True)
    >>> view.to_html().startswith("<!DOCTYPE html>")
    True
    """

    title = "xviz visual summaries"

    def __init__(self, summary, max_members=10, thumb=64, width=320):
        width, thumb = checked_int(width, "width (pixels)", 100, maximum=4000), checked_int(thumb, "thumb (pixels)", 16, maximum=1000)
        self.summary, self.max_members, self.thumb = summary, checked_int(max_members, "max_members", 1), thumb
        self.rows = [c.members[:self.max_members] for c in summary.clusters]
        used = sorted({r.image for members in self.rows for r in members}) or [0]
        self.slots = {image: s for s, image in enumerate(used)}
        self._build(width)
        super().__init__(self._layout, on_load=self.render)  # the tint drawn by a tap stays in the browser
        if self.rows:
            self.choose(0, 0)

    # -- building -----------------------------------------------------------------------
    def _build(self, width):
        s = self.summary
        H, W = s.images.shape[1:3]
        coded = [runs(s.labels[i]) for i in self.slots]
        self.store = ColumnDataSource({"photo": [jpeg(s.images[i]) for i in self.slots],
                                       "values": [v for v, _ in coded], "lengths": [n for _, n in coded]},
                                      name="summary-store")
        entries = [(k, j, r) for k, members in enumerate(self.rows) for j, r in enumerate(members)]
        self.table = ColumnDataSource({
            "cluster": [k for k, _, _ in entries], "member": [j for _, j, _ in entries],
            "slot": [self.slots[r.image] for _, _, r in entries], "image": [r.image for _, _, r in entries],
            "kind": [r.kind for _, _, r in entries], "component": [int(r.component) for _, _, r in entries],
            "top": [int(r.box[0]) for _, _, r in entries], "left": [int(r.box[1]) for _, _, r in entries],
            "bottom": [int(r.box[2]) for _, _, r in entries], "right": [int(r.box[3]) for _, _, r in entries],
            "text": [_describe(k, j, s.clusters[k], r) for k, j, r in entries]}, name="summary-regions")
        self.state = ColumnDataSource({"cluster": [0 if self.rows else -1], "member": [0]}, name="summary-state")
        self.image_figure = _picture(width, round(width * H / W) + 30, f"{s.label}: the chosen region in its image")
        self.image_figure.x_range.update(start=0, end=W, bounds=(0, W))
        self.image_figure.y_range.update(start=0, end=H, bounds=(0, H))
        self.image_figure.name = "summary-image"
        self.photo = ColumnDataSource({"url": [self.store.data["photo"][0]]}, name="summary-photo")
        self.image_figure.image_url(url="url", source=self.photo, x=0, y=0, w=W, h=H, anchor="bottom_left")
        self.overlay = ColumnDataSource({"image": [np.zeros((H, W), np.uint32)]}, name="summary-overlay")
        self.image_figure.image_rgba(image="image", source=self.overlay, x=0, y=0, dw=W, dh=H)
        self.box = ColumnDataSource({"left": [], "right": [], "bottom": [], "top": []}, name="summary-box")
        self.image_figure.quad(left="left", right="right", bottom="bottom", top="top", source=self.box,
                               fill_alpha=0, line_color="#e45756", line_width=2)
        self.info = Div(text="", width=width, name="summary-info")
        self.marks, figures = [], []
        for k, members in enumerate(self.rows):
            figures.append(self._row(k, members))
        self.render = CustomJS(args={"state": self.state, "table": self.table, "store": self.store,
                                     "photo": self.photo, "overlay": self.overlay, "box": self.box,
                                     "marks": self.marks, "info": self.info, "size": [H, W],
                                     "region_rgba": list(REGION_RGBA), "mask_rgba": list(MASK_RGBA)},
                               code=RENDER_JS)
        self.state.js_on_change("data", self.render)
        header = Div(text=self._header(), width=max(width, self.thumb * self.max_members), name="summary-header")
        left = column(header, *figures) if figures else column(header)
        self._layout = row(left, column(self.image_figure, self.info))

    def _header(self):
        s = self.summary
        kept, found = len(s.clusters), s.history.get("clusters_found", "?")
        layer = plots.layer_text(s.settings.get("layer"), s.settings.get("layout"))
        text = (f"<b>Visual summaries of {html.escape(s.label)}</b> ({html.escape(str(s.settings.get('model', '')))}"
                f", {len(s.images)} images{', regions compared on ' + html.escape(layer) if layer else ''}): {kept} clusters kept of {found} found, by coherence. "
                f"Each row is one part the network relies on in several images; click a crop.")
        return text if kept else text + "<br><i>No cluster spans enough images.</i>"

    def _row(self, k, members):
        s, side = self.summary, self.thumb
        mosaic = np.concatenate([crop(s.images[r.image], r, side) for r in members], axis=1)
        n = len(members)
        slots = max(4, max(len(m) for m in self.rows))  # every row as wide, so titles fit and crops align
        c = s.clusters[k]
        fig = _picture(side * slots, side + 24, f"cluster {k + 1}: coherence {c.coherence:.2f}, {len(c.images)} images")
        fig.x_range.update(start=0, end=slots, bounds=(0, slots))
        fig.y_range.update(bounds=(0, 1))
        fig.name = f"cluster-{k}"
        fig.title.text_font_size = "9pt"
        fig.image_url(url=[jpeg(mosaic)], x=0, y=0, w=n, h=1, anchor="bottom_left", name=f"cluster-{k}-crops")
        mark = ColumnDataSource({"left": [], "right": [], "bottom": [], "top": []}, name=f"cluster-{k}-mark")
        fig.quad(left="left", right="right", bottom="bottom", top="top", source=mark, fill_alpha=0,
                 line_color="#e45756", line_width=3)
        self.marks.append(mark)
        fig.js_on_event("tap", CustomJS(args={"state": self.state, "k": k, "count": n}, code=TAP_JS))
        return fig

    # -- state a notebook or a test can read and set ------------------------------------
    @property
    def chosen(self):
        """``(cluster, member)`` of the crop shown in the large image, or None without clusters."""
        k = int(self.state.data["cluster"][0])
        return None if k < 0 else (k, int(self.state.data["member"][0]))

    @property
    def region(self):
        """The chosen :class:`~xviz.methods.summaries.Region`, or None."""
        chosen = self.chosen
        return None if chosen is None else self.rows[chosen[0]][chosen[1]]

    @property
    def shown_image(self):
        """Index (in the summary's images) of the image shown large, or None."""
        region = self.region
        return None if region is None else region.image

    def choose(self, cluster, member=0):
        """Show crop ``member`` of ``cluster`` (0 = its exemplar) in its whole image."""
        if not self.rows:
            raise ValueError("this summary has no clusters to choose from")
        if not 0 <= int(cluster) < len(self.rows):
            raise ValueError(f"cluster {cluster} does not exist; this view shows clusters 0..{len(self.rows) - 1}")
        n = len(self.rows[int(cluster)])
        if not 0 <= int(member) < n:
            raise ValueError(f"cluster {cluster} shows members 0..{n - 1}, got {member}")
        k, j = int(cluster), int(member)
        self.state.data = {"cluster": [k], "member": [j]}
        # The same drawing as RENDER_JS, in the kernel (it runs in the browser too; both agree).
        r = self.rows[k][j]
        H = self.summary.images.shape[1]
        self.photo.data = {"url": [self.store.data["photo"][self.slots[r.image]]]}
        self.overlay.data = {"image": [overlay(self.summary.labels[r.image], r.kind, r.component, r.box)]}
        t, l, b, rr = r.box
        self.box.data = {"left": [l], "right": [rr], "bottom": [H - b], "top": [H - t]}
        for n_, mark in enumerate(self.marks):
            mark.data = ({"left": [j], "right": [j + 1], "bottom": [0], "top": [1]} if n_ == k else
                         {"left": [], "right": [], "bottom": [], "top": []})
        self.info.text = _describe(k, j, self.summary.clusters[k], r)
