"""Feature maps in every layout a model gives them, read as N x C x h x w.

A layer-based method (Grad-CAM, layer clusters, XNN, visual summaries) reads a layer's output
as maps: N images x C channels on an h x w grid over the image. Models give that grid in
several layouts:

- ``"NCHW"``: N x C x h x w, convolutional networks (torchvision, timm's CNNs, ResNet);
- ``"NHWC"``: N x h x w x C, channels last: ConvNeXt's LayerNorm and MLP outputs;
- ``"NLC"``: N x L x C tokens, L = k + h * w: vision transformers, with k leading tokens that
  are on no grid (a class token, a distillation token, register tokens);
- ``"NCL"``: N x C x L, the same tokens channels first (after a ``flatten(2)``).

A :class:`Layout` says which one, with the grid and the leading tokens, and turns a raw output
into N x C x h x w (:meth:`Layout.maps`); this is the one place where that happens.
:func:`readings` lists the layouts a shape could be in on an input of a given size; which one a
layer really uses is found by probing the model (:mod:`xviz.core.capture`).
"""
import re
from dataclasses import dataclass

import torch

KINDS = ("NCHW", "NHWC", "NLC", "NCL")
MAX_EXTRA = 8  # leading tokens a token layout may have beyond its grid (class, distillation, registers)
NAMES = {"NCHW": "N x C x h x w", "NHWC": "N x h x w x C (channels last)", "NLC": "tokens N x L x C",
         "NCL": "tokens N x C x L (channels first)"}
_SPEC = re.compile(r"^(NCHW|NHWC|NLC|NCL|tokens)(?:\s+(?:(\d+)\+)?(\d+)x(\d+))?$", re.IGNORECASE)


