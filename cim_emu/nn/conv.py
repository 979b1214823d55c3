""":class:`CrossbarConv1d` and :class:`CrossbarConv2d`: convolutions as im2col onto emulated crossbars.

The input is padded as the torch layer pads it (every ``padding_mode``, integer, ``'same'`` or
``'valid'`` padding; ``torch.nn.functional.pad`` with the layer's own
``_reversed_padding_repeated_twice``), then unfolded into rows of ``C / groups * kernel``
values, one per output position and group (any stride and dilation): group ``g``'s rows go
through its own crossbars (its ``(out / groups, C / groups * kernel)`` block of the kernel),
and the outputs are folded back. A 1-D convolution is the 2-D one on inputs of height 1.
"""

from __future__ import annotations

from typing import Any, Iterator, Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..reram.config import ReramConfig
from ..reram.quantize import quantize_inputs
from .functions import needs_grad, to_array, to_tensor
from .layer import CrossbarLayer
from .linear import copy_parameters

#: The most bytes of unfolded integer rows that exist at once in a forward without autograd
#: (whole samples, at least one): the rows are ``kh * kw`` times larger than the input.
UNFOLD_BLOCK_BYTES = 16 * 2**20

#: ``nn.Conv1d``/``nn.Conv2d``'s padding modes, all supported.
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


