"""JavaScript shared by the views' CustomJS callbacks (prepended to the callbacks that need it).

Images travel as bokeh RGBA arrays (uint32, rows bottom-up); masks are computed top-down,
as in Python, and flipped when blended.
"""

# gridMask: a gh x gw cell mask upsampled bilinearly with align_corners=True, exactly as
# xviz.images.upsample_mask does. blend: out = photo * w + base * (1 - w), w the per-pixel
# weight of the photo (top-down rows).
HELPERS = """
function gridMask(cells, gh, gw, H, W) {
  const out = new Float32Array(H * W);
  for (let r = 0; r < H; r++) {
    const fy = H > 1 ? r * (gh - 1) / (H - 1) : 0, y0 = Math.floor(fy), y1 = Math.min(y0 + 1, gh - 1), wy = fy - y0;
    for (let c = 0; c < W; c++) {
      const fx = W > 1 ? c * (gw - 1) / (W - 1) : 0, x0 = Math.floor(fx), x1 = Math.min(x0 + 1, gw - 1), wx = fx - x0;
      out[r * W + c] = (1 - wy) * ((1 - wx) * cells[y0 * gw + x0] + wx * cells[y0 * gw + x1])
                     + wy * ((1 - wx) * cells[y1 * gw + x0] + wx * cells[y1 * gw + x1]);
    }
  }
  return out;
}
function blend(out, photo, base, weight, H, W) {
  const o8 = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  const p8 = new Uint8Array(photo.buffer, photo.byteOffset, photo.byteLength);
  const b8 = new Uint8Array(base.buffer, base.byteOffset, base.byteLength);
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const w = weight[r * W + c], q = ((H - 1 - r) * W + c) * 4;
      for (let ch = 0; ch < 3; ch++) o8[q + ch] = Math.round(p8[q + ch] * w + b8[q + ch] * (1 - w));
      o8[q + 3] = 255;
    }
  }
}
"""

# escapeHtml: user text (labels people type) put into a Div's HTML, as Python's html.escape.
ESCAPE = """
function escapeHtml(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
                     .replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
}
"""

# ENTER_COMMITS (a CustomJS on a TextInput's value_input): in JupyterLab, Enter in a text box
# inside a widget output reaches the notebook's key handling, which takes it, so the box's
# value is never committed. On the first keystroke this makes Enter commit the value itself
# (and stop there), as it does in any other page.
ENTER_COMMITS = """
const view = Bokeh.index.find_one(cb_obj);
if (view && !view._xviz_enter) {
  view._xviz_enter = true;
  view.input_el.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.stopPropagation();
    event.preventDefault();
    cb_obj.value = view.input_el.value;
  });
}
"""
