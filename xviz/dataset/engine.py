"""Explaining a whole dataset: in this process (the default, nothing more to install) or on Ray.

Both engines run the same :func:`~xviz.dataset.work.explain_batch` over batches of images and
write each batch's rows as one part of the store, so they give the same store. Only this
process writes the store: Ray workers send their rows back as Arrow tables (arrays as
tensor columns, no pickled results), and the driver writes each as a part, atomically.

How a Ray worker gets the model: ``clf`` may be a :class:`~xviz.Classifier` or a factory, a
callable with no arguments that returns one (``xviz.zoo.digits_cnn``, or a function of
yours that builds your model and loads its weights). A factory is what to give for models
that do not pickle: each worker calls it once (one model copy per worker). A Classifier is
sent by Ray's serialiser. Either way each worker's model must have the fingerprint of the
driver's (its weights and preprocessing), or the run stops: a worker with other weights
would write a store that mixes two models.
"""
from __future__ import annotations

import logging
import os

import torch

from ..core.checks import checked_int
from ..core.classifier import Classifier
from ..core.progress import progress as progress_bar
from . import sources
from .sources import Item, batches, decode_array, encode_array
from .store import Lock, Store, open_for_writing, rows_table, write_part
from .work import TARGETS, explain_batch, method_specs, metric_settings

ENGINES = (None, "ray")


def explain(clf, images, methods=("gradcam",), store=None, *, labels=None, target="prediction", metrics=True,
            batch_size=16, engine=None, workers=1, address=None, device=None, thumbnail=64, progress=True):
    """Explain every image of a dataset with one or more methods into a store.

    Parameters
    ----------
    clf : xviz.Classifier or callable
        The model, or a factory (no arguments) that returns it: a Ray worker calls the
        factory once (needed for a model that cannot be pickled).
    images : folder, list of images or paths, ImageSet, torch Dataset or DataLoader
        See :func:`xviz.dataset.sources.stream`; a folder of class subfolders gives labels.
    methods : list
        Method names (``"gradcam"``, ``"ig"``, ``"rise"``, ``"igos"``, ``"igos++"``,
        ``"sag"``) or ``(name, settings)`` pairs, e.g. ``("rise", {"n_masks": 1000})``.
    store : str or pathlib.Path
        The store's folder: made if new; if it exists, the run goes on where it stopped
        (images done are skipped) and must have the same model, methods, settings and
        metrics, and the same images under the same keys.
    labels : list, optional
        True labels, one per image, for a list of images or paths.
    target : {"prediction", "label"}
        Which class each image is explained for: the model's top-1, or the true label.
    metrics : bool or dict
        Deletion and insertion AUCs of each heatmap (:func:`xviz.metrics.curves`);
        a dict sets ``baseline`` ("blur") and ``grid`` (28, at most the input side).
    batch_size : int
        Images per batch: per batched method call, and per part of the store.
    engine : None or "ray"
        None: in this process. ``"ray"``: on Ray Data (``pip install -e ".[ray]"``),
        ``map_batches`` with one actor per worker, each with its own model copy and, where
        the cluster has GPUs, one GPU.
    workers : int
        Ray actors (``engine="ray"``).
    address : str, optional
        A Ray cluster's address; by default a local Ray is started (and stopped after).
    device : str, optional
        Where the model runs (``"cuda"``, ``"cpu"``); by default the classifier's own
        device in this process, and a GPU per Ray worker where the cluster has GPUs.
    thumbnail : int
        Side in pixels of each row's heatmap thumbnail (0: none), for the Gallery.
    progress : bool
        A progress bar over the images.

    Returns
    -------
    xviz.dataset.Store
        The store, to query (``store.to_pandas()``), read results from, or browse
        (:class:`xviz.Gallery`).

    Examples
    --------
    >>> import tempfile, xviz
    >>> from xviz import dataset
    >>> clf = xviz.zoo.digits_cnn()
    >>> d = xviz.zoo.digits("test")
    >>> store = dataset.explain(clf, (d.images[:6], d.labels[:6]), ["gradcam", ("rise", {"n_masks": 200})],
    ...                         store=tempfile.mkdtemp() + "/digits", metrics={"grid": 8}, progress=False)
    >>> df = store.to_pandas()
    >>> len(df), sorted(set(df.method)), bool(df.deletion_auc.notna().all())
    (12, ['gradcam', 'rise'], True)
    """
    if store is None:
        raise ValueError("give store=: the folder the explanations are written to")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; accepted: None (in this process) or 'ray'")
    if target not in TARGETS:
        raise ValueError(f"target must be 'prediction' or 'label', got {target!r}")
    batch_size = checked_int(batch_size, "batch_size", 1)
    workers = checked_int(workers, "workers", 1)
    thumbnail = checked_int(thumbnail, "thumbnail (pixels)", 0, maximum=1024)
    ray = _ray() if engine == "ray" else None  # a missing extra is said before any work
    model = clf() if not isinstance(clf, Classifier) and callable(clf) else clf
    if not isinstance(model, Classifier):
        raise ValueError(f"clf must be an xviz.Classifier or a callable that returns one, got {type(model).__name__}")
    started = ray is not None and _started(ray, address)
    try:
        where = _worker_device(ray, device) if ray else (torch.device(device) if device else model.device)
        fields = _fields(model, methods, where, metrics, target, thumbnail)
        items, count, what = sources.stream(images, labels)
        out = open_for_writing(store, {**fields, "images": what})
        job = (fields["methods"], fields["metrics"], target, thumbnail)
        with Lock(out.path):
            bar = progress_bar(None, total=count, desc="explaining", enabled=progress) if progress else None
            try:
                pending = _pending(items, out.done(), bar)
                if ray is None:
                    _run_here(_on_device(model, device), pending, job, out, batch_size, bar)
                else:
                    _run_ray(ray, clf, fields["fingerprint"], pending, job, out, batch_size, workers, where, bar)
            finally:
                if bar is not None:
                    bar.close()
    finally:
        if started:
            ray.shutdown()
    return Store(out.path, model)


