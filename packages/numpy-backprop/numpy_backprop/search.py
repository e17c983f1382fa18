"""Hyperparameter search: log-uniform random search, grid search, coarse-to-fine.

A search space is a dict ``name -> spec`` with spec one of
    ("log", low, high)      log-uniform in [low, high], both > 0 (learning rates, reg);
    ("uniform", low, high)  uniform in [low, high];
    ("int", low, high)      integer uniform in [low, high], both included;
    ("choice", values)      one of a list.
An objective maps a config dict to a float score. Every search returns a result
table: a list of dicts, one per trial, holding the config and its "score",
sorted best first (highest first when maximize, else lowest first).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

Objective = Callable[[dict], float]


def log_uniform(low: float, high: float, size=None, rng=None):
    """Samples whose log10 is uniform in [log10 low, log10 high]; low, high > 0."""
    if low <= 0 or high <= 0:
        raise ValueError("log-uniform bounds must be positive")
    rng = np.random.default_rng(rng)
    return 10.0 ** rng.uniform(math.log10(low), math.log10(high), size)


def sample_config(space: Mapping[str, tuple], rng) -> dict:
    """One random config drawn from ``space`` (see the module docstring)."""
    config = {}
    for name, (kind, *args) in space.items():
        if kind == "log":
            config[name] = float(log_uniform(args[0], args[1], rng=rng))
        elif kind == "uniform":
            config[name] = float(rng.uniform(args[0], args[1]))
        elif kind == "int":
            config[name] = int(rng.integers(args[0], args[1], endpoint=True))
        elif kind == "choice":
            values = args[0]
            config[name] = values[int(rng.integers(len(values)))]
        else:
            raise ValueError(f"unknown kind {kind!r} for {name!r}")
    return config


def result_table(rows: Sequence[dict], maximize: bool = True) -> list[dict]:
    """Rows (dicts with a "score") sorted best first; NaN scores go last."""

    def key(row):
        score = row["score"]
        if score is None or math.isnan(score):
            return (1, 0.0)
        return (0, -score if maximize else score)

    return sorted(rows, key=key)


def _evaluate(objective: Objective, configs, maximize: bool, **extra) -> list[dict]:
    return result_table(
        [{**config, **extra, "score": float(objective(dict(config)))} for config in configs],
        maximize,
    )


def random_search(
    objective: Objective, space, n_trials: int, rng=None, maximize: bool = True
) -> list[dict]:
    """Evaluate ``n_trials`` configs drawn independently from ``space``."""
    rng = np.random.default_rng(rng)
    configs = [sample_config(space, rng) for _ in range(n_trials)]
    return _evaluate(objective, configs, maximize)


def grid_search(objective: Objective, grid: Mapping[str, Sequence], maximize=True) -> list[dict]:
    """Evaluate every combination of the value lists in ``grid`` (name -> values)."""
    names = list(grid)
    configs = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]
    return _evaluate(objective, configs, maximize)


def refine_space(space, best: Sequence[dict]) -> dict:
    """Shrink each range of ``space`` to the span of the values in the ``best`` rows.

    Ranges keep their kind (a log range is spanned in log space automatically,
    since only its ends change); a choice keeps only the values seen in ``best``.
    """
    refined = {}
    for name, (kind, *args) in space.items():
        seen = [row[name] for row in best]
        if kind == "choice":
            refined[name] = (kind, [v for v in args[0] if v in seen])
        else:
            refined[name] = (kind, min(seen), max(seen))
    return refined


def coarse_to_fine(
    objective: Objective,
    space,
    rounds: int = 3,
    trials_per_round: int = 10,
    top_k: int = 3,
    rng=None,
    maximize: bool = True,
) -> list[dict]:
    """Random search repeated ``rounds`` times, each round inside the span of the
    previous round's ``top_k`` configs. Returns every trial (with its "round",
    from 0) in one table, best first.
    """
    rng = np.random.default_rng(rng)
    rows: list[dict] = []
    for r in range(rounds):
        configs = [sample_config(space, rng) for _ in range(trials_per_round)]
        table = _evaluate(objective, configs, maximize, round=r)
        rows.extend(table)
        space = refine_space(space, table[:top_k])
    return result_table(rows, maximize)
