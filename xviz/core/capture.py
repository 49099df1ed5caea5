"""Finding a classifier's convolutional layers by name, by module, or automatically."""
import difflib
import weakref

import torch

from .state import preserved

# model -> its last probe: input size, modules and the names found; weak, so models can go.
_SPATIAL = weakref.WeakKeyDictionary()

def spatial_layers(clf):
    """Names of the modules whose output is a map (N x C x h x w with h, w > 1), in run order.

    Found by one probing forward pass of a blank image, so it works for any architecture
    that produces feature maps (CNNs from torchvision, timm, or your own).

    Examples
    --------
    >>> from xviz import zoo
    >>> spatial_layers(zoo.digits_cnn())[-1]
    'features'
    """
    modules = tuple(clf.model.modules())[1:]  # not the model itself: the cache must not keep it alive
    known = _SPATIAL.get(clf.model)
    # The same input size and the very same modules (compared by identity, not by id(), which
    # a new module may reuse): a swapped module changes the answer.
    if known and known["size"] == tuple(clf.size) and len(known["modules"]) == len(modules) and all(
            a is b for a, b in zip(known["modules"], modules)):
        return list(known["names"])  # a probe per call would cost a forward pass every time
    names = {module: name for name, module in clf.model.named_modules() if name}
    seen = []

    def record(module, inputs, out):
        if isinstance(out, torch.Tensor) and out.ndim == 4 and min(out.shape[-2:]) > 1:
            seen.append(names[module])

    with preserved(clf.model, clf.device), torch.no_grad():
        for module in names:
            module.register_forward_hook(record)  # removed by preserved() on exit
        clf.model(clf.model_input(torch.zeros(1, 3, *clf.size, device=clf.device)))
    _SPATIAL[clf.model] = {"size": tuple(clf.size), "modules": modules, "names": list(dict.fromkeys(seen))}
    return list(_SPATIAL[clf.model]["names"])


def find_layer(clf, layer="auto"):
    """Resolve ``layer`` to ``(name, module)``.

    ``"auto"`` or None picks the last module whose output is a spatial map (for common CNNs,
    the last convolutional block); a string is a name from ``model.named_modules()``; a module
    must belong to the model. Unknown names give an error listing close and valid names.
    """
    named = dict(clf.model.named_modules())
    if layer is None or layer == "auto":
        candidates = spatial_layers(clf)
        if not candidates:
            raise ValueError(f"{clf.name} has no layer with spatial maps (N x C x h x w); give layer= explicitly")
        return candidates[-1], named[candidates[-1]]
    if isinstance(layer, torch.nn.Module):
        for name, module in named.items():
            if module is layer:
                return name, module
        raise ValueError(f"the module given as layer ({type(layer).__name__}) is not part of {clf.name}")
    if isinstance(layer, str) and layer in named and layer:
        return layer, named[layer]
    valid = spatial_layers(clf)
    close = difflib.get_close_matches(str(layer), valid, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    shown = ", ".join(valid[-12:])
    raise ValueError(f"no layer named {layer!r} in {clf.name}.{hint} Layers with spatial maps "
                     f"({len(valid)}, last ones shown): {shown}")


def spatial_layer(clf, layer, purpose):
    """``find_layer`` for a method that needs the layer's maps: (name, module), or a clear
    error, before any pass, when the layer's output is not an N x C x h x w map."""
    name, module = find_layer(clf, layer)
    spatial = spatial_layers(clf)
    if name not in spatial:
        shown = ", ".join(spatial[-12:])
        raise ValueError(f"layer {name!r} of {clf.name} gives no spatial maps (N x C x h x w with h, w > 1), "
                         f"so it has no feature maps {purpose}. Layers with spatial maps ({len(spatial)}, "
                         f"last ones shown): {shown}")
    return name, module
