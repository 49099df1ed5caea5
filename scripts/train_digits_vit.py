"""Train the bundled digits vision transformer and save its weights.

Run from the repository root::

    python scripts/train_digits_vit.py

This trains :class:`xviz.zoo.vit_model.TinyViT` (patch 4 on 32 x 32 inputs: an 8 x 8 grid
of tokens and a class token, 4 blocks of width 48, about 80 k parameters) on the same fixed
training split and inputs as the digits CNN (``scripts/train_digits.py``: sklearn's 8x8
digits upsampled to 32x32 RGB, shifted by up to 2 pixels), prints the held-out accuracy on
the test split, and writes the weights as float32 arrays to ``xviz/zoo/data/digits_vit.npz``.
Options: ``--out PATH``, ``--epochs N``. Training is seeded, deterministic and on one
thread; it takes about 10 minutes on one CPU core.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_digits import BATCH_SIZE, accuracy, prepare, random_shift, save_weights  # noqa: E402
from xviz.zoo.vit_model import CONFIG, WEIGHTS_PATH, TinyViT  # noqa: E402

LEARNING_RATE = 2e-3
WEIGHT_DECAY = 0.05
WARMUP = 5  # epochs of linear warm-up before the cosine decay


def train(epochs):
    """Train a seeded :class:`TinyViT` and return it with its test accuracy."""
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # the same numbers on any machine; and faster than 2 threads on a busy one
    generator = torch.Generator().manual_seed(0)
    train_x, train_y = prepare("train")
    test_x, test_y = prepare("test")
    model = TinyViT(**CONFIG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps = epochs * -(-len(train_x) // BATCH_SIZE)
    warm = WARMUP * -(-len(train_x) // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (
        1 + torch.cos(torch.tensor(torch.pi * min(s, steps) / steps)).item()))
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        total = 0.0
        for start in range(0, len(train_x), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            loss = F.cross_entropy(model(random_shift(train_x[batch], generator)), train_y[batch], label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}/{epochs}: train loss {total / len(train_x):.4f}, "
                  f"test accuracy {accuracy(model, test_x, test_y):.4f}", flush=True)
    return model.eval(), accuracy(model, test_x, test_y)


def main(argv=None):
    """Parse arguments, train, report held-out accuracy and save weights."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(WEIGHTS_PATH), help="output .npz path")
    parser.add_argument("--epochs", type=int, default=120, help="training epochs")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model, test_accuracy = train(args.epochs)
    save_weights(model, args.out)
    print(f"held-out accuracy: {test_accuracy:.4f}")
    print(f"saved {args.out} in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
