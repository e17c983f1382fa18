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
_SCAN = _DECODER.scan_once  # the decoder's C scanner, with the hooks above
_KEYS = {kind: frozenset({"t", *fields}) for kind, fields in FIELDS.items()}
_ITEMSIZE = {name: np.dtype(name).itemsize for name in ALLOWED_DTYPES}
_LENGTH = struct.Struct(">I")


def parse_header(data: bytes | bytearray) -> dict:
    """A validated header: a flat object of one known frame type with its keys only."""
    try:
        text = data.decode("utf-8")
        header, end = _SCAN(text, 0)
    except ChannelError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError, StopIteration) as error:
        raise ChannelError(f"a frame header is not JSON ({type(error).__name__})") from None
    if end != len(text):
        raise ChannelError("a frame header is not JSON (data after it)")
    kind = header.get("t") if type(header) is dict else None
    if type(kind) is not str or kind not in FIELDS:
        raise ChannelError("a frame header is not an object of a known type")
    if header.keys() != _KEYS[kind]:
        raise ChannelError(f"a '{kind}' frame has unexpected or missing keys")
    for key, want in FIELDS[kind].items():
        value = header[key]
        if type(value) is not want:  # exactly: bool is not an int here, nor a str subclass
            raise ChannelError(f"a '{kind}' frame has an invalid {key}")
        if want is str:
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
        (size,) = _LENGTH.unpack_from(buffer, start)
        if size > MAX_HEADER:
            raise ChannelError("a frame header is too large")
        body = start + 4 + size
        if len(buffer) < body:
            return None
        header = parse_header(buffer[start + 4 : body])
        if header["t"] != "value":
            self.start = body
            return Frame(header)
        nbytes = header["nbytes"]
        if nbytes < 0 or nbytes > self.budget:
            raise ChannelError("a frame has an invalid byte count")
        end = body + nbytes
        if len(buffer) < end:
            return None
        array = decode_array(header, buffer[body:end])
        self.start = end
        return Frame(header, array)


def decode_array(header: dict, payload: bytes | bytearray) -> np.ndarray:
    """Rebuild an array from a validated header and its raw bytes (a fresh, owned copy)."""
    dtype, shape = header.get("dtype"), header.get("shape")
    if dtype not in _ITEMSIZE:
        raise ChannelError(f"dtype {dtype[:20]!r} is not allowed")
    if type(shape) is not list or len(shape) > MAX_NDIM:
        raise ChannelError("an array shape is invalid")
    count = 1
    for n in shape:  # exact Python integers: a product cannot wrap around
        if type(n) is not int or n < 0:
            raise ChannelError("an array shape is invalid")
        count *= n
    if count * _ITEMSIZE[dtype] != len(payload):
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
