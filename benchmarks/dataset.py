"""Explaining a dataset: images per second in this process and on Ray (1 and 2 workers), and
memory over a long run (no growth per image).

Run:  python benchmarks/dataset.py                    (CPU; a few minutes on 2 cores)
      python benchmarks/dataset.py --device cuda --quick   (one GPU; about a minute)

Throughput rows: Grad-CAM with deletion and insertion (the store's default metrics) over
the bundled digits test set with the digits CNN, and over copies of the bundled photos
with EfficientNet-Lite0, written to a store in a temporary folder. Each engine row times
the whole ``dataset.explain`` call, store writes included; the Ray rows start Ray first
(``ray.init`` is not timed; the actors' start and model copies are, once per run). On a
GPU machine each Ray worker holds one GPU (a single GPU gives one worker, so the 2-worker
row is left out there).

Memory row: a long in-process run (``--long`` images, the digits recycled under new keys),
the resident memory sampled after every part; the slope of a line fitted to the samples
after the first tenth (bytes per image) says whether memory grows with the images. A flat
run has a slope near 0 and its last sample near its first.

Results print as a table and go to benchmarks/results/dataset_<device>.json.
"""
import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import torch

import xviz
from xviz import dataset

HERE = Path(__file__).resolve().parent


def digits(n):
    data = xviz.zoo.digits("all")
    reps = -(-n // len(data.labels))
    return np.concatenate([data.images] * reps)[:n], np.concatenate([data.labels] * reps)[:n]


def photos(n):
    names = ["chelsea", "coffee", "astronaut", "rocket", "motorcycle", "camera"]
    rng = np.random.default_rng(0)
    # each copy a little different, as a dataset's images are (a crop and a flip)
    out = []
    for i in range(n):
        im = xviz.zoo.image(names[i % len(names)])
        top, left = rng.integers(0, 20, 2)
        im = im[top:im.shape[0] - 20 + top, left:im.shape[1] - 20 + left]
        out.append(im[:, ::-1].copy() if i % 2 else im)
    return out


def timed(run):
    start = time.perf_counter()
    store = run()
    return time.perf_counter() - start, store


def throughput(name, factory, images, device, engines, batch_size, folder):
    rows = []
    for engine, workers in engines:
        label = "in-process" if engine is None else f"ray, {workers} worker{'s' if workers > 1 else ''}"
        seconds, store = timed(lambda: dataset.explain(
            factory if engine else factory(), images, ["gradcam"], store=folder / f"{name}-{label}", engine=engine,
            workers=workers, device=device if engine else None, batch_size=batch_size, progress=False))
        n = len(store)
        rows.append({"model": name, "engine": label, "images": n, "seconds": seconds, "images_per_s": n / seconds,
                     "failed": int(store.to_pandas().error.notna().sum())})
        print(f"  {name:20s} {label:18s} {n:5d} images {seconds:7.1f} s {n / seconds:8.1f} img/s", flush=True)
    return rows


def memory(n, device, folder, batch_size):
    """RSS after every part of a long in-process run: (images done, bytes) samples."""
    process, samples, stop = psutil.Process(), [], threading.Event()
    parts = folder / "long" / "parts"

    def watch():
        seen = 0
        while not stop.is_set():
            count = len(list(parts.glob("part-*.parquet"))) if parts.is_dir() else 0
            if count != seen:
                seen = count
                samples.append((count * batch_size, process.memory_info().rss))
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    clf = xviz.zoo.digits_cnn(device=device)
    images, labels = digits(n)
    seconds, _ = timed(lambda: dataset.explain(clf, (images, labels), ["gradcam"], store=folder / "long",
                                                batch_size=batch_size, progress=False))
    stop.set()
    thread.join()
    done = np.array([s[0] for s in samples], float)
    rss = np.array([s[1] for s in samples], float)
    after = done >= 0.1 * n
    slope = float(np.polyfit(done[after], rss[after], 1)[0]) if after.sum() > 2 else float("nan")
    row = {"images": n, "seconds": seconds, "samples": len(samples), "rss_first_mb": rss[after][0] / 2**20,
           "rss_last_mb": rss[-1] / 2**20, "rss_max_mb": rss.max() / 2**20, "slope_bytes_per_image": slope}
    print(f"  memory over {n} images: RSS {row['rss_first_mb']:.0f} MB after the first tenth, "
          f"{row['rss_last_mb']:.0f} MB at the end (max {row['rss_max_mb']:.0f}); slope {slope:.0f} bytes per image",
          flush=True)
    return row


def table(result):
    lines = ["| model | engine | images | seconds | images/s |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['engine']} | {r['images']} | {r['seconds']:.1f} | {r['images_per_s']:.1f} |"
              for r in result["throughput"]]
    m = result["memory"]
    lines += ["", f"Memory, {m['images']} images in process: RSS {m['rss_first_mb']:.0f} MB after the first tenth, "
                  f"{m['rss_last_mb']:.0f} MB at the end, max {m['rss_max_mb']:.0f} MB; fitted growth "
                  f"{m['slope_bytes_per_image']:.0f} bytes per image."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer images (a smoke run; the GPU check)")
    parser.add_argument("--digits", type=int, default=None, help="digits per throughput row")
    parser.add_argument("--photos", type=int, default=None, help="photos per EfficientNet row (0: none)")
    parser.add_argument("--long", type=int, default=None, help="images of the memory run")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    gpu = torch.device(args.device).type == "cuda"
    n_digits = args.digits or (512 if gpu else 96) // (2 if args.quick and not gpu else 1)
    n_photos = args.photos if args.photos is not None else (64 if gpu else 12) // (2 if args.quick and not gpu else 1)
    n_long = args.long or (2000 if gpu else 600) // (2 if args.quick else 1)
    try:
        import ray
    except ImportError:
        ray = None
        print("  Ray is not installed here: the Ray rows are left out (pip install -e '.[ray]')")
    engines = [(None, 1)]
    if ray is not None:
        ray.init(num_cpus=os.cpu_count(), num_gpus=torch.cuda.device_count() if gpu else 0, include_dashboard=False,
                 log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}})
        engines += [("ray", 1)] + ([("ray", 2)] if not gpu or torch.cuda.device_count() > 1 else [])
    rows, load = [], os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows += throughput("digits CNN", lambda: xviz.zoo.digits_cnn(device=args.device), digits(n_digits),
                           args.device, engines, 64 if gpu else 16, folder)
        if n_photos:
            rows += throughput("EfficientNet-Lite0", lambda: xviz.zoo.efficientnet_lite0(device=args.device),
                               photos(n_photos), args.device, engines, 32 if gpu else 4, folder)
        if ray is not None:
            ray.shutdown()
        mem = memory(n_long, args.device, folder, 64 if gpu else 16)
    name = torch.cuda.get_device_name(0) if gpu else platform.processor() or platform.machine()
    result = {"device": args.device, "hardware": name, "cpus": os.cpu_count(), "torch": torch.__version__,
              "ray": None if ray is None else ray.__version__, "quick": args.quick, "throughput": rows, "memory": mem,
              "load_average": [load, os.getloadavg()[0]],  # other work on the machine (start, end)
              "note": "gradcam + deletion/insertion (grid 28, blur), store writes included; Ray rows exclude ray.init"}
    print(table(result))
    print(f"load average (1 min) at the start {load:.1f}, at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    out = Path(args.json) if args.json else HERE / "results" / f"dataset_{'gpu' if gpu else 'cpu'}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print("wrote", out)


if __name__ == "__main__":
    main()
