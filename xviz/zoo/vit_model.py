"""A small vision transformer for sklearn's 8x8 handwritten digits, trained by xviz.

The same task and inputs as the digits CNN (:mod:`xviz.zoo.digits_model`: 32 x 32 RGB
renderings, normalised with mean 0.5 and std 0.5), so that the two can be explained side by
side. The weights are made by ``scripts/train_digits_vit.py`` and shipped as a plain ``.npz``
file (no pickle).

Examples
--------
>>> import torch
>>> model = build_digits_vit()
>>> model(torch.zeros(2, 3, 32, 32)).shape
torch.Size([2, 10])
"""
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

WEIGHTS_PATH = Path(__file__).parent / "data" / "digits_vit.npz"
CONFIG = {"size": 32, "patch": 4, "dim": 48, "depth": 4, "heads": 3, "mlp": 96, "classes": 10}


class Attention(nn.Module):
    """Multi-head self-attention over the tokens (N x L x C)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, length, dim = x.shape
        q, k, v = self.qkv(x).view(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, length, dim))


class Block(nn.Module):
    """A pre-norm transformer block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """A ViT as in Dosovitskiy et al. (ICLR 2021), small: patch embedding (a strided
    convolution), a class token and learned position embeddings, ``depth`` pre-norm blocks,
    a final LayerNorm, and a linear head on the class token.

    Input is N x 3 x size x size, output N x classes logits. The blocks give tokens
    N x (1 + (size / patch)^2) x dim: the class token first, then the patch grid row by row.

    Examples
    --------
    >>> TinyViT(size=16, patch=4, dim=8, depth=1, heads=2, mlp=16, classes=3)(torch.zeros(1, 3, 16, 16)).shape
    torch.Size([1, 3])
    """

    def __init__(self, size=32, patch=4, dim=48, depth=4, heads=3, mlp=96, classes=10):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (size // patch) ** 2, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], 1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def build_digits_vit(pretrained=True):
    """The digits :class:`TinyViT` in eval mode, with the bundled weights unless ``pretrained=False``.

    Examples
    --------
    >>> build_digits_vit().training
    False
    """
    model = TinyViT(**CONFIG)
    if pretrained:
        with np.load(WEIGHTS_PATH, allow_pickle=False) as arrays:
            state = {name: torch.from_numpy(arrays[name]) for name in arrays.files}
        model.load_state_dict(state, strict=True)
    return model.eval()
