"""Small data sets made locally or shipped with scikit-learn, and an MNIST IDX reader.

Nothing here downloads anything. Features are float64 (N, D); class labels are
int64 (N,); regression targets are float64 (N, 1).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

# IDX type code -> big-endian numpy dtype
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def train_test_split(x, y, test_fraction: float = 0.2, rng=None):
    """Shuffle and split: returns x_train, y_train, x_test, y_test (test gets round(f N) rows)."""
    rng = np.random.default_rng(rng)
    order = rng.permutation(len(x))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def load_digits(test_fraction: float = 0.2, rng=0):
    """scikit-learn's bundled 8x8 digits, pixels scaled from 0..16 to [0, 1].

    Returns x_train (N, 64), y_train (N,), x_test, y_test (1797 images in all).
    """
    from sklearn.datasets import load_digits as sk_load_digits

    digits = sk_load_digits()
    x = digits.data.astype(np.float64) / 16.0
    return train_test_split(x, digits.target.astype(np.int64), test_fraction, rng)


def and_or_xor(name: str):
    """The four points of {0, 1}^2 and the truth table of "and", "or" or "xor".

    Returns x (4, 2) float64 and y (4,) int64.
    """
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    a, b = x[:, 0].astype(bool), x[:, 1].astype(bool)
    tables = {"and": a & b, "or": a | b, "xor": a ^ b}
    if name not in tables:
        raise ValueError(f"name must be one of {sorted(tables)}, not {name!r}")
    return x, tables[name].astype(np.int64)


def two_moons(n: int = 200, noise: float = 0.1, rng=0):
    """Two interleaving half circles (sklearn.datasets.make_moons). x (n, 2), y (n,)."""
    from sklearn.datasets import make_moons

    seed = int(np.random.default_rng(rng).integers(2**31 - 1))
    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    return x.astype(np.float64), y.astype(np.int64)


def sine_regression(n: int = 100, noise: float = 0.1, rng=0):
    """y = sin(x) + Gaussian noise for x uniform in [-pi, pi]. x (n, 1), y (n, 1)."""
    rng = np.random.default_rng(rng)
    x = rng.uniform(-np.pi, np.pi, size=(n, 1))
    return x, np.sin(x) + noise * rng.standard_normal((n, 1))


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), plain or gzip-compressed.

    Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, one
    big-endian uint32 per dimension, then the data, big-endian, row-major.
    Gzip is recognised by its magic bytes, not by the file name. Returns an
    array of that shape in native byte order (e.g. (60000, 28, 28) uint8).
    """
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = _IDX_DTYPES[code]
    count = int(np.prod(dims, dtype=np.int64))
    offset = 4 + 4 * ndim
    if len(raw) - offset != count * dtype.itemsize:
        raise ValueError(f"{path}: expected {count} items of {dtype.itemsize} bytes after header")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return data.reshape(dims).astype(dtype.newbyteorder("="))
