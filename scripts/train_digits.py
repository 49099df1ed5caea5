"""Train the bundled digits classifier and save its weights.

Run from the repository root::

    python scripts/train_digits.py

This trains :class:`xviz.zoo.digits.DigitsCNN` on the fixed training split of
sklearn's 8x8 digits (upsampled to 32x32 RGB), prints the held-out accuracy on
the test split, and writes the weights as float32 arrays to
``xviz/zoo/data/digits_cnn.npz``. Options: ``--out PATH``, ``--epochs N``.
Training is seeded and deterministic and takes under a minute on 2 CPU cores.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xviz.zoo.digits_model import (  # noqa: E402
    DIGITS_MEAN,
    DIGITS_STD,
    WEIGHTS_PATH,
    DigitsCNN,
    load_digits_arrays,
    upsample,
)

BATCH_SIZE = 32
LEARNING_RATE = 1e-3
MAX_SHIFT = 2  # pixels at 32x32, i.e. half a pixel of the original 8x8 digit


def prepare(split):
    """Return normalised ``N x 3 x 32 x 32`` images and labels as tensors."""
    images, labels = load_digits_arrays(split)
    x = upsample(torch.from_numpy(images))
    mean = torch.tensor(DIGITS_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(DIGITS_STD).view(1, 3, 1, 1)
    return (x - mean) / std, torch.from_numpy(labels)


def random_shift(x, generator):
    """Shift each image by up to ``MAX_SHIFT`` pixels, filling with background."""
    size = x.shape[-1]
    # Pad with the normalised value of a black pixel so shifts add no edges.
    background = (0.0 - DIGITS_MEAN[0]) / DIGITS_STD[0]
    padded = F.pad(x, [MAX_SHIFT] * 4, value=background)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (len(x), 2), generator=generator)
    crops = [
        image[:, top : top + size, left : left + size]
        for image, (top, left) in zip(padded, offsets.tolist())
    ]
    return torch.stack(crops)


def train_epoch(model, optimizer, x, y, generator):
    """Run one shuffled epoch of augmented mini-batch training; return mean loss."""
    model.train()
    order = torch.randperm(len(x), generator=generator)
    total = 0.0
    for start in range(0, len(x), BATCH_SIZE):
        batch = order[start : start + BATCH_SIZE]
        loss = F.cross_entropy(model(random_shift(x[batch], generator)), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    return total / len(x)


@torch.no_grad()
def accuracy(model, x, y):
    """Return the fraction of correctly classified samples."""
    model.eval()
    return (model(x).argmax(dim=1) == y).float().mean().item()


def save_weights(model, path):
    """Save the state dict as float32 arrays in a compressed ``.npz`` file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        name: tensor.detach().cpu().numpy().astype(np.float32)
        for name, tensor in model.state_dict().items()
    }
    np.savez_compressed(path, **arrays)


def train(epochs):
    """Train a seeded :class:`DigitsCNN` and return it with its test accuracy."""
    torch.manual_seed(0)
    np.random.seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    generator = torch.Generator().manual_seed(0)

    train_x, train_y = prepare("train")
    test_x, test_y = prepare("test")
    model = DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    for epoch in range(epochs):
        loss = train_epoch(model, optimizer, train_x, train_y, generator)
        scheduler.step()
        print(f"epoch {epoch + 1}/{epochs}: train loss {loss:.4f}")
    return model.eval(), accuracy(model, test_x, test_y)


def main(argv=None):
    """Parse arguments, train, report held-out accuracy and save weights."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(WEIGHTS_PATH), help="output .npz path")
    parser.add_argument("--epochs", type=int, default=50, help="training epochs")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model, test_accuracy = train(args.epochs)
    save_weights(model, args.out)
    print(f"held-out accuracy: {test_accuracy:.4f}")
    print(f"saved {args.out} in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
