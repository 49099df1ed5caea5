"""Which layers of a classifier give feature maps, in which layout, and which one a method takes.

One probe of the model (:func:`probe`, cached) finds, for every module:

- what its output is (the first tensor of a tuple counts: a Swin stage, a transformers
  attention block), for a batch of four images at the classifier's size;
- whether it depends on the image: its first dimension is the batch and the images' rows
  differ (a relative position bias, or anything constant across a batch, is no map);
- which layouts its shape allows (:func:`xviz.core.maps.readings`), narrowed by the module's
  type where PyTorch fixes it (a ``Conv2d`` gives N x C x h x w, a ``Linear`` or ``LayerNorm``
  on a 4-D input N x h x w x C), by a second pass at another input size (the grid follows the
  input, the channels do not) where the model accepts one, and by the model's patch grid (the
  grids of its unambiguous maps and their halvings) for tokens;
- whether the score reaches its grid: the gradient of the logits there is not zero (the last
  block of a ViT reaches the logits only through its class token).

:func:`feature_layer` resolves ``layer=`` (a name, a module or ``"auto"``) with ``layout=`` or
``reshape=`` to a :class:`FeatureLayer`, whose :meth:`~FeatureLayer.maps` is the one reading
of a captured output as N x C x h x w. Where the layout is not certain it raises, naming the
argument that settles it. :func:`auto_layers` is the automatic choice of every method.
"""
import difflib
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from .maps import KINDS, Layout, as_layout, follows, halvings, on_grid, readings, token_grids
from .state import preserved

PROBE_IMAGES = 4  # at the classifier's size, with gradients
OTHER_IMAGES = 2  # at the second size: another count, so that a first dimension of 4 alone is no batch
PICKS = ("last", "resolutions", "fine")

# Module types whose output layout PyTorch fixes, by exact type (a subclass may permute:
# transformers' ConvNextLayerNorm is a LayerNorm that works channels first).
_CHANNELS_FIRST = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.BatchNorm1d, nn.BatchNorm2d,
                   nn.InstanceNorm1d, nn.InstanceNorm2d, nn.GroupNorm, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d,
                   nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d,
                   nn.AdaptiveMaxPool2d, nn.LPPool2d, nn.Dropout2d, nn.Upsample, nn.UpsamplingBilinear2d,
                   nn.UpsamplingNearest2d, nn.PixelShuffle, nn.PixelUnshuffle, nn.ZeroPad2d, nn.ReflectionPad2d,
                   nn.ReplicationPad2d, nn.ConstantPad2d, nn.LocalResponseNorm)
