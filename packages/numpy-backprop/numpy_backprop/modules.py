"""Stateful modules whose parameters ACCUMULATE gradients (learner questions Q1, Q4).

``backward`` adds into ``Parameter.grad``; nothing resets it but ``zero_grad()``.
So two backward passes without zero_grad give the sum of both gradients (twice
the gradient if they are the same pass), and two half-batches accumulated give
the gradient of one full batch when each half's loss is scaled by its share.

A module remembers the cache of its LAST forward call only: call backward once
after each forward.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from . import layers


class Parameter:
    """A trainable float64 array ``value`` and its accumulated gradient ``grad`` (same shape)."""

    def __init__(self, value):
        self.value = np.array(value, dtype=np.float64)
        self.grad = np.zeros_like(self.value)

    def zero_grad(self) -> None:
        """Reset the accumulated gradient to zeros, in place."""
        self.grad.fill(0.0)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.value.shape})"


class Module:
    """Base class: ``forward(x)``, ``backward(dout) -> dx``, ``parameters()``, ``zero_grad()``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        return []

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)


class Dense(Module):
    """Affine layer ``x @ weight + bias``; weight (in_features, units), bias (units,).

    Weights start Glorot-uniform in [-s, s], s = sqrt(6 / (in_features + units))
    (as scikit-learn's MLP does for ReLU and tanh) unless ``scale`` gives s;
    the bias starts at zero. x: (N, in_features) -> (N, units).
    """

    def __init__(self, in_features: int, units: int, rng=None, scale: float | None = None):
        rng = np.random.default_rng(rng)
        bound = np.sqrt(6.0 / (in_features + units)) if scale is None else scale
        self.weight = Parameter(rng.uniform(-bound, bound, size=(in_features, units)))
        self.bias = Parameter(np.zeros(units))
        self._cache = None

    def forward(self, x):
        out, self._cache = layers.dense_forward(x, self.weight.value, self.bias.value)
        return out

    def backward(self, dout):
        dx, dw, db = layers.dense_backward(dout, self._cache)
        self.weight.grad += dw
        self.bias.grad += db
        return dx

    def parameters(self):
        return [self.weight, self.bias]


class Activation(Module):
    """A parameter-free layer built from a ``thing_forward`` / ``thing_backward`` pair."""

    forward_fn = staticmethod(layers.relu_forward)
    backward_fn = staticmethod(layers.relu_backward)

    def __init__(self):
        self._cache = None

    def forward(self, x):
        out, self._cache = self.forward_fn(x)
        return out

    def backward(self, dout):
        return self.backward_fn(dout, self._cache)


class ReLU(Activation):
    """max(0, x); subgradient 0 at x == 0."""


class Sigmoid(Activation):
    """Logistic function, overflow-free."""

    forward_fn = staticmethod(layers.sigmoid_forward)
    backward_fn = staticmethod(layers.sigmoid_backward)


class Tanh(Activation):
    """Hyperbolic tangent."""

    forward_fn = staticmethod(layers.tanh_forward)
    backward_fn = staticmethod(layers.tanh_backward)


class LeakyReLU(Activation):
    """x if x > 0 else alpha * x."""

    backward_fn = staticmethod(layers.leaky_relu_backward)

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        out, self._cache = layers.leaky_relu_forward(x, self.alpha)
        return out


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "leaky_relu": LeakyReLU}


class MLP(Module):
    """Dense layers of the given sizes with an activation between them, none after the last.

    sizes: (in_features, hidden_1, ..., out_features); activation: a key of
    ACTIVATIONS. forward maps (N, in_features) to scores (N, out_features).
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", rng=None):
        if len(sizes) < 2:
            raise ValueError("an MLP needs at least an input and an output size")
        rng = np.random.default_rng(rng)
        self.layers: list[Module] = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            self.layers.append(Dense(fan_in, fan_out, rng=rng))
            if i < len(sizes) - 2:
                self.layers.append(ACTIVATIONS[activation]())

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def weights(self) -> list[Parameter]:
        """The Dense weights only (no biases): what an L2 penalty applies to."""
        return [layer.weight for layer in self.layers if isinstance(layer, Dense)]
