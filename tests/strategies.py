"""Shared hypothesis strategies: bounded NaN-free floats and float64 arrays of drawn shapes.

Import as ``from tests.strategies import ...``: this needs the repository root on sys.path,
as with ``python -m pytest`` from the root (what run.py does).
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Modest example counts keep the reference suite fast; raise them to stress-test,
# e.g. REFERENCE_MAX_EXAMPLES=500 python -m pytest tests/reference.
MAX_EXAMPLES = int(os.environ.get("REFERENCE_MAX_EXAMPLES", "25"))
# derandomize: the same examples on every run, so a run of CI cannot be unlucky.
modest = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True)


def finite_floats(bound: float = 3.0) -> st.SearchStrategy[float]:
    """Floats in [-bound, bound]: no NaN, no infinity, no subnormals."""
    return st.floats(
        min_value=-bound,
        max_value=bound,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
    )


def grid_floats(bound: float = 3.0, step: float = 1 / 64, nonzero: bool = False):
    """Multiples of ``step`` in [-bound, bound] (exact in binary when step is a power of 2).

    nonzero=True keeps every value at least ``step`` away from 0, i.e. away from the
    kink of ReLU-like functions, so that a centred difference never straddles it.
    """
    top = int(bound / step)
    ints = st.integers(-top, top)
    if nonzero:
        ints = ints.filter(lambda k: k != 0)
    return ints.map(lambda k: k * step)


def dims(low: int = 1, high: int = 4) -> st.SearchStrategy[int]:
    """A small array dimension."""
    return st.integers(low, high)


def shapes(min_dims: int = 1, max_dims: int = 3, low: int = 1, high: int = 4):
    """Array shapes with every side in [low, high]."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=low, max_side=high)


def float_arrays(shape, elements=None, bound: float = 3.0, unique: bool = False):
    """float64 arrays of ``shape`` (a tuple or a strategy of tuples).

    elements defaults to finite_floats(bound); unique=True makes all entries distinct.
    """
    if elements is None:
        elements = finite_floats(bound)
    return hnp.arrays(np.float64, shape, elements=elements, unique=unique)


def grid_arrays(shape, bound: float = 2.0, step: float = 1 / 16):
    """float64 arrays of multiples of step in [-bound, bound].

    With a power-of-2 step, sums of products of a few such numbers are exact in
    float64, so centred differences of linear maps are exact too (use h = step).
    """
    return float_arrays(shape, elements=grid_floats(bound, step))


def off_kink_arrays(shape, bound: float = 3.0, step: float = 1 / 64):
    """float64 arrays whose entries are nonzero multiples of step (|x| >= step)."""
    return float_arrays(shape, elements=grid_floats(bound, step, nonzero=True))


def distinct_arrays(shape, bound: float = 4.0, step: float = 1 / 64):
    """float64 arrays of pairwise distinct multiples of step: no ties, gaps >= step."""
    return float_arrays(shape, elements=grid_floats(bound, step), unique=True)


def labels(n: int, classes: int):
    """Integer class labels, shape (n,), values in [0, classes)."""
    return hnp.arrays(np.int64, (n,), elements=st.integers(0, classes - 1))


def seeds() -> st.SearchStrategy[int]:
    """Seeds for numpy's default_rng."""
    return st.integers(0, 2**32 - 1)
