"""dlib's 128-d face descriptor network, run by ONNX Runtime instead of dlib.

dlib-bin is built without BLAS: its ResNet takes ~75 CPU ms a face (3.6 GMAC/s for a
network of ~0.27 GMAC), three quarters of the faces pass. The same network, the same
weights, in ONNX Runtime takes a few ms. The weights are read from the model file of
``face_recognition_models`` (dlib's own serialisation: nothing is downloaded or converted
ahead of time), the graph is built in memory with :mod:`onnx.helper`.

The network (dlib's ``dnn_face_recognition_ex.cpp``, ``anet_type``): input 150 x 150 RGB,
``(pixel - mean) / 256``; conv 7x7/2 32, affine, relu, max pool 3x3/2; residual blocks of
two 3x3 convs with affines (32 x3, 64 x4, 128 x3, 256 x3, 256 x1, the first of each width
halving: its shortcut is a 2x2/2 average pool, zero-padded to the block's channels and
size); average over the remaining pixels; a 256 -> 128 product. dlib's convs and pools with
stride 2 have no padding, the 3x3/1 convs one pixel. :func:`check` compares the result with
dlib's on real faces (the tests do, to 1e-4).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core import paths
from core.errors import ModelUnavailable
from core.files import write_bytes_atomic

log = logging.getLogger(__name__)
CHIP = 150  # the network's input: dlib.get_face_chip(rgb, shape, 150, 0.25)
_TOKENS = re.compile(rb"\x01[\x03-\x20](con_4|affine_|relu_|add_prev_|avg_pool_2|max_pool_2"
                     rb"|fc_2|input_rgb_image_sized)")


class _Reader:
    """dlib's serialisation: integers as a control byte (length | 0x80 if negative) and
    little-endian bytes, floats as (mantissa, exponent), tensors as a version, four sizes
    and raw little-endian float32."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def int(self) -> int:
        control = self.data[self.pos]
        size = control & 0x0F
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def str(self) -> str:
        size = self.int()
        self.pos += size
        return self.data[self.pos - size:self.pos].decode("ascii")

    def float(self) -> float:
        mantissa = self.int()
        return float(mantissa * 2.0 ** self.int())

    def tensor(self) -> NDArray[np.float32]:
        if self.int() != 2:
            raise ValueError("unknown tensor version")
        shape = [self.int() for _ in range(4)]
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", count, self.pos).astype(np.float32)
        self.pos += 4 * count
        return values


@dataclass
class _Conv:
    weight: NDArray[np.float32]  # (out, in, kh, kw), the affine that follows folded in
    bias: NDArray[np.float32]
    stride: int
    pad: int


@dataclass
class _Net:
    mean: NDArray[np.float32] = field(default_factory=lambda: np.zeros(3, np.float32))
    stem: _Conv | None = None
    blocks: list[tuple[_Conv, _Conv, bool]] = field(default_factory=list)  # (a, b, down)
    fc: NDArray[np.float32] | None = None  # (256, 128)


def read_dlib_net(path: Path) -> _Net:
    """The layers of ``dlib_face_recognition_resnet_model_v1.dat``, in forward order."""
    data = path.read_bytes()
    net = _Net()
    convs: list[_Conv] = []
    pending: list[_Conv] = []
    down = False
    for match in _TOKENS.finditer(data):
        reader = _Reader(data, match.start())
        name = reader.str()
        if name == "input_rgb_image_sized":
            net.mean = np.array([reader.float() for _ in range(3)], np.float32)
        elif name == "con_4":
            params = reader.tensor()
            filters, rows, cols, stride, _sx, pad, _px = (reader.int() for _ in range(7))
            inputs = (params.size - filters) // (filters * rows * cols)
            weight = params[:filters * inputs * rows * cols].reshape(filters, inputs, rows, cols)
            convs.append(_Conv(weight, params[weight.size:].copy(), stride, pad))
        elif name == "affine_":
            params = reader.tensor()
            gamma, beta = np.split(params, 2)
            conv = convs[-1]
            conv.weight = conv.weight * gamma[:, None, None, None]
            conv.bias = conv.bias * gamma + beta
            if net.stem is None:
                net.stem = conv
            else:
                pending.append(conv)
        elif name == "avg_pool_2" and len(pending) == 2:
            down = True  # this block's shortcut is pooled (the last one pools everything)
        elif name == "add_prev_":
            net.blocks.append((pending[0], pending[1], down))
            pending, down = [], False
        elif name == "fc_2":
            outputs, inputs = reader.int(), reader.int()
            net.fc = reader.tensor().reshape(inputs, outputs)
    if net.stem is None or net.fc is None or len(net.blocks) != 14:
        raise ModelUnavailable(f"{path.name}: not dlib's face descriptor network")
    return net