def _fields(model, methods, device, metrics, target, thumbnail):
    """What the manifest records of a run (and a run on an existing store must match)."""
    fields = {"model": model.name, "fingerprint": model.fingerprint(), "size": list(model.size),
              "labels": model.labels, "methods": method_specs(methods, device),
              "metrics": metric_settings(metrics, model.size), "target": target, "thumbnail": thumbnail}
    _check_grid(fields["metrics"], model.size)
    return fields


def _check_grid(chosen, size):
    if chosen is not None:
        grid = chosen["grid"]
        if not isinstance(grid, int) or isinstance(grid, bool) or not 1 <= grid <= min(size):
            raise ValueError(f"the metric grid must be an int in 1..{min(size)} (the input side), got {grid!r}")


def _pending(items, done, bar):
    """The items not in the store yet; an image the store holds under the same key with
    other contents stops the run (another image set)."""
    for item in items:
        if item.id in done:
            if done[item.id] != item.hash:
                raise ValueError(f"image '{item.id}' differs from the image the store holds under that key: this is "
                                 f"another image set; give another store path")
            if bar is not None:
                bar.update(1)
            continue
        yield item


def _on_device(clf, device):
    """The classifier itself, or a new one on ``device`` around the same model and settings
    (the model is moved there only while it runs, as always; the caller's is left as it is)."""
    if device is None or torch.device(device) == clf.device:
        return clf
    mean, std = clf.mean.flatten().tolist(), clf.std.flatten().tolist()
    if clf.channels == 1:
        mean, std = mean[0], std[0]
    return Classifier(clf.model, mean=mean, std=std, size=clf.size, labels=clf._names, device=device,
                      chunk_size=clf.chunk_size, name=clf.name, channels=clf.channels)


