"""The work of one batch of images, the same in this process and in a Ray worker: score the
images, run each method, measure deletion and insertion, and make the store's rows.

An image that cannot be read, or that a method fails on, gets a row with its error and the
batch goes on: a method is first run on the whole batch (one batched call), and only when
that fails image by image, so one bad image costs its own row, not the batch's.
"""
from __future__ import annotations

import inspect
import io
import json
import traceback

import numpy as np
import torch

from .. import metrics as _metrics
from ..core.files import json_text
from ..core.images import to_numpy
from ..methods import METHODS, sag
from ..methods.heatmap import Saliency
from .store import row_payload

# Every method a dataset run can use, by name: the heatmap methods, and the SAG (its roots
# are the minimal sufficient explanations that model comparison counts).
RUNNERS = {**METHODS, "sag": sag}
TARGETS = ("prediction", "label")


# -- methods and their settings --------------------------------------------------------------
def method_specs(methods, device):
    """``methods`` (names, or (name, settings) pairs) as ``[{"name", "settings"}]``, checked:
    known names, each once, settings the method takes, JSON-safe (they go in the manifest)."""
    single = isinstance(methods, str) or (isinstance(methods, tuple) and len(methods) == 2
                                          and isinstance(methods[0], str) and isinstance(methods[1], dict))
    methods = [methods] if single else list(methods)
    specs = []
    for entry in methods:
        name, settings = (entry, {}) if isinstance(entry, str) else _pair(entry)
        if name not in RUNNERS:
            raise ValueError(f"unknown method {name!r}; accepted: {', '.join(RUNNERS)} (with settings: (name, dict))")
        if name in [s["name"] for s in specs]:
            raise ValueError(f"method {name!r} is given twice; a store holds each method once (use two stores to "
                             f"compare settings)")
        _check_settings(name, settings)
        specs.append({"name": name, "settings": _resolved(name, dict(settings), device)})
    if not specs:
        raise ValueError(f"give at least one method ({', '.join(RUNNERS)})")
    return specs


def _pair(entry):
    if isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], dict):
        return entry[0], entry[1]
    raise ValueError(f"a method is a name or a (name, settings dict) pair, got {entry!r}")


FIXED = {"clf", "images", "image", "target", "progress"}


def _check_settings(name, settings):
    parameters = inspect.signature(RUNNERS[name]).parameters
    given = set(settings)
    if given & FIXED:
        raise ValueError(f"{', '.join(sorted(given & FIXED))} of {name} are set by the run, not in its settings")
    if not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        unknown = given - set(parameters)
        if unknown:
            accepted = [p for p in parameters if p not in FIXED]
            raise ValueError(f"unknown setting(s) {', '.join(sorted(unknown))} of {name}; accepted: {', '.join(accepted)}")
    try:
        json_text(settings)
    except TypeError as error:
        raise ValueError(f"the settings of {name} must be plain values (they are kept in the store): {error}") from None


def _resolved(name, settings, device):
    """I-GOS's preset "auto" depends on the device; the store records the one it means, so
    a store made on a CPU and resumed on a GPU keeps one preset."""
    if name in ("igos", "igos++") and settings.get("preset", "auto") == "auto":
        settings["preset"] = "paper" if torch.device(device).type == "cuda" else "fast"
    return settings


# -- one batch -------------------------------------------------------------------------------
def explain_batch(clf, items, specs, metrics, target_rule, thumbnail):
    """The store rows (dicts) of a batch of :class:`~xviz.dataset.sources.Item`."""
    rows, loaded = [], []
    for item in items:
        try:
            loaded.append((item, item.pixels(near=clf.size)))
        except Exception as error:  # an unreadable file: its rows say why
            rows += [_failed(_base(clf, item), spec, error) for spec in specs]
    if not loaded:
        return rows
    x, _ = clf.prepare([picture for _, picture in loaded])
    pictures = to_numpy(x)
    probs = clf.probs(x)
    confidence, prediction = (t.tolist() for t in probs.max(1))
    bases = [_base(clf, item, p, c) for (item, _), p, c in zip(loaded, prediction, confidence)]
    targets = [b["label_index"] if target_rule == "label" else b["prediction"] for b in bases]
    for k, spec in enumerate(specs):
        outcomes = _run(clf, spec, pictures, targets)
        curves = _curves(clf, outcomes, metrics)
        for i, (base, outcome, curve) in enumerate(zip(bases, outcomes, curves)):
            picture = pictures[i] if k == 0 else None  # the image once per image
            if isinstance(outcome, BaseException):
                rows.append({**_failed(base, spec, outcome), "image": picture})
            else:
                rows.append(_row(base, spec, outcome, curve, pictures[i], picture, probs[i], thumbnail,
                                 len(outcomes)))
    return rows


def _label(clf, label):
    """(name, index) of a true label; the index is None when the model has no such class."""
    if label is None:
        return None, None
    try:
        index = clf.target_index(label)
    except ValueError:
        return str(label), None
    return clf.label(index), index


