"""What every explanation result shares: one file per result, written by :meth:`Result.save`
and read back by :func:`load`, whatever its kind.

A result kind is a class with a format tag (``FORMAT = "xviz.saliency/1"``) and two methods:
``_parts()`` gives its metadata (JSON-safe) and its arrays; ``_from_parts(meta, arrays, clf)``
makes it again from them. The tag is written into the file, so :func:`load` finds the kind;
the kinds register themselves by subclassing, so the core names none of them.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np

from .files import DamagedFile, FileParts, json_text, read_result, write_json, write_npz


class Result:
    """The base of every result kind: saving, :meth:`to_dict`, and the model check on load.

    Subclasses set ``FORMAT`` (the tag in the file), ``WHAT`` (the kind, in messages) and
    ``JSON`` (True: one JSON file; False: an .npz of arrays with JSON metadata), and implement
    ``_parts`` and ``_from_parts``.
    """

    FORMAT: ClassVar[str] = ""
    WHAT: ClassVar[str] = "result"
    JSON: ClassVar[bool] = False
    NEEDS_CLASSIFIER: ClassVar[bool] = False  # it cannot be used without the model (an XNN)
    kinds: ClassVar[dict[str, type[Result]]] = {}  # format tag -> result class, filled by subclassing

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("FORMAT"):
            Result.kinds[cls.FORMAT] = cls

    # -- what a kind provides ------------------------------------------------------------
    def _parts(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(metadata, arrays): the metadata JSON-safe, the arrays numpy (none for a JSON kind)."""
        raise NotImplementedError

    @classmethod
    def _from_parts(cls, meta: FileParts, arrays: FileParts, clf: Any = None, **options: Any) -> Result:
        raise NotImplementedError

    # -- what every kind has -------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the result to ``path`` (no pickle); read it back with :func:`xviz.load`.

        An .npz of arrays with JSON metadata (".npz" is added to a name without it), or one
        JSON file for the kinds without large arrays (SAG, GlobalExplanation). Returns the path
        written.

        Examples
        --------
        >>> import os, tempfile, xviz
        >>> sal = xviz.gradcam(xviz.zoo.digits_cnn(), xviz.zoo.image("digit-3"))
        >>> path = sal.save(os.path.join(tempfile.mkdtemp(), "sal"))
        >>> path.name, bool((xviz.load(path).mask == sal.mask).all())
        ('sal.npz', True)
        """
        meta, arrays = self._parts()
        meta = {"format": self.FORMAT, **meta}
        if self.JSON:
            return write_json(path, meta)
        return write_npz(path, meta=np.array(json_text(meta)), **arrays)

    def to_dict(self) -> dict:
        """The result as plain JSON-safe Python: its metadata, and its arrays as nested lists.

        Examples
        --------
        >>> import json, xviz
        >>> sal = xviz.gradcam(xviz.zoo.digits_cnn(), xviz.zoo.image("digit-3"))
        >>> d = sal.to_dict()
        >>> d["format"], d["label"], len(d["mask"]), len(json.dumps(d)) > 0
        ('xviz.saliency/1', '3', 32, True)
        """
        meta, arrays = self._parts()
        # Through JSON text and back: tuples become lists, numpy numbers Python's, as in a file.
        return json.loads(json_text({"format": self.FORMAT, **meta, **{name: a.tolist() for name, a in arrays.items()}}))

    @classmethod
    def _model_of(cls, meta: FileParts) -> tuple[str | None, str | None]:
        """(model name, fingerprint) a file records: at its top, or in its settings."""
        settings = meta.get("settings")
        settings = settings if isinstance(settings, dict) else {}
        return (meta.get("model", settings.get("model")), meta.get("fingerprint", settings.get("fingerprint")))


class OldLoad:
    """``Kind.load(path)``, as 0.1 read a Saliency or a LayerExplanation: deprecated."""

    @classmethod
    def load(cls, path: str | Path) -> Result:
        """Deprecated: :func:`xviz.load` reads every result."""
        deprecated(f"{cls.__name__}.load(path)", "xviz.load(path)")
        return load_as(cast("type[Result]", cls), path)


class OldJson:
    """``to_json`` / ``from_json``, as 0.1 wrote and read a SAG or a GlobalExplanation: deprecated."""

    def to_json(self, path: str | Path) -> Path:
        """Deprecated: :meth:`Result.save` writes it as JSON."""
        deprecated(f"{type(self).__name__}.to_json(path)", f"{type(self).__name__}.save(path)")
        return self.save(path)  # type: ignore[attr-defined]

    @classmethod
    def from_json(cls, path: str | Path) -> Result:
        """Deprecated: :func:`xviz.load` reads every result."""
        deprecated(f"{cls.__name__}.from_json(path)", "xviz.load(path)")
        return load_as(cast("type[Result]", cls), path)


def load(path: str | Path, clf: Any = None, **options: Any) -> Result:
    """Read any result written by ``save()``: the kind is found from the file's format tag.

    Parameters
    ----------
    path : str or pathlib.Path
        The file (``"result"`` finds ``"result.npz"`` when only that exists).
    clf : xviz.Classifier, optional
        The model the result was made with. Needed for an XNN (it explains new images with
        it); for every kind, a file made with another model (another name, or, where the file
        keeps one, another fingerprint of the weights) is refused.
    **options
        What a kind needs that a file cannot hold: ``reshape=``, the function an XNN was
        fitted with (see :class:`xviz.Layout`).

    Returns
    -------
    Saliency, SAG, XNN, Summary, LayerExplanation or GlobalExplanation

    Examples
    --------
    >>> import os, tempfile, xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> g = xviz.sag(clf, xviz.zoo.image("digit-3"), grid=4, progress=False)
    >>> again = xviz.load(g.save(os.path.join(tempfile.mkdtemp(), "g.json")), clf)
    >>> type(again).__name__, again.roots == g.roots
    ('SAG', True)
    """
    meta, arrays = read_result(path, {tag: kind.WHAT for tag, kind in Result.kinds.items()})
    cls = Result.kinds[meta["format"]]
    if clf is None and cls.NEEDS_CLASSIFIER:
        raise ValueError(f"'{meta.path}' is an xviz {cls.WHAT}, which explains new images with the model it was "
                         f"made with: give it, xviz.load(path, clf)")
    if clf is not None:
        _check_model(clf, cls, meta)
    return cls._from_parts(meta, arrays, clf, **options)


def _check_model(clf: Any, cls: type[Result], meta: FileParts) -> None:
    from .classifier import Classifier

    if not isinstance(clf, Classifier):
        raise ValueError(f"clf must be an xviz.Classifier (the model the {cls.WHAT} was made with), "
                         f"got {type(clf).__name__}")
    name, fingerprint = cls._model_of(meta)
    other = clf.mismatch(name, fingerprint)
    if other:
        raise ValueError(f"'{meta.path}' was made with {other}: it does not describe this model; make it again")


def deprecated(old: str, new: str) -> None:
    """Warn once per call site that ``old`` is deprecated in favour of ``new``."""
    warnings.warn(f"{old} is deprecated and goes in xviz 0.3: use {new}", DeprecationWarning, stacklevel=3)


def load_as(cls: type[Result], path: str | Path, clf: Any = None, **options: Any) -> Result:
    """:func:`load`, refusing a file of another kind than ``cls`` (for the deprecated loaders)."""
    result = load(path, clf, **options)
    if not isinstance(result, cls):
        raise ValueError(f"'{path}' is an xviz {type(result).WHAT} file, not an xviz {cls.WHAT} file")
    return result


__all__ = ["DamagedFile", "OldJson", "OldLoad", "Result", "deprecated", "load", "load_as"]
