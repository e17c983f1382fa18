"""Both directions of the child's pipes: frames in (hostile), frames out (plan and inputs).

Every byte read here comes from a process that ran student code, so nothing is trusted:
header sizes and array sizes are bounded, a header is a flat object of known keys and
bounded values for its frame type, integers are bounded before Python converts them,
strings are cleaned of lone surrogates and control characters, dtypes come from an
allow-list, the byte count must match the shape, and nothing is ever unpickled.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass

import numpy as np

MAX_HEADER = 64 * 1024
MAX_TEXT = 2000  # characters of any string in a header
MAX_INT_DIGITS = 19
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
FIELDS = {  # frame type -> the keys it must have (and no others), with their kinds
    "cell_start": {"cell": str},
    "cell_error": {"cell": str, "error": str},
    "probe_start": {"probe": str},
    "value": {"probe": str, "name": str, "dtype": str, "shape": list, "nbytes": int},
    "bad_value": {"probe": str, "name": str, "type": str},
    "probe_error": {"probe": str, "error": str},
    "probe_done": {"probe": str},
    "end": {},
}


class ChannelError(Exception):
    """The child wrote something that is not a well-formed frame."""


@dataclass
class Frame:
    header: dict
    array: np.ndarray | None = None


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ChannelError("a frame holds an integer that is too large")
    return int(text)


def _no_float(text: str):
    raise ChannelError("a frame holds a number where none is allowed")


_DECODER = json.JSONDecoder(parse_int=_bounded_int, parse_float=_no_float, parse_constant=_no_float)


def parse_header(data: bytes) -> dict:
    """A validated header: a flat object of one known frame type with its keys only."""
    try:
        header = _DECODER.decode(data.decode("utf-8"))
    except ChannelError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ChannelError(f"a frame header is not JSON ({type(error).__name__})") from None
    if not isinstance(header, dict) or header.get("t") not in FIELDS:
        raise ChannelError("a frame header is not an object of a known type")
    fields = FIELDS[header["t"]]
    if set(header) != {"t", *fields}:
        raise ChannelError(f"a '{header['t']}' frame has unexpected or missing keys")
    for key, kind in fields.items():
        value = header[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ChannelError(f"a '{header['t']}' frame has an invalid {key}")
        if kind is str:
            header[key] = clean_text(value, MAX_TEXT)
    return header


def clean_text(text: str, limit: int) -> str:
    """``text`` without lone surrogates or control characters, at most ``limit`` long."""
    if len(text) <= limit and text.isprintable():  # no surrogate or control character
        return text
    text = text[: limit * 2].encode("utf-8", "replace").decode("utf-8")
    text = "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)
    return text[:limit]


_LONG_NUMBER = re.compile(r"[-+]?(?:\d+\.\d{3,}|\d*\.?\d+[eE][-+]?\d+|\d{5,})")
_NUMBER_RUN = re.compile(r"(?:[-+]?\d+(?:\.\d*)?[\s,;]+){3,}[-+]?\d+(?:\.\d*)?")


def scrub_numbers(text: str) -> str:
    """Replace what could be the grader's hidden inputs (long numbers, runs of numbers) in
    a message that student code wrote, so feedback never echoes them."""
    text = _NUMBER_RUN.sub("<numbers>", text)
    return _LONG_NUMBER.sub("<number>", text)


class FrameReader:
    """Incremental decoder: feed it bytes as they arrive, take complete frames out.

    ``budget`` bounds the total number of bytes the child may send.
    """

    def __init__(self, budget: int):
        self.buffer = bytearray()
        self.budget = budget
        self.received = 0
        self.start = 0  # where the next frame begins in ``buffer``
        self.error: ChannelError | None = None

    def feed(self, data: bytes) -> list[Frame]:
        """Complete frames in arrival order. After malformed data, ``error`` is set and the
        frames before it are still returned (so their effect is not lost)."""
        self.received += len(data)
        self.buffer += data
        frames, self.start = [], 0
        try:
            if self.received > self.budget:
                raise ChannelError(f"the child sent more than {self.budget} bytes of results")
            while (frame := self._next()) is not None:
                frames.append(frame)
        except ChannelError as error:
            self.error = error
        finally:
            del self.buffer[: self.start]  # once per read, not once per frame
        return frames

    def _next(self) -> Frame | None:
        buffer, start = self.buffer, self.start
        if len(buffer) < start + 4:
            return None
        (size,) = struct.unpack_from(">I", buffer, start)
        if size > MAX_HEADER:
            raise ChannelError("a frame header is too large")
        if len(buffer) < start + 4 + size:
            return None
        header = parse_header(bytes(buffer[start + 4 : start + 4 + size]))
        nbytes = header["nbytes"] if header["t"] == "value" else 0
        if nbytes < 0 or nbytes > self.budget:
            raise ChannelError("a frame has an invalid byte count")
        end = start + 4 + size + nbytes
        if len(buffer) < end:
            return None
        array = None
        if header["t"] == "value":
            array = decode_array(header, bytes(buffer[start + 4 + size : end]))
        self.start = end
        return Frame(header, array)


def decode_array(header: dict, payload: bytes) -> np.ndarray:
    """Rebuild an array from a validated header and its raw bytes (a fresh, owned copy)."""
    dtype, shape = header.get("dtype"), header.get("shape")
    if dtype not in ALLOWED_DTYPES:
        raise ChannelError(f"dtype {dtype[:20]!r} is not allowed")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise ChannelError("an array shape is invalid")
    count = 1
    for n in shape:  # exact Python integers: a product cannot wrap around
        count *= n
    if count * np.dtype(dtype).itemsize != len(payload):
        raise ChannelError("an array's byte count does not match its shape")
    return np.frombuffer(payload, dtype=dtype).reshape(shape).copy()


def encode(header: dict, payload: bytes = b"") -> bytes:
    """One frame for the child (the grader's own data: a plan or a probe's inputs)."""
    data = json.dumps(header).encode()
    return struct.pack(">I", len(data)) + data + payload


def encode_inputs(arrays: dict[str, np.ndarray]) -> bytes:
    """A probe's input arrays as one frame: names, dtypes and shapes, then the bytes."""
    table, chunks = [], []
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        table.append([name, array.dtype.str, list(array.shape), array.nbytes])
        chunks.append(array.tobytes())
    payload = b"".join(chunks)
    return encode({"t": "inputs", "arrays": table, "nbytes": len(payload)}, payload)