_CHANNELS_LAST = (nn.Linear, nn.LayerNorm) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
# Normalisation layers (subclasses too) are never the automatic layer: a LayerNorm rescales each
# position to one norm, so the map of the block before it says where, and its own does not
# (a Swin's final LayerNorm gives a flat Grad-CAM where the last stage's finds the object).
NORMS = (nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.modules.batchnorm._NormBase) + (
    (nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())

# model -> its last probe; weak, so models can go.
_PROBES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class Facts:
    """What the probe saw of one module's output."""

    name: str
    module: nn.Module = field(repr=False)
    order: int = 0
    what: str = ""          # the output's type when it is no tensor (nor a tuple starting with one)
    shape: tuple | None = None  # of the first tensor, for PROBE_IMAGES images at the classifier's size
    varies: bool = False    # batch first, and not the same for every image
    other: tuple | None = None  # its shape for OTHER_IMAGES images at the second size, when that ran
    marginals: list | None = None  # |gradient of the logits| summed over all dims but one (batch left out), per dim
    first_order: dict | None = None  # channel axis -> (sum over images of |sum_c g a|, of sum_c |g a|), per position
    hint: str | None = None  # the layout the module's type fixes
    layouts: list = field(default_factory=list)  # the readings left after all the evidence
    how: str = ""           # what settled the layout
    scales: bool | None = None  # its grid follows the input size (None: unknown)

    @property
    def batch_first(self):
        return self.shape is not None and self.shape[0] == PROBE_IMAGES and (
            self.other is None or self.other[0] == OTHER_IMAGES)

    @property
    def is_map(self):
        """On a grid, one row per image, depending on the image."""
        return bool(self.layouts) and self.batch_first and self.varies

    def decides(self, layout):
        """True / False: the logits' gradient does / does not touch the grid; None: unknown."""
        if self.marginals is None:
            return None
        return layout.on_grid_gradient(self.marginals)

    def read_through_norm(self, layout):
        """True when the logits read the grid only through a normalisation of each position:
        at every grid position the gradient is orthogonal to the activation (a LayerNorm's
        output does not change when its input is scaled), so the first-order term a Grad-CAM
        sums vanishes where it matters. A ViT's last block reads its input so."""
        if self.first_order is None or layout.kind == "custom":
            return False
        aligned, total = self.first_order[1 if layout.kind in ("NCHW", "NCL") else -1]
        if layout.tokens:
            aligned, total = aligned[layout.extra:], total[layout.extra:]
        return bool(total.sum() > 0 and aligned.sum() < 1e-3 * total.sum())


@dataclass
class Probe:
    """Everything one probe of a model found (see :func:`probe`)."""

    size: tuple
    other_size: tuple
    facts: dict               # name -> Facts, in the order the modules first ran
    grids: set                # the model's patch grids (and their halvings)
    other_error: str = ""     # why the second size did not run, if it did not
    gradients: bool = True    # whether the probe's gradient carried information

    def maps(self):
        """Names of the layers with maps, in run order."""
        return [f.name for f in self.facts.values() if f.is_map]


@dataclass(frozen=True)
class FeatureLayer:
    """A layer and the layout of its output: what a layer-based method reads.

    Attributes
    ----------
    name : str
        The module's name in ``model.named_modules()``.
    layout : xviz.Layout
        How its output lies on the image's grid.
    """

    name: str
    layout: Layout
    module: nn.Module = field(default=None, repr=False, compare=False)

    def maps(self, out):
        """The layer's raw output (the first tensor of a tuple) as N x C x h x w."""
        return self.layout.maps(out)

    def __str__(self):
        return f"{self.name} ({self.layout})"


def first_tensor(out):
    """The tensor a layer outputs: itself, or the first item of a tuple or list; else None."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


def with_first(out, tensor):
    """``out`` with its tensor (itself, or the first item of a tuple or list) replaced by ``tensor``."""
    if isinstance(out, torch.Tensor):
        return tensor
    if hasattr(out, "_replace"):  # a named tuple
        return out._replace(**{out._fields[0]: tensor})
    return type(out)([tensor, *out[1:]])


# -- the probe ---------------------------------------------------------------------------------
def probe(clf):
    """What every module of ``clf``'s model outputs, and in which layout (cached per model,
    input size and modules; a swapped module probes again).

    Two forward passes: four images at the classifier's size with one backward pass (the
    gradient of a random mix of the logits), then two at a second size (1.5 times the height,
    1.25 times the width) to see which dimensions follow the input; models that refuse
    another size (a ViT with fixed position embeddings) are read from the first pass alone.
    """
    modules = tuple(clf.model.modules())[1:]  # not the model itself: the cache must not keep it alive
    key = (tuple(clf.size), clf.channels, id(clf.output))
    known = _PROBES.get(clf.model)
    # The very same modules (by identity, not id(), which a new module may reuse).
    if known and known[0] == key and len(known[1]) == len(modules) and all(a is b for a, b in zip(known[1], modules)):
        return known[2]
    names = {module: name for name, module in clf.model.named_modules() if name}
    facts = {}
    with preserved(clf.model, clf.device):
        gradients = _first_pass(clf, names, facts)
        other_size, error = _second_pass(clf, names, facts)
    result = _read(clf, facts, other_size, error, gradients)
    _PROBES[clf.model] = (key, modules, result)
    return result


def _probe_images(n, size, device, seed):
    """Noise, smooth noise, black and white, ... : images that differ, to tell a map from a constant."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(n, 3, *size, generator=g)
    smooth = torch.nn.functional.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=size, mode="bilinear")
    pick = torch.arange(n).view(-1, 1, 1, 1) % 4
    x = torch.where(pick == 0, noise, torch.where(pick == 1, smooth, (pick == 3).float().expand_as(noise)))
    return x.to(device)