@dataclass(frozen=True)
class Layout:
    """How a layer's output lies on the image's grid.

    Parameters
    ----------
    kind : {"NCHW", "NHWC", "NLC", "NCL"}
        N x C x h x w, N x h x w x C, tokens N x L x C, or tokens N x C x L.
    grid : (int, int), optional
        h x w; for tokens it says how the L - ``extra`` grid tokens fold (row by row). Found
        from the model when not given.
    extra : int, optional
        Tokens before the grid's (a class token: 1; DeiT's class and distillation tokens: 2);
        only for tokens. Found from the model when not given.
    reshape : callable, optional
        Instead of a kind: a function from the layer's output to N x C x h x w, as
        pytorch-grad-cam's ``reshape_transform``. It must only rearrange (index, permute,
        reshape): it is applied to the activations and to their gradients alike.

    Examples
    --------
    >>> tokens = torch.arange(2 * 5 * 3.0).view(2, 5, 3)     # 2 images, a class token + 2 x 2 grid, 3 channels
    >>> layout = Layout("NLC", grid=(2, 2), extra=1)
    >>> layout.maps(tokens).shape, str(layout)
    (torch.Size([2, 3, 2, 2]), 'NLC 1+2x2')
    >>> bool((layout.maps(tokens)[0, :, 0, 1] == tokens[0, 2]).all())   # grid token (0, 1) is token 2
    True
    """

    kind: str = "NCHW"
    grid: tuple | None = None
    extra: int | None = None
    reshape: object = None

    def __post_init__(self):
        if self.reshape is not None:
            if not callable(self.reshape):
                raise ValueError(f"reshape must be a function from the layer's output to N x C x h x w, "
                                 f"got {type(self.reshape).__name__}")
            object.__setattr__(self, "kind", "custom")
            return
        kind = str(self.kind).upper()
        if kind not in KINDS:
            raise ValueError(f"unknown layout {self.kind!r}; choose one of {', '.join(map(repr, KINDS))} "
                             f"(or give reshape=, a function to N x C x h x w)")
        object.__setattr__(self, "kind", kind)
        if self.grid is not None:
            grid = tuple(int(v) for v in self.grid)
            if len(grid) != 2 or min(grid) < 1:
                raise ValueError(f"grid must be (h, w), two positive ints, got {self.grid!r}")
            object.__setattr__(self, "grid", grid)
        if self.extra is not None:
            if kind in ("NCHW", "NHWC") and self.extra:
                raise ValueError(f"extra (leading tokens) is for token layouts (NLC, NCL), not {kind}")
            if int(self.extra) < 0:
                raise ValueError(f"extra must be a count of leading tokens (0 or more), got {self.extra!r}")
            object.__setattr__(self, "extra", int(self.extra))

    @property
    def tokens(self):
        """True for the token layouts (NLC, NCL)."""
        return self.kind in ("NLC", "NCL")

    @property
    def complete(self):
        """True when the layout says all it takes to read an output (tokens need their grid and extra)."""
        return not self.tokens or (self.grid is not None and self.extra is not None)

    def __str__(self):
        if self.kind == "custom":
            return f"reshape={getattr(self.reshape, '__name__', type(self.reshape).__name__)}"
        if self.grid is None:
            return self.kind
        h, w = self.grid
        lead = f"{self.extra}+" if self.tokens and self.extra else ""
        return f"{self.kind} {lead}{h}x{w}"

    def describe(self):
        """In words, for messages and views: ``'tokens N x L x C: 1 leading token + a 14 x 14 grid'``."""
        if self.kind == "custom":
            return f"read by {self}"
        text = NAMES[self.kind]
        if self.grid is None:
            return text
        article = "an" if str(self.grid[0]).startswith("8") or self.grid[0] in (11, 18) else "a"
        grid = f"{article} {self.grid[0]} x {self.grid[1]} grid"
        if self.tokens and self.extra:
            return f"{text}: {self.extra} leading token{'s' if self.extra > 1 else ''} + {grid}"
        return f"{text} on {grid}"

    # -- reading ---------------------------------------------------------------------------
    def maps(self, out):
        """The output ``out`` of a layer as N x C x h x w (a view where it can be)."""
        if self.kind == "custom":
            maps = self.reshape(out)
            if not isinstance(maps, torch.Tensor) or maps.ndim != 4 or maps.shape[0] != out.shape[0]:
                got = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
                raise ValueError(f"reshape={self} gave {got} for a layer output of shape {tuple(out.shape)}; it must "
                                 f"give N x C x h x w, N = {out.shape[0]} images")
            return maps
        if out.ndim != (4 if self.kind in ("NCHW", "NHWC") else 3):
            raise ValueError(f"layout {self} ({self.describe()}) does not fit an output of shape {tuple(out.shape)}")
        if self.kind == "NCHW":
            return out
        if self.kind == "NHWC":
            return out.permute(0, 3, 1, 2)
        if not self.complete:
            raise ValueError(f"layout {self} needs its grid and leading tokens to read tokens: give "
                             f"Layout({self.kind!r}, grid=(h, w), extra=k)")
        h, w = self.grid
        seq = out if self.kind == "NLC" else out.transpose(1, 2)  # N x L x C
        if seq.shape[1] != self.extra + h * w:
            raise ValueError(f"layout {self} expects {self.extra} + {h} x {w} = {self.extra + h * w} tokens, the output "
                             f"has {seq.shape[1]} (shape {tuple(out.shape)})")
        grid = seq[:, self.extra:]
        return grid.transpose(1, 2).reshape(out.shape[0], seq.shape[2], h, w)

    def on_grid_gradient(self, marginals):
        """Whether a gradient touches the grid, from its sums over all dimensions but one
        (``marginals[d]``, batch left out): for tokens, past the leading ones."""
        if self.tokens:
            return bool(marginals[0 if self.kind == "NLC" else 1][self.extra:].sum() > 0)
        return bool(marginals[0].sum() > 0)


def as_layout(value):
    """A :class:`Layout` from what a user or a saved setting gives: None, a Layout, a kind
    (``"NHWC"``, case aside; ``"tokens"`` is ``"NLC"``), a recorded spec (``"NLC 1+14x14"``) or a
    function (a ``reshape``).

    Examples
    --------
    >>> as_layout("nhwc"), as_layout("NLC 1+14x14").extra
    (Layout(kind='NHWC', grid=None, extra=None, reshape=None), 1)
    """
    if value is None or isinstance(value, Layout):
        return value
    if callable(value):
        return Layout(reshape=value)
    if isinstance(value, str):
        found = _SPEC.match(" ".join(value.split()))
        if found:
            kind, extra, h, w = found.groups()
            kind = "NLC" if kind.upper() == "TOKENS" else kind.upper()
            grid = (int(h), int(w)) if h else None
            tokens = kind in ("NLC", "NCL")
            return Layout(kind, grid=grid, extra=(int(extra or 0) if grid and tokens else None))
    raise ValueError(f"unknown layout {value!r}; give one of {', '.join(map(repr, KINDS))}, "
                     f"a xviz.Layout (for tokens with their grid and leading tokens), or a reshape function")


