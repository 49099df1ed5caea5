"""Checks of arguments at the door: a clear error that names the argument, not a failure deep
inside a loop after minutes."""
import math
import numbers

import numpy as np


def is_int(value):
    """An int (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value):
    """A real number (Python or numpy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def checked_int(value, name, minimum, none=None, maximum=None):
    """``value`` as a Python int of at least ``minimum`` (None: any int), or a clear ValueError.

    Numpy integers pass (and come back as ``int``, so settings stay JSON-safe); bools,
    floats and strings do not: ``2.0`` beams would fail deep in a loop, after minutes.
    ``none``: the meaning of None where None is allowed (it then passes), e.g. "no limit";
    ``maximum``: where more would be a mistake (a width of a million pixels).

    Examples
    --------
    >>> checked_int(np.int64(3), "q", 1), checked_int(None, "max_nodes", 1, none="no limit")
    (3, None)
    >>> checked_int(2.0, "beam_width", 1)
    Traceback (most recent call last):
    ...
    ValueError: beam_width must be an int, got 2.0
    """
    if value is None and none:
        return None
    if not is_int(value):
        raise ValueError(f"{name} must be an int{', or None for ' + none if none else ''}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}{', or None for ' + none if none else ''}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value!r}")
    return int(value)


SEEDS = 2**32  # numpy's and scikit-learn's seeds are below this; torch takes them too


def checked_seed(value, name="seed"):
    """A random seed: an int in 0..2**32 - 1 (every library xviz seeds takes those; 2**70
    failed deep inside numpy).

    Examples
    --------
    >>> checked_seed(7)
    7
    >>> checked_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed must be an int in 0..4294967295, got -1
    """
    if not is_int(value) or not 0 <= value < SEEDS:
        raise ValueError(f"{name} must be an int in 0..{SEEDS - 1}, got {value!r}")
    return int(value)


def checked_float(value, name, minimum=None, above=None):
    """``value`` as a finite Python float of at least ``minimum`` / more than ``above``, or a
    ValueError naming it (bools, strings and NaN are refused).

    Examples
    --------
    >>> checked_float(np.float32(0.5), "p", above=0)
    0.5
    """
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    if above is not None and value <= above:
        raise ValueError(f"{name} must be more than {above}, got {value!r}")
    return float(value)


def merged(defaults, overrides):
    """``defaults`` updated by the caller's ``overrides``; a name that is no setting is refused,
    listing the accepted ones (a typo would otherwise be ignored silently).

    Examples
    --------
    >>> merged({"steps": 8, "l1": 1.0}, {"l1": 2.0})
    {'steps': 8, 'l1': 2.0}
    >>> merged({"steps": 8}, {"stpes": 4})
    Traceback (most recent call last):
    ...
    ValueError: unknown setting(s) stpes; accepted: steps
    """
    unknown = set(overrides) - set(defaults)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(sorted(unknown))}; accepted: {', '.join(sorted(defaults))}")
    return {**defaults, **overrides}


def preset_settings(presets, preset, device, common, overrides):
    """(preset, settings): the named preset's settings over ``common``, then the caller's.

    ``"auto"`` is ``"paper"`` (the paper's settings) on CUDA and ``"fast"`` elsewhere.

    Examples
    --------
    >>> presets = {"paper": {"steps": 20}, "fast": {"steps": 8}}
    >>> preset_settings(presets, "auto", "cpu", {"l1": 1.0}, {"l1": 2.0})
    ('fast', {'l1': 2.0, 'steps': 8})
    """
    if isinstance(preset, str) and preset == "auto":
        preset = "paper" if getattr(device, "type", str(device)) == "cuda" else "fast"
    if not isinstance(preset, str) or preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose 'auto', {', '.join(map(repr, presets))}")
    return preset, merged({**common, **presets[preset]}, overrides)