def _first_pass(clf, names, facts):
    """Shapes, whether each output varies across images, and its gradient; True when the
    gradient reached the input (else it says nothing about the layers)."""
    kept = {}

    def record(module, inputs, out):
        name = names[module]
        if name in facts:
            return  # a module run twice (a shared ReLU): its first output counts
        t = first_tensor(out)
        f = facts[name] = Facts(name, module, order=len(facts), what="" if t is not None else type(out).__name__)
        if t is None:
            return
        f.shape = tuple(t.shape)
        f.varies = f.shape[0] == PROBE_IMAGES and not all(torch.equal(t[0], t[i]) for i in range(1, len(t)))
        f.hint = _hint(module, t.ndim)
        if f.varies and t.requires_grad and t.is_floating_point():
            kept[name] = t

    for module in names:
        module.register_forward_hook(record)  # removed by preserved() on exit
    with torch.enable_grad():
        z = clf.model_input(_probe_images(PROBE_IMAGES, clf.size, clf.device, 0)).detach().requires_grad_(True)
        logits = clf.read_logits(clf.model(z), PROBE_IMAGES)
        mix = torch.randn(logits.shape[1], generator=torch.Generator().manual_seed(0)).to(logits.device)
        score = (logits.float() * mix).sum()
        try:
            grads = torch.autograd.grad(score, [z, *kept.values()], allow_unused=True)
        except RuntimeError:  # a layer changed in place after it ran, or nothing differentiable
            return False
    if grads[0] is None or not bool(grads[0].abs().sum() > 0):
        return False  # the images reach no logit through a gradient (all units off): no evidence
    for (name, t), g in zip(kept.items(), grads[1:]):
        g = torch.zeros_like(t) if g is None else g.detach().float()
        a = g.abs().sum(0)
        facts[name].marginals = [a.sum([j for j in range(a.ndim) if j != d]).cpu() if a.ndim > 1 else a.cpu()
                                 for d in range(a.ndim)]
        if t.ndim in (3, 4):
            product = g * t.detach().float()
            facts[name].first_order = {axis: (product.sum(axis).abs().sum(0).flatten().cpu(),
                                              product.abs().sum(axis).sum(0).flatten().cpu()) for axis in (1, -1)}
    return True


