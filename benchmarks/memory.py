"""Peak memory of explaining a very large photo, above what the model itself costs.

Run:  python benchmarks/memory.py                 (about a minute on 2 CPU cores)
      python benchmarks/memory.py --side 6000 --json out.json

Each case runs in a fresh Python process and reports its peak resident memory (VmHWM):
- "model": EfficientNet-Lite0 loaded, and Grad-CAM of the 451 x 300 chelsea photo (the
  model's own cost: weights, activations, torch's allocator);
- "jpeg file": Grad-CAM of a SIDE x SIDE JPEG given by its path;
- "png file": the same photo as a PNG (PIL decodes it whole: no draft mode for PNG);
- "uint8 array": the same photo as an H x W x 3 uint8 numpy array made in the process (its
  own bytes, SIDE * SIDE * 3, are listed, and subtracted in "above model"; the peak is
  counted from after it was made, /proc/self/clear_refs);
- "float array": the same as float32 in [0, 1] (four times the bytes; subtracted likewise).
"Above model" is the case's peak minus the model's, minus the array the user holds. Before
images were reduced while read (xviz 0.1), a 10000 x 10000 photo peaked at about 2.7 GB.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CASE = r"""
import sys
import numpy as np
import xviz
side, kind, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3]
clf = xviz.zoo.efficientnet_lite0(device="cpu")
held = 0
if kind == "model":
    image = xviz.zoo.image("chelsea")
elif kind in ("jpeg file", "png file"):
    image = f"{folder}/big.{'jpg' if kind == 'jpeg file' else 'png'}"
else:
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = None
    image = np.asarray(Image.open(f"{folder}/big.png").convert("RGB"))
    if kind == "float array":
        image = image.astype(np.float32) / 255
    held = image.nbytes
    del Image
open("/proc/self/clear_refs", "w").write("5")  # the peak from here on: making the array is not xviz's cost
sal = xviz.gradcam(clf, image)
# VmHWM: this process's peak (ru_maxrss would carry the parent's peak over exec)
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(peak, held, sal.label)
"""
KINDS = ["model", "jpeg file", "png file", "uint8 array", "float array"]


def make_photo(folder, side):
    """A SIDE x SIDE photo: chelsea tiled, with noise so that it does not compress to nothing."""
    import numpy as np
    from PIL import Image

    import xviz

    Image.MAX_IMAGE_PIXELS = None
    tile = (xviz.zoo.image("chelsea") * 255).astype(np.uint8)
    reps = (-(-side // tile.shape[0]), -(-side // tile.shape[1]), 1)
    big = np.tile(tile, reps)[:side, :side]
    noise = np.random.default_rng(0).integers(-8, 9, big.shape, dtype=np.int8)
    big = np.clip(big.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(big).save(folder / "big.jpg", quality=90)
    Image.fromarray(big).save(folder / "big.png", compress_level=1)


def run(side):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        make_photo(Path(tmp), side)
        for kind in KINDS:
            out = subprocess.run([sys.executable, "-W", "ignore", "-c", CASE, str(side), kind, tmp],
                                 capture_output=True, text=True, check=True)
            peak, held, label = out.stdout.split(maxsplit=2)
            rows.append({"case": kind, "peak_mb": int(peak) / 2**20, "held_mb": int(held) / 2**20,
                         "label": label.strip()})
    model = rows[0]["peak_mb"]
    for r in rows:
        r["above_model_mb"] = r["peak_mb"] - model - r["held_mb"]
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=10000, help="the photo's side in pixels")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    rows = run(args.side)
    print(f"Grad-CAM of a {args.side} x {args.side} photo, EfficientNet-Lite0 on the CPU; peak resident memory")
    print(f"{'case':<12} {'peak MB':>8} {'held MB':>8} {'above model MB':>15}  label")
    for r in rows:
        print(f"{r['case']:<12} {r['peak_mb']:8.0f} {r['held_mb']:8.0f} {r['above_model_mb']:15.0f}  {r['label']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"side": args.side, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
