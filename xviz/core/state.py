"""The user's model, used and given back as it was: eval mode, no parameter gradients, hooks
and devices restored even on error."""
import contextlib

import torch

_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


@contextlib.contextmanager
def preserved(model, device=None):
    """Use ``model`` in eval mode without parameter gradients, then restore it.

    On exit, also after an exception, every submodule's training flag, every parameter's
    ``requires_grad``, the device of every parameter and buffer, and the hook dictionaries
    (so hooks added inside are gone and the user's own hooks stay) are as they were.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2)).train()
    >>> with preserved(net):
    ...     net.training
    False
    >>> net.training
    True
    """
    modules = list(model.modules())
    training = [m.training for m in modules]
    hooks = [{name: dict(getattr(m, name)) for name in _HOOK_DICTS if hasattr(m, name)} for m in modules]
    params = list(model.parameters())
    grad_flags = [p.requires_grad for p in params]
    tensors = params + list(model.buffers())
    devices = [t.device for t in tensors]
    try:
        model.eval()
        for p in params:
            p.requires_grad_(False)
        if device is not None and any(d != torch.device(device) for d in devices):
            model.to(device)
        yield model
    finally:
        for m, flag, saved in zip(modules, training, hooks):
            m.training = flag
            for name, entries in saved.items():
                live = getattr(m, name)
                live.clear()  # the same dict object: RemovableHandles keep pointing at it
                live.update(entries)
        for p, flag in zip(params, grad_flags):
            p.requires_grad_(flag)
        for t, dev in zip(tensors, devices):
            if t.device != dev:
                t.data = t.data.to(dev)


def default_device():
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
