"""Result files: .npz arrays with JSON metadata, or JSON; written plainly, read strictly, never
unpickled. A file that is no whole result of the kind asked for gets a ValueError that names it."""
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np


def npz_file(path, reading=False):
    """The file an .npz result lives in: numpy's savez adds ".npz" to a name without it, so
    ``save("m")`` writes ``m.npz`` and ``load("m")`` reads that (or ``m`` itself, when only
    ``m`` exists: a file someone named so)."""
    path = Path(path)
    if path.suffix == ".npz":
        return path
    named = path.with_name(path.name + ".npz")
    return path if reading and not named.is_file() and path.is_file() else named


def _plain(value):
    if isinstance(value, np.generic):  # a numpy number given as a setting
        return value.item()
    raise TypeError(f"a {type(value).__name__} cannot be saved as JSON")


def json_text(data):
    """``json.dumps`` that writes numpy numbers as plain ones (settings may hold them)."""
    return json.dumps(data, default=_plain)


def writable(path):
    """``path`` as a Path, or a FileNotFoundError naming its folder when that is missing or a file."""
    path = Path(path)
    if not path.parent.is_dir():  # said plainly: numpy and open() name only the file
        why = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise FileNotFoundError(f"cannot write '{path}': the folder '{path.parent}' {why}")
    return path


def write_npz(path, **arrays):
    """Write arrays to a compressed .npz (no pickle); return the path written."""
    path = writable(npz_file(path))
    np.savez_compressed(path, **arrays)
    return path


def write_json(path, data):
    """Write ``data`` as JSON (numpy numbers as plain ones); return the path written."""
    path = writable(Path(path))
    path.write_text(json_text(data))
    return path


def read_meta(data, path, fmt, what):
    """The JSON metadata of an open .npz result, checked to be of format ``fmt`` (a tag, or a
    collection of accepted tags); a clear error for any other file (``what`` names the kind
    expected, e.g. "saliency")."""
    if "meta" not in data.files:
        raise ValueError(f"'{path}' is not an xviz {what} file (it has no xviz metadata)")
    try:
        meta = json.loads(str(data["meta"]))
    except (json.JSONDecodeError, *DAMAGE) as error:
        raise DamagedFile(f"'{path}' is a damaged xviz {what} file (its metadata: {error})") from error
    return _checked(meta, path, fmt, what)


def _checked(meta, path, fmt, what):
    accepted = {fmt} if isinstance(fmt, str) else set(fmt)
    found = meta.get("format") if isinstance(meta, dict) else None
    if found in accepted:
        return meta
    if isinstance(found, str) and found.startswith("xviz.") and found.split("/")[0] in {a.split("/")[0] for a in accepted}:
        raise ValueError(f"'{path}' is an xviz {what} file of format {found!r}, which this xviz reads not "
                         f"(it reads {', '.join(sorted(accepted))}): made by another version of xviz")
    expected = f"{fmt!r}" if isinstance(fmt, str) else "one of " + ", ".join(sorted(accepted))
    raise ValueError(f"'{path}' is not an xviz {what} file (format {found!r}, expected {expected})")


class DamagedFile(ValueError):
    """A result file that is cut off or damaged (or from another xviz version)."""


class FileParts(dict):
    """A result file's arrays or metadata: a part it lacks is a DamagedFile naming the file,
    not a bare KeyError from deep inside a loader."""

    def __init__(self, items, path, what):
        super().__init__(items)
        self.path, self.what = path, what

    def __missing__(self, key):
        raise DamagedFile(f"'{self.path}' is an incomplete xviz {self.what} file, or one from another xviz "
                          f"version: it has no {key!r}")


def valid(parts, name, ndim=None, kind="float", unit=False, shape=None):
    """The array ``name`` of a result file's parts, checked: its number of dimensions, its
    leading ``shape`` (a tuple, None for any length), float (finite) or int values (at least
    0), and values in [0, 1] if ``unit``; anything else is a :class:`DamagedFile` that names
    the file and the array (a NaN mask or a 0-255 image was read silently before)."""
    a = parts[name]
    why = None
    if ndim is not None and a.ndim != ndim:
        why = f"has {a.ndim} dimensions {a.shape}, not {ndim}"
    elif shape is not None and any(want is not None and got != want for got, want in zip(a.shape, shape)):
        why = f"has shape {a.shape}, expected {tuple('any' if w is None else w for w in shape)}"
    elif kind == "float" and (not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all()):
        why = "is not all finite floats"
    elif kind == "int" and (not np.issubdtype(a.dtype, np.integer) or (a.size and a.min() < 0)):
        why = "is not all non-negative ints"
    elif unit and a.size and (a.min() < 0 or a.max() > 1):
        why = f"has values outside [0, 1] ({a.min():.3g}..{a.max():.3g})"
    if why:
        raise DamagedFile(f"'{parts.path}' is a damaged xviz {parts.what} file: its {name} {why}")
    return a


