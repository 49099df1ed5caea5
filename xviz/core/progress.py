"""Progress bars on long work."""


def progress(iterable, total=None, desc=None, enabled=True):
    """A tqdm.auto progress bar (a notebook widget in Jupyter, text in a shell), or none."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)
