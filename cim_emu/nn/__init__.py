"""PyTorch layers whose products run on emulated ReRAM crossbars (``pip install 'cim-emu[torch]'``).

:class:`CrossbarLinear` and :class:`CrossbarConv2d` are drop-in replacements for
``nn.Linear`` and ``nn.Conv2d`` (``groups=1``); :func:`convert` swaps them into a trained
model, :func:`calibrate` fixes their input scales (and, with ``adc=``, their ADC full scales)
from data, :func:`calibrate_adc` their ADC full scales alone. Each layer's forward is exactly
:class:`cim_emu.reram.quantize.AnalogLayer` (the ReRAM float API) on the layer's
:class:`~cim_emu.reram.config.ReramConfig`, so the bits are the engine's:

* weights: ``W_q = clip(rint(W / s_w), -M, M)``, ``M = 2**(weight_bits-1) - 1``, with
  ``s_w = max|W| / M`` per output channel (default) or per tensor;
* inputs: ``x_q = clip(rint(x / s_x))`` (round-half-to-even), ``s_x`` dynamic (each batch's
  maximum), fixed, or calibrated from data (``max`` or a ``percentile`` of ``|x|``);
* ``y_q = x_q @ W_q`` through the crossbar pipeline (DAC chunks, ADC per column and tile,
  device noise, shift-and-add: :class:`~cim_emu.reram.crossbar.CrossbarArray`);
* ``y = y_q * (s_x * s_w) + bias`` in float64, returned in the input's dtype. **The bias and
  the scales stay digital**, as in real designs: only ``x_q @ W_q`` is analog.

A convolution is the same product on its im2col matrix: every output position's receptive
field (``C * kh * kw`` values, ``torch.nn.functional.unfold`` order) is one row of ``x``, the
kernel reshaped to ``(out_channels, C * kh * kw)`` and transposed is ``W``; any stride,
padding and dilation, ``groups=1`` only. Without autograd (``torch.no_grad()``, or no tensor
that requires a gradient) a convolution quantizes its input once per value and unfolds the
integers (quantizing is element-wise with one scale, and the rows hold the covered values and
zeros), which gives the same bits from up to ``kh * kw`` times fewer values; and no layer
computes the straight-through surrogate weights.

Training (hardware-aware, straight-through): the forward runs the emulated pipeline; the
backward is the gradient of the matching float op with the same quantized weights,
``y = x @ (W_q * s_w) + bias`` (:class:`~cim_emu.nn.functions._CrossbarProduct`), so that a
model can be fine-tuned to tolerate ADC quantization and device noise. In training mode a
layer can also multiply its weights by ``1 + weight_noise * z`` (``z`` standard normal, fresh
per step, seeded) before quantizing, and its crossbars are programmed with a fresh seed per
step, so every step sees a new draw of the device noise.

Tensors cross to the engine by DLPack without copies (a CPU tensor becomes a numpy array, a
CUDA tensor a CuPy array; a non-contiguous one is made contiguous first) and the result comes
back as a tensor on the input's device.

The package, laid out as IBM aihwkit's ``nn/``:

* :mod:`~cim_emu.nn.functions` — the autograd function (straight-through backward) and the
  tensor <-> array crossing by DLPack (:func:`to_array`, :func:`to_tensor`);
* :mod:`~cim_emu.nn.modules` — :class:`CrossbarLinear`, :class:`CrossbarConv2d` and their
  shared base (programming the crossbars, the input scale, ADC calibration of one layer);
* :mod:`~cim_emu.nn.conversion` — whole models: :func:`convert`, :func:`calibrate`,
  :func:`calibrate_adc`, :func:`crossbar_layers`.

Importing it without PyTorch raises an ``ImportError`` naming the extra to install;
``import cim_emu`` never imports torch.
"""

from .._optional import require

require("torch", context="cim_emu.nn needs")

from .attention import CrossbarMultiheadAttention  # noqa: E402
from .conv import CrossbarConv1d, CrossbarConv2d  # noqa: E402
from .conversion import (  # noqa: E402
                         ConversionReport,
                         LayerDecision,
                         calibrate,
                         calibrate_adc,
                         convert,
                         crossbar_layers,
                         set_read_time,
)
from .functions import to_array, to_tensor  # noqa: E402
from .layer import CrossbarLayer  # noqa: E402
from .linear import CrossbarLinear  # noqa: E402

__all__ = ["CrossbarLayer", "CrossbarLinear", "CrossbarConv1d", "CrossbarConv2d", "CrossbarMultiheadAttention",
           "convert", "ConversionReport", "LayerDecision", "calibrate", "calibrate_adc", "set_read_time",
           "crossbar_layers", "to_array", "to_tensor"]