def build_onnx(net: _Net) -> bytes:
    """The network as an ONNX model: input ``chips`` (N, 150, 150, 3) uint8, output
    ``descriptors`` (N, 128) float32."""
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: NDArray[Any]) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(x: str, c: _Conv, name: str) -> str:
        k = c.weight.shape[-1]
        return node("Conv", [x, const(name + ".w", c.weight), const(name + ".b", c.bias)],
                    name, kernel_shape=[k, k], strides=[c.stride] * 2, pads=[c.pad] * 4)

    def out_side(side: int, k: int, stride: int, pad: int) -> int:
        return 1 + (side + 2 * pad - k) // stride

    x = node("Cast", ["chips"], "float", to=TensorProto.FLOAT)
    x = node("Sub", [x, const("mean", net.mean)], "centred")
    x = node("Mul", [x, const("scale", np.array([1 / 256], np.float32))], "scaled")
    x = node("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    assert net.stem is not None and net.fc is not None
    x = node("Relu", [conv(x, net.stem, "stem")], "stem.relu")
    x = node("MaxPool", [x], "pool", kernel_shape=[3, 3], strides=[2, 2])
    side = out_side(out_side(CHIP, 7, 2, 0), 3, 2, 0)
    channels = net.stem.weight.shape[0]
    for i, (a, b, down) in enumerate(net.blocks):
        y = node("Relu", [conv(x, a, f"b{i}.a")], f"b{i}.a.relu")
        y = conv(y, b, f"b{i}.b")
        out_channels = b.weight.shape[0]
        if down:
            y_side = out_side(side, 3, a.stride, a.pad)
            short = node("AveragePool", [x], f"b{i}.short", kernel_shape=[2, 2], strides=[2, 2])
            s_side = out_side(side, 2, 2, 0)
            new_side = max(y_side, s_side)
            short = _pad(node, const, short, f"b{i}.short", out_channels - channels,
                         new_side - s_side)
            y = _pad(node, const, y, f"b{i}.b", 0, new_side - y_side)
            x, side, channels = short, new_side, out_channels
        x = node("Relu", [node("Add", [x, y], f"b{i}.add")], f"b{i}.relu")
    x = node("GlobalAveragePool", [x], "gap")
    x = node("Flatten", [x], "flat")
    node("MatMul", [x, const("fc", np.ascontiguousarray(net.fc))], "descriptors")
    graph = helper.make_graph(
        nodes, "dlib_face_descriptor",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", CHIP, CHIP, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["n", 128])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _pad(node: Any, const: Any, x: str, name: str, channels: int, side: int) -> str:
    """Zeros after the last channel, row and column (dlib's add_prev of unequal tensors)."""
    if not channels and not side:
        return x
    pads = np.array([0, 0, 0, 0, 0, channels, side, side], np.int64)
    return str(node("Pad", [x, const(name + ".pads", pads)], name + ".padded"))


def onnx_path(weights: Path) -> Path:
    """Where the ONNX model built from ``weights`` is cached (keyed by its size and date)."""
    stat = weights.stat()
    name = f"dlib-face-descriptor-{stat.st_size}-{int(stat.st_mtime)}.onnx"
    return paths.cache_dir() / "models" / name


class Descriptor:
    """dlib's face descriptor in ONNX Runtime (one thread: one per worker process). The
    model is built on first use (~0.5 s, and ~1 s to import :mod:`onnx`) and cached."""

    def __init__(self, weights: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        cached = onnx_path(weights)
        try:
            model = cached.read_bytes()
        except OSError:
            model = build_onnx(read_dlib_net(weights))
            try:
                write_bytes_atomic(cached, model)
            except OSError as exc:  # a read-only cache: built again next time
                log.info("cannot cache the face descriptor model in %s: %s", cached, exc)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model, options,
                                             providers=["CPUExecutionProvider"])

    def __call__(self, chips: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """(N, 128) descriptors of N face chips (150 x 150 x 3, RGB, from get_face_chip)."""
        if not chips:
            return np.zeros((0, 128), np.float32)
        batch = np.ascontiguousarray(np.stack(chips), dtype=np.uint8)
        return np.asarray(self._session.run(None, {"chips": batch})[0], np.float32)