def _second_pass(clf, names, facts):
    """Output shapes at a second input size; (that size, "") or (that size, why it failed)."""
    H, W = clf.size
    other = (H + H // 2, W + W // 4)  # grids change, and differently along each side
    shapes = {}

    def record(module, inputs, out):
        t = first_tensor(out)
        if t is not None:
            shapes.setdefault(names[module], tuple(t.shape))

    for module in names:
        module.register_forward_hook(record)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.model(clf.model_input(_probe_images(OTHER_IMAGES, other, clf.device, 1)))
    except Exception as err:  # noqa: BLE001 - any refusal of the size means: no evidence from it
        return other, f"{type(err).__name__}: {err}".splitlines()[0][:200]
    for name, shape in shapes.items():
        if name in facts:
            facts[name].other = shape
    return other, ""


def _hint(module, ndim):
    kind = type(module)
    if kind is nn.LayerNorm and len(module.normalized_shape) != 1:
        return None  # normalises several dimensions: no channel axis to read off
    if kind in _CHANNELS_LAST and ndim in (3, 4):
        return "NHWC" if ndim == 4 else "NLC"
    if kind in _CHANNELS_FIRST and ndim in (3, 4):
        return "NCHW" if ndim == 4 else "NCL"
    return None


# -- reading the probe ---------------------------------------------------------------------------
def _read(clf, facts, other_size, error, gradients):
    """Each output's layouts from its shape, type, second-size shape and the model's patch grid."""
    size = tuple(clf.size)
    mapped = [f for f in facts.values() if f.shape is not None and f.batch_first]
    for f in mapped:
        if len(f.shape) == 4:
            _settle(f, readings(f.shape, size, set()), size, other_size)
    grids = {f.layouts[0].grid for f in mapped if len(f.shape) == 4 and len(f.layouts) == 1}
    if not grids:  # no 4-D map to take the patch grid from: the exact tilings of the input
        H, W = size
        grids = {(H // p, W // p) for p in range(2, min(H, W) + 1) if H % p == 0 and W % p == 0}
    grids = {g for g in halvings(grids) if on_grid(g, size)}
    for f in mapped:
        if len(f.shape) == 3:
            _settle(f, readings(f.shape, size, grids), size, other_size)
    _break_ties(mapped)
    if not gradients:
        for f in facts.values():
            f.marginals = f.first_order = None
    return Probe(size=size, other_size=other_size, facts=facts, grids=grids, other_error=error, gradients=gradients)


def _settle(f, found, size, other_size):
    """Keep the readings the module's type and the second size allow."""
    how = "shape"
    if f.hint:
        found, how = [r for r in found if r.kind == f.hint], f"module type ({type(f.module).__name__})"
    if f.other is not None and f.other[0] == OTHER_IMAGES:
        fits = {r: follows(r, f.shape, f.other, size, other_size) for r in found}
        if len(found) > 1 and sum(v is not None for v in fits.values()) < len(found):
            how = "two input sizes"
        found = [r for r in found if fits[r] is not None]
        f.scales = bool(found) and all(fits[r] == "scales" for r in found)
    f.layouts, f.how = found, how


def _break_ties(mapped):
    """Layers with several readings. Tokens: the reading the model's unambiguous token layers
    use, if one is (a model's tokens keep their count from layer to layer; the channels
    change). Maps: channels first when every other map of the model is (no channels-last
    module or reading, no tokens), else they stay uncertain."""
    sure = [f.layouts[0] for f in mapped if len(f.layouts) == 1]
    channels_first = all(r.kind == "NCHW" for r in sure) and not any(f.hint and f.hint != "NCHW" for f in mapped)
    for f in mapped:
        if len(f.layouts) < 2:
            continue
        alike = [r for r in f.layouts if r in sure]
        if len(f.shape) == 3 and len(alike) == 1:
            f.layouts, f.how = alike, "like the model's other token layers"
        elif len(f.shape) == 4 and channels_first and any(r.kind == "NCHW" for r in f.layouts):
            f.layouts = [r for r in f.layouts if r.kind == "NCHW"]
            f.how = "convention (every other map of the model is channels first)"


# -- resolving layer= ----------------------------------------------------------------------------
def spatial_layers(clf):
    """Names of the modules whose output is a feature map, in run order: one row per image,
    varying with the image, on a grid over it in a layout that is certain (N x C x h x w,
    N x h x w x C, or tokens on the model's patch grid; see :func:`probe`).

    Examples
    --------
    >>> from xviz import zoo
    >>> spatial_layers(zoo.digits_cnn())[-1]
    'features'
    """
    return [f.name for f in probe(clf).facts.values() if f.is_map and len(f.layouts) == 1]


def _shown(clf, names=None):
    valid = spatial_layers(clf) if names is None else names
    return f"Layers with spatial maps ({len(valid)}, last ones shown): {', '.join(valid[-12:])}"


def find_layer(clf, layer="auto"):
    """Resolve ``layer`` to ``(name, module)``.

    ``"auto"`` or None: the automatic layer (:func:`auto_layers`); a string is a name from
    ``model.named_modules()``; a module must belong to the model. Unknown names give an
    error listing close and valid names.
    """
    named = dict(clf.model.named_modules())
    if layer is None or (isinstance(layer, str) and layer == "auto"):
        chosen = auto_layers(clf)[0]
        return chosen.name, chosen.module
    if isinstance(layer, FeatureLayer):
        layer = layer.name
    if isinstance(layer, nn.Module):
        for name, module in named.items():
            if module is layer:
                return name, module
        raise ValueError(f"the module given as layer ({type(layer).__name__}) is not part of {clf.name}")
    if isinstance(layer, str) and layer in named and layer:
        return layer, named[layer]
    valid = spatial_layers(clf)
    close = difflib.get_close_matches(str(layer), valid, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"no layer named {layer!r} in {clf.name}.{hint} {_shown(clf, valid)}")


def feature_layer(clf, layer="auto", layout=None, reshape=None, purpose="to read", pick="last"):
    """Resolve ``layer`` (a name, a module, a FeatureLayer or ``"auto"``) and its layout to a
    :class:`FeatureLayer`, or raise a clear error before any pass of the method.

    Parameters
    ----------
    layout : str or Layout, optional
        ``"NCHW"``, ``"NHWC"``, ``"NLC"`` or ``"NCL"`` (or a :class:`~xviz.Layout` with the
        grid and leading tokens); found from the model when None.
    reshape : callable, optional
        A function from the layer's output to N x C x h x w (instead of a layout).
    purpose : str
        What the maps are for, in messages ("to weight").
    pick : str
        For ``"auto"``: which automatic layer (see :func:`auto_layers`).

    Examples
    --------
    >>> from xviz import zoo
    >>> str(feature_layer(zoo.digits_cnn()))
    'features (NCHW 8x8)'
    """
    if reshape is not None and layout is not None:
        raise ValueError("give layout= or reshape=, not both")
    if isinstance(layer, FeatureLayer) and layout is None and reshape is None:
        return layer
    if layer is None or (isinstance(layer, str) and layer == "auto"):
        return auto_layers(clf, pick, layout, reshape)[0]
    name, module = find_layer(clf, layer)
    f = probe(clf).facts.get(name)
    _check_output(clf, name, module, f)
    chosen = as_layout(reshape if reshape is not None else layout)
    if chosen is None:
        chosen = _only_reading(clf, f, purpose)
    elif chosen.kind != "custom":
        chosen = _given(clf, f, chosen)
    if chosen.kind != "custom" and f.decides(chosen) is False:
        warnings.warn(f"the logits do not depend on the grid of layer {name!r} (their gradient there is zero, as "
                      f"after a ViT's last attention, where only the class token goes on): its maps say nothing about "
                      f"the decision; the automatic layer is {_auto(clf, 'last')[0].name!r}", stacklevel=3)
    return FeatureLayer(name, chosen, module)


def _check_output(clf, name, module, f):
    if f is None:
        raise ValueError(f"layer {name!r} ({type(module).__name__}) did not run in the model's forward pass (an unused "
                         "branch, or a traced / scripted model, whose layers cannot be hooked); pick another")
    if f.shape is None:
        raise ValueError(f"layer {name!r} of {clf.name} returns {f.what}, not a tensor (nor a tuple starting with one): "
                         f"pick a layer inside it. {_shown(clf)}")
    if not f.batch_first:
        raise ValueError(f"layer {name!r} of {clf.name} gives {_shape(f.shape)} for {PROBE_IMAGES} images: its first "
                         f"dimension is not one row per image (a parameter-like output, such as a position bias, or "
                         f"windows of the images); it has no feature maps of the image. {_shown(clf)}")
    if not f.varies:
        raise ValueError(f"layer {name!r} of {clf.name} gives the same output for every image (a parameter-like "
                         f"output, such as a position bias): it has no feature maps of the image. {_shown(clf)}")


def _shape(shape):
    return " x ".join(map(str, shape))


def _only_reading(clf, f, purpose):
    if len(f.layouts) == 1:
        return f.layouts[0]
    if not f.layouts:
        raise ValueError(f"layer {f.name!r} of {clf.name} gives no spatial maps (its output is {_shape(f.shape)} for "
                         f"{PROBE_IMAGES} images, not N x C x h x w, N x h x w x C or tokens on the model's grid), so it "
                         f"has no feature maps {purpose}. If it is a map in another form, give layout= "
                         f"({', '.join(KINDS)}) or reshape= (a function to N x C x h x w). {_shown(clf)}")
    options = " or ".join(f"{r} ({r.describe()})" for r in f.layouts)
    raise ValueError(f"the output of layer {f.name!r} of {clf.name} ({_shape(f.shape)} for {PROBE_IMAGES} images) could "
                     f"be {options}, and nothing in the model tells which: give {_choices(f.layouts)} (or reshape=, "
                     f"a function to N x C x h x w)")


def _choices(layouts):
    """``layout=...`` for each reading, to pick the one the model computes."""
    def one(layout):
        return (f"xviz.Layout({layout.kind!r}, grid={layout.grid}, extra={layout.extra})" if layout.tokens
                else repr(layout.kind))

    return " or ".join(dict.fromkeys(f"layout={one(r)}" for r in layouts)) + ", whichever the model computes"


def _given(clf, f, layout):
    """The given layout, checked against the layer's output, with its grid (and leading tokens) filled in."""
    shape = f.shape
    if layout.kind in ("NCHW", "NHWC"):
        if len(shape) != 4:
            raise ValueError(f"layout={layout.kind!r} is for 4-D outputs; layer {f.name!r} gives {_shape(shape)}")
        grid = tuple(shape[2:4]) if layout.kind == "NCHW" else tuple(shape[1:3])
        return Layout(layout.kind, grid=grid)
    if len(shape) != 3:
        raise ValueError(f"layout={layout.kind!r} is for 3-D token outputs; layer {f.name!r} gives {_shape(shape)}")
    length = shape[1] if layout.kind == "NLC" else shape[2]
    if layout.complete:
        if length != layout.extra + layout.grid[0] * layout.grid[1]:
            raise ValueError(f"layout {layout} has {layout.extra} + {layout.grid[0]} x {layout.grid[1]} tokens; layer "
                             f"{f.name!r} gives {length} ({_shape(shape)})")
        return layout
    found = [Layout(layout.kind, grid=g, extra=k) for k, g in token_grids(length, probe(clf).grids)
             if (layout.grid is None or g == layout.grid) and (layout.extra is None or k == layout.extra)]
    if len(found) == 1:
        return found[0]
    grids = ", ".join(f"{h}x{w}" for h, w in sorted(probe(clf).grids)) or "none"
    what = f"could be {' or '.join(map(str, found))}" if found else f"match none of the model's grids ({grids})"
    raise ValueError(f"the {length} tokens of layer {f.name!r} {what}: give their grid and leading tokens, "
                     f"layout=xviz.Layout({layout.kind!r}, grid=(h, w), extra=k)")


# -- the automatic choice ------------------------------------------------------------------------
def _blocks(candidates):
    """The candidates not inside another candidate, except inside plain containers
    (Sequential, ModuleList, ModuleDict): whole blocks, not the convolutions inside one."""
    found = {f.name: f for f in candidates}

    def inside(name):
        parts = name.split(".")
        ancestors = (".".join(parts[:i]) for i in range(1, len(parts)))
        return any(a in found and not isinstance(found[a].module, CONTAINERS) for a in ancestors)

    blocks = [f for f in candidates if not inside(f.name)]
    grid = lambda f: f.layouts[0].grid
    if len({grid(f) for f in blocks}) < len({grid(f) for f in candidates}):
        return candidates  # a model wrapped in one custom module: its layers are the blocks
    return blocks


def auto_layers(clf, pick="last", layout=None, reshape=None):
    """The layers a method takes by default, as :class:`FeatureLayer`, shallowest first.

    The candidates are the whole blocks with feature maps (the modules with maps that are not
    inside another such module, except inside plain containers; every layer with maps when
    those blocks miss a resolution) that depend on the image, whose grid follows the input
    size where the model takes another, and whose grid the logits depend on (not a ViT's last
    block: only its class token reaches the head); a normalisation layer is no candidate (the
    block before it is: a LayerNorm gives every position the same norm). Then ``pick``:

    - ``"last"``: the last candidate (Grad-CAM, XNN): a CNN's last convolutional block, the
      tokens a ViT's last block attends over, the last stage of a Swin or a ConvNeXt;
    - ``"resolutions"``: the last candidate at each grid size (layer clusters);
    - ``"fine"``: the last candidate whose grid is at least 1/16 of the input side (visual
      summaries compare regions on it).

    A chosen layer whose layout is not certain raises, naming ``layout=``; ``layout`` (one for
    all, or a dict by name) or ``reshape`` then say how the chosen layers are read.

    Examples
    --------
    >>> from xviz import zoo
    >>> [layer.name for layer in auto_layers(zoo.digits_cnn(), "resolutions")]
    ['features.3', 'features.6', 'features']
    """
    chosen = _auto(clf, pick)
    if layout is not None or reshape is not None:
        given = (lambda name: layout.get(name)) if isinstance(layout, Mapping) else (lambda name: layout)
        return [feature_layer(clf, f.name, given(f.name), reshape) for f in chosen]
    for f in chosen:
        if len(f.layouts) > 1:
            options = " or ".join(f"{r} ({r.describe()})" for r in f.layouts)
            raise ValueError(f"the automatic layer of {clf.name} is {f.name!r}, whose output ({_shape(f.shape)} for "
                             f"{PROBE_IMAGES} images) could be {options}; nothing in the model tells which: give "
                             f"{_choices(f.layouts)}; or another layer=")
    return [FeatureLayer(f.name, f.layouts[0], f.module) for f in chosen]


def _auto(clf, pick):
    """The Facts of the automatically chosen layers (their layout may still be uncertain)."""
    if pick not in PICKS:
        raise ValueError(f"unknown pick {pick!r}; choose one of {', '.join(map(repr, PICKS))}")
    found = probe(clf)
    candidates = [f for f in found.facts.values() if f.is_map]
    usable = [f for f in _blocks(candidates) if f.scales is not False and not isinstance(f.module, NORMS)
              and any(f.decides(r) is not False for r in f.layouts)]
    if not usable:
        raise ValueError(f"{clf.name} has no layer with feature maps of the image that the logits depend on "
                         f"(N x C x h x w, N x h x w x C, or tokens on its patch grid); give layer= (with layout= "
                         f"or reshape= if its maps are in another form)")
    return [_through_norm(f, candidates) for f in _pick(usable, pick, min(clf.size))]


def _through_norm(f, candidates):
    """``f``, or the normalisation that reads it, for tokens with a class token that the logits
    read only through a normalisation: a ViT's last block reads the grid through its first
    LayerNorm and passes only the class token on, so the gradient is large at the few tokens
    the class token attends to and orthogonal to them there; a Grad-CAM of the block's input
    sums to nearly nothing at those tokens, of the LayerNorm's output it does not
    (pytorch-grad-cam takes ``blocks[-1].norm1`` too). Pooled tokens (a Swin) keep the block."""
    layout = f.layouts[0] if len(f.layouts) == 1 else None
    if layout is None or not (layout.tokens and layout.extra) or not f.read_through_norm(layout):
        return f
    after = [g for g in candidates if g.order > f.order and isinstance(g.module, NORMS) and g.layouts == f.layouts
             and g.decides(g.layouts[0])]
    return after[0] if after else f


def _pick(usable, pick, side):
    if pick == "last":
        return [usable[-1]]
    if pick == "fine":
        fine = [f for f in usable if min(f.layouts[0].grid) * 16 >= side] or usable
        return [fine[-1]]
    grid = lambda f: f.layouts[0].grid
    return [f for f, after in zip(usable, usable[1:] + [None]) if after is None or grid(after) != grid(f)]
