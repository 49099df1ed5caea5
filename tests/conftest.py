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

    def __init__(self, size=32, box=(8, 8, 16, 16)):
        super().__init__()
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
            self.fc.weight.copy_(torch.tensor([[-1.0] * 4, [1.0] * 4]))
            self.fc.bias.zero_()

    def forward(self, x):
        a = self.features(self.conv(x * self.window))
        return self.fc(a.mean(dim=(2, 3)) * 10)


@pytest.fixture
def square_clf():
    """SquareNet wrapped with no normalisation; the square is rows/cols 8..15 of 32."""
    return xviz.Classifier(SquareNet(), mean=0.0, std=1.0, size=32, labels=["off", "on"], device="cpu")


@pytest.fixture
def square_box():
    return (8, 8, 16, 16)


@pytest.fixture(scope="session")
def effnet():
    return xviz.zoo.efficientnet_lite0(device="cpu")


@pytest.fixture(scope="session")
def digits_clf():
    return xviz.zoo.digits_cnn(device="cpu")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
