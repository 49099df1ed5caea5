"""Grad-CAM (Selvaraju et al., ICCV 2017): class activation maps weighted by mean gradients."""
from ..hooks import find_layer
from .base import explain


def gradcam(clf, images, target=None, layer="auto"):
    """Grad-CAM heatmap of the ``target`` class.

    Each map of ``layer`` is weighted by the mean gradient of the target's logit over its
    positions; the weighted sum, rectified, is the heatmap at the layer's resolution.

    Parameters
    ----------
    clf : xviz.Classifier
    images : image or list of images
        Any form :func:`xviz.images.load_image` accepts; a list gives a list of results.
    target : int, str, list or None
        Class index or label; None explains each image's top-1 class.
    layer : str, torch.nn.Module or "auto"
        The convolutional layer; "auto" takes the last one with spatial maps.

    Returns
    -------
    Saliency or list of Saliency

    Examples
    --------
    >>> import xviz
    >>> clf = xviz.zoo.digits_cnn()
    >>> sal = xviz.gradcam(clf, xviz.zoo.image("digit-7"))
    >>> sal.label, sal.mask.shape, sal.lowres.shape
    ('7', (32, 32), (8, 8))
    """
    name, _ = find_layer(clf, layer)

    def compute(clf, x, targets):
        _, acts, grads = clf.layer_gradients(x, targets, name, output="logit")
        weights = grads.mean(dim=(2, 3), keepdim=True)
        return (weights * acts).sum(1).clamp_min(0)

    return explain(clf, images, target, compute, "gradcam", {"layer": name})
