"""A dataset's Gallery in a marimo notebook: `marimo edit notebooks/marimo_gallery.py`.

A click on a thumbnail goes to the kernel, which opens that image's HeatmapView under the
grid. `tests/browser/test_marimo_gallery.py` drives this notebook.
"""
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full")


@app.cell
def _():
    import tempfile

    import xviz
    from xviz import dataset

    digits = xviz.zoo.digits("test")
    store = dataset.explain(xviz.zoo.digits_cnn(device="cpu"), (digits.images[:8], digits.labels[:8]),
                            ["gradcam", "ig"], store=tempfile.mkdtemp() + "/digits", metrics={"grid": 8},
                            progress=False)
    return store, xviz


@app.cell
def _(store, xviz):
    # The store's model came with it: the opened HeatmapView has deletion and insertion curves.
    gallery = xviz.Gallery(store, columns=4, per_page=8)
    gallery
    return


if __name__ == "__main__":
    app.run()
