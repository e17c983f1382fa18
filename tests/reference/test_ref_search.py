"""Hyperparameter search helpers."""

import math

import numpy as np
import pytest
from numpy_backprop import search


def bowl(config):
    """Score peaking at learning_rate = 1e-3 and hidden = 64 (higher is better)."""
    return -((math.log10(config["learning_rate"]) + 3) ** 2) - ((config["hidden"] - 64) / 64) ** 2


SPACE = {"learning_rate": ("log", 1e-6, 1e0), "hidden": ("int", 16, 128)}


def test_log_uniform_bounds_and_spread():
    x = search.log_uniform(1e-5, 1e-1, size=20000, rng=0)
    assert x.min() >= 1e-5 and x.max() <= 1e-1
    # a quarter of the decades below 1e-4: log-uniform, not uniform (which gives 0.1 %)
    assert abs(np.mean(x < 1e-4) - 0.25) < 0.02
    with pytest.raises(ValueError):
        search.log_uniform(0.0, 1.0)


def test_sample_config_kinds():
    rng = np.random.default_rng(0)
    space = {
        "a": ("log", 1e-3, 1e-1),
        "b": ("uniform", -1.0, 1.0),
        "c": ("int", 3, 5),
        "d": ("choice", ["relu", "tanh"]),
    }
    for _ in range(50):
        config = search.sample_config(space, rng)
        assert 1e-3 <= config["a"] <= 1e-1 and -1 <= config["b"] <= 1
        assert config["c"] in (3, 4, 5) and config["d"] in ("relu", "tanh")
    with pytest.raises(ValueError):
        search.sample_config({"x": ("normal", 0, 1)}, rng)


def test_random_search_table_sorted_and_reproducible():
    table = search.random_search(bowl, SPACE, 30, rng=1)
    assert len(table) == 30
    scores = [row["score"] for row in table]
    assert scores == sorted(scores, reverse=True)
    assert set(table[0]) == {"learning_rate", "hidden", "score"}
    assert table == search.random_search(bowl, SPACE, 30, rng=1)


def test_grid_search_covers_the_product_and_can_minimise():
    grid = {"learning_rate": [1e-4, 1e-3, 1e-2], "hidden": [32, 64]}
    table = search.grid_search(bowl, grid)
    assert len(table) == 6
    assert (table[0]["learning_rate"], table[0]["hidden"]) == (1e-3, 64)
    worst_first = search.grid_search(bowl, grid, maximize=False)
    assert worst_first[0]["score"] == min(row["score"] for row in table)


def test_result_table_puts_nan_last():
    rows = [{"score": float("nan")}, {"score": 1.0}, {"score": 3.0}]
    assert [r["score"] for r in search.result_table(rows)[:2]] == [3.0, 1.0]
    assert [r["score"] for r in search.result_table(rows, maximize=False)[:2]] == [1.0, 3.0]


def test_coarse_to_fine_narrows_onto_the_peak():
    table = search.coarse_to_fine(bowl, SPACE, rounds=3, trials_per_round=15, top_k=4, rng=2)
    assert len(table) == 45 and {row["round"] for row in table} == {0, 1, 2}
    assert abs(math.log10(table[0]["learning_rate"]) + 3) < 0.5
    spans = []
    for r in range(3):
        lrs = [math.log10(row["learning_rate"]) for row in table if row["round"] == r]
        spans.append(max(lrs) - min(lrs))
    assert spans[2] <= spans[0]


def test_refine_space_keeps_kinds():
    best = [{"lr": 1e-3, "act": "relu", "n": 5}, {"lr": 1e-2, "act": "relu", "n": 9}]
    space = {"lr": ("log", 1e-6, 1.0), "act": ("choice", ["relu", "tanh"]), "n": ("int", 1, 20)}
    refined = search.refine_space(space, best)
    assert refined == {"lr": ("log", 1e-3, 1e-2), "act": ("choice", ["relu"]), "n": ("int", 5, 9)}
