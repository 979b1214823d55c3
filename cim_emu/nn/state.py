"""What a crossbar layer saves: :class:`LayerState`, its ``state_dict`` extra state and its pickling.

A crossbar layer's ``state_dict`` holds, beside the torch layer's weight and bias, one plain
dictionary (``<layer>._extra_state``, loadable with ``torch.load(weights_only=True)``): the
configuration (its ADC full scale included), the input scale and how a dynamic one is taken, the
seed, the weight noise, the read time, the training steps and the reads of the crossbars so far.
The programmed crossbars themselves are never saved: programming again with the same seed gives
the same crossbars, and the saved read count continues the read noise where it was, so a model
loaded from the state (or copied, or unpickled) reproduces the original's next outputs bit for bit.
"""

from __future__ import annotations

from typing import Any, Optional

from ..reram.config import ReramConfig
from . import compiled

#: How a dynamic input scale (``input_scale=None``) is taken: over each sample (the first
#: dimension of the layer's input; the default, so that a sample's output does not depend on
#: the rest of its batch), over each token (each row of a linear layer's input), or over the
#: whole batch (the engine's :class:`AnalogLayer`, whose outputs depend on the batch).
DYNAMIC_SCALES = ("per_sample", "per_token", "per_batch")

def check_dynamic_scale(value: Any) -> str:
    if value not in DYNAMIC_SCALES:
        raise ValueError(f"dynamic_scale must be one of {', '.join(map(repr, DYNAMIC_SCALES))}; got {value!r}")
    return str(value)


#: Version of the dictionary :meth:`LayerState.get_extra_state` writes into ``state_dict``.
EXTRA_STATE_FORMAT = 1


class LayerState:
    """The state half of :class:`~cim_emu.nn.layer.CrossbarLayer` (a mixin before the torch layer)."""

    config: ReramConfig
    per_channel: bool
    input_scale: Optional[float]
    dynamic_scale: str
    seed: int
    weight_noise: float
    read_time: Optional[float]
    drift_compensation: bool
    training_steps: int
    op_handle: int
    _programmed: Optional[tuple]
    _restored_reads: Optional[list]

    def _where(self) -> str:  # pragma: no cover - CrossbarLayer's
        raise NotImplementedError

    def set_read_time(self, t_seconds: Optional[float], drift_compensation: bool = False) -> None:
        raise NotImplementedError  # pragma: no cover - CrossbarLayer's

    def _reads(self) -> Optional[list]:
        if self._programmed is None:
            return self._restored_reads
        return [analog.crossbars.reads for analog in self._programmed[1]]

    def get_extra_state(self) -> dict:
        """What ``state_dict`` carries beyond the weights and the bias (plain data): the
        configuration (ADC full scale included), the input scale and how a dynamic one is
        taken, the seed, weight noise, read time, training steps and the reads of the
        crossbars so far (read noise is keyed by the read), so that a layer loaded from it
        reproduces this one's next outputs bit for bit."""
        return {"format": EXTRA_STATE_FORMAT, "config": self.config.to_dict(), "per_channel": self.per_channel,
                "input_scale": self.input_scale, "dynamic_scale": self.dynamic_scale, "seed": self.seed,
                "weight_noise": self.weight_noise, "read_time": self.read_time,
                "drift_compensation": self.drift_compensation, "training_steps": self.training_steps,
                "reads": self._reads()}

    def set_extra_state(self, state: Any) -> None:
        """Restore what :meth:`get_extra_state` wrote (the crossbars are programmed on the next forward)."""
        if not isinstance(state, dict) or state.get("format") != EXTRA_STATE_FORMAT:
            raise ValueError(f"{self._where()}: extra state is not a crossbar layer's (format "
                             f"{EXTRA_STATE_FORMAT}); got {type(state).__name__}")
        self.config = ReramConfig.from_dict(state["config"])
        self.per_channel = bool(state["per_channel"])
        self.input_scale = None if state["input_scale"] is None else float(state["input_scale"])
        self.dynamic_scale = check_dynamic_scale(state["dynamic_scale"])
        self.seed = int(state["seed"])
        self.weight_noise = float(state["weight_noise"])
        self.set_read_time(state["read_time"], state["drift_compensation"])
        self.training_steps = int(state["training_steps"])
        self._programmed = None
        self._restored_reads = None if state["reads"] is None else [int(r) for r in state["reads"]]

    def __getstate__(self) -> dict:
        """Pickling (``copy.deepcopy``, ``torch.save``) keeps the layer's state but not its
        programmed crossbars (numpy or CuPy arrays and a backend), which the copy programs
        again, with the same seed and the same read count, on its next forward."""
        state = dict(super().__getstate__())  # type: ignore[misc]
        state["_restored_reads"] = self._reads()
        state["_programmed"] = None
        state["_calibration"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)  # type: ignore[misc]
        self.op_handle = compiled.register(self)  # handles are per object and per process
