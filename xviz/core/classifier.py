"""The Classifier: a torch model with its preprocessing, labels and device, scored in chunks.

Every explanation method talks to the model through a :class:`Classifier`. Images inside
xviz are N x 3 x H x W tensors in [0, 1] at the classifier's input size; the Classifier
normalises them, scores them in chunks that fit memory, and leaves the user's model exactly
as it found it.
"""
from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import images as _images
from .capture import first_tensor, with_first
from .checks import checked_int, is_int
from .state import default_device, preserved
from .types import Images


def _as_names(entry):
    single = isinstance(entry, str) or is_int(entry)
    names = [str(entry).strip()] if single else [str(n).strip() for n in entry]  # targets are stripped too
    if not names or not all(names):
        raise ValueError(f"a label must be a non-empty string or list of names, got {entry!r}")
    return names


class Classifier:
    """A torch image classifier with its preprocessing, class labels and device.

    Parameters
    ----------
    model : torch.nn.Module
        Maps N x 3 x H x W (or N x 1 x H x W, see ``channels``) normalised images to N x C logits.
    mean, std : sequence of 3 floats, or one float
        Normalisation applied to [0, 1] images: ``(x - mean) / std``. ImageNet's by default.
    size : int or (int, int)
        Input size; every image is resized (antialiased bilinear) to it.
    labels : list, optional
        One entry per class: a name, or a list of names whose first is shown and all of
        which are accepted as a ``target``.
    device : str or torch.device, optional
        Where the model runs; CUDA when available, else CPU. The model is moved there for
        the duration of each call and moved back after it.
    chunk_size : int
        Images per forward pass; halved and retried on CUDA out-of-memory.
    name : str, optional
        Shown in reports; the model's class name by default.
    channels : {3, 1}
        What the model takes: RGB, or one grey channel. A grey model gets the luma of the
        RGB image (ITU-R 601, as PIL's "L"; a grey image is that grey), so every method still
        perturbs and shows the RGB image; ``mean`` and ``std`` are then one number each.
    output : callable, optional
        Where the logits are in what the model returns. By default: the output itself when it
        is a tensor, its ``.logits`` (a transformers ``ModelOutput``), its ``"logits"`` entry
        (a dict), or its first item (a tuple or list). For anything else, a function from the
        model's output to the N x num_classes logits, e.g. ``output=lambda out: out["scores"]``.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> clf = Classifier(net, mean=0.5, std=0.5, size=8, labels=["left", "right"])
    >>> label, p = clf.predict(np.zeros((8, 8, 3)), top=1)[0]
    >>> label in ("left", "right")
    True

    A model that returns a dict, as many do:

    >>> class Net(torch.nn.Module):
    ...     def forward(self, x):
    ...         return {"logits": net(x), "features": x}
    >>> Classifier(Net(), mean=0.5, std=0.5, size=8).logits(torch.zeros(1, 3, 8, 8)).shape
    torch.Size([1, 2])
    """

    def __init__(self, model: nn.Module, *, mean: float | Sequence[float] = (0.485, 0.456, 0.406),
                 std: float | Sequence[float] = (0.229, 0.224, 0.225), size: int | tuple[int, int] = 224,
                 labels: Sequence[Any] | None = None, device: str | torch.device | None = None, chunk_size: int = 32,
                 name: str | None = None, channels: int = 3, output: Callable[[Any], Any] | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if output is not None and not callable(output):
            raise ValueError(f"output must be a function from the model's output to its logits, got "
                             f"{type(output).__name__}")
        self.model = model
        self.output = output
        sizes: list[Any] = [size, size] if np.ndim(size) == 0 else list(size)  # type: ignore[arg-type]
        if len(sizes) != 2 or not all(is_int(v) and v >= 1 for v in sizes):
            raise ValueError(f"size must be an int or (height, width) of positive ints, got {size!r}")
        self.size: tuple[int, int] = (int(sizes[0]), int(sizes[1]))
        self.device = _device(device) if device is not None else default_device()
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for but torch sees no CUDA device here; "
                             "leave device=None to use the CPU")
        if not is_int(channels) or channels not in (1, 3):
            raise ValueError(f"channels must be 3 (RGB) or 1 (grey), got {channels!r}")
        self.channels = int(channels)
        self.mean = self._channel_stat(mean, "mean")
        self.std = self._channel_stat(std, "std")
        if torch.any(self.std <= 0):
            raise ValueError(f"std must be positive, got {std!r}")
        self.chunk_size = checked_int(chunk_size, "chunk_size", 1)  # "8" or 2.7 were coerced silently
        self._names = [_as_names(e) for e in labels] if labels is not None else None
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(f"name must be a non-empty string (shown in reports), got {name!r}")
        self.name = name or type(model).__name__
        self._outputs_checked = False
        self.images_scored = 0  # images passed through the model, for benchmarks
        self.images_backpropagated = 0  # of those, the ones with a backward pass too

    def _channel_stat(self, value, what):
        t = torch.as_tensor(value, dtype=torch.float32).flatten()
        if t.numel() == 1:
            t = t.repeat(3)
        if t.numel() != 3:
            raise ValueError(f"{what} must be one number or three (one per channel), got {value!r}")
        if self.channels == 1 and not bool((t == t[0]).all()):
            raise ValueError(f"a grey model (channels=1) has one {what}, got {value!r} (the default is ImageNet's "
                             f"RGB one): give mean= and std= as one number each")
        return t.view(1, 3, 1, 1).to(self.device)

    def mismatch(self, name: str | None, fingerprint: str | None = None) -> str:
        """How this classifier differs from the one a saved result was made with, "" if it does
        not: another name, or, where the result kept one, another :meth:`fingerprint`."""
        if name is not None and name != self.name:
            return f"{name!r}, not {self.name!r}"
        if fingerprint is not None and fingerprint != self.fingerprint():
            return f"other weights of {self.name!r} (changed or retrained since)"
        return ""

    def __repr__(self):
        n = len(self._names) if self._names else "?"
        return f"Classifier({self.name}, size={self.size}, classes={n}, device={self.device})"

    def fingerprint(self) -> str:
        """A hex digest of the model's weights and buffers (its state dict) and of the
        preprocessing. Caches key on it (with the model's name), so a retrained model under
        the same name does not reuse stale activations; two architectures with the same
        state dict would share it.

        Examples
        --------
        >>> import xviz
        >>> a, b = xviz.zoo.digits_cnn(), xviz.zoo.digits_cnn()
        >>> a.fingerprint() == b.fingerprint()
        True
        """
        digest = hashlib.sha1(json.dumps([list(self.size), self.mean.flatten().tolist(),
                                          self.std.flatten().tolist()]).encode())
        for key, value in self.model.state_dict().items():
            digest.update(key.encode())
            if torch.is_tensor(value):
                digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
            else:  # a module's extra state: whatever it is, its repr
                digest.update(repr(value).encode())
        return digest.hexdigest()

    # -- labels and targets -------------------------------------------------------------
    @property
    def labels(self):
        """The shown name of each class, or None when the classifier has no labels."""
        return [names[0] for names in self._names] if self._names else None

    def label(self, index: int) -> str:
        """The shown name of class ``index`` (``"class 7"`` without labels)."""
        return self._names[index][0] if self._names else f"class {index}"

    def _num_classes(self):
        if self._names:
            return len(self._names)
        return self.logits(torch.zeros(1, 3, *self.size, device=self.device)).shape[1]

    def _named(self, text):
        """The classes one of whose names is ``text`` (case and surrounding spaces aside)."""
        wanted = text.strip().lower()
        return [i for i, names in enumerate(self._names or []) if any(n.lower() == wanted for n in names)]

    def _index_of_label(self, text):
        if not self._names:
            raise ValueError(f"target {text!r} is a label but this classifier has no labels; give a class index")
        found = self._named(text)
        if len(found) == 1:
            return found[0]
        if found:
            options = ", ".join(f"{i} ({self.label(i)!r})" for i in found)
            raise ValueError(f"label {text!r} names several classes: {options}; give the index or the shown name")
        every = [n for names in self._names for n in names]
        # Names containing the text first ("cat" -> "tabby cat"), then near spellings.
        close = [n for n in every if text.strip().lower() in n.lower()][:5]
        close += [n for n in difflib.get_close_matches(text, every, n=5, cutoff=0.6) if n not in close][: 5 - len(close)]
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown label {text!r}{hint} (see Classifier.labels)")

    def target_index(self, target: int | str) -> int:
        """Resolve one target given as a class index or a label to an index (a string of
        digits that is no label, as a folder name, is an index).

        Examples
        --------
        >>> from xviz import zoo
        >>> zoo.digits_cnn().target_index("7")
        7
        """
        if isinstance(target, str):
            if target.strip().isdecimal() and target.strip().isascii() and not self._named(target):
                return self.target_index(int(target))  # a folder named "3": class 3
            return self._index_of_label(target)
        if not is_int(target):
            raise ValueError(f"a target is a class index or a label string, got {target!r}")
        n = self._num_classes()
        if not 0 <= int(target) < n:
            raise ValueError(f"target {int(target)} is out of range: the model has {n} classes (0..{n - 1})")
        return int(target)

    def targets_for(self, x, target=None, logits=None):
        """One class index per image of ``x``: top-1 where ``target`` is None, else resolved.

        ``logits`` of ``x``, when the caller has them, spare a forward pass.
        """
        n = x.shape[0]
        if isinstance(target, (np.ndarray, torch.Tensor)) and target.ndim == 1:
            target = target.tolist()  # one per image, as a list would be
        given = list(target) if isinstance(target, (list, tuple)) else [target] * n
        if len(given) != n:
            raise ValueError(f"got {len(given)} targets for {n} images; give one per image or a single target")
        if None in given:
            top = (self.logits(x) if logits is None else logits).argmax(1).tolist()
        else:
            top = given
        return [best if t is None else self.target_index(t) for t, best in zip(given, top)]

    # -- images -------------------------------------------------------------------------
    def prepare(self, images: Images) -> tuple[torch.Tensor, bool]:
        """Load, resize and stack images: ``(N x 3 x H x W tensor in [0, 1] on the device, is_batch)``."""
        arrays, batch = _images.load_images(images, near=self.size)
        x = torch.cat([_images.resize(_images.to_tensor(a), self.size) for a in arrays])
        return x.clamp(0, 1).to(self.device), batch

    def normalize(self, x):
        return (x - self.mean) / self.std

    def model_input(self, x):
        """What the model is given for N x 3 x H x W images in [0, 1]: normalised, as one grey
        channel for a grey model, in the model's float type."""
        z = self.normalize(x)
        if self.channels == 1:
            z = (z * LUMA.to(z.device, z.dtype)).sum(1, keepdim=True)
        return z.to(_input_dtype(self.model))

    # -- scoring ------------------------------------------------------------------------
    def _chunks(self, n, fn, progress=False):
        """Apply ``fn(slice)`` over 0..n in chunks; on CUDA out-of-memory halve the chunk and retry.

        ``progress`` (a description string, or True) shows a tqdm.auto bar over the images.
        """
        bar = None
        if progress and n > self.chunk_size:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=progress if isinstance(progress, str) else self.name, leave=False, unit="img")
        out, start, chunk = [], 0, self.chunk_size
        try:
            while start < n:
                stop = min(start + chunk, n)
                try:
                    out.append(fn(slice(start, stop)))
                except torch.OutOfMemoryError:
                    if chunk == 1:
                        raise
                    chunk //= 2
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
                    continue
                if bar is not None:
                    bar.update(stop - start)
                start = stop
        finally:
            if bar is not None:
                bar.close()
        return out

    def _forward(self, x):
        out = self.read_logits(self.model(self.model_input(x)), x.shape[0])
        if out.shape[1] < 2:
            raise ValueError("the model returned one score per image; xviz explains a choice among classes: "
                             "for a binary model return two logits, e.g. torch.cat([torch.zeros_like(z), z], 1)")
        if self._names and out.shape[1] != len(self._names):
            raise ValueError(f"the model returned {out.shape[1]} classes but {len(self._names)} labels were given")
        if (torch.isnan(out) | torch.isposinf(out)).any():  # -inf is a masked-out class: softmax takes it
            raise ValueError("the model returned NaN or +inf scores; check its weights and inputs")
        self._warn_if_probabilities(out)
        self.images_scored += x.shape[0]
        return out.float()

    def read_logits(self, out, n):
        """The N x num_classes logits in what the model returned for ``n`` images (see ``output``).

        Examples
        --------
        >>> clf = Classifier(torch.nn.Identity(), size=8)
        >>> clf.read_logits((torch.zeros(2, 5), "aux"), 2).shape
        torch.Size([2, 5])
        """
        if self.output is not None:
            logits = self.output(out)
        elif isinstance(out, torch.Tensor):
            logits = out
        elif isinstance(getattr(out, "logits", None), torch.Tensor):  # transformers' ModelOutput
            logits = out.logits
        elif isinstance(out, Mapping) and isinstance(out.get("logits"), torch.Tensor):
            logits = out["logits"]
        elif isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
            logits = out[0]
        else:
            raise ValueError(f"the model returned {_describe(out)} for {_a_batch(n)}, and xviz cannot tell "
                             f"where its logits are (it reads a tensor, an object with .logits, a dict with a "
                             f"'logits' entry, or a tuple whose first item is the logits). Say where they are: "
                             f"Classifier(model, ..., output=lambda out: ...), e.g. output=lambda out: out['scores']")
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != n:
            got = f"shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor) else type(logits).__name__
            if self.output is not None:
                what = f"output= gave {got}"
            elif logits is out:
                what = f"the model returned {got}"
            else:
                what = f"the model returned {_describe(out)}, whose logits have {got}"
            raise ValueError(f"{what} for {_a_batch(n)}; xviz expects N x num_classes logits (give output=, "
                             f"a function from the model's output to them, if they are elsewhere)")
        return logits

    def _warn_if_probabilities(self, out):
        """Warn if the model seems to end with a softmax (xviz applies its own); looked at in
        the first forward pass only, to keep the others free of a device sync."""
        if self._outputs_checked:
            return
        self._outputs_checked = True
        sums = out.detach().double().sum(1)
        if out.min() >= 0 and torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
            warnings.warn("the model's outputs are non-negative and sum to 1, as probabilities do; xviz "
                          "expects logits and applies softmax itself: give the model without its final "
                          "softmax", stacklevel=4)

    def _check_input(self, x):
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected an N x 3 x H x W tensor in [0, 1], got {got}; use Classifier.prepare for images")
        return x.to(self.device)

    def logits(self, x: torch.Tensor, progress: bool | str = False) -> torch.Tensor:
        """Logits of an N x 3 x H x W tensor in [0, 1], in chunks, without gradients.

        ``progress``: a description (or True) to show a progress bar over the chunks.
        """
        x = self._check_input(x)
        with preserved(self.model, self.device), torch.no_grad():
            return torch.cat(self._chunks(len(x), lambda s: self._forward(x[s]), progress))

    def probs(self, x: torch.Tensor, progress: bool | str = False) -> torch.Tensor:
        """Softmax probabilities of an N x 3 x H x W tensor in [0, 1], in chunks."""
        return self.logits(x, progress).softmax(1)

    def scores(self, x, targets, output="prob", progress=False):
        """Score of class ``targets[i]`` for image ``x[i]`` (or one target for all): N values.

        ``output`` is ``"prob"`` (softmax probability) or ``"logit"``.
        """
        out = self.logits(x, progress)
        return _pick(out.softmax(1) if output == "prob" else out, targets)

    def gradients(self, x, targets, output="prob", progress=False):
        """Scores and their gradients with respect to the input, in chunks.

        Each chunk runs one forward and one backward pass; images are independent, so the
        gradient of the chunk's summed score is every image's own gradient.

        Returns
        -------
        scores : torch.Tensor, shape (N,)
        grads : torch.Tensor, shape N x 3 x H x W
        """
        return self._backward(x, targets, output, None, progress)

    def layer_gradients(self, x, targets, layer, output="logit", progress=False):
        """Scores, the feature maps of ``layer`` and the scores' gradients with respect to them.

        ``layer`` is a module name (see :func:`xviz.core.capture.spatial_layers`), a module, a
        :class:`~xviz.core.capture.FeatureLayer` (a layer with its layout), or ``"auto"``; a list
        of them gives lists of maps and gradients, all from one forward and one backward pass
        per chunk. Every layer's output is read as N x C x h x w in its layout (tokens
        without their leading class tokens, channels-last maps permuted): a layer given by name
        must have a layout the model makes certain, else give a FeatureLayer
        (:func:`xviz.core.capture.feature_layer`).

        Returns
        -------
        scores : torch.Tensor, shape (N,)
        activations, grads : torch.Tensor, shape N x C x h x w, or lists
        """
        layers = self._feature_layers(layer)
        scores, *pairs = self._backward(x, targets, output, [f.module for f in layers], progress)
        acts = [f.maps(a) for f, a in zip(layers, pairs[0::2])]
        grads = [f.maps(g) for f, g in zip(layers, pairs[1::2])]
        return (scores, acts, grads) if isinstance(layer, (list, tuple)) else (scores, acts[0], grads[0])

    def activations(self, x, layer, progress=False):
        """Feature maps of ``layer`` (as in :meth:`layer_gradients`) for images ``x``, in chunks:
        N x C x h x w, whatever the layer's layout.

        No gradients are kept; a list of layers gives a list of tensors from one pass.

        Examples
        --------
        >>> from xviz import zoo
        >>> clf = zoo.digits_cnn()
        >>> x, _ = clf.prepare(list(zoo.digits("test").images[:3]))
        >>> clf.activations(x, "features").shape
        torch.Size([3, 64, 8, 8])
        """
        x = self._check_input(x)
        layers = self._feature_layers(layer)
        captured = [[] for _ in layers]

        def run(s):
            for store in captured:
                store.clear()
            self._forward(x[s])
            return tuple(f.maps(_first(store, f.module)) for store, f in zip(captured, layers))

        with preserved(self.model, self.device), torch.no_grad():
            for f, store in zip(layers, captured):
                f.module.register_forward_hook(_keep_into(store))  # removed by preserved() on exit
            parts = self._chunks(len(x), run, progress)
        out = [torch.cat(column) for column in zip(*parts)]
        return out if isinstance(layer, (list, tuple)) else out[0]

    def _feature_layers(self, layer):
        from .capture import feature_layer

        return [feature_layer(self, item) for item in (layer if isinstance(layer, (list, tuple)) else [layer])]

    def _backward(self, x, targets, output, modules=None, progress=False):
        """(scores, grads wrt x) without ``modules``; else (scores, out1, grads1, out2, grads2, ...)
        with each module's raw output (the first tensor of a tuple) and its gradient."""
        x = self._check_input(x).detach()
        targets = torch.as_tensor(targets, device=self.device).expand(len(x))

        def run(s):
            xs = x[s].clone().requires_grad_(not modules)
            captured = [[] for _ in modules or []]
            handles = [m.register_forward_hook(_capture_into(store)) for m, store in zip(modules or [], captured)]
            try:
                out = self._forward(xs)
            finally:
                for handle in handles:
                    handle.remove()
            sc = _pick(out.softmax(1) if output == "prob" else out, targets[s])
            wrt = [_first(store, m) for store, m in zip(captured, modules)] if modules else [xs]
            grads = torch.autograd.grad(sc.sum(), wrt, allow_unused=True)
            self.images_backpropagated += len(xs)
            if not modules:
                return sc.detach(), grads[0]
            # A layer the score does not depend on has a zero gradient, not None.
            return (sc.detach(),) + tuple(t.float() for a, g in zip(wrt, grads)
                                          for t in (a.detach(), torch.zeros_like(a) if g is None else g))

        with preserved(self.model, self.device), torch.enable_grad():
            parts = self._chunks(len(x), run, progress)
        return tuple(torch.cat(column) for column in zip(*parts))

    @contextlib.contextmanager
    def metered(self, phases=None, phase=None):
        """Count what the block costs: the images it passes through the model and its wall time.

        ``phases``, a ``{"passes": {}, "seconds": {}}`` history entry, also gets the cost under
        the name ``phase`` (a method's cost per phase).

        Examples
        --------
        >>> from xviz import zoo
        >>> clf = zoo.digits_cnn()
        >>> with clf.metered() as spent:
        ...     _ = clf.predict([zoo.image("digit-3"), zoo.image("digit-7")])
        >>> spent.passes, spent.seconds > 0
        (2, True)
        """
        spent = Spent()
        start, count = time.perf_counter(), self.images_scored
        try:
            yield spent
        finally:
            spent.passes, spent.seconds = self.images_scored - count, time.perf_counter() - start
            if phases is not None:
                phases["passes"][phase], phases["seconds"][phase] = spent.passes, spent.seconds

    @contextlib.contextmanager
    def session(self):
        """Hold the model in eval mode on the device across many calls (restored on exit)."""
        with preserved(self.model, self.device):
            yield self

    # -- user-facing ----------------------------------------------------------------------
    def predict(self, images: Images, top: int = 5) -> list:
        """The ``top`` classes with their probabilities.

        Parameters
        ----------
        images : image or list of images
            Any form :func:`xviz.images.load_image` accepts.
        top : int
            How many classes, most probable first.

        Returns
        -------
        list
            ``(label, probability)`` pairs for one image, or one such list per image for a batch.

        Examples
        --------
        >>> from xviz import zoo
        >>> clf = zoo.efficientnet_lite0()
        >>> clf.predict(zoo.image("chelsea"), top=1)[0][0]
        'Egyptian cat'
        """
        if not is_int(top) or top < 1:
            raise ValueError(f"top must be a positive int, got {top!r}")
        x, batch = self.prepare(images)
        rows = [[tuple(pair) for pair in row] for row in self.top_classes(self.probs(x), int(top))]
        return rows if batch else rows[0]

    def top_classes(self, probs: torch.Tensor, k: int = 5) -> list[list[list]]:
        """Per row of N x C probabilities, the ``k`` most probable classes as ``[label, p]``,
        best first.

        Examples
        --------
        >>> from xviz import zoo
        >>> clf = zoo.digits_cnn()
        >>> clf.top_classes(torch.tensor([[0.1, 0.6, 0.3] + [0.0] * 7]), 2)
        [[['1', 0.6000000238418579], ['2', 0.30000001192092896]]]
        """
        values, indices = probs.topk(min(k, probs.shape[1]), dim=1)
        return [[[self.label(i), v] for v, i in zip(vs, ix)] for vs, ix in zip(values.tolist(), indices.tolist())]


