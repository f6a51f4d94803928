"""Read a TensorFlow Lite file: its tensors (with their constant data) and its operators.

Only what converting the selfie segmenter needs, read straight from the flatbuffer with the field
order of TensorFlow Lite's schema (schema.fbs): no TensorFlow, MediaPipe or flatbuffers package.
A flatbuffer table starts with a signed offset back to its vtable, whose 16-bit entries give each
field's position inside the table (0: absent, the schema's default applies); vectors and strings
are a 32-bit length and their elements; references between objects are 32-bit forward offsets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

BUILTIN_NAMES = {
    0: "ADD",
    1: "AVERAGE_POOL_2D",
    3: "CONV_2D",
    4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE",
    14: "LOGISTIC",
    18: "MUL",
    19: "RELU",
    23: "RESIZE_BILINEAR",
    32: "CUSTOM",
    40: "MEAN",
    117: "HARD_SWISH",
}
"""The builtin operators this reader names (others read as BUILTIN_<code>)."""

TENSOR_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64}

OPTION_FIELDS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "CONV_2D": (
        ("padding", "b", 0),
        ("stride_w", "i", 0),
        ("stride_h", "i", 0),
        ("activation", "b", 0),
        ("dilation_w", "i", 1),
        ("dilation_h", "i", 1),
    ),
    "DEPTHWISE_CONV_2D": (
        ("padding", "b", 0),
        ("stride_w", "i", 0),
        ("stride_h", "i", 0),
        ("depth_multiplier", "i", 0),
        ("activation", "b", 0),
        ("dilation_w", "i", 1),
        ("dilation_h", "i", 1),
    ),
    "RESIZE_BILINEAR": (
        ("new_height", "i", 0),
        ("new_width", "i", 0),
        ("align_corners", "?", 0),
        ("half_pixel_centers", "?", 0),
    ),
}
"""Builtin options of the operators whose options the conversion checks, in schema order: (name,
struct format, default). In the schema, padding is SAME=0 / VALID=1, activation NONE=0."""


@dataclass(frozen=True)
class Tensor:
    """One tensor of the graph: shape, element type, and its constant data (None if computed)."""

    name: str
    shape: tuple[int, ...]
    dtype: type
    data: np.ndarray | None


@dataclass(frozen=True)
class Operator:
    """One operator: its kind (a builtin's name, or a custom op's code), tensor indices in and
    out, builtin options by name, and a custom op's raw options."""

    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, int]
    custom_options: bytes


@dataclass(frozen=True)
class Graph:
    """The first subgraph of a model: its tensors, operators in execution order, inputs and
    outputs (tensor indices)."""

    tensors: list[Tensor]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


class _Table:
    """A flatbuffer table at ``pos`` of ``buf``."""

    def __init__(self, buf: bytes, pos: int):
        self.buf = buf
        self.pos = pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_size = struct.unpack_from("<H", buf, self.vtable)[0]

    def _field(self, index: int) -> int | None:
        entry = 4 + 2 * index
        if entry >= self.vtable_size:
            return None
        offset = struct.unpack_from("<H", self.buf, self.vtable + entry)[0]
        return self.pos + offset if offset else None

    def _target(self, index: int) -> int | None:
        at = self._field(index)
        return None if at is None else at + struct.unpack_from("<I", self.buf, at)[0]

    def scalar(self, index: int, fmt: str, default: int = 0) -> int:
        at = self._field(index)
        return default if at is None else struct.unpack_from("<" + fmt, self.buf, at)[0]

    def table(self, index: int) -> _Table | None:
        at = self._target(index)
        return None if at is None else _Table(self.buf, at)

    def _vector(self, index: int) -> tuple[int, int]:
        at = self._target(index)
        if at is None:
            return 0, 0
        return at + 4, struct.unpack_from("<I", self.buf, at)[0]

    def tables(self, index: int) -> list[_Table]:
        start, length = self._vector(index)
        slots = (start + 4 * i for i in range(length))
        return [_Table(self.buf, s + struct.unpack_from("<I", self.buf, s)[0]) for s in slots]

    def array(self, index: int, dtype: type) -> np.ndarray:
        start, length = self._vector(index)
        return np.frombuffer(self.buf, dtype, count=length, offset=start)

    def raw(self, index: int) -> bytes:
        start, length = self._vector(index)
        return bytes(self.buf[start : start + length])

    def string(self, index: int) -> str:
        return self.raw(index).decode()


def read(data: bytes) -> Graph:
    """The first subgraph of the TFLite model in ``data``."""
    if data[4:8] != b"TFL3":
        raise ValueError("not a TensorFlow Lite model")
    model = _Table(data, struct.unpack_from("<I", data, 0)[0])
    codes = [_operator_name(code) for code in model.tables(1)]
    buffers = [buffer.raw(0) for buffer in model.tables(4)]
    subgraph = model.tables(2)[0]
    tensors = [_tensor(t, buffers) for t in subgraph.tables(0)]
    operators = [_operator(op, codes) for op in subgraph.tables(3)]
    inputs = tuple(int(i) for i in subgraph.array(1, np.int32))
    outputs = tuple(int(i) for i in subgraph.array(2, np.int32))
    return Graph(tensors, operators, inputs, outputs)


def _operator_name(code: _Table) -> str:
    """OperatorCode: deprecated_builtin_code (0, int8), custom_code (1), builtin_code (3)."""
    builtin = max(code.scalar(0, "b"), code.scalar(3, "i"))
    if builtin == 32:
        return code.string(1)
    return BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")


def _tensor(tensor: _Table, buffers: list[bytes]) -> Tensor:
    """Tensor: shape (0), type (1), buffer (2), name (3)."""
    shape = tuple(int(s) for s in tensor.array(0, np.int32))
    dtype = TENSOR_TYPES[tensor.scalar(1, "b")]
    content = buffers[tensor.scalar(2, "I")]
    data = np.frombuffer(content, dtype).reshape(shape) if content else None
    return Tensor(tensor.string(3), shape, dtype, data)


def _operator(op: _Table, codes: list[str]) -> Operator:
    """Operator: opcode_index (0), inputs (1), outputs (2), builtin_options (4), custom (5)."""
    kind = codes[op.scalar(0, "I")]
    options = {}
    table = op.table(4)
    for index, (name, fmt, default) in enumerate(OPTION_FIELDS.get(kind, ())):
        options[name] = int(table.scalar(index, fmt, default)) if table else default
    return Operator(
        kind,
        tuple(int(i) for i in op.array(1, np.int32)),
        tuple(int(i) for i in op.array(2, np.int32)),
        options,
        op.raw(5),
    )