def valid_number(parts, name, low=0.0, high=1.0):
    """A number of a result file's metadata, checked to be finite and in [low, high]."""
    value = parts[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise DamagedFile(f"'{parts.path}' is a damaged xviz {parts.what} file: its {name} is {value!r}, "
                          f"not a number in [{low:g}, {high:g}]")
    return value


def _not_npz(file, what):
    """The error for a file that numpy cannot open as an .npz, saying what it looks like."""
    with open(file, "rb") as f:
        head = f.read(64)
    if not head or head.startswith(b"PK"):
        return DamagedFile(f"'{file}' is a damaged or incomplete xviz {what} file "
                           f"({'it is empty' if not head else 'a cut-off or damaged zip archive'})")
    if head.startswith(b"\x93NUMPY"):
        kind = "it is a single .npy array"
    elif head.lstrip()[:1] in (b"{", b"["):
        kind = "it is JSON text: xviz.load reads the JSON results"
    else:
        kind = "it is not an .npz archive"
    return ValueError(f"'{file}' is not an xviz {what} file ({kind})")


# What numpy, zipfile and zlib raise on a file damaged inside: a bad CRC, cut-off data.
DAMAGE = (EOFError, OSError, zlib.error, zipfile.BadZipFile, ValueError)


def read_npz(path, fmt, what):
    """The arrays and the metadata of an .npz result written by :func:`write_npz` (``path``
    with or without ".npz"), its format checked; never unpickles. Anything but a whole result
    of that kind gives a ValueError that names the file and says what it is instead (a
    :class:`DamagedFile` where it is cut off or damaged, or lacks a part)."""
    file = npz_file(path, reading=True)
    with open(file, "rb") as handle:  # ours to close: numpy leaves its own open when a cut-off zip fails
        try:
            data = np.load(handle, allow_pickle=False)
        except (ValueError, EOFError, zipfile.BadZipFile, OSError):
            raise _not_npz(file, what) from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise _not_npz(file, what)
        return _read_open_npz(data, file, fmt, what)


def _read_open_npz(data, file, fmt, what):
    with data:
        meta = read_meta(data, file, fmt, what)
        what = fmt[meta["format"]] if isinstance(fmt, dict) else what  # now the kind is known
        try:  # everything now, so that only reading the file is said to be its damage
            arrays = {k: data[k] for k in data.files if k != "meta"}
        except DAMAGE as error:
            raise DamagedFile(f"'{file}' is a damaged xviz {what} file ({type(error).__name__}: {error})") from error
    return FileParts(arrays, file, what), FileParts(meta, file, what)


def read_json(path, fmt, what):
    """The JSON result at ``path``, checked to be of format ``fmt``; a ValueError naming the
    file for anything else (an .npz, cut-off JSON, another kind of result)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw.startswith(b"PK"):
        raise ValueError(f"'{path}' is not an xviz {what} file (it is a zip archive: xviz.load reads .npz results)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DamagedFile(f"'{path}' is a damaged or cut-off xviz {what} file ({error})") from error
    data = _checked(data, path, fmt, what)
    return FileParts(data, path, fmt[data["format"]] if isinstance(fmt, dict) else what)


def existing_file(path):
    """The file a result was saved to: ``path`` itself, or ``path`` + ".npz" when only that exists
    (``save("m")`` writes ``m.npz``); a clear error for a folder or a missing file."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a folder; give the file of a saved result")
    if path.is_file():
        return path
    named = npz_file(path)
    if named.is_file():
        return named
    tried = f" (nor '{named}')" if named != path else ""
    raise FileNotFoundError(f"no file '{path}'{tried}")


def read_result(path, kinds):
    """(metadata, arrays) of any result file whose format tag is one of ``kinds`` (a dict: tag ->
    the kind's name, for messages): an .npz (arrays and metadata) or a JSON file (metadata
    alone, no arrays)."""
    file = existing_file(path)
    with open(file, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK") or not head.lstrip()[:1] in (b"{", b"["):
        return read_npz(file, kinds, "result")[::-1]
    meta = read_json(file, kinds, "result")
    return meta, FileParts({}, file, meta.what)
