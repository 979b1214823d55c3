"""The benchmark models: a CIFAR-style ResNet-18 and a transformer block (needs torch).

Written here (no torchvision) so that ``cim-emu bench --engine models``, ``bench/test_models.py``
and :mod:`~cim_emu.studies.model_benchmarks` share one definition. torch is imported when a
model is first built (:func:`cim_emu._optional.require`), so this module imports without it.

:func:`resnet18`
    CIFAR-style ResNet-18 (He et al. 2016, the 32 x 32 variant): a 3x3 stem convolution (64
    channels, stride 1) with BatchNorm and ReLU, four stages of two basic blocks (64, 128, 256
    and 512 channels, stride 2 from the second stage on, a 1x1 convolution with BatchNorm as
    the shortcut where the shape changes), global average pooling and a linear classifier (10
    classes). Convolutions have no bias (BatchNorm follows each). Input: ``(B, 3, 32, 32)``
    images normalised by the CIFAR-10 channel means and deviations (:func:`cifar_like_images`),
    so the stem sees signed values; every other crossbar layer sees a ReLU's output (or the
    pooled one), which is non-negative.
:func:`transformer_block`
    A pre-LayerNorm transformer block: ``h = x + out(attention(q(ln1(x)), k(ln1(x)), v(ln1(x))))``,
    ``y = h + down(relu(up(ln2(h))))``, width 256, 4 heads, FFN 1024, sequence 128. Every
    projection (``q``, ``k``, ``v``, ``out``, ``up``, ``down``) is an ``nn.Linear``, so that
    :func:`cim_emu.nn.convert` puts all six on crossbars; the scaled dot product and softmax stay
    in float (``scaled_dot_product_attention``). The inputs of ``q``, ``k``, ``v`` (LayerNorm),
    ``out`` (attention) and ``up`` (LayerNorm) are signed; ``down`` sees a ReLU's output.

:data:`MODELS` names each with its input, its signed-input layers (:attr:`ModelSpec.signed_layers`,
for a per-layer :class:`~cim_emu.reram.config.InputEncoding` with ``signed=True``) and its loss.
:func:`settle_batch_norm` gives BatchNorm running statistics of the input distribution, as after
training, so that eval and train mode see activations of the same scale.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional

from .._optional import require

#: CIFAR-10 channel means and standard deviations (the usual normalisation).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)

#: The transformer block's shape: sequence, width, heads, FFN width.
SEQUENCE, WIDTH, HEADS, FFN = 128, 256, 4, 1024


def require_torch() -> Any:
    """The ``torch`` module, or :class:`~cim_emu._optional.MissingDependencyError` naming the extra."""
    return require("torch", context="the benchmark models need")


@functools.lru_cache(maxsize=None)
def _classes() -> dict:
    """The model classes, defined once torch is imported (they subclass ``nn.Module``)."""
    torch = require_torch()
    nn, F = torch.nn, torch.nn.functional
    Module: Any = nn.Module  # a base class the type checker takes as Any (torch is imported here)

    class BasicBlock(Module):
        """Two 3x3 convolutions with BatchNorm, ReLU between, the shortcut added before the last ReLU."""

        def __init__(self, in_channels: int, channels: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
            self.shortcut = nn.Sequential()
            if stride != 1 or in_channels != channels:
                self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                              nn.BatchNorm2d(channels))

        def forward(self, x: Any) -> Any:
            y = F.relu(self.bn1(self.conv1(x)))
            return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))

    class ResNet18(Module):
        """CIFAR-style ResNet-18 (see the module docstring)."""

        def __init__(self, classes: int = 10, width: int = 64) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            stages, channels = [], width
            for stage in range(4):
                out = width * 2**stage
                stride = 1 if stage == 0 else 2
                stages.append(nn.Sequential(BasicBlock(channels, out, stride), BasicBlock(out, out, 1)))
                channels = out
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.linear = nn.Linear(channels, classes)

        def forward(self, x: Any) -> Any:
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.layer4(self.layer3(self.layer2(self.layer1(y))))
            return self.linear(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))

    class TransformerBlock(Module):
        """Pre-LayerNorm transformer block, every projection an ``nn.Linear`` (see the module docstring)."""

        def __init__(self, width: int = WIDTH, heads: int = HEADS, ffn: int = FFN) -> None:
            super().__init__()
            self.heads = heads
            self.ln1 = nn.LayerNorm(width)
            self.q, self.k, self.v, self.out = (nn.Linear(width, width) for _ in range(4))
            self.ln2 = nn.LayerNorm(width)
            self.up = nn.Linear(width, ffn)
            self.down = nn.Linear(ffn, width)

        def _split(self, x: Any) -> Any:  # (B, S, width) -> (B, heads, S, width / heads)
            return x.reshape(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

        def forward(self, x: Any) -> Any:
            a = self.ln1(x)
            attended = F.scaled_dot_product_attention(self._split(self.q(a)), self._split(self.k(a)),
                                                      self._split(self.v(a)))
            h = x + self.out(attended.transpose(1, 2).reshape(x.shape))
            return h + self.down(F.relu(self.up(self.ln2(h))))

    return {"resnet18": ResNet18, "transformer": TransformerBlock}


def resnet18(classes: int = 10, width: int = 64) -> Any:
    """An untrained CIFAR-style ResNet-18 (``width``: the first stage's channels, 64 in the paper)."""
    return _classes()["resnet18"](classes, width)


def transformer_block(width: int = WIDTH, heads: int = HEADS, ffn: int = FFN) -> Any:
    """An untrained pre-LayerNorm transformer block (every projection an ``nn.Linear``)."""
    return _classes()["transformer"](width, heads, ffn)


def cifar_like_images(batch: int, generator: Any) -> Any:
    """``(batch, 3, 32, 32)`` uniform pixels in [0, 1), normalised like CIFAR-10 images (signed)."""
    torch = require_torch()
    pixels = torch.rand((batch, 3, 32, 32), generator=generator)
    return (pixels - torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR_STD).view(1, 3, 1, 1)


def token_features(batch: int, generator: Any) -> Any:
    """``(batch, SEQUENCE, WIDTH)`` uniform features in [0, 1)."""
    return require_torch().rand((batch, SEQUENCE, WIDTH), generator=generator)


def _classification_loss(outputs: Any, generator: Any) -> Any:
    """Cross entropy against seeded random labels."""
    torch = require_torch()
    labels = torch.randint(0, outputs.shape[1], (outputs.shape[0],), generator=generator)
    return torch.nn.functional.cross_entropy(outputs, labels.to(outputs.device))


def _regression_loss(outputs: Any, generator: Any) -> Any:
    """Mean squared output (a stand-in loss for a block without a head)."""
    return outputs.pow(2).mean()


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A benchmark model: how to build it, its inputs, its signed-input layers and its loss."""

    name: str
    build: Callable[[], Any]
    inputs: Callable[[int, Any], Any]
    """``inputs(batch, generator)``: a batch of inputs (on the CPU)."""
    signed_layers: tuple
    """Names (as in ``named_modules``) of the layers whose inputs are signed."""
    loss: Callable[[Any, Any], Any]
    """``loss(outputs, generator)``: the training loss of one step."""
    classes: Optional[int]
    """Classes of the output (top-1 agreement is measured), or ``None``."""


MODELS = {
    "resnet18": ModelSpec("resnet18", resnet18, cifar_like_images, ("conv1",), _classification_loss, 10),
    "transformer": ModelSpec("transformer", transformer_block, token_features, ("q", "k", "v", "out", "up"),
                             _regression_loss, None),
}


def settle_batch_norm(model: Any, batches: Any) -> Any:
    """Set every BatchNorm's running statistics to the cumulative mean and variance over
    ``batches`` (a list of input tensors) in float, as after training; returns ``model`` in
    eval mode. A model without BatchNorm is returned unchanged (in eval mode)."""
    torch = require_torch()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for batch in batches if norms else ():
            model(batch)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    return model.eval()
