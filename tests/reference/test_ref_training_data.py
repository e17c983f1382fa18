"""The minibatch trainer and the data sets, including the IDX reader."""

import gzip
import struct

import numpy as np
import pytest
from numpy_backprop import data, optim, training
from numpy_backprop.modules import MLP

# ----------------------------------------------------------------------------- data


def test_load_digits_scaled_and_split():
    x_train, y_train, x_test, y_test = data.load_digits(test_fraction=0.2, rng=0)
    assert x_train.shape == (1438, 64) and x_test.shape == (359, 64)
    assert x_train.dtype == np.float64 and y_train.dtype == np.int64
    assert x_train.min() >= 0.0 and x_train.max() == 1.0
    assert set(np.unique(y_test)) == set(range(10))
    again = data.load_digits(test_fraction=0.2, rng=0)
    np.testing.assert_array_equal(again[1], y_train)


@pytest.mark.parametrize(
    ("name", "truth"), [("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]), ("xor", [0, 1, 1, 0])]
)
def test_and_or_xor(name, truth):
    x, y = data.and_or_xor(name)
    np.testing.assert_array_equal(x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, truth)


def test_and_or_xor_unknown():
    with pytest.raises(ValueError):
        data.and_or_xor("nand")


def test_two_moons_and_sine():
    x, y = data.two_moons(100, noise=0.05, rng=0)
    assert x.shape == (100, 2) and set(np.unique(y)) == {0, 1}
    x, y = data.sine_regression(50, noise=0.0, rng=0)
    assert x.shape == y.shape == (50, 1)
    np.testing.assert_allclose(y, np.sin(x))
    assert np.abs(x).max() <= np.pi


def write_idx(path, array, code, compress=False):
    """IDX bytes for ``array`` (already big-endian of the right type), written by hand."""
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_uint8_images(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    path = write_idx(tmp_path / "images-idx3-ubyte", images, 0x08, compress)
    got = data.read_idx(path)
    assert got.shape == (2, 3, 4) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, images)


def test_read_idx_labels_and_big_endian_types(tmp_path):
    labels = np.array([7, 2, 1, 0, 4], dtype=np.uint8)
    np.testing.assert_array_equal(data.read_idx(write_idx(tmp_path / "l", labels, 0x08)), labels)
    shorts = np.array([[1, -2], [300, -32768]], dtype=">i2")
    got = data.read_idx(write_idx(tmp_path / "s.gz", shorts, 0x0B, compress=True))
    assert got.dtype == np.int16 and got.dtype.isnative
    np.testing.assert_array_equal(got, [[1, -2], [300, -32768]])
    floats = np.array([0.5, -1.25, 3.0], dtype=">f4")
    np.testing.assert_array_equal(data.read_idx(write_idx(tmp_path / "f", floats, 0x0D)), floats)
    doubles = np.array([[np.pi]], dtype=">f8")
    np.testing.assert_array_equal(
        data.read_idx(write_idx(tmp_path / "d", doubles, 0x0E)), [[np.pi]]
    )
    ints = np.array([70000, -1], dtype=">i4")
    np.testing.assert_array_equal(data.read_idx(write_idx(tmp_path / "i", ints, 0x0C)), ints)


def test_read_idx_rejects_bad_files(tmp_path):
    bad_magic = tmp_path / "bad"
    bad_magic.write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="magic"):
        data.read_idx(bad_magic)
    bad_code = tmp_path / "code"
    bad_code.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="type code"):
        data.read_idx(bad_code)
    truncated = write_idx(tmp_path / "short", np.arange(6, dtype=np.uint8), 0x08)
    truncated.write_bytes(truncated.read_bytes()[:-1])
    with pytest.raises(ValueError, match="expected 6 items"):
        data.read_idx(truncated)


# ----------------------------------------------------------------------------- training


def test_trainer_learns_xor():
    x, y = data.and_or_xor("xor")
    model = MLP([2, 8, 2], activation="tanh", rng=0)
    history = training.train(
        model, x, y, config={"learning_rate": 0.05}, epochs=300, batch_size=4, val_fraction=0
    )
    assert history["train_acc"][-1] == 1.0
    assert history["train_loss"][-1] < 0.1 < history["train_loss"][0]
    assert history["val_loss"] == [] and history["epochs_run"] == 300


def test_trainer_on_digits_with_every_rule():
    x_train, y_train, x_test, y_test = data.load_digits(rng=0)
    for name, lr in [("sgd_momentum", 0.05), ("nesterov", 0.05), ("rmsprop", 1e-3), ("adam", 1e-3)]:
        model = MLP([64, 32, 10], rng=0)
        history = training.train(
            model,
            x_train,
            y_train,
            rule=optim.RULES[name],
            config={"learning_rate": lr},
            epochs=8,
            batch_size=64,
            reg=1e-4,
            patience=None,
        )
        assert len(history["val_acc"]) == 8
        _, test_acc = training.evaluate(model, x_test, y_test)
        assert test_acc > 0.85, name


def test_early_stopping_restores_the_best_epoch():
    x_train, y_train, _, _ = data.load_digits(rng=1)
    x_val, y_val = x_train[:300], y_train[:300]
    model = MLP([64, 32, 10], rng=1)
    # a learning rate that is far too high makes the validation loss climb
    history = training.train(
        model,
        x_train[300:],
        y_train[300:],
        rule=optim.sgd,
        config={"learning_rate": 3.0},
        epochs=40,
        validation=(x_val, y_val),
        patience=3,
    )
    best = history["best_epoch"]
    assert history["epochs_run"] < 40 and history["epochs_run"] == best + 4
    assert history["val_loss"][best] == min(history["val_loss"])
    val_loss, _ = training.evaluate(model, x_val, y_val)
    np.testing.assert_allclose(val_loss, history["val_loss"][best], rtol=1e-12)


def test_lr_schedule_is_applied_each_epoch():
    x, y = data.and_or_xor("or")
    model = MLP([2, 3, 2], rng=0)
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        return optim.inverse_time_decay(0.1, epoch)

    training.train(
        model, x, y, rule=optim.sgd, epochs=5, batch_size=2, val_fraction=0, lr_schedule=schedule
    )
    assert seen == [0, 1, 2, 3, 4]


def test_trainer_regression_with_mse():
    x, y = data.sine_regression(200, noise=0.0, rng=0)
    model = MLP([1, 32, 1], activation="tanh", rng=0)
    history = training.train(
        model,
        x,
        y,
        config={"learning_rate": 0.01},
        epochs=150,
        batch_size=32,
        loss="mse",
        val_fraction=0.2,
        patience=None,
    )
    assert history["val_loss"][-1] < 0.01
    assert np.isnan(history["train_acc"][-1])