# -- which layouts a shape could be in --------------------------------------------------------
def on_grid(grid, size):
    """True when an h x w grid could tile an H x W input: both sides at least 2, the same
    stride along both (exactly so on a square input, to a rounding elsewhere)."""
    (h, w), (H, W) = grid, size
    if min(h, w) < 2:
        return False
    if H == W:
        return h == w
    # Some stride s with |h - H / s| < 1 and |w - W / s| < 1: the intervals of s overlap.
    lo = max(H / (h + 1), W / (w + 1))
    hi = min(H / (h - 1), W / (w - 1))
    return lo < hi


def halvings(grids):
    """The grids and every grid stride-2 stages make of them (rounded up and down), down to 2 x 2."""
    out, todo = set(), list(grids)
    while todo:
        h, w = todo.pop()
        if min(h, w) >= 2 and (h, w) not in out:
            out.add((h, w))
            todo += [(h // 2, w // 2), ((h + 1) // 2, (w + 1) // 2)]
    return out


def token_grids(length, grids):
    """(extra, grid) pairs with length = extra + h * w, extra <= MAX_EXTRA, grid in ``grids``."""
    return [(length - h * w, (h, w)) for h, w in sorted(grids) if 0 <= length - h * w <= MAX_EXTRA]


def readings(shape, size, grids):
    """The complete layouts an output of ``shape`` (batch first) could be in on an input of
    ``size`` (H, W): 4-D shapes as NCHW or NHWC on a grid that tiles the input (:func:`on_grid`);
    3-D shapes as tokens (NLC or NCL) whose count is up to ``MAX_EXTRA`` leading tokens plus one
    of ``grids`` (the model's own), with at least 2 channels. Other shapes are no maps.

    Examples
    --------
    >>> [str(r) for r in readings((2, 8, 8, 24), (32, 32), set())]
    ['NHWC 8x8']
    >>> [str(r) for r in readings((2, 8, 8, 8), (32, 32), set())]   # h = w = C: either
    ['NCHW 8x8', 'NHWC 8x8']
    >>> [str(r) for r in readings((2, 17, 32), (32, 32), {(4, 4)})]
    ['NLC 1+4x4']
    """
    dims = tuple(shape[1:])
    out = []
    if len(dims) == 3:
        a, b, c = dims
        if on_grid((b, c), size):
            out.append(Layout("NCHW", grid=(b, c)))
        if on_grid((a, b), size):
            out.append(Layout("NHWC", grid=(a, b)))
    elif len(dims) == 2:
        for kind, (length, channels) in (("NLC", dims), ("NCL", dims[::-1])):
            if channels >= 2:
                out += [Layout(kind, grid=g, extra=k) for k, g in token_grids(length, grids) if on_grid(g, size)]
    return out


def follows(layout, shape, other_shape, size, other_size):
    """Whether an output of ``other_shape`` at input size ``other_size`` fits ``layout`` read
    at ``size`` with ``shape``: the same channels and leading tokens, and a grid that either
    scales with the input (to a rounding) or stays (a pooled, fixed-size output).

    Returns ``"scales"``, ``"fixed"`` or None (the other output contradicts the layout).
    """
    if other_shape is None or len(other_shape) != len(shape):
        return None
    h, w = layout.grid
    rh, rw = other_size[0] / size[0], other_size[1] / size[1]
    near = lambda g: abs(g[0] - h * rh) <= max(1.5, 0.1 * h * rh) and abs(g[1] - w * rw) <= max(1.5, 0.1 * w * rw)
    if layout.kind in ("NCHW", "NHWC"):
        c_at = 1 if layout.kind == "NCHW" else 3
        grid = tuple(other_shape[2:4]) if layout.kind == "NCHW" else tuple(other_shape[1:3])
        if other_shape[c_at] != shape[c_at]:
            return None
        return "fixed" if grid == (h, w) else ("scales" if near(grid) else None)
    length_at, c_at = (1, 2) if layout.kind == "NLC" else (2, 1)
    if other_shape[c_at] != shape[c_at]:
        return None
    grid_tokens = other_shape[length_at] - layout.extra
    if grid_tokens == h * w:
        return "fixed"
    for gh in range(max(2, int(h * rh) - 2), int(h * rh) + 4):
        if grid_tokens % gh == 0 and near((gh, grid_tokens // gh)):
            return "scales"
    return None
