"""Tiny models for the tests: transformers architectures built from configs (random weights,
no download), a channels-last network, and a known-answer task they can be trained on in
seconds (single-threaded, so the weights do not depend on the machine's core count)."""
import contextlib

import numpy as np
import torch
from torch import nn

import xviz

SIZE, CELL = 32, 8
REGION_CELLS = [(0, 2), (0, 3), (1, 2), (1, 3)]  # the top-right quadrant of the 4 x 4 grid of 8 x 8 cells


def region_images(n, seed, black=0.25):
    """The known-answer task: noise in [0, 0.6] with black 8 x 8 cells (each cell with
    probability ``black``, in both classes); class 1 has one white cell in the top-right
    quadrant, class 0 none. Only that white cell tells the classes apart.

    Returns images (n x 32 x 32 x 3), labels (alternating 0, 1) and the white cell (row,
    column on the 4 x 4 grid; None for class 0).
    """
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 0.6, (n, SIZE, SIZE, 3)).astype(np.float32)
    labels = np.arange(n) % 2
    cells = []
    for i, y in enumerate(labels):
        cell = REGION_CELLS[rng.integers(len(REGION_CELLS))] if y else None
        for r in range(4):
            for c in range(4):
                if (r, c) != cell and rng.random() < black:
                    images[i, r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL] = 0.0
        if cell:
            images[i, cell[0] * CELL:(cell[0] + 1) * CELL, cell[1] * CELL:(cell[1] + 1) * CELL] = 1.0
        cells.append(cell)
    return images, labels, cells


# Every heatmap method with its defaults, explaining class 1 of the known-answer task.
HEATMAP_METHODS = {
    "gradcam": lambda clf, images: xviz.gradcam(clf, images, target=1),
    "integrated_gradients": lambda clf, images: xviz.integrated_gradients(clf, images, target=1),
    "rise": lambda clf, images: xviz.rise(clf, images, target=1, progress=False),
    "igos": lambda clf, images: xviz.igos(clf, images, target=1, progress=False),
    "igos++": lambda clf, images: xviz.igos_pp(clf, images, target=1, progress=False),
}


def known_cases(n=8, seed=99):
    """The class-1 images of ``region_images(n, seed)`` and their white cells."""
    images, labels, cells = region_images(n, seed)
    return list(images[labels == 1]), [c for c in cells if c]


def cell_heat(mask):
    """The mean of a 32 x 32 heatmap over each of its 4 x 4 cells of 8 x 8 pixels."""
    return np.asarray(mask, np.float64).reshape(4, CELL, 4, CELL).mean((1, 3))


def hottest_cell(mask):
    """The 8 x 8 cell of a 32 x 32 heatmap with the highest mean: (row, column)."""
    heat = cell_heat(mask)
    return tuple(int(v) for v in np.unravel_index(heat.argmax(), heat.shape))


def points_at(mask, cell, tolerance=0.9):
    """Whether a heatmap points at ``cell``: its mean heat is the highest of all cells, or
    within ``tolerance`` of it (a smooth mask may spill as much onto a neighbour)."""
    heat = cell_heat(mask)
    return bool(heat.max() > 0 and heat[cell] >= tolerance * heat.max())


class Mlp(nn.Module):
    """x + MLP(LayerNorm(x)) on the last dimension: a ConvNeXt block without its convolution."""

    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)

    def forward(self, x):
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm(x))))


class ChannelsLastNet(nn.Module):
    """A patchify stem, then everything in N x h x w x C (channels last) as in ConvNeXt's
    LayerNorm and MLPs: position embeddings, two MLP blocks, a LayerNorm, the mean over
    positions and a linear head. Its maps are never N x C x h x w after the stem."""

    def __init__(self, dim=32, grid=8, classes=2):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, SIZE // grid, stride=SIZE // grid)
        self.pos = nn.Parameter(torch.randn(1, grid, grid, dim) * 0.1)
        self.blocks = nn.Sequential(Mlp(dim), Mlp(dim))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.stem(x).permute(0, 2, 3, 1) + self.pos
        return self.head(self.norm(self.blocks(x)).mean((1, 2)))


def hf(kind, labels=3, **overrides):
    """A transformers image classifier from a tiny config (random weights) for 32 x 32 inputs."""
    import transformers as T

    configs = {
        "vit": (T.ViTConfig, T.ViTForImageClassification, dict(
            image_size=SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64)),
        "deit": (T.DeiTConfig, T.DeiTForImageClassificationWithTeacher, dict(
            image_size=SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64)),
        "swin": (T.SwinConfig, T.SwinForImageClassification, dict(
            image_size=SIZE, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4)),
        "convnext": (T.ConvNextConfig, T.ConvNextForImageClassification, dict(
            hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, image_size=SIZE)),
        "resnet": (T.ResNetConfig, T.ResNetForImageClassification, dict(
            embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")),
    }
    config, model, settings = configs[kind]
    return model(config(num_labels=labels, **{**settings, **overrides})).eval()


def binary(out):
    """Two logits, [0, z], from a one-logit model: how xviz takes a binary classifier."""
    z = out.logits
    return torch.cat([torch.zeros_like(z), z], 1)


@contextlib.contextmanager
def one_thread():
    """Train on one thread: the weights do not depend on the core count (and a busy machine's
    two threads spin far slower than one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def trained(make, steps, seed, lr=1e-3, output=None):
    """The model ``make()`` builds, trained on the known-answer task (Adam, batches of 32;
    seeded), as a Classifier."""
    with one_thread():
        torch.manual_seed(seed)
        model = make()
        clf = xviz.Classifier(model, mean=0.5, std=0.5, size=SIZE, labels=["no white cell", "white cell"],
                              device="cpu", output=output)
        images, labels, _ = region_images(1024, seed)
        x = clf.model_input(torch.from_numpy(images).permute(0, 3, 1, 2))
        y = torch.from_numpy(labels)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(steps):
            batch = torch.randint(0, len(x), (32,))
            loss = nn.functional.cross_entropy(clf.read_logits(model(x[batch]), 32), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    return clf
