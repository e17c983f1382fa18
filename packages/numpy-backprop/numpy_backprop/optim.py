"""First-order update rules and learning-rate schedules.

Every rule has the signature ``rule(w, dw, config) -> (next_w, config)``:
w and dw are arrays of one shape; config is a dict holding the hyperparameters
AND all the state (velocity, caches, step counter), so use one config per
parameter array. Missing entries are filled with defaults via
``config.setdefault``; a missing state array starts at zeros of w's shape.
The rules never modify w or dw in place; they return next_w.

Conventions fixed by the course:
* momentum: v = mu * v - lr * dw; w += v;
* Nesterov, rewritten in terms of the current parameters:
  v_prev = v; v = mu * v - lr * dw; w += -mu * v_prev + (1 + mu) * v;
* epsilon is OUTSIDE the square root everywhere: lr * g / (sqrt(cache) + eps);
* Adam's step counter t is stored in config starting at 0 and is increased
  BEFORE the bias correction, so the first step uses t = 1.
"""

from __future__ import annotations

import numpy as np


def _zeros_state(config: dict, key: str, w: np.ndarray) -> np.ndarray:
    """config[key], created as zeros shaped like w when missing."""
    if config.get(key) is None:
        config[key] = np.zeros_like(w, dtype=np.float64)
    return config[key]


def sgd(w, dw, config=None):
    """Plain gradient descent: w - lr * dw. config: learning_rate (1e-2)."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config=None):
    """Heavy-ball momentum: v = mu * v - lr * dw; next_w = w + v.

    config: learning_rate (1e-2), momentum mu (0.9), velocity v (zeros).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config["momentum"] * _zeros_state(config, "velocity", w) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def nesterov(w, dw, config=None):
    """Nesterov momentum in the form that uses the gradient at the current w.

    v_prev = v; v = mu * v - lr * dw; next_w = w - mu * v_prev + (1 + mu) * v.
    config: learning_rate (1e-2), momentum mu (0.9), velocity v (zeros).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    mu = config["momentum"]
    v_prev = _zeros_state(config, "velocity", w)
    v = mu * v_prev - config["learning_rate"] * dw
    config["velocity"] = v
    return w - mu * v_prev + (1.0 + mu) * v, config


def adagrad(w, dw, config=None):
    """AdaGrad: cache += dw**2; next_w = w - lr * dw / (sqrt(cache) + eps).

    config: learning_rate (1e-2), epsilon (1e-8), cache (zeros).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    cache = _zeros_state(config, "cache", w) + dw * dw
    config["cache"] = cache
    step = config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    return w - step, config


def rmsprop(w, dw, config=None):
    """RMSProp: cache = rho * cache + (1 - rho) * dw**2; w - lr * dw / (sqrt(cache) + eps).

    config: learning_rate (1e-2), decay_rate rho (0.99), epsilon (1e-8), cache (zeros).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    rho = config["decay_rate"]
    cache = rho * _zeros_state(config, "cache", w) + (1.0 - rho) * dw * dw
    config["cache"] = cache
    step = config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    return w - step, config


def adam(w, dw, config=None):
    """Adam with bias correction.

    t += 1 (first step t = 1); m = b1 m + (1 - b1) dw; v = b2 v + (1 - b2) dw**2;
    m_hat = m / (1 - b1**t); v_hat = v / (1 - b2**t);
    next_w = w - lr * m_hat / (sqrt(v_hat) + eps). This is PyTorch's torch.optim.Adam.
    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8),
    m and v (zeros), t (0).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("t", 0)
    b1, b2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    m = b1 * _zeros_state(config, "m", w) + (1.0 - b1) * dw
    v = b2 * _zeros_state(config, "v", w) + (1.0 - b2) * dw * dw
    config["m"], config["v"] = m, v
    m_hat = m / (1.0 - b1**t)
    v_hat = v / (1.0 - b2**t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


RULES = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
}


# ----------------------------------------------------------------------------- schedules


def step_decay(lr0: float, epoch: int, drop: float = 0.5, every: int = 10) -> float:
    """lr0 * drop ** (epoch // every): multiply by ``drop`` once every ``every`` epochs."""
    return lr0 * drop ** (epoch // every)


def exponential_decay(lr0: float, t: float, k: float = 0.1) -> float:
    """lr0 * exp(-k t)."""
    return lr0 * float(np.exp(-k * t))


def inverse_time_decay(lr0: float, t: float, k: float = 1.0) -> float:
    """lr0 / (1 + k t), the 1/t decay."""
    return lr0 / (1.0 + k * t)
