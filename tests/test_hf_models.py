"""Every method and view with its defaults on transformers' ViT, DeiT, Swin, ConvNeXt and
ResNet (tiny configs, random weights, no download), and on timm's where timm imports.

The layer-based methods must read the layer the issue names for each (a ViT's last block's
normalised input, Swin's and ConvNeXt's last stage), in its layout, and show both. The
methods that only score images (integrated gradients, RISE, I-GOS, iGOS++) read the logits
from the model's output like any other model: they run on the ViT, with the views.
"""
import html

import numpy as np
import pytest
from tiny_models import SIZE, hf, one_thread

import xviz

pytest.importorskip("transformers", reason="the transformers models need the models extra: pip install -e '.[models]'")

# The automatic layer of each and its layout: 4 x 4 grids on 32 x 32 images.
EXPECTED = {
    "vit": ("vit.layers.1.layernorm_before", "NLC 1+4x4"),      # class token first
    "deit": ("deit.layers.1.layernorm_before", "NLC 2+4x4"),    # class and distillation tokens
    "swin": ("swin.encoder.layers.1", "NLC 4x4"),               # the last stage, after a patch merging
    "convnext": ("convnext.encoder.stages.1", "NCHW 4x4"),      # channels last inside its blocks
    "resnet": ("resnet.encoder.stages.1", "NCHW 4x4"),
}


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def models():
    import torch

    torch.manual_seed(0)
    return {kind: xviz.Classifier(hf(kind), mean=0.5, std=0.5, size=SIZE, labels=["a", "b", "c"], device="cpu")
            for kind in EXPECTED}


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [rng.random((SIZE, SIZE, 3)).astype(np.float32) for _ in range(10)]


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_the_automatic_layer_and_its_layout(models, images, kind):
    sal = xviz.gradcam(models[kind], images[0])
    assert (sal.settings["layer"], sal.settings["layout"]) == EXPECTED[kind]
    assert sal.raw.shape == (4, 4) and sal.mask.shape == (SIZE, SIZE)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_every_layer_based_method_and_view_runs_with_its_defaults(models, images, kind):
    clf, (layer, layout) = models[kind], EXPECTED[kind]
    shown = html.escape(f"layer {layer} ({layout})")
    sal = xviz.gradcam(clf, images[0])
    assert shown in xviz.HeatmapView(sal).to_html()
    lay = xviz.layers.explain(clf, images[0], progress=False)
    assert lay.settings["layouts"][layer] == layout and lay[layer].shape[1:] == (4, 4)
    explorer = xviz.LayerExplorer(lay)
    explorer.layer = layer
    assert f"read as {layout}" in explorer.layer_info.text
    concepts = xviz.xnn.fit(clf, images, classes=[0, 1, 2], n_concepts=2, epochs=20, progress=False)
    assert (concepts.layer, concepts.settings["layout"]) == (layer, layout)
    assert concepts.explain(images[0]).heatmaps.shape == (1, 2, SIZE, SIZE)
    assert f"read as {layout}" in xviz.ConceptBoard(concepts).to_html()
    summary = xviz.summaries.fit(clf, images[:3], target=0, smooth_iterations=10, sharp_iterations=5, progress=False)
    assert (summary.settings["layer"], summary.settings["layout"]) == (layer, layout)
    assert shown in xviz.SummaryView(summary).to_html()


def test_every_other_heatmap_method_and_the_report_on_a_vit(models, images, tmp_path):
    clf = models["vit"]
    results = [xviz.gradcam(clf, images[0]), xviz.integrated_gradients(clf, images[0]),
               xviz.rise(clf, images[0], progress=False), xviz.igos(clf, images[0], progress=False),
               xviz.igos_pp(clf, images[0], progress=False)]
    assert all(r.mask.shape == (SIZE, SIZE) for r in results)
    view = xviz.HeatmapView(results, clf=clf, grid=8)
    assert len(view.curves) == 5
    page = xviz.report(clf, images[0], results, tmp_path / "report.html").read_text()
    assert html.escape("layer vit.layers.1.layernorm_before (NLC 1+4x4)") in page
    lay = xviz.layers.explain(clf, images[:2], target=0, progress=False)
    for one, text in zip(lay, ("stripes", "a stripe")):
        one.label(0, 0, text)
    glob = xviz.layers.aggregate(lay, text_model="words")
    assert [g.label for g in glob.groups] == ["stripes"]
    assert xviz.GlobalLabelsView(glob).to_html().startswith("<!DOCTYPE html>")


# -- timm, where it imports (it needs a torchvision built for the installed torch) ------------------
def _timm():
    try:
        import timm
    except Exception as err:  # noqa: BLE001 - a torchvision for another torch fails in several ways
        pytest.skip(f"timm does not import here ({type(err).__name__}: {str(err)[:120]}); "
                    f"install timm with a torchvision that matches torch")
    return timm


TIMM = {
    # name, config, (acceptable automatic layers), layout
    "vit": ("vit_tiny_patch16_224", dict(img_size=SIZE, patch_size=8, embed_dim=32, depth=2, num_heads=2),
            ("blocks.1.norm1",), "NLC 1+4x4"),
    "swin": ("swin_tiny_patch4_window7_224", dict(img_size=SIZE, window_size=4, embed_dim=16, depths=(1, 1),
                                                  num_heads=(2, 2)), ("layers", "layers.1"), "NHWC 4x4"),
    "convnext": ("convnext_atto", dict(dims=(8, 16), depths=(1, 1)), ("stages", "stages.1"), "NCHW 2x2"),
}


@pytest.mark.parametrize("kind", list(TIMM))
def test_timm_models(images, kind):
    timm = _timm()
    name, config, layers, layout = TIMM[kind]
    model = timm.create_model(name, pretrained=False, num_classes=3, **config)
    clf = xviz.Classifier(model, mean=0.5, std=0.5, size=SIZE, device="cpu")
    sal = xviz.gradcam(clf, images[0])
    assert sal.settings["layer"] in layers and sal.settings["layout"] == layout
    lay = xviz.layers.explain(clf, images[0], progress=False)
    assert lay.settings["layouts"]
    assert xviz.xnn.fit(clf, images, classes=[0, 1, 2], n_concepts=2, epochs=5, progress=False).layer in layers
