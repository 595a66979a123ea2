"""Hardware configuration of an analog crossbar chip, and named presets.

Units: conductances in microsiemens (uS), times in seconds. Outputs of a tile are expressed in
*normalized units*: an input at the full DAC range times a device at ``g_max`` contributes 1.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Device = Literal["pcm", "rram", "ideal"]


class HardwareConfig(BaseModel):
    """A crossbar chip: device technology, tile geometry and periphery (DAC/ADC, noise, drift).

    The defaults describe a PCM inference chip with realistic periphery (the ``"pcm"`` preset).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: Device = Field("pcm", description="Memory device: 'pcm', 'rram' or 'ideal' (exact).")
    tile_rows: int = Field(512, gt=0, le=65536, description="Rows (inputs) of one crossbar tile.")
    tile_cols: int = Field(512, gt=0, le=65536, description="Columns (outputs) of one tile.")
    g_max: float = Field(25.0, gt=0, description="Largest programmable conductance, uS.")
    dac_bits: int | None = Field(8, ge=1, le=24, description="Input DAC resolution; None = exact.")
    adc_bits: int | None = Field(8, ge=1, le=24, description="Output ADC resolution; None = exact.")
    input_range: float | None = Field(
        None,
        gt=0,
        description="DAC full scale in activation units; None = calibrated per tile from data.",
    )
    out_bound: float | None = Field(
        10.0, gt=0, description="ADC full scale in normalized units; None = no clipping."
    )
    out_noise: float = Field(
        0.04, ge=0, description="Std of additive output noise, normalized units; 0 = none."
    )
    prog_noise_scale: float = Field(1.0, ge=0, description="Multiplier of programming noise.")
    read_noise_scale: float = Field(1.0, ge=0, description="Multiplier of read (1/f) noise.")
    drift_scale: float = Field(1.0, ge=0, description="Multiplier of the drift exponent.")
    drift_compensation: bool = Field(True, description="Global drift compensation per tile.")
    column_scaling: bool = Field(
        False, description="One weight-to-conductance scale per column (False: one per tile)."
    )

    @model_validator(mode="after")
    def _adc_needs_bound(self) -> HardwareConfig:
        if self.adc_bits is not None and self.out_bound is None:
            raise ValueError("out_bound: an ADC (adc_bits set) needs a finite output bound")
        return self

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> HardwareConfig:
        """A named configuration (``"pcm"``, ``"rram"``, ``"ideal"``) with fields overridden."""
        try:
            base = PRESETS[name]
        except KeyError:
            raise ValueError(
                f"preset: unknown preset {name!r}; choose from {sorted(PRESETS)}"
            ) from None
        return cls(**{**base, **overrides})

    @classmethod
    def from_spec(cls, spec: str) -> HardwareConfig:
        """A chip from ``PRESET[:ROWSxCOLS][,FIELD=VALUE...]``, e.g. ``rram:128x128,adc_bits=6``
        (``none`` for a field's None: an exact converter, no bound); ValueError naming what is
        wrong."""
        head, *settings = spec.split(",")
        preset, _, tiles = head.partition(":")
        fields: dict[str, Any] = {}
        if tiles:
            rows, _, cols = tiles.lower().partition("x")
            if not (rows.isdigit() and cols.isdigit()):
                raise ValueError(f"{spec!r}: tiles must be ROWSxCOLS, e.g. 256x256")
            fields.update(tile_rows=int(rows), tile_cols=int(cols))
        for setting in settings:
            name, equals, value = setting.partition("=")
            if not equals:
                raise ValueError(f"{spec!r}: {setting!r} is not FIELD=VALUE")
            fields[name.strip()] = None if value.strip().lower() == "none" else value.strip()
        return cls.preset(preset, **fields)

    def config_hash(self) -> str:
        """A short stable hash of the configuration (for caching results per hardware)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


PRESETS: dict[str, dict[str, Any]] = {
    # PCM inference chip: aihwkit's PCM statistics, 8-bit periphery, output noise, compensation.
    "pcm": {},
    # RRAM (Wan et al., Nature 2022): 40 uS range, no power-law drift, relaxation instead.
    "rram": {"device": "rram", "g_max": 40.0},
    # Exact device and periphery: reproduces the digital model.
    "ideal": {
        "device": "ideal",
        "dac_bits": None,
        "adc_bits": None,
        "out_bound": None,
        "out_noise": 0.0,
        "drift_compensation": False,
    },
}


class HWATraining(BaseModel):
    """Hardware-aware training noise applied by analog layers in train mode, once per mini-batch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight_noise: float = Field(
        0.1, ge=0, le=10, description="Std of additive weight noise relative to max|W| per tile."
    )
    drop_connect: float = Field(
        0.0, ge=0, lt=1, description="Probability of dropping each weight per mini-batch."
    )
    weight_clip: float | None = Field(
        None, gt=0, description="Clip weights to this many std of their tile (None = no clip)."
    )
