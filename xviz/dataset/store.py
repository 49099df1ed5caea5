"""The store of a dataset's explanations: a folder of Parquet files, one row per image and method.

Why Parquet (with Arrow tensor columns) and not Zarr: the questions asked of a store are
table questions (which class has the worst deletion AUC, which images do methods disagree
on, filter by confidence), and Parquet answers them with any table tool, pyarrow, pandas,
or duckdb straight on the files (``select ... from 'store/parts/*.parquet'``), reading only
the columns asked for. Zarr is arrays first: the scalars would need a table beside it. The
arrays that have one shape per store (the classifier-size image and mask) are Arrow
fixed-shape tensor columns, read back as N x H x W numpy without decoding; the rest of a
result (its raw map, whose shape differs by method) travels as the result's own parts: its
metadata JSON (``meta``) and its other arrays as .npz bytes (``arrays``), read back through
the kind's strict ``_from_parts``, so a store is one more file of the same result format,
never a second serialisation, and never a pickle.

Layout::

    store/manifest.json            what the store holds: model (name, fingerprint), methods and
                                   their settings, metrics, target rule; and the store's id
    store/parts/part-<first>.parquet  the rows of one batch of images (all their methods)
    store/lock                     while a run writes (its pid)

Rows are keyed by ``(image_id, method)``. A batch's rows are written to a temporary name in
``parts/`` and renamed into place (``os.replace``, atomic on POSIX): a part is there whole or
not at all, so a killed run leaves only a temporary file (removed by the next run) and a
re-run skips the images whose part exists. Every part carries the store's id in its
metadata (a part copied in from another store is refused), and a run on an existing store
must have the same model, methods, settings and metrics, and the same images under the same
keys (each image's hash is checked), or it is refused: two stores are never mixed silently.
"""
from __future__ import annotations

import io
import json
import os
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..core.files import DamagedFile, FileParts, json_text
from ..core.result import Result

FORMAT = "xviz.store/1"
MANIFEST = "manifest.json"
PARTS = "parts"

# The scalar columns, in order: what a table query reads.
SCALARS = [
    ("image_id", pa.string()), ("method", pa.string()), ("index", pa.int64()), ("path", pa.string()),
    ("image_hash", pa.string()), ("label", pa.string()), ("label_index", pa.int64()), ("target", pa.int64()),
    ("target_label", pa.string()), ("prediction", pa.int64()), ("prediction_label", pa.string()),
    ("confidence", pa.float64()), ("score", pa.float64()), ("correct", pa.bool_()),
    ("deletion_auc", pa.float64()), ("insertion_auc", pa.float64()), ("seconds", pa.float64()),
    ("passes", pa.float64()), ("settings", pa.string()), ("error", pa.string()),
]
PAYLOAD = [("meta", pa.string()), ("arrays", pa.binary()), ("thumbnail", pa.binary())]


def schema(size):
    """The Arrow schema of a store's rows for a classifier of input ``size`` (H, W)."""
    h, w = size
    tensors = [("mask", pa.fixed_shape_tensor(pa.float32(), (h, w))),
               ("image", pa.fixed_shape_tensor(pa.float32(), (h, w, 3)))]
    return pa.schema([pa.field(n, t) for n, t in SCALARS + PAYLOAD + tensors])


def _tensor_column(values, kind):
    """A fixed-shape tensor column from a list of arrays or None (a null row)."""
    shape, n = tuple(kind.shape), len(values)
    size = int(np.prod(shape))
    flat = np.zeros((n, size), np.float32)
    missing = np.array([v is None for v in values], dtype=bool)
    for i, v in enumerate(values):
        if v is not None:
            flat[i] = np.asarray(v, np.float32).reshape(-1)
    storage = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), size,
                                                mask=pa.array(missing) if missing.any() else None)
    return pa.ExtensionArray.from_storage(kind, storage)