def _base(clf, item, prediction=None, confidence=None):
    name, index = _label(clf, item.label)
    return {"image_id": item.id, "index": item.index, "path": item.path, "image_hash": item.hash, "label": name,
            "label_index": index, "prediction": prediction, "confidence": confidence,
            "prediction_label": None if prediction is None else clf.label(prediction),
            "correct": None if index is None or prediction is None else index == prediction}


def _failed(base, spec, error):
    return {**base, "method": spec["name"], "settings": json_text(spec["settings"]), "error": _message(error)}


def _message(error):
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    at = f" (at {where.name}, {where.filename.split('/')[-1]}:{where.lineno})" if where else ""
    return f"{type(error).__name__}: {error}{at}"


def _call(clf, spec, images, targets):
    fn = RUNNERS[spec["name"]]
    extra = {"progress": False} if "progress" in inspect.signature(fn).parameters else {}
    return fn(clf, images, target=targets, **spec["settings"], **extra)


def _run(clf, spec, pictures, targets):
    """One result or exception per image: the whole batch in one call, else one by one."""
    missing = [t is None for t in targets]
    if spec["name"] != "sag" and not any(missing):
        try:
            out = _call(clf, spec, list(pictures), list(targets))
            return out if isinstance(out, list) else [out]
        except Exception:  # find the image(s) it fails on, below
            pass
    outcomes = []
    for picture, target in zip(pictures, targets):
        if target is None:
            outcomes.append(ValueError("this image has no label the model knows, and the run explains the label"))
            continue
        try:
            outcomes.append(_call(clf, spec, picture, target))
        except Exception as error:
            outcomes.append(error)
    return outcomes


def _curves(clf, outcomes, metrics):
    """(deletion, insertion) per outcome, batched over the heatmaps; None elsewhere."""
    at = [i for i, o in enumerate(outcomes) if isinstance(o, Saliency)]
    out = [None] * len(outcomes)
    if metrics and at:
        pairs = _metrics.curves(clf, [outcomes[i] for i in at], **metrics)
        for i, pair in zip(at, pairs):
            out[i] = pair
    return out


def _mask(result):
    """The H x W mask a row keeps: a heatmap's mask; a SAG's most confident minimal sufficient set."""
    if isinstance(result, Saliency):
        return result.mask
    roots = getattr(result, "roots", None)
    return result.mask(roots[0]).astype(np.float32) if roots else None


def _row(base, spec, result, curve, picture, kept_picture, probs, thumbnail, batch):
    mask = _mask(result)
    meta, arrays = row_payload(result, picture, mask)
    target = int(result.target)
    return {**base, "method": spec["name"], "target": target, "target_label": result.label,
            "score": float(probs[target]), "deletion_auc": None if curve is None else curve[0].auc,
            "insertion_auc": None if curve is None else curve[1].auc,
            # a batched call's cost, shared by its images (a SAG is made one image at a time)
            "seconds": float(result.seconds) / (1 if spec["name"] == "sag" else batch),
            "passes": float(result.passes) / (1 if spec["name"] == "sag" else batch), "settings": json_text(result.settings), "meta": meta, "arrays": arrays,
            "mask": mask, "image": kept_picture,
            "thumbnail": None if mask is None or not thumbnail else thumbnail_png(picture, mask, thumbnail)}


# -- thumbnails ------------------------------------------------------------------------------
def turbo(values):
    """Google's Turbo colour map (its polynomial fit) of values in [0, 1]: ... x 3 in [0, 1]."""
    x = np.clip(np.asarray(values, dtype=np.float64), 0, 1)[..., None]
    c = np.array([[0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
                  [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
                  [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973]])
    return np.clip(sum(c[:, k] * x ** k for k in range(6)), 0, 1)


def thumbnail_png(image, mask, side, alpha=0.5):
    """PNG bytes of the heatmap over the image, its long side ``side`` pixels."""
    from PIL import Image

    picture = (1 - alpha) * np.asarray(image) + alpha * turbo(mask)
    pixels = Image.fromarray((np.clip(picture, 0, 1) * 255).round().astype(np.uint8))
    h, w = mask.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.NEAREST if scale >= 2 else Image.BILINEAR  # tiny digits stay crisp
    buffer = io.BytesIO()
    pixels.resize(size, resample).save(buffer, format="PNG")
    return buffer.getvalue()


def metric_settings(metrics, size):
    """The deletion / insertion settings of a run: None for none, else {"baseline", "grid"}."""
    if metrics is False or metrics is None:
        return None
    chosen = {"baseline": "blur", "grid": min(28, *size)}
    if isinstance(metrics, dict):
        unknown = set(metrics) - set(chosen)
        if unknown:
            raise ValueError(f"unknown metric setting(s) {', '.join(sorted(unknown))}; accepted: baseline, grid")
        chosen.update(metrics)
    elif metrics is not True:
        raise ValueError(f"metrics must be True, False or a dict of baseline and grid, got {metrics!r}")
    json.dumps(chosen)
    return chosen