class _CrossbarConv(CrossbarLayer):
    """What the 1-D and 2-D crossbar convolutions share (inputs handled as 4-D, height 1 for 1-D)."""

    in_channels: int
    out_channels: int
    kernel_size: tuple
    stride: tuple
    dilation: tuple
    padding_mode: PaddingMode
    _reversed_padding_repeated_twice: list
    _conv_forward: Any
    _spatial: int  # 1 or 2

    def _setup_conv(self, config: Optional[ReramConfig], per_channel: bool, input_scale: Optional[float],
                    seed: int, weight_noise: float, dynamic_scale: str) -> None:
        if dynamic_scale == "per_token":
            raise ValueError("dynamic_scale='per_token' applies to linear layers (a token is a row of their "
                             "input); a convolution takes 'per_sample' or 'per_batch'")
        self._setup_crossbars(config, per_channel, input_scale, seed, weight_noise, dynamic_scale)

    @classmethod
    def from_float(cls, conv: Any, config: Optional[ReramConfig] = None, **options: Any) -> Any:
        """A crossbar layer with ``conv``'s geometry, trained weights and bias (copied)."""
        make: Any = cls
        layer = make(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode, config=config,
                    device=conv.weight.device, dtype=conv.weight.dtype, **options)
        copy_parameters(conv, layer)
        return layer

    def _weight_matrix(self) -> torch.Tensor:
        return self.weight.reshape(self.out_channels, -1)  # type: ignore[attr-defined]

    def _bias_vector(self) -> Optional[torch.Tensor]:
        return self.bias  # type: ignore[attr-defined]

    def _pairs(self) -> tuple:
        """``(kernel, stride, dilation)`` as ``(height, width)`` pairs (height 1 for 1-D)."""
        if self._spatial == 1:
            return (1, self.kernel_size[0]), (1, self.stride[0]), (1, self.dilation[0])
        return self.kernel_size, self.stride, self.dilation

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` padded as the torch layer pads it, as a 4-D tensor."""
        pads = self._reversed_padding_repeated_twice
        if any(pads):
            x = F.pad(x, pads, mode="constant" if self.padding_mode == "zeros" else self.padding_mode)
        return x.unsqueeze(2) if self._spatial == 1 else x

    def _windows(self, height: int, width: int) -> tuple:
        """Output positions ``(H', W')`` over a padded input: ``floor((size - d (k - 1) - 1) / s) + 1``."""
        kernel, stride, dilation = self._pairs()
        return tuple((size - d * (k - 1) - 1) // s + 1
                     for size, k, s, d in zip((height, width), kernel, stride, dilation))

    def output_size(self, *sizes: int) -> tuple:
        """The output's spatial size for an input of spatial size ``sizes`` (before padding)."""
        pads = self._reversed_padding_repeated_twice
        padded = [size + pads[2 * i] + pads[2 * i + 1] for i, size in enumerate(reversed(sizes))][::-1]
        windows = self._windows(*([1] + padded if self._spatial == 1 else padded))
        return windows[1:] if self._spatial == 1 else windows

    def output_shape(self, shape: tuple) -> tuple:
        return (shape[0], self.out_channels) + self.output_size(*shape[2:])

    def float_op(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        return self._conv_forward(x, weight, bias)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        name, dims = type(self).__name__, ("L",) if self._spatial == 1 else ("H", "W")
        if not isinstance(x, torch.Tensor) or x.ndim != self._spatial + 2 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} expects a tensor (B, {self.in_channels}, {', '.join(dims)}); got {shape}")
        values = self._compute_input(x)
        padded = self._padded(values)
        out_h, out_w = self._windows(padded.shape[2], padded.shape[3])
        if out_h < 1 or out_w < 1:
            raise ValueError(f"input {tuple(x.shape)} is smaller than the kernel's receptive field")
        batch = x.shape[0]
        if self._calibration is not None:
            self._recording(self._rows(padded), batch)
            return self._conv_forward(values, self.weight.to(values.dtype),  # type: ignore[attr-defined]
                                      None if self.bias is None else self.bias.to(values.dtype))  # type: ignore
        if needs_grad(padded, self.weight, self.bias):  # type: ignore[attr-defined]
            y = self._product(self._rows(padded), batch)
        else:
            y = self._quantized_forward(padded)
        spatial = (out_w,) if self._spatial == 1 else (out_h, out_w)
        return y.reshape(batch, out_h * out_w, self.out_channels).transpose(1, 2).reshape(
            (batch, self.out_channels) + spatial).to(x.dtype)

    def _rows(self, padded: torch.Tensor) -> torch.Tensor:
        """The float rows ``(B * H' * W', C * kh * kw)`` of a padded 4-D input (``F.unfold`` order)."""
        kernel, stride, dilation = self._pairs()
        columns = F.unfold(padded, kernel, dilation, 0, stride)  # (B, K, L)
        return columns.transpose(1, 2).reshape(-1, columns.shape[1])

    def _quantized_forward(self, padded: torch.Tensor) -> torch.Tensor:
        """The forward without autograd: the padded input quantized once per value, then unfolded.

        Quantizing is element-wise, with one scale per sample (or per batch): the rows hold the
        values the kernel covers (each up to ``kh * kw`` times), so the input, its uncovered
        values set to 0 (a stride past the kernel skips some), gives the same checks, scales
        and integers as its rows, from up to ``kh * kw`` times fewer values; the integer rows
        are then unfolded, ``UNFOLD_BLOCK_BYTES`` of them at a time (one read of the crossbars
        over all the blocks). Same bits as :meth:`_product` on the float rows.
        """
        analogs = self.analog_layers()
        backend = analogs[0].backend
        covered = self._covered(padded.shape[2], padded.shape[3], padded.device)
        values = padded if covered is None else padded.masked_fill(~covered, 0)
        batch = values.shape[0]
        scale: Any = self.input_scale
        if scale is None and self.dynamic_scale == "per_sample":
            scale = self._sample_scales(values, batch)
        if isinstance(scale, torch.Tensor):
            scale = to_array(scale[:, None, None, None])
        xp = backend.xp
        x_q, x_scale = quantize_inputs(backend.asarray(to_array(values)), self.config, scale, xp=xp)
        out_h, out_w = self._windows(x_q.shape[2], x_q.shape[3])
        positions, channels = out_h * out_w, x_q.shape[1] // len(analogs)
        (kh, kw), _, _ = self._pairs()
        samples = max(1, UNFOLD_BLOCK_BYTES // max(1, positions * channels * kh * kw * x_q.itemsize))

        def blocks(group: int) -> Iterator[tuple]:  # the group's rows, a block of samples at a time
            for s0 in range(0, max(batch, 1), samples):
                rows = self._unfolded(x_q[s0:s0 + samples, group * channels:(group + 1) * channels], xp)
                sample_scales = x_scale.reshape(batch)[s0:s0 + samples] if getattr(x_scale, "ndim", 0) else None
                yield rows, x_scale if sample_scales is None else xp.repeat(sample_scales, positions)[:, None]

        outputs = [xp.concatenate(analog.quantized_product_in_blocks(blocks(g))) for g, analog in enumerate(analogs)]
        return to_tensor(outputs[0] if len(outputs) == 1 else xp.concatenate(outputs, axis=1), padded)

    def _unfolded(self, x: Any, xp: Any) -> Any:
        """The rows ``(B * H' * W', C * kh * kw)`` of a padded array ``x`` ``(B, C, H, W)``, as
        ``F.unfold(x).transpose(1, 2)`` orders them: a strided view, copied once."""
        B, C, H, W = x.shape
        (kh, kw), (sh, sw), (dh, dw) = self._pairs()
        out_h, out_w = self._windows(H, W)
        sB, sC, sH, sW = x.strides
        windows = xp.lib.stride_tricks.as_strided(x, (B, out_h, out_w, C, kh, kw),
                                                  (sB, sH * sh, sW * sw, sC, sH * dh, sW * dw))
        return windows.reshape(B * out_h * out_w, C * kh * kw)

    def _covered(self, height: int, width: int, device: Any) -> Optional[torch.Tensor]:
        """``(H, W)`` mask of the padded input's positions some output's receptive field
        covers, or ``None`` when it covers them all."""
        masks = []
        for size, out, k, s, d in zip((height, width), self._windows(height, width), *self._pairs()):
            positions = (torch.arange(out)[:, None] * s + torch.arange(k)[None] * d).reshape(-1)
            mask = torch.zeros(size, dtype=torch.bool)
            mask[positions[positions < size]] = True
            masks.append(mask)
        if bool(masks[0].all()) and bool(masks[1].all()):
            return None
        return (masks[0][:, None] & masks[1][None, :]).to(device)


class CrossbarConv1d(_CrossbarConv, nn.Conv1d):
    """``nn.Conv1d`` as im2col onto emulated ReRAM crossbars (see :mod:`cim_emu.nn.conv`): every
    padding mode, stride, dilation and ``groups`` (each group its own crossbars). Inputs
    ``(B, C, L)``; other parameters: see :class:`CrossbarConv2d`."""

    _spatial = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: PaddingMode = "zeros", *, config: Optional[ReramConfig] = None, per_channel: bool = True,
                 input_scale: Optional[float] = None, dynamic_scale: str = "per_sample", seed: int = 0,
                 weight_noise: float = 0.0, device: Any = None, dtype: Any = None) -> None:
        nn.Conv1d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                           padding_mode, device=device, dtype=dtype)
        self._setup_conv(config, per_channel, input_scale, seed, weight_noise, dynamic_scale)

    def extra_repr(self) -> str:
        return f"{nn.Conv1d.extra_repr(self)}, {self.crossbar_extra_repr()}"


class CrossbarConv2d(_CrossbarConv, nn.Conv2d):
    """``nn.Conv2d`` as im2col onto emulated ReRAM crossbars.

    The input ``(B, C, H, W)`` is padded as ``nn.Conv2d`` pads it (any ``padding`` and
    ``padding_mode``) and unfolded into rows of ``C / groups * kh * kw`` values, one per output
    position and group (any stride and dilation); each group's rows are multiplied by its block
    of the kernel, a ``(C / groups * kh * kw, out / groups)`` matrix on its own crossbars,
    exactly as :class:`AnalogLayer` computes it, and folded back to ``(B, out, H', W')``. The
    bias and the scales stay digital. A dynamic input scale is per sample (default) or per
    batch (``dynamic_scale``). Other parameters: see :class:`CrossbarLinear`.
    """

    _spatial = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: PaddingMode = "zeros", *, config: Optional[ReramConfig] = None, per_channel: bool = True,
                 input_scale: Optional[float] = None, dynamic_scale: str = "per_sample", seed: int = 0,
                 weight_noise: float = 0.0, device: Any = None, dtype: Any = None) -> None:
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                           padding_mode, device=device, dtype=dtype)
        self._setup_conv(config, per_channel, input_scale, seed, weight_noise, dynamic_scale)

    def extra_repr(self) -> str:
        return f"{nn.Conv2d.extra_repr(self)}, {self.crossbar_extra_repr()}"