def tensors(column):
    """A fixed-shape tensor column as a list of numpy arrays (None for a null row)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    storage, shape = column.storage, tuple(column.type.shape)
    size = int(np.prod(shape))
    values = storage.values.slice(storage.offset * size, len(storage) * size).to_numpy(zero_copy_only=False)
    values = values.reshape((len(storage),) + shape).copy()  # writable, and not tied to the table
    return [None if null else values[i] for i, null in enumerate(storage.is_null().to_pylist())]


def rows_table(rows, size, store_id):
    """An Arrow table of row dicts (keys: the schema's column names; missing ones are null)."""
    kinds = schema(size)
    columns = []
    for field in kinds:
        values = [row.get(field.name) for row in rows]
        if isinstance(field.type, pa.FixedShapeTensorType):
            columns.append(_tensor_column(values, field.type))
        else:
            columns.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(columns, schema=kinds.with_metadata({"xviz.store": store_id}))


def encode_arrays(arrays):
    """Arrays as uncompressed .npz bytes (what :meth:`Result.save` writes, in memory)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def decode_arrays(data):
    """The arrays of :func:`encode_arrays` bytes; never unpickles."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


class Store:
    """A store of explanations opened for reading (and by :func:`xviz.dataset.explain` for writing).

    Parameters
    ----------
    path : str or pathlib.Path
        The store's folder (made by :func:`xviz.dataset.explain`).
    clf : xviz.Classifier, optional
        The model the store was made with; another model (name or weights) is refused.

    Examples
    --------
    >>> import tempfile, xviz
    >>> from xviz import dataset
    >>> clf = xviz.zoo.digits_cnn()
    >>> store = dataset.explain(clf, xviz.zoo.digits("test").images[:4], ["gradcam"],
    ...                         store=tempfile.mkdtemp() + "/s", progress=False)
    >>> len(store), store.methods
    (4, ['gradcam'])
    >>> store.result("000000", "gradcam").method
    'gradcam'
    """

    def __init__(self, path, clf=None):
        self.path = Path(path)
        file = self.path / MANIFEST
        if not file.is_file():
            why = "does not exist" if not self.path.exists() else "has no manifest.json"
            raise FileNotFoundError(f"'{self.path}' is not an xviz store: it {why} (make one with xviz.dataset.explain)")
        try:
            self.manifest = json.loads(file.read_text())
        except json.JSONDecodeError as error:
            raise DamagedFile(f"'{file}' is a damaged xviz store manifest ({error})") from None
        if not isinstance(self.manifest, dict) or self.manifest.get("format") != FORMAT:
            found = self.manifest.get("format") if isinstance(self.manifest, dict) else None
            raise ValueError(f"'{self.path}' is not an xviz store of format {FORMAT!r} (found {found!r})")
        if clf is not None:
            other = clf.mismatch(self.manifest["model"], self.manifest["fingerprint"])
            if other:
                raise ValueError(f"the store '{self.path}' was made with {other}: it does not describe this model")
        self.clf = clf

    # -- what it holds ------------------------------------------------------------------
    @property
    def id(self):
        return self.manifest["id"]

    @property
    def methods(self):
        """The method names, in the order of the run."""
        return [m["name"] for m in self.manifest["methods"]]

    @property
    def size(self):
        return tuple(self.manifest["size"])

    def parts(self):
        """The part files, by name (whole ones only: a temporary file is no part)."""
        folder = self.path / PARTS
        return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []

    def _read(self, part, columns=None):
        table = pq.read_table(part, columns=columns)
        owner = (pq.read_schema(part).metadata or {}).get(b"xviz.store", b"").decode()
        if owner != self.id:
            raise DamagedFile(f"'{part}' belongs to another store ({owner or 'none'}), not to '{self.path}' "
                              f"({self.id}): remove it, or keep stores apart")
        return table

    def table(self, columns=None):
        """Every row as one Arrow table, by image position and the run's method order.

        ``columns``: the names to read (all by default; the scalar columns are cheap, the
        arrays and thumbnails are not).
        """
        columns = None if columns is None else list(dict.fromkeys(["index", "method", *columns]))
        tables = [self._read(p, columns) for p in self.parts()]
        if not tables:
            return schema(self.size).empty_table() if columns is None else \
                schema(self.size).empty_table().select(columns)
        table = pa.concat_tables(tables)
        order = {m: i for i, m in enumerate(self.methods)}
        rank = pa.array([order.get(m, len(order)) for m in table.column("method").to_pylist()], pa.int64())
        return table.append_column("_rank", rank).sort_by([("index", "ascending"), ("_rank", "ascending")]) \
            .drop_columns(["_rank"])

    def to_pandas(self, columns=None):
        """The table as a pandas DataFrame; by default the scalar columns (no arrays).

        Examples
        --------
        >>> import tempfile, xviz
        >>> from xviz import dataset
        >>> store = dataset.explain(xviz.zoo.digits_cnn(), xviz.zoo.digits("test").images[:3], ["gradcam"],
        ...                         store=tempfile.mkdtemp() + "/s", progress=False)
        >>> df = store.to_pandas()
        >>> list(df.columns[:3]), len(df)
        (['image_id', 'method', 'index'], 3)
        """
        names = [n for n, _ in SCALARS] if columns is None else columns
        return self.table(names).select(names).to_pandas()

    def __len__(self):
        """Images in the store."""
        return len(self.done())

    def done(self):
        """image id -> its hash, for every image the store holds."""
        out = {}
        for part in self.parts():
            t = self._read(part, ["image_id", "image_hash"])
            for key, digest in zip(t.column("image_id").to_pylist(), t.column("image_hash").to_pylist()):
                if out.get(key, digest) != digest:
                    raise DamagedFile(f"image '{key}' is in the store '{self.path}' twice, with different contents")
                out[key] = digest
        return out

    def __repr__(self):
        return (f"Store('{self.path}', {self.manifest['model']}, methods {', '.join(self.methods)}, "
                f"{len(self)} images)")

    # -- results ------------------------------------------------------------------------
    def _rows(self, image_id, columns=None):
        for part in self.parts():
            ids = self._read(part, ["image_id"]).column("image_id").to_pylist()
            if image_id in ids:
                t = self._read(part, columns)
                return t.filter(pc.equal(t.column("image_id"), image_id)), part
        raise KeyError(f"no image '{image_id}' in the store '{self.path}'")

    def image(self, image_id):
        """The image as the classifier saw it: H x W x 3 float32 in [0, 1]."""
        rows, _ = self._rows(image_id, ["image_id", "image"])
        found = [a for a in tensors(rows.column("image")) if a is not None]
        if not found:
            raise DamagedFile(f"image '{image_id}' has no pixels in the store '{self.path}'")
        return found[0]

    def result(self, image_id, method):
        """The explanation of one image by one method, as the result object it was
        (:class:`~xviz.Saliency`, :class:`~xviz.SAG`), checked as strictly as a result file."""
        if method not in self.methods:
            raise ValueError(f"no method {method!r} in this store; it holds {', '.join(self.methods)}")
        rows, part = self._rows(image_id)
        picture = [a for a in tensors(rows.column("image")) if a is not None]
        row = next(r for r in rows.to_pylist() if r["method"] == method)
        masks = tensors(rows.column("mask"))
        mask = masks[[r["method"] for r in rows.to_pylist()].index(method)]
        if row["error"]:
            raise ValueError(f"image '{image_id}' has no {method} result: it failed ({row['error']})")
        return from_row(row, picture[0] if picture else None, mask, f"{part}#{image_id}/{method}", self.clf)

    def results(self, method, image_ids=None):
        """The results of one method, for ``image_ids`` (all images by default), in order;
        the images that failed are left out."""
        wanted = None if image_ids is None else set(image_ids)
        for part in self.parts():
            t = self._read(part)
            pictures = {k: v for k, v in zip(t.column("image_id").to_pylist(), tensors(t.column("image")))
                        if v is not None}
            for row, mask in zip(t.to_pylist(), tensors(t.column("mask"))):
                if row["method"] == method and not row["error"] and (wanted is None or row["image_id"] in wanted):
                    yield row["image_id"], from_row(row, pictures.get(row["image_id"]), mask,
                                                    f"{part}#{row['image_id']}/{method}", self.clf)


def from_row(row, image, mask, where, clf=None):
    """A result object from a store row (its metadata, arrays, and the image and mask columns)."""
    try:
        meta = json.loads(row["meta"])
    except (TypeError, json.JSONDecodeError) as error:
        raise DamagedFile(f"'{where}' is a damaged store row (its metadata: {error})") from None
    kind = Result.kinds.get(meta.get("format") if isinstance(meta, dict) else None)
    if kind is None:
        raise DamagedFile(f"'{where}' is a store row of an unknown result kind")
    arrays = decode_arrays(row["arrays"]) if row["arrays"] else {}
    for name in meta.pop("columns", []):  # the arrays kept in the store's own columns
        arrays[name] = {"image": image, "mask": mask}[name]
        if arrays[name] is None:
            raise DamagedFile(f"'{where}' is a damaged store row: its {name} is missing")
    return kind._from_parts(FileParts(meta, where, kind.WHAT), FileParts(arrays, where, kind.WHAT), clf)


def row_payload(result, image, mask):
    """(meta JSON, arrays bytes) of a result, its image and mask left to the store's columns
    when they are the row's own (so the image is kept once per image)."""
    meta, arrays = result._parts()
    meta, arrays = {"format": result.FORMAT, **meta}, dict(arrays)
    moved = []
    for name, same in (("image", image), ("mask", mask)):
        if name in arrays and same is not None and np.array_equal(arrays[name], same):
            del arrays[name]
            moved.append(name)
    if moved:
        meta["columns"] = moved
    return json_text(meta), encode_arrays(arrays) if arrays else None


# -- writing -------------------------------------------------------------------------------
def new_manifest(fields):
    return {"format": FORMAT, "id": uuid.uuid4().hex, "created": datetime.now(timezone.utc).isoformat(), **fields}


COMPARED = ("model", "fingerprint", "size", "labels", "methods", "metrics", "target", "thumbnail")


def open_for_writing(path, fields):
    """The store at ``path``, made with ``fields`` (a new manifest's contents) or checked
    against them when it exists: any difference is refused, naming it."""
    path = Path(path)
    if path.exists() and not (path / MANIFEST).exists():
        if path.is_file() or any(path.iterdir()):
            raise ValueError(f"'{path}' exists and is not an xviz store; give a new folder or an existing store")
    if not (path / MANIFEST).exists():
        path.mkdir(parents=True, exist_ok=True)
        (path / PARTS).mkdir(exist_ok=True)
        _atomic_write(path / MANIFEST, json.dumps(new_manifest(fields), indent=1).encode())
    store = Store(path)
    theirs = json.loads(json_text({k: store.manifest.get(k) for k in COMPARED}))
    ours = json.loads(json_text({k: fields.get(k) for k in COMPARED}))
    differ = [k for k in COMPARED if theirs[k] != ours[k]]
    if differ:
        said = "; ".join(f"{k}: the store has {_short(theirs[k])}, this run {_short(ours[k])}" for k in differ)
        raise ValueError(f"the store '{path}' was made with other settings ({said}); give another store path, "
                         f"or the same model, methods, settings and metrics")
    (path / PARTS).mkdir(exist_ok=True)
    return store


def _short(value):
    text = json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _atomic_write(path, data):
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_part(store, table):
    """Write one batch's rows as a part, atomically; returns its path."""
    first = min(table.column("index").to_pylist())
    final = store.path / PARTS / f"part-{first:09d}.parquet"
    if final.exists():
        raise FileExistsError(f"'{final}' exists already: another run is writing this store, or it is damaged")
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final


class Lock:
    """The store's lock while a run writes: one writer at a time. A lock left by a run that is
    no longer alive (killed) is taken over; a live one is refused."""

    def __init__(self, path):
        self.file = Path(path) / "lock"

    def __enter__(self):
        me = f"{os.getpid()} {socket.gethostname()}"
        for _ in range(2):
            try:
                fd = os.open(self.file, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self._alive():
                    raise RuntimeError(f"another run ({self.file.read_text().strip()}) is writing the store "
                                       f"'{self.file.parent}'; wait for it, or use another store") from None
                self.file.unlink(missing_ok=True)  # a run that was killed
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            for stale in (self.file.parent / PARTS).glob(".*.tmp"):  # halves of parts a killed run left
                stale.unlink(missing_ok=True)
            return self
        raise RuntimeError(f"could not take the lock of '{self.file.parent}'")

    def _alive(self):
        try:
            pid, host = self.file.read_text().split()
        except (OSError, ValueError):
            return False
        if host != socket.gethostname():
            return True  # another machine's run: it cannot be checked, so it is not taken over
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __exit__(self, *exc):
        self.file.unlink(missing_ok=True)
