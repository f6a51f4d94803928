"""The selfie segmenter's TFLite graph -> SelfieSegmenter's state dict.

The graph's weights are float16 constants behind DEQUANTIZE operators; its convolutions are
CONV_2D, DEPTHWISE_CONV_2D and one MediaPipe custom operator, Convolution2DTransposeBias (a
transposed convolution with a bias). They are taken in execution order and matched to the
module's convolutions in registration order, checking each shape and stride.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bgrm.errors import EnvironmentProblem
from bgrm.matting.selfie import tflite
from bgrm.matting.selfie.segmenter import SelfieSegmenter

TRANSPOSED = "Convolution2DTransposeBias"

TO_TORCH_LAYOUT = {
    "CONV_2D": (0, 3, 1, 2),  # [out, kh, kw, in] -> [out, in, kh, kw]
    "DEPTHWISE_CONV_2D": (3, 0, 1, 2),  # [1, kh, kw, ch] -> [ch, 1, kh, kw]
    TRANSPOSED: (3, 0, 1, 2),  # [out, kh, kw, in] -> [in, out, kh, kw]
}


def convert(model_bytes: bytes) -> dict[str, torch.Tensor]:
    """Read a selfie segmentation .tflite and return a state dict for SelfieSegmenter."""
    graph = tflite.read(model_bytes)
    _check_assumptions(graph)
    layers = list(_convolutions(graph))
    module = SelfieSegmenter()
    convs = [
        (name, m)
        for name, m in module.named_modules()
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
    ]
    if len(layers) != len(convs):
        raise EnvironmentProblem(
            f"weights do not fit the model: {len(layers)} convolutions, expected {len(convs)}"
        )
    state: dict[str, torch.Tensor] = {}
    for (name, conv), (stride, weight, bias) in zip(convs, layers, strict=True):
        if weight.shape != tuple(conv.weight.shape) or stride != conv.stride[0]:
            raise EnvironmentProblem(f"weights do not fit the model at {name}: {weight.shape}")
        state[f"{name}.weight"] = torch.from_numpy(weight)
        state[f"{name}.bias"] = torch.from_numpy(bias)
    return state


def _check_assumptions(graph: tflite.Graph) -> None:
    """What the port takes for granted: activations are operators of their own; convolutions are
    not dilated, stride alike both ways, keep one channel per depthwise input, and pad SAME when
    wider than 1x1; upsampling samples at half-pixel centres."""
    for op in graph.operators:
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            options = op.options
            wide = graph.tensors[op.inputs[1]].shape[1] > 1
            plain = (
                options["activation"] == 0
                and options["dilation_h"] == options["dilation_w"] == 1
                and options["stride_h"] == options["stride_w"]
                and options.get("depth_multiplier", 1) == 1
                and (options["padding"] == 0 or not wide)
            )
            if not plain:
                raise EnvironmentProblem(f"weights do not fit the model: {op.kind} {options}")
        if op.kind == "RESIZE_BILINEAR" and not op.options["half_pixel_centers"]:
            raise EnvironmentProblem("weights do not fit the model: RESIZE_BILINEAR corners")


def _convolutions(graph: tflite.Graph):
    """(stride, weight, bias) of each convolution in execution order, float32 in torch layout
    (the custom operator's options are three int32: padding, stride_w, stride_h)."""
    constants = _dequantized(graph)
    for op in graph.operators:
        if op.kind not in TO_TORCH_LAYOUT:
            continue
        weight, bias = (constants[index] for index in op.inputs[1:3])
        if op.kind == TRANSPOSED:
            stride = int(np.frombuffer(op.custom_options, np.int32)[2])
        else:
            stride = op.options["stride_h"]
        weight = np.ascontiguousarray(weight.transpose(TO_TORCH_LAYOUT[op.kind]))
        yield stride, weight, bias.copy()


def _dequantized(graph: tflite.Graph) -> dict[int, np.ndarray]:
    """Every constant as float32, by tensor index: the stored ones, and the outputs of the
    DEQUANTIZE operators that widen float16 constants."""
    constants = {
        index: tensor.data.astype(np.float32)
        for index, tensor in enumerate(graph.tensors)
        if tensor.data is not None and tensor.dtype in (np.float16, np.float32)
    }
    for op in graph.operators:
        if op.kind == "DEQUANTIZE" and op.inputs[0] in constants:
            constants[op.outputs[0]] = constants[op.inputs[0]]
    return constants
