"""In-situ analog training on pulsed resistive devices (RPU): devices, pulse updates, layers.

Typical use::

    config = PulsedConfig.preset("rram_zero_shift")
    model = to_pulsed(model.to(device), config, seed=0)
    optimizer = PulsedSGD(model, lr=0.05)
    ...  # loss.backward(); optimizer.step(); optimizer.zero_grad()
    trained = to_digital(model)  # the weights the devices hold, for inference simulation
"""

from simulator.pulsed.config import (
    EXACT_IO,
    PULSED_PRESETS,
    PeripheryIO,
    PulsedConfig,
    PulsedDevice,
    PulseUpdate,
)
from simulator.pulsed.devices import DeviceArray
from simulator.pulsed.layers import (
    PulsedConv2d,
    PulsedLayer,
    PulsedLinear,
    PulsedLSTM,
    pulsed_layers,
    to_digital,
    to_pulsed,
)
from simulator.pulsed.optimizer import PulsedSGD
from simulator.pulsed.tile import PulsedTile
from simulator.pulsed.update import pulse_counts, stochastic_round

__all__ = [
    "EXACT_IO",
    "PULSED_PRESETS",
    "DeviceArray",
    "PeripheryIO",
    "PulseUpdate",
    "PulsedConfig",
    "PulsedConv2d",
    "PulsedDevice",
    "PulsedLSTM",
    "PulsedLayer",
    "PulsedLinear",
    "PulsedSGD",
    "PulsedTile",
    "pulse_counts",
    "pulsed_layers",
    "stochastic_round",
    "to_digital",
    "to_pulsed",
]
