"""The result channel's decoder refuses anything that is not a well-formed array frame."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from autograder.sandbox.wire import ChannelError, FrameReader


def frame(header: dict, payload: bytes = b"") -> bytes:
    data = json.dumps(header).encode()
    return struct.pack(">I", len(data)) + data + payload


def value(array: np.ndarray, **overrides) -> bytes:
    header = {"t": "value", "name": "y", "dtype": array.dtype.str, "shape": list(array.shape)}
    header["nbytes"] = array.nbytes
    header.update(overrides)
    return frame(header, array.tobytes())


def test_arrays_round_trip_even_when_split_across_reads():
    array = np.arange(12.0).reshape(3, 4)
    data = value(array) + frame({"t": "end"})
    reader = FrameReader(budget=10_000)
    frames = []
    for i in range(0, len(data), 7):
        frames += reader.feed(data[i : i + 7])
    np.testing.assert_array_equal(frames[0].array, array)
    assert frames[0].array.flags.writeable and frames[1].header == {"t": "end"}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (value(np.zeros(2), dtype="|O"), "not allowed"),
        (value(np.zeros(2), dtype="<c16"), "not allowed"),
        (value(np.zeros(2), shape=[3]), "does not match"),
        (value(np.zeros(2), shape=[-1]), "shape is invalid"),
        (value(np.zeros(2), shape=[True, 2]), "shape is invalid"),
        (value(np.zeros(2), nbytes=-5), "invalid byte count"),
        (struct.pack(">I", 1 << 30), "too large"),
        (struct.pack(">I", 3) + b"abc", "not JSON"),
        (frame(["a", "list"]), "not an object"),
    ],
    ids=[
        "object",
        "complex",
        "size",
        "negative",
        "bool-dim",
        "nbytes",
        "huge-header",
        "json",
        "list",
    ],
)
def test_malformed_frames_are_refused(data, words):
    reader = FrameReader(budget=10_000)
    assert reader.feed(data) == []
    assert isinstance(reader.error, ChannelError) and words in str(reader.error)


def test_frames_before_the_garbage_are_kept():
    reader = FrameReader(budget=10_000)
    frames = reader.feed(frame({"t": "probe_start", "probe": "p"}) + struct.pack(">I", 3) + b"abc")
    assert [f.header["t"] for f in frames] == ["probe_start"]
    assert "not JSON" in str(reader.error)


def test_the_byte_budget_is_enforced():
    reader = FrameReader(budget=100)
    reader.feed(value(np.zeros(50)))
    assert "more than 100 bytes" in str(reader.error)
