"""Make docs/chelsea_igos_pp.png, the README's picture: a bundled photo, its Grad-CAM and its iGOS++ heatmap.

Run: python scripts/readme_figure.py
"""
from pathlib import Path

import numpy as np
from PIL import Image

import xviz
from xviz.views.plots import blend

OUT = Path(__file__).resolve().parents[1] / "docs" / "chelsea_igos_pp.png"


def main():
    clf = xviz.zoo.efficientnet_lite0()
    img = xviz.zoo.image("chelsea")
    results = [xviz.gradcam(clf, img), xviz.igos_pp(clf, img, progress=False)]  # iGOS++ is what `xviz demo` shows
    gap = np.ones((results[0].image.shape[0], 8, 3))
    panels = [results[0].image]
    for sal in results:
        panels += [gap, blend(sal.image, sal.mask)]
    Image.fromarray((np.concatenate(panels, axis=1) * 255).round().astype(np.uint8)).save(OUT)
    for sal, (d, i) in zip(results, xviz.metrics.curves(clf, results)):
        print(f"{sal.method}: deletion AUC {d.auc:.3f}, insertion AUC {i.auc:.3f}")
    print(OUT)


if __name__ == "__main__":
    main()
