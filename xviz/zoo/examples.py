"""Small results made once per process, for the examples in docstrings (seconds on a CPU)."""
import functools

from ..methods import summaries
from . import digits, digits_cnn


@functools.lru_cache(maxsize=1)
def digit_summary():
    """A visual summary of four test threes by the bundled digits CNN (made once, only read).

    Examples
    --------
    >>> digit_summary().images.shape[0]
    4
    """
    clf = digits_cnn(device="cpu")
    data = digits("test")
    threes = [im for im, y in zip(data.images, data.labels) if y == 3][:4]
    return summaries.fit(clf, threes, target="3", smooth_iterations=20, sharp_iterations=10, progress=False)
