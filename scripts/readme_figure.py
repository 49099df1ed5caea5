"""Make docs/chelsea_igos_pp.png, the README's picture: a bundled photo beside its iGOS++ heatmap.

Run: python scripts/readme_figure.py
"""
from pathlib import Path

import numpy as np
from PIL import Image

import xviz
from xviz.plots import blend

OUT = Path(__file__).resolve().parents[1] / "docs" / "chelsea_igos_pp.png"


def main():
    clf = xviz.zoo.efficientnet_lite0()
    sal = xviz.igos_pp(clf, xviz.zoo.image("chelsea"), progress=False)  # what `xviz demo` shows
    gap = np.ones((sal.image.shape[0], 8, 3))
    picture = np.concatenate([sal.image, gap, blend(sal.image, sal.mask)], axis=1)
    Image.fromarray((picture * 255).round().astype(np.uint8)).save(OUT)
    print(f"{OUT}: {sal.label} p={sal.score:.2f}")


if __name__ == "__main__":
    main()
