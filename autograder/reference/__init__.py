"""Trusted reference implementations, float64 and numerically stable.

The autograder judges students against these functions and the book calls them,
so every convention the course fixes (ReLU subgradient, pool tie rule, LSTM gate
order, where epsilon sits, Adam's step counter, the L2 factor) is stated here once.

Modules: layers (dense, activations, max pooling), losses, recurrent (RNN, LSTM,
truncated BPTT, clipping), modules (accumulating Parameter, Dense, MLP), optim
(update rules, schedules), gradcheck, search, training, data.
"""
