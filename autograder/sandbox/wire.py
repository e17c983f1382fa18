"""Parent side of the child's result channel: frames in, plain Python data and arrays out.

Every byte read here comes from a process that ran student code, so nothing is trusted:
header sizes and array sizes are bounded, dtypes come from an allow-list, the byte
count must match the shape, and nothing is ever unpickled.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

MAX_HEADER = 64 * 1024
ALLOWED_DTYPES = {
    "<f8",
    "<f4",
    "<f2",
    "<i8",
    "<i4",
    "<i2",
    "|i1",
    "<u8",
    "<u4",
    "<u2",
    "|u1",
    "|b1",
}
MAX_NDIM = 8


class ChannelError(Exception):
    """The child wrote something that is not a well-formed frame."""


@dataclass
class Frame:
    header: dict
    array: np.ndarray | None = None


class FrameReader:
    """Incremental decoder: feed it bytes as they arrive, take complete frames out.

    ``budget`` bounds the total number of bytes the child may send.
    """

    def __init__(self, budget: int):
        self.buffer = bytearray()
        self.budget = budget
        self.received = 0
        self.error: ChannelError | None = None

    def feed(self, data: bytes) -> list[Frame]:
        """Complete frames in arrival order. After malformed data, ``error`` is set and the
        frames before it are still returned (so their effect is not lost)."""
        self.received += len(data)
        self.buffer += data
        frames = []
        try:
            if self.received > self.budget:
                raise ChannelError(f"the child sent more than {self.budget} bytes of results")
            while (frame := self._next()) is not None:
                frames.append(frame)
        except ChannelError as error:
            self.error = error
        return frames

    def _next(self) -> Frame | None:
        if len(self.buffer) < 4:
            return None
        (size,) = struct.unpack(">I", self.buffer[:4])
        if size > MAX_HEADER:
            raise ChannelError("a frame header is too large")
        if len(self.buffer) < 4 + size:
            return None
        try:
            header = json.loads(bytes(self.buffer[4 : 4 + size]).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ChannelError(f"a frame header is not JSON ({error})") from None
        if not isinstance(header, dict) or not isinstance(header.get("t"), str):
            raise ChannelError("a frame header is not an object with a type")
        nbytes = header.get("nbytes", 0) if header["t"] == "value" else 0
        if not isinstance(nbytes, int) or nbytes < 0:
            raise ChannelError("a frame has an invalid byte count")
        end = 4 + size + nbytes
        if len(self.buffer) < end:
            return None
        payload = bytes(self.buffer[4 + size : end])
        del self.buffer[:end]
        array = decode_array(header, payload) if header["t"] == "value" else None
        return Frame(header, array)


def decode_array(header: dict, payload: bytes) -> np.ndarray:
    """Rebuild an array from a validated header and its raw bytes (a fresh, owned copy)."""
    dtype, shape = header.get("dtype"), header.get("shape")
    if dtype not in ALLOWED_DTYPES:
        raise ChannelError(f"dtype {dtype!r} is not allowed")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise ChannelError("an array shape is invalid")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count * np.dtype(dtype).itemsize != len(payload):
        raise ChannelError("an array's byte count does not match its shape")
    return np.frombuffer(payload, dtype=dtype).reshape(shape).copy()
