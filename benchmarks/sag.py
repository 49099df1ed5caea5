"""Structured attention graphs on the bundled photos: time, model passes and where they go.

Run:  python benchmarks/sag.py                          (all photos at the paper's settings, minutes on 2 CPU cores)
      python benchmarks/sag.py --restarts 1               (xviz's default: one restart for diverse roots)
      python benchmarks/sag.py --photos chelsea --beam-width 5

The paper's settings are the defaults: a 7 x 7 grid, beam width 3, q 15, threshold 0.9, 2 I-GOS
iterations for the order. Passes are images through the model; they are split by phase:
``order`` (the I-GOS run, forward and backward), ``beam`` (the candidates), ``minimality``
(pruning roots), ``restarts`` (checks whether a restart can find anything) and ``graph``;
the beam and pruning passes of restarts count under ``beam`` and ``minimality``. ``rest`` is
the relative confidence of the image with the diverse roots' regions hidden, as the last
restart saw it (below the threshold: no other explanation avoids them). The forward cost per image, measured in the same run, says
how much of the time is the model.
"""
import argparse
import time

import torch
from heatmaps import PHOTOS, finish, pass_costs, table  # this folder's heatmap benchmark: same photos and table

import xviz

PHASES = ["order", "beam", "minimality", "restarts", "graph"]


def run_one(clf, photo, settings):
    start = time.perf_counter()
    g = xviz.sag(clf, xviz.zoo.image(photo), progress=False, **settings)
    seconds = time.perf_counter() - start
    split = {phase: g.history["passes"].get(phase, 0) for phase in PHASES}
    restarts = g.history["restarts"]
    return {"photo": photo, "label": g.label, "p_full": g.p_full, "seconds": seconds, "passes": g.passes, **split,
            "roots": len(g.roots), "diverse": len(g.diverse), "nodes": g.graph.number_of_nodes(),
            "steps": len(g.history["steps"]), "restarted": sum(bool(r["steps"]) for r in restarts),
            "rest": restarts[-1]["p_rest"] / g.p_full if restarts else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default=",".join(PHOTOS))
    parser.add_argument("--grid", type=int, default=7)
    parser.add_argument("--regions", default="grid", choices=["grid", "slic"])
    parser.add_argument("--beam-width", type=int, default=3)
    parser.add_argument("--q", type=int, default=15)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--restarts", type=int, default=0, help="0: the paper's single search (default here)")
    parser.add_argument("--baseline", default="black")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    settings = {"grid": args.grid, "regions": args.regions, "beam_width": args.beam_width, "q": args.q,
                "threshold": args.threshold, "restarts": args.restarts, "baseline": args.baseline}
    clf = xviz.zoo.efficientnet_lite0()
    costs = pass_costs(clf)
    print(f"# {clf.name} on {clf.device} ({torch.get_num_threads()} threads): forward {costs[0] * 1e3:.1f} ms/image,"
          f" forward+backward {costs[1] * 1e3:.1f} ms/image; {settings}\n")
    rows = []
    for photo in args.photos.split(","):
        rows.append(run_one(clf, photo, settings))
        print(table(rows[-1:], list(rows[-1])).splitlines()[-1], flush=True)
    finish(rows, args.json, costs=costs, settings=settings)


if __name__ == "__main__":
    main()
