"""Configuration of in-situ (pulsed) analog training: devices, periphery, pulse update.

Kept apart from :class:`~simulator.config.HardwareConfig` (the inference chip): these describe
resistive processing units (RPU) whose weights change only by programming pulses.

Device units: a device's state ``w`` is dimensionless, bounded by ``[w_min, w_max]`` (about
[-1, 1]); a layer's weight is ``w_scale * (device - reference)``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PulsedDevice(BaseModel):
    """A pulsed device model: the step of one up/down pulse, its spread and noise, its bounds.

    ``linear_step``: up ``w += dw+``, down ``w -= dw-``, clipped to the bounds.
    ``soft_bounds``: up ``w += dw+ (1 - w/b_max)``, down ``w -= dw- (1 - w/b_min)``, clipped.
    ``dw+ = dw (1 + a/2)``, ``dw- = dw (1 - a/2)`` with ``a`` the up/down asymmetry of the device.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["linear_step", "soft_bounds"] = "soft_bounds"
    dw_min: float = Field(0.001, gt=0, le=1, description="Mean step of one pulse.")
    dw_min_dtod: float = Field(
        0.3, ge=0, le=1, description="Device-to-device spread of the step (relative std)."
    )
    dw_min_ctoc: float = Field(
        0.3, ge=0, le=2, description="Cycle-to-cycle multiplicative noise of each pulse's step."
    )
    asymmetry: float = Field(
        0.0, gt=-2, lt=2, description="Mean up/down asymmetry (dw+ - dw-) / dw of all devices."
    )
    asymmetry_dtod: float = Field(
        0.0, ge=0, le=1, description="Device-to-device spread (std) of the asymmetry."
    )
    w_max: float | None = Field(1.0, gt=0, description="Mean upper bound b_max; None: unbounded.")
    w_min: float | None = Field(-1.0, lt=0, description="Mean lower bound b_min; None: unbounded.")
    bounds_dtod: float = Field(
        0.3, ge=0, le=0.9, description="Device-to-device spread of the bounds (relative std)."
    )

    @model_validator(mode="after")
    def _soft_bounds_are_finite(self) -> PulsedDevice:
        if self.kind == "soft_bounds" and (self.w_max is None or self.w_min is None):
            raise ValueError("w_max, w_min: a soft-bounds device needs both bounds")
        return self


class PeripheryIO(BaseModel):
    """DAC/ADC of one direction (forward or backward) through a tile.

    Each input vector is divided by its largest |value| (noise management) before the DAC, so
    inputs span [-1, 1]; outputs are in units of that range times the device weights.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    inp_bits: int | None = Field(7, ge=1, le=24, description="Input DAC bits; None = exact.")
    inp_rounding: Literal["deterministic", "stochastic"] = "deterministic"
    out_bits: int | None = Field(9, ge=1, le=24, description="Output ADC bits; None = exact.")
    out_bound: float | None = Field(12.0, gt=0, description="ADC full scale; None = no clip.")
    out_noise: float = Field(0.06, ge=0, description="Std of additive output noise.")

    @model_validator(mode="after")
    def _adc_needs_bound(self) -> PeripheryIO:
        if self.out_bits is not None and self.out_bound is None:
            raise ValueError("out_bound: an ADC (out_bits set) needs a finite output bound")
        return self


EXACT_IO = PeripheryIO(inp_bits=None, out_bits=None, out_bound=None, out_noise=0.0)


class PulseUpdate(BaseModel):
    """The stochastic pulse update: coincidences of pulse trains on rows and columns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bl: int = Field(31, ge=1, le=1024, description="Bit length: pulse slots per update.")
    update_management: bool = Field(
        True, description="Balance row and column probabilities (same largest probability)."
    )
    bl_management: bool = Field(
        True, description="Shorten the trains to the pulses the largest update needs."
    )


class PulsedConfig(BaseModel):
    """How a layer trains in situ: its devices, forward/backward periphery and pulse update."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: PulsedDevice = Field(default_factory=PulsedDevice)
    forward: PeripheryIO = Field(default_factory=PeripheryIO)
    backward: PeripheryIO = Field(default_factory=PeripheryIO)
    update: PulseUpdate = Field(default_factory=PulseUpdate)
    zero_shift: bool = Field(
        False, description="Program each reference device to its device's symmetry point."
    )
    zero_shift_pulses: int = Field(
        6000, ge=2, le=1_000_000, description="Alternating pulses that find the symmetry points."
    )
    weight_omega: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Device value the initial max|W| of a layer maps to: small, so that weights "
        "can grow and stay where soft bounds barely pull them towards the symmetry point.",
    )

    @model_validator(mode="after")
    def _zero_shift_needs_soft_bounds(self) -> PulsedConfig:
        if self.zero_shift and self.device.kind != "soft_bounds":
            raise ValueError("zero_shift: only soft-bounds devices have a symmetry point")
        return self

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> PulsedConfig:
        """A named configuration (see ``PULSED_PRESETS``) with top-level fields overridden."""
        try:
            base = PULSED_PRESETS[name]
        except KeyError:
            raise ValueError(
                f"preset: unknown pulsed preset {name!r}; choose from {sorted(PULSED_PRESETS)}"
            ) from None
        return cls.model_validate({**base, **overrides})


_IDEAL_DEVICE = {
    "kind": "linear_step",
    "dw_min_dtod": 0.0,
    "dw_min_ctoc": 0.0,
    "w_max": None,
    "w_min": None,
    "bounds_dtod": 0.0,
}
_EXACT = EXACT_IO.model_dump()
# Soft-bounds RRAM as in arXiv:1907.10228: dw- about twice dw+ (imbalance), 30 % spreads.
_RRAM = {"kind": "soft_bounds", "asymmetry": -0.6, "asymmetry_dtod": 0.1}

PULSED_PRESETS: dict[str, dict[str, Any]] = {
    # Linear, unbounded, noiseless device and exact periphery: follows SGD in expectation.
    "ideal": {"device": _IDEAL_DEVICE, "forward": _EXACT, "backward": _EXACT},
    # Gokmen & Vlasov's RPU baseline: linear steps, bounded, 30 % spreads, symmetric.
    "linear_step": {"device": {"kind": "linear_step"}},
    # Symmetric soft bounds: the symmetry point of each device is (close to) zero.
    "soft_bounds": {"device": {"kind": "soft_bounds"}},
    # Asymmetric RRAM soft bounds, without and with zero-shifting.
    "rram": {"device": _RRAM},
    "rram_zero_shift": {"device": _RRAM, "zero_shift": True},
}
