"""xviz views in a marimo notebook: `marimo edit notebooks/marimo_views.py` (or `marimo run`).

A view that ends a cell shows itself, live: its Python callbacks run in the kernel (here the
SAGExplorer scores the regions you toggle). `tests/browser/test_marimo.py` drives this notebook.
"""
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full")


@app.cell
def _():
    import xviz

    clf = xviz.zoo.digits_cnn(device="cpu")
    img = xviz.zoo.image("digit-3")
    return clf, img, xviz


@app.cell
def _(clf, img, xviz):
    # Heatmaps with their deletion and insertion curves: xviz.show picks the view.
    xviz.show([xviz.gradcam(clf, img), xviz.integrated_gradients(clf, img)], clf=clf, grid=8)
    return


@app.cell
def _(clf, img, xviz):
    # A structured attention graph; with clf= the kernel scores every subset you click.
    g = xviz.sag(clf, img, grid=4, progress=False)
    explorer = xviz.SAGExplorer(g, clf=clf)
    explorer
    return


if __name__ == "__main__":
    app.run()
