"""PyTorch layers whose products run on emulated ReRAM crossbars (``pip install 'cim-emu[torch]'``).

:class:`CrossbarLinear`, :class:`CrossbarConv1d`, :class:`CrossbarConv2d` and
:class:`CrossbarMultiheadAttention` are drop-in replacements for ``nn.Linear`` (and its
subclasses), ``nn.Conv1d``, ``nn.Conv2d`` (any padding, padding mode and groups) and
``nn.MultiheadAttention`` (its four projections on crossbars, the attention digital);
:func:`convert` swaps them into a trained model and reports what it converted,
:func:`calibrate` fixes their input scales (and, with ``adc=``, their ADC full scales) from
data, :func:`calibrate_adc` their ADC full scales alone, :func:`set_read_time` reads every
layer at a time after programming. Each layer's product is exactly
:class:`cim_emu.reram.quantize.AnalogLayer` (the ReRAM float API) on the layer's
:class:`~cim_emu.reram.config.ReramConfig`, so the bits are the engine's:

* weights: ``W_q = clip(rint(W / s_w), -M, M)``, ``M = 2**(weight_bits-1) - 1``, with
  ``s_w = max|W| / M`` per output channel (default) or per tensor;
* inputs: ``x_q = clip(rint(x / s_x))`` (round-half-to-even), ``s_x`` fixed, calibrated from
  data (``max`` or a ``percentile`` of ``|x|``), or dynamic: per sample (default: outputs do
  not depend on the rest of the batch), per token or per batch;
* ``y_q = x_q @ W_q`` through the crossbar pipeline (DAC chunks, ADC per column and tile,
  device noise, shift-and-add: :class:`~cim_emu.reram.crossbar.CrossbarArray`);
* ``y = y_q * (s_x * s_w) + bias`` in float64, returned in the input's dtype. **The bias and
  the scales stay digital**, as in real designs: only ``x_q @ W_q`` is analog.

A convolution is the same product on its im2col matrix, one crossbar array per group.
Training is straight-through (the float op's gradient with the quantized weights), with fresh
device noise per step. Converted models save and load bit for bit (``state_dict`` extra
state, ``copy.deepcopy``, ``torch.save``), take float16/bfloat16 inputs, and run under
``torch.compile`` through the custom operator ``cim_emu::crossbar_layer``. Tensors cross to
the engine by DLPack without copies (numpy for CPU tensors, CuPy for CUDA ones).

The specification, with examples: ``docs/pytorch.md``. The package, laid out as IBM aihwkit's
``nn/``:

* :mod:`~cim_emu.nn.layer` — :class:`CrossbarLayer`, what every layer shares (programming,
  input scales, the product of rows, calibration of one layer, errors naming the layer);
* :mod:`~cim_emu.nn.state` — the saved state (``state_dict`` extra state, pickling);
* :mod:`~cim_emu.nn.linear`, :mod:`~cim_emu.nn.conv`, :mod:`~cim_emu.nn.attention` — the layers;
* :mod:`~cim_emu.nn.functions` — the autograd function (straight-through backward) and the
  tensor <-> array crossing by DLPack (:func:`to_array`, :func:`to_tensor`);
* :mod:`~cim_emu.nn.compiled` — the custom operator for ``torch.compile``;
* :mod:`~cim_emu.nn.conversion` — whole models: :func:`convert` and its report,
  :func:`calibrate`, :func:`calibrate_adc`, :func:`set_read_time`, :func:`crossbar_layers`.

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
from .layer import CrossbarLayer, LayerTypeError, LayerValueError  # noqa: E402
from .linear import CrossbarLinear  # noqa: E402

__all__ = ["CrossbarLayer", "LayerValueError", "LayerTypeError", "CrossbarLinear", "CrossbarConv1d", "CrossbarConv2d",
           "CrossbarMultiheadAttention", "convert", "ConversionReport", "LayerDecision", "calibrate", "calibrate_adc",
           "set_read_time", "crossbar_layers", "to_array", "to_tensor"]
