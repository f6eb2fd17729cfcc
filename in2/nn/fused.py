"""Linear layers and convolutions with the bias, a sum and the activation fused into one oneDNN
call on the CPU, and computed in bf16 where ``runtime.matmul_precision`` asks for it.

Why: ``addmm(bias, x, W^T, out=)`` first broadcasts the bias into the output (a full memory
pass) and the ReLU is another; oneDNN's fused linear does both inside the matrix product.
Measured on the 2-core build machine for a [16384, 256] x [256, 256] layer: 14 ms against
33 ms. The result is the same matrix product summed in another order (fp32 rounding, about
1e-7 relative). Elsewhere (CUDA, MPS, a CPU build without oneDNN) it is ``F.linear``.

In bf16 (fp32 inputs, a CPU with native bf16, inside ``runtime.matmul_precision``) inputs and
weights are rounded to bf16 and the products accumulate in fp32; results come back as fp32
unless the caller keeps them for another product (``keep_reduced``).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import reduced_matmul_dtype


@functools.cache
def _onednn_linear() -> bool:
    """True when this build's oneDNN fused linear runs here (checked once on a tiny input)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        x, w = torch.ones(2, 3), torch.ones(4, 3)
        y = torch.ops.mkldnn._linear_pointwise(x, w, torch.zeros(4), "relu", [], "")
    except (AttributeError, RuntimeError):
        return False
    return bool(torch.equal(y, torch.full((2, 4), 3.0)))


def _reduced(x: torch.Tensor) -> torch.dtype | None:
    """The dtype an fp32 inference product on ``x`` computes in (None = as it is)."""
    if x.dtype != torch.float32 or x.device.type != "cpu" or torch.is_grad_enabled():
        return None
    return reduced_matmul_dtype()


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, relu: bool = False,
           gelu: bool = False, keep_reduced: bool = False) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` on ``[N, C]`` rows, then ReLU when ``relu`` or GELU (erf) when
    ``gelu``; fused on the CPU without autograd. ``keep_reduced``: a bf16 result stays bf16."""
    low = _reduced(x)
    if low is not None and _onednn_linear():
        y = linear(x.to(low), weight, bias, relu, gelu)
        return y if keep_reduced else y.float()
    fused = (
        x.device.type == "cpu" and x.dim() == 2 and not torch.is_grad_enabled()
        and x.dtype in (torch.float32, torch.bfloat16) and _onednn_linear()
    )
    if fused:
        weight = weight.to(x.dtype)
        bias = None if bias is None else bias.to(x.dtype)
        act = "relu" if relu else "gelu" if gelu else "none"
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), weight, bias, act, [], "none" if gelu else "")
    y = F.linear(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype))
    return y.relu_() if relu else F.gelu(y) if gelu else y


@functools.cache
def _onednn_conv() -> bool:
    """True when this build's oneDNN fused convolution (with a fused sum) runs here."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        x, w = torch.ones(1, 1, 2, 2), torch.ones(1, 1, 1, 1)
        y = torch.ops.mkldnn._convolution_pointwise.binary(
            x, x, w, None, [0, 0], [1, 1], [1, 1], 1, "add", None, "relu", [], "")
    except (AttributeError, RuntimeError):
        return False
    return bool(torch.equal(y, torch.full((1, 1, 2, 2), 2.0)))


def conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int = 1, act: str = "none",
         add: torch.Tensor | None = None, padding: int = 0, full_precision: bool = False) -> torch.Tensor:
    """``act(conv2d(x, weight, bias, stride, padding) + add)`` (zero padding), ``act`` "none",
    "relu" or "gelu" (erf); one oneDNN call on the CPU without autograd (no separate passes over the map
    for the sum and the activation), plain PyTorch elsewhere. ``full_precision``: never in bf16
    (the stem, which reads the photo's pixels: bf16 would round them)."""
    low = None if full_precision else _reduced(x)
    if low is not None and _onednn_conv():
        # the product in bf16; the sum and the activation in fp32 (no fused bf16 sum here)
        y = conv(x.to(low), weight, bias, stride, act if add is None else "none", None, padding).float()
        if add is None:
            return y
        y = y.add_(add)
        return y.relu_() if act == "relu" else F.gelu(y) if act == "gelu" else y
    weight = weight.to(x.dtype)
    bias = None if bias is None else bias.to(x.dtype)
    # (this build's fused sum + ReLU has no bf16 kernel: bf16 sums take the plain path)
    fused = (x.device.type == "cpu" and not torch.is_grad_enabled() and _onednn_conv()
             and (x.dtype == torch.float32 or (x.dtype == torch.bfloat16 and add is None)))
    if fused:
        args = ([padding, padding], [stride, stride], [1, 1], 1)
        if add is None:
            return torch.ops.mkldnn._convolution_pointwise(
                x, weight, bias, *args, act, [], "none" if act == "gelu" else ""
            )
        if act in ("none", "relu"):
            return torch.ops.mkldnn._convolution_pointwise.binary(
                x, add.contiguous(memory_format=torch.channels_last), weight, bias, *args, "add", None,
                None if act == "none" else act, [], "")
    y = F.conv2d(x, weight, bias, stride=stride, padding=padding)
    if add is not None:
        y = y.add_(add)
    if act == "relu":
        return y.relu_()
    return F.gelu(y) if act == "gelu" else y


def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` as one convolution (frozen statistics)."""
    (weight,), bias = scaled(bn, conv)
    return weight, bias


def scaled(bn: nn.BatchNorm2d, *convs: nn.Conv2d) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The weights of ``convs`` (bias-free, summed before ``bn``) scaled by frozen BN, and its shift."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    return [conv.weight * scale[:, None, None, None] for conv in convs], shift