def _run_here(clf, pending, job, store, batch_size, bar):
    specs, metrics, target, thumbnail = job
    for batch in batches(pending, batch_size):
        rows = explain_batch(clf, batch, specs, metrics, target, thumbnail)
        write_part(store, rows_table(rows, clf.size, store.id))
        if bar is not None:
            bar.update(len(batch))


# -- Ray ---------------------------------------------------------------------------------------
def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ImportError("engine='ray' needs Ray Data, an extra of xviz: pip install -e \".[ray]\" "
                          "(or pip install \"ray[data]\")") from None
    return ray


def _started(ray, address):
    """Start Ray if it is not running: on ``address``, or locally (no dashboard). Returns
    whether it was started here (and is then stopped at the end)."""
    if ray.is_initialized():
        return False
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}  # workers import the same xviz
    if address is None:
        # Ray runs its workers at nice 15 so that its own services stay responsive; here the
        # workers do all the work, and beside any other busy process they starved (a 10-image
        # run took 233 s instead of 27 s next to two busy loops). Read when Ray starts.
        os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(address=address, include_dashboard=False, runtime_env={"env_vars": env}, log_to_driver=False,
             configure_logging=False)
    return True


def _worker_device(ray, device):
    """Where each Ray worker's model runs: ``device``, else a GPU where the cluster has GPUs."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if ray.cluster_resources().get("GPU", 0) else "cpu")


def _record(item):
    """An item as a plain row for Ray Data: the image as .npy bytes when held, else its path."""
    return {"index": item.index, "id": item.id, "path": item.path, "label": None if item.label is None else
            str(item.label), "label_is_int": isinstance(item.label, int), "hash": item.hash,
            "image": None if item.image is None else encode_array(item.image), "error": item.error}


def _item(record):
    label = record["label"]
    if label is not None and record["label_is_int"]:
        label = int(label)
    image = None if record["image"] is None else decode_array(record["image"])
    return Item(record["index"], record["id"], record["path"], label, record["hash"], image, record["error"])


class Worker:
    """A Ray Data actor: builds its model once, then explains batches into store rows."""

    def __init__(self, factory, fingerprint, job, device, store_id, threads):
        torch.set_num_threads(threads)  # one actor per CPU it holds: no oversubscription
        clf = factory() if not isinstance(factory, Classifier) else factory
        self.clf = _on_device(clf, device)
        if self.clf.fingerprint() != fingerprint:
            raise RuntimeError(f"the worker's model ({self.clf.name}) has other weights than the driver's: a factory "
                               f"must build the same model every time")
        self.job, self.store_id = job, store_id

    def __call__(self, batch):
        specs, metrics, target, thumbnail = self.job
        rows = explain_batch(self.clf, [_item(r) for r in batch.to_pylist()], specs, metrics, target, thumbnail)
        return rows_table(rows, self.clf.size, self.store_id)


def _run_ray(ray, clf, fingerprint, pending, job, store, batch_size, workers, device, bar):
    records = [_record(item) for item in pending]
    if not records:
        return
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours counts the images
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # not a line per execution in a notebook
    gpu = device.type == "cuda"
    cpus = int(ray.cluster_resources().get("CPU", 1))
    # the CPUs of one actor: a share of the cluster's, but no more than one node has
    node = max([int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")] or [1])
    threads = 1 if gpu else max(1, min(cpus // workers, node))
    data = ray.data.from_items(records, override_num_blocks=max(1, -(-len(records) // batch_size)))
    done = data.map_batches(Worker, batch_size=batch_size, batch_format="pyarrow",
                            compute=ray.data.ActorPoolStrategy(size=workers),
                            num_gpus=1 if gpu else 0, num_cpus=1 if gpu else threads,
                            fn_constructor_kwargs={"factory": clf, "fingerprint": fingerprint, "job": job,
                                                   "device": device, "store_id": store.id, "threads": threads})
    for table in done.iter_batches(batch_size=None, batch_format="pyarrow"):
        write_part(store, table.replace_schema_metadata({"xviz.store": store.id}))
        if bar is not None:
            bar.update(len(set(table.column("image_id").to_pylist())))