@dataclass
class Spent:
    """What a :meth:`Classifier.metered` block cost: images through the model, wall seconds."""

    passes: int = 0
    seconds: float = 0.0


LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)  # sums to 1: a grey image stays its grey


def _device(device):
    """``device`` as a torch.device, or a ValueError that says what a device is."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError, ValueError) as error:
        raise ValueError(f"device must be a torch.device or a name such as 'cpu' or 'cuda', got {device!r} "
                         f"({error})") from None


def _input_dtype(model):
    """The floating dtype of the model's first parameter (float32 when it has none)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _first(store, module):
    """The first output a hook kept of ``module``, or a clear error if it never ran."""
    if not store:
        raise ValueError(f"layer {type(module).__name__} did not run in the model's forward pass (an unused "
                         "branch, or a traced / scripted model, whose layers cannot be hooked); pick another")
    return store[0]


def _capture_into(store):
    """A forward hook that keeps the module's output (the first tensor of a tuple), made
    differentiable.

    Parameters have ``requires_grad`` off while xviz runs, so a layer's output has no graph
    of its own; detaching it into a leaf that requires grad lets the backward pass stop
    there instead of running on to the input.
    """
    def hook(module, inputs, out):
        t = _tensor_of(module, out)
        if not t.requires_grad:
            t = t.detach().requires_grad_(True)
        store.append(t)
        # The model goes on with a copy: an in-place op after the layer (ReLU(inplace=True))
        # would fail on a leaf, or change the kept output and its gradient's meaning.
        return with_first(out, t.clone())

    return hook


