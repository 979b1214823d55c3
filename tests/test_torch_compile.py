"""torch.compile runs converted models through the custom operator ``cim_emu::crossbar_layer``,
with the eager outputs bit for bit and the straight-through gradients."""

import copy

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from cim_emu.nn import compiled, convert  # noqa: E402
from cim_emu.reram import AdcConfig, DeviceModel, ReramConfig  # noqa: E402
from cim_emu.reram.config import InputEncoding  # noqa: E402

NOISY = ReramConfig(adc=AdcConfig(bits=6), devices=DeviceModel.reram_wan2022(), inputs=InputEncoding(signed=True))


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1, groups=2),
                         nn.Flatten(), nn.Linear(4 * 5 * 5, 16), nn.Tanh(), nn.Linear(16, 4))


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_compiled_eval_equals_eager_bit_for_bit():
    eager = convert(_model(), NOISY, seed=3).eval()
    compiled_model = torch.compile(copy.deepcopy(eager), backend="aot_eager", fullgraph=True)
    x = torch.rand(3, 3, 5, 5)
    with torch.no_grad():
        for _ in range(2):  # read 0, then read 1: the read counts advance alike
            assert torch.equal(compiled_model(x), eager(x))


def test_compiled_training_step_has_the_straight_through_gradients():
    eager = convert(_model(), NOISY, seed=4).train()
    traced = copy.deepcopy(eager)
    compiled_model = torch.compile(traced, backend="aot_eager")
    x = torch.rand(2, 3, 5, 5)
    x_eager, x_compiled = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_eager, y_compiled = eager(x_eager), compiled_model(x_compiled)
    assert torch.equal(y_compiled, y_eager)  # the same noisy programming for step 0
    y_eager.square().sum().backward()
    y_compiled.square().sum().backward()
    torch.testing.assert_close(x_compiled.grad, x_eager.grad, rtol=1e-5, atol=1e-6)
    for a, b in zip(traced.parameters(), eager.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)
    assert traced[0].training_steps == eager[0].training_steps == 1


def test_a_compiled_transformer_block_equals_eager():
    torch.manual_seed(1)
    block = convert(nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True), NOISY).eval()
    compiled_block = torch.compile(copy.deepcopy(block), backend="aot_eager")
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        assert torch.equal(compiled_block(x), block(x))


def test_the_operator_passes_torch_library_opcheck():
    layer = convert(nn.Linear(6, 3), ReramConfig(adc=AdcConfig(bits=5), inputs=InputEncoding(signed=True))).eval()
    x = torch.randn(4, 6, requires_grad=True)
    torch.library.opcheck(compiled.crossbar_layer, (x, layer.weight, layer.bias, layer.op_handle, False),
                          test_utils=("test_schema", "test_faketensor", "test_autograd_registration"))


def test_copies_have_their_own_handles_and_a_dead_handle_is_a_clear_error():
    layer = convert(nn.Linear(4, 2))
    twin = copy.deepcopy(layer)
    assert twin.op_handle != layer.op_handle and compiled._layer(twin.op_handle) is twin
    with pytest.raises(RuntimeError, match="no live crossbar layer has handle -1"):
        compiled._layer(-1)
