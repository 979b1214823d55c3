"""The autograd function of a crossbar layer and the tensor <-> array crossing by DLPack.

:func:`to_array` hands a tensor's data to the engine without a copy (numpy for a CPU tensor,
CuPy for a CUDA one) and :func:`to_tensor` brings an engine result back.
:class:`_CrossbarProduct` runs the forward on the crossbars and takes its gradient from the
float op with the same quantized weights (straight-through).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

import numpy
import torch

from .. import backend as backends
from .._optional import require
from ..reram.quantize import AnalogLayer, quantize_inputs


def to_array(tensor: torch.Tensor) -> Any:
    """The tensor's data as a numpy array (CPU) or CuPy array (CUDA), shared through DLPack.

    Detached first; a non-contiguous tensor is made contiguous (the only copy)."""
    tensor = tensor.detach()
    if not tensor.is_contiguous():
        tensor = tensor.contiguous()
    if tensor.device.type == "cpu":
        return numpy.from_dlpack(tensor)
    if tensor.device.type == "cuda":
        cupy = require("cupy", context="crossbar layers on CUDA tensors need")
        return cupy.from_dlpack(tensor)
    raise ValueError(f"crossbar layers run on CPU or CUDA tensors; got a tensor on {tensor.device}")


@contextlib.contextmanager
def engine_device(device: torch.device) -> Iterator[None]:
    """The context the engine runs in for tensors on ``device``: for a CUDA device, CuPy's device
    ``device.index`` (so that a tensor on ``cuda:1`` is computed on GPU 1 whatever CuPy's
    current device is) and torch's current stream on it (so that the engine's kernels are
    ordered after the torch work that made the inputs, and before the work that reads the
    outputs); nothing for the CPU."""
    if device.type != "cuda":
        yield
        return
    cupy = require("cupy", context="crossbar layers on CUDA tensors need")
    index = torch.cuda.current_device() if device.index is None else device.index
    with cupy.cuda.Device(index), cupy.cuda.ExternalStream(torch.cuda.current_stream(index).cuda_stream, index):
        yield


def to_tensor(array: Any, like: torch.Tensor) -> torch.Tensor:
    """A numpy or CuPy array back as a tensor (through DLPack), with ``like``'s dtype and device."""
    return torch.from_dlpack(array).to(device=like.device, dtype=like.dtype)


class _CrossbarProduct(torch.autograd.Function):
    """``y = layer(x)`` on the crossbars; backward: the float op ``x @ w_deq.T + bias``'s gradient.

    ``x`` is ``(B, K)``, ``weight`` ``(N, K)`` (torch layout), ``w_deq`` ``(N, K)`` the
    dequantized weights ``W_q * s_w`` (the straight-through surrogate) and ``analog`` the
    programmed :class:`AnalogLayer`. Gradients: ``dx = dy @ w_deq``, ``dweight = dy.T @ x``
    (passed straight through the quantizer to the float weights), ``dbias = dy.sum(0)``.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                w_deq: torch.Tensor, analog: AnalogLayer, scale: Any) -> torch.Tensor:
        ctx.save_for_backward(x, w_deq)
        ctx.has_bias = bias is not None
        return to_tensor(analog_forward(analog, x, scale), x)

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple:
        x, w_deq = ctx.saved_tensors
        grad_x = grad_y @ w_deq if ctx.needs_input_grad[0] else None
        grad_weight = grad_y.t() @ x if ctx.needs_input_grad[1] else None
        grad_bias = grad_y.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias, None, None, None


def dequantized(analog: AnalogLayer, like: torch.Tensor) -> torch.Tensor:
    """``(W_q * s_w).T``, ``(N, K)``, in ``like``'s dtype and device: the straight-through surrogate."""
    return to_tensor(analog.dequantized_weights(), like).t()


def needs_grad(*tensors: Optional[torch.Tensor]) -> bool:
    """Whether autograd records an op on ``tensors`` (grad mode on and one of them requires grad)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def analog_forward(analog: AnalogLayer, rows: torch.Tensor, scale: Any) -> Any:
    """The rows ``(B, K)`` quantized with ``scale`` (``None``: dynamic, the rows' maximum; a
    number; or an array ``(B, 1)``, one per row) and run through the programmed crossbars
    ``analog``: ``y_q * (s_x * s_w) + bias``, an array of the rows' kind (numpy or CuPy)."""
    x = to_array(rows)
    chosen, _ = backends.resolve(analog.backend, x)
    x_q, x_scale = quantize_inputs(chosen.asarray(x), analog.config, scale, xp=chosen.xp)
    return analog.quantized_product(x_q, x_scale, like=x)


def crossbar_product(rows: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                     analog: AnalogLayer, scale: Any) -> torch.Tensor:
    """``(B, K)`` rows through the programmed crossbars ``analog`` (quantized with ``scale``,
    see :func:`analog_forward`), ``(B, N)`` out, with the straight-through backward of
    :class:`_CrossbarProduct` (``weight`` ``(N, K)`` and ``bias`` receive the gradients);
    without autograd, the forward alone (no surrogate weights)."""
    if not needs_grad(rows, weight, bias):
        return to_tensor(analog_forward(analog, rows, scale), rows)
    return _CrossbarProduct.apply(rows, weight, bias, dequantized(analog, rows), analog, scale)