def _keep_into(store):
    """A forward hook that keeps a copy of the module's output, the first tensor of a tuple
    (an in-place op after the layer would change the output itself)."""
    def hook(module, inputs, out):
        store.append(_tensor_of(module, out).detach().to(torch.float32, copy=True))  # float32 for every model type

    return hook


def _tensor_of(module, out):
    t = first_tensor(out)
    if t is None:
        raise ValueError(f"layer {type(module).__name__} returns {type(out).__name__}, not a tensor")
    return t


def _a_batch(n):
    return "a batch of one image" if n == 1 else f"a batch of {n} images"


def _describe(out, depth=0):
    """What a model returned, in a few words: 'tensor 2 x 10', "dict with 'a': tensor 2 x 3", ..."""
    if isinstance(out, torch.Tensor):
        return "tensor " + " x ".join(map(str, out.shape)) if out.ndim else "a scalar tensor"
    name = type(out).__name__
    if depth > 0:
        return name
    if isinstance(out, Mapping):
        items = ", ".join(f"{k!r}: {_describe(v, 1)}" for k, v in list(out.items())[:4])
        return f"{name} with {items}" if items else f"an empty {name}"
    if isinstance(out, (tuple, list)):
        items = ", ".join(_describe(v, 1) for v in out[:4])
        return f"{name} of {len(out)}: {items}" if out else f"an empty {name}"
    return name


def _pick(out, targets):
    targets = torch.as_tensor(targets, device=out.device).expand(out.shape[0])
    return out.gather(1, targets.view(-1, 1)).squeeze(1)
