"""The GPU figures the issues ask for, in one short run: ResNet-50-sized and bundled models on CUDA.

Run:  python benchmarks/gpu.py --json gpu.json       (on a machine with CUDA; a few minutes)
      python benchmarks/gpu.py --quick               (a smoke run of every row with tiny settings, CPU too)

No ResNet-50 weights can be downloaded here and torchvision is not a dependency, so the
ResNet-50 below is written out (the standard bottleneck layout, 25.6 M parameters) with
seeded random weights whose BatchNorm statistics are estimated on the bundled photos, so
activations have the scale of a trained network's. Its explanations mean nothing; their cost
is that of a real ResNet-50: the same passes through the same layers. The bundled
EfficientNet-Lite0 rows give the cost with a trained model whose search behaves as on the
CPU (the SAG's passes depend on the model's answers, so its rows say how many there were).

Each row: seconds, images through the model, and images per second; the forward and
forward+backward cost per image of each model are measured in the same run, and the SAG's
seconds are set against its passes at that cost (overhead = seconds / model seconds).
"""
import argparse

import torch
from heatmaps import PHOTOS, finish, measure, pass_costs, table  # this folder's heatmap benchmark
from torch import nn

import xviz


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


def resnet50(classes=1000):
    """ResNet-50 (He et al. 2016): stages of 3, 4, 6, 3 bottlenecks; 25.6 M parameters."""
    layers, cin = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                   nn.MaxPool2d(3, 2, 1)], 64
    for i, (blocks, width) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)]):
        stage = []
        for b in range(blocks):
            stage.append(Bottleneck(cin, width, 2 if b == 0 and i > 0 else 1))
            cin = width * 4
        layers.append(nn.Sequential(*stage))
    net = nn.Sequential(nn.Sequential(*layers), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))
    return net


def random_resnet50(device, seed=0):
    """A seeded ResNet-50 whose BatchNorm statistics come from crops of the bundled photos."""
    torch.manual_seed(seed)
    net = resnet50().to(memory_format=torch.channels_last)
    clf = xviz.Classifier(net, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), size=224,
                          labels=xviz.zoo.imagenet_labels(), device=device, name="ResNet-50 (random weights)",
                          chunk_size=64 if torch.device(device).type == "cuda" else 16)
    x, _ = clf.prepare([xviz.zoo.image(p) for p in PHOTOS])
    crops = torch.cat([x.flip(3), x, x.roll(32, 2), x.roll(-32, 3)])
    net.to(clf.device).train()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # a cumulative average over the calibration batches
    with torch.no_grad():
        for chunk in crops.to(clf.device).split(8):
            net((chunk - clf.mean) / clf.std)
    net.eval()
    return clf


def sag_target(clf, image):
    """The class a SAG explains here: top-1 for a trained model; for the random ResNet-50, whose
    answers are nearly flat, the class the photo raises most above a black image (the top-1
    is often as likely on black, and xviz.sag refuses a class the baseline alone keeps)."""
    if "random" not in clf.name:
        return None
    x, _ = clf.prepare(image)
    full, black = clf.probs(torch.cat([x, torch.zeros_like(x)]))
    return int(torch.argmax(torch.where(full >= 1e-4, full / black, torch.zeros_like(full))))


def timed(name, clf, run, images, costs):
    """One row: run() on the classifier for ``images`` images, its time, passes and overhead."""
    out, cost = measure(clf, run, costs)
    row = {"model": clf.name, "what": name, **cost, "images_per_second": images / cost["seconds"]}
    if hasattr(out, "diverse"):
        row["what"] += f" ({len(out.roots)} roots, {len(out.diverse)} diverse)"
    return row


def jobs(quick):
    """(name, function of a classifier, images) for every row; quick: tiny settings that only check the rows run."""
    img = xviz.zoo.image("chelsea")
    batch = [xviz.zoo.image(PHOTOS[i % len(PHOTOS)]) for i in range(4 if quick else 16)]
    crops = [img[i:i + 400, j:j + 400] for i in range(0, 60, 15) for j in range(0, 75, 15)][:3 if quick else 20]
    few = {"iterations": 1, "steps": 2} if quick else {}
    sag_quick = {"grid": 3, "q": 3, "max_nodes": 10} if quick else {}
    return [
        ("gradcam", lambda clf: xviz.gradcam(clf, img), 1),
        ("igos, paper preset", lambda clf: xviz.igos(clf, img, preset="paper", progress=False, **few), 1),
        ("igos++, paper preset", lambda clf: xviz.igos_pp(clf, img, preset="paper", progress=False, **few), 1),
        (f"igos++, paper preset, batch of {len(batch)}",
         lambda clf: xviz.igos_pp(clf, batch, preset="paper", progress=False, **few), len(batch)),
        ("sag, paper settings (no restart)",
         lambda clf: xviz.sag(clf, img, sag_target(clf, img), restarts=0, progress=False, **sag_quick), 1),
        ("sag, default (one restart)",
         lambda clf: xviz.sag(clf, img, sag_target(clf, img), progress=False, **sag_quick), 1),
        ("layers.explain, auto layers", lambda clf: xviz.layers.explain(clf, img, progress=False), 1),
        (f"summaries.fit, {len(crops)} images, paper preset",
         lambda clf: xviz.summaries.fit(clf, crops, preset="paper", progress=False,
                                        **({"smooth_iterations": 2, "sharp_iterations": 1} if quick else {})),
         len(crops)),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--quick", action="store_true", help="tiny settings: checks that every row runs")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    models = [random_resnet50(device), xviz.zoo.efficientnet_lite0(device=device)]
    rows, costs = [], {}
    for clf in models:
        costs[clf.name] = pass_costs(clf, n=4 if args.quick else 64)
        print(f"# {clf.name} on {clf.device}: forward {costs[clf.name][0] * 1e3:.2f} ms/image, "
              f"forward+backward {costs[clf.name][1] * 1e3:.2f} ms/image", flush=True)
        for name, run, images in jobs(args.quick):
            run(clf) if not args.quick and name == "gradcam" else None  # warm-up: cuDNN picks its kernels
            rows.append(timed(name, clf, lambda: run(clf), images, costs[clf.name]))
            print(table(rows[-1:], list(rows[-1])).splitlines()[-1], flush=True)
    finish(rows, args.json, device=device, costs=costs)


if __name__ == "__main__":
    main()
