"""Backpropagation in NumPy: trusted reference implementations, float64 and stable.

The backpropagation course's chapters call these functions and its autograder judges
students against them, so every convention the course fixes (ReLU subgradient, pool
tie rule, LSTM gate order, where epsilon sits, Adam's step counter, the L2 factor) is
stated here once. Being what the assignments are graded against, this package is the
course's answer key.

Modules: layers (dense, activations, max pooling), losses, recurrent (RNN, LSTM,
truncated BPTT, clipping), modules (accumulating Parameter, Dense, MLP), optim
(update rules, schedules), gradcheck, search, training, data.
"""

__version__ = "0.1.0"
