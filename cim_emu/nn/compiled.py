"""The crossbar layers as a torch custom operator, so that ``torch.compile`` runs converted models.

``torch.compile`` traces a model with fake tensors, which have no data to hand to the emulator:
the emulation must be opaque to the tracer. ``cim_emu::crossbar_layer`` (``torch.library``) is
that opaque step: it takes the layer's input, weight and bias tensors and an integer handle of
the layer (the registry below maps handles to live layers), runs the layer's own forward, and
returns the output and the dequantized weights the crossbars hold (``W_q * s_w``, saved for the
backward). Its fake implementation gives the output's shape from the layer's geometry; its
backward is the straight-through gradient of the eager layers: the vector-Jacobian product of
the layer's float op at the dequantized weights, passed straight to the float weights.

A layer's ``forward`` calls the operator only while being compiled
(``torch.compiler.is_compiling()``); eager runs are unchanged. The compiled forward gives the
same outputs as the eager one, bit for bit; gradients agree up to float rounding (the same
formula through the float op's autograd).
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any, Optional

import torch

#: Live crossbar layers by handle (weak: a layer that is gone leaves the registry by itself).
_LAYERS: "weakref.WeakValueDictionary[int, Any]" = weakref.WeakValueDictionary()
_HANDLES = itertools.count()


def register(layer: Any) -> int:
    """A new handle for ``layer`` (every layer object takes its own: copies included)."""
    handle = next(_HANDLES)
    _LAYERS[handle] = layer
    return handle


def _layer(handle: int) -> Any:
    layer = _LAYERS.get(handle)
    if layer is None:
        raise RuntimeError(f"cim_emu::crossbar_layer: no live crossbar layer has handle {handle}")
    return layer


@torch.library.custom_op("cim_emu::crossbar_layer", mutates_args=())
def crossbar_layer(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], handle: int,
                   training_step: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(layer(x), W_q * s_w)`` of the layer registered as ``handle``; ``training_step``: the
    call is a training step (the layer counts it, as its eager forward does with autograd on)."""
    layer = _layer(handle)
    with torch.no_grad():
        y = layer.eager_forward(x, training_step=training_step)
        used = layer._programmed[1]  # the crossbars this forward read (noisy training programs anew)
        w_deq = torch.cat([layer.dequantized_of(analog) for analog in used]).reshape(weight.shape)
    return y.contiguous() if y is not x else y.clone(), w_deq.to(weight.dtype).contiguous()


@crossbar_layer.register_fake
def _(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], handle: int,
      training_step: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return x.new_empty(_layer(handle).output_shape(tuple(x.shape))), torch.empty_like(weight)


def _setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
    x, _, bias, handle, _ = inputs
    ctx.save_for_backward(x, output[1], bias)
    ctx.handle = handle


def _backward(ctx: Any, grad_y: torch.Tensor, _grad_w_deq: Any) -> tuple:
    x, w_deq, bias = ctx.saved_tensors
    layer = _layer(ctx.handle)
    dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype

    def float_op(*operands: torch.Tensor) -> torch.Tensor:  # (x, weight[, bias])
        return layer.float_op(operands[0], operands[1], operands[2] if len(operands) == 3 else None)

    operands = (x.to(dtype), w_deq.to(dtype)) + (() if bias is None else (bias.to(dtype),))
    vjp = torch.func.vjp(float_op, *operands)[1]
    grads = vjp(grad_y.to(dtype))
    grad_x, grad_weight = grads[0].to(x.dtype), grads[1].to(w_deq.dtype)
    grad_bias = None if bias is None else grads[2].to(bias.dtype)
    return grad_x, grad_weight, grad_bias, None, None


crossbar_layer.register_autograd(_backward, setup_context=_setup_context)


def compiled_forward(layer: Any, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` through the operator (what a layer's forward runs while being compiled)."""
    step = bool(layer.training and torch.is_grad_enabled())
    return crossbar_layer(x, layer.weight, layer.bias, layer.op_handle, step)[0]
