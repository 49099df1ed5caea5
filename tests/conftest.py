"""Shared fixtures: tiny models whose right answer is known, and the bundled models."""
import numpy as np
import pytest
import torch
from torch import nn

import xviz


class SquareNet(nn.Module):
    """A classifier that only sees one known square of the image.

    ``features`` multiplies the input by a 0/1 window (the square), then a fixed positive
    convolution and ReLU; class 1's logit is the mean of the features, class 0's its
    negative. Whatever lies outside the square cannot change the output.
    """

    def __init__(self, size=32, box=(8, 8, 16, 16), decisive=False):
        super().__init__()
        self.decisive = decisive
        top, left, h, w = box
        window = torch.zeros(1, 1, size, size)
        window[..., top:top + h, left:left + w] = 1
        self.register_buffer("window", window)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.fill_(0.1)
            self.conv.bias.fill_(0.0)
        self.features = nn.ReLU()
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            # Moderate logits (p(on) about 0.94 for a random image, 0.5 with the square black):
            # a saturated softmax would have no gradient for a method to follow.
            self.fc.weight.copy_(torch.tensor([[-1.0] * 4, [1.0] * 4]))
            self.fc.bias.zero_()

    def forward(self, x):
        a = self.features(self.conv(x * self.window))
        if not self.decisive:
            return self.fc(a.mean(dim=(2, 3)))
        # The mean inside the square, centred at half its value for a random image (1.35):
        # p(on) is about 0.94 with the square visible and 0.06 with it black.
        inside = (a * self.window).sum(dim=(2, 3)) / self.window.sum() - 0.675
        return self.fc(inside)


@pytest.fixture
def square_clf():
    """SquareNet wrapped with no normalisation; the square is rows/cols 8..23 of 32."""
    return xviz.Classifier(SquareNet(), mean=0.0, std=1.0, size=32, labels=["off", "on"], device="cpu")


@pytest.fixture
def square_box():
    return (8, 8, 16, 16)


SPOT_BOX = (8, 16, 8, 8)


@pytest.fixture
def spot_clf():
    """A decisive small square (rows 8..15, cols 16..23 of 32): without it the class is gone."""
    return xviz.Classifier(SquareNet(box=SPOT_BOX, decisive=True), mean=0.0, std=1.0, size=32,
                           labels=["off", "on"], device="cpu")


@pytest.fixture
def spot_box():
    return SPOT_BOX


@pytest.fixture(scope="session")
def effnet():
    return xviz.zoo.efficientnet_lite0(device="cpu")


@pytest.fixture(scope="session")
def digits_clf():
    return xviz.zoo.digits_cnn(device="cpu")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
