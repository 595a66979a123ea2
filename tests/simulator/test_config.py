import pytest
from pydantic import ValidationError

from simulator import HardwareConfig, HWATraining


def test_presets_describe_their_hardware():
    pcm = HardwareConfig.preset("pcm")
    assert (pcm.device, pcm.dac_bits, pcm.adc_bits) == ("pcm", 8, 8)
    assert pcm.out_noise > 0 and pcm.drift_compensation
    ideal = HardwareConfig.preset("ideal")
    assert ideal.device == "ideal" and ideal.dac_bits is None and ideal.adc_bits is None
    assert ideal.out_noise == 0 and ideal.out_bound is None
    assert HardwareConfig.preset("rram").device == "rram"


def test_preset_overrides_and_hash():
    hw = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
    assert (hw.tile_rows, hw.tile_cols) == (256, 256)
    assert hw.config_hash() != HardwareConfig.preset("pcm").config_hash()
    assert (
        hw.config_hash() == HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256).config_hash()
    )


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="unknown preset 'flash'"):
        HardwareConfig.preset("flash")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dac_bits", -1),
        ("adc_bits", 0),
        ("tile_rows", 0),
        ("tile_cols", -4),
        ("device", "flash"),
        ("g_max", 0.0),
        ("out_noise", -0.1),
        ("input_range", -1.0),
    ],
)
def test_bad_values_name_the_field(field, value):
    with pytest.raises(ValidationError) as error:
        HardwareConfig(**{field: value})
    assert error.value.errors()[0]["loc"] == (field,)
    assert field in str(error.value)


def test_adc_without_bound_names_out_bound():
    with pytest.raises(ValidationError, match="out_bound"):
        HardwareConfig(adc_bits=8, out_bound=None)


def test_unknown_field_is_refused():
    with pytest.raises(ValidationError, match="tile_size"):
        HardwareConfig(tile_size=4)


def test_hwa_training_validates():
    with pytest.raises(ValidationError, match="drop_connect"):
        HWATraining(drop_connect=1.5)


def test_a_chip_from_its_spec():
    chip = HardwareConfig.from_spec("rram:128x128,adc_bits=6,drift_compensation=false")
    expected = HardwareConfig.preset(
        "rram", tile_rows=128, tile_cols=128, adc_bits=6, drift_compensation=False
    )
    assert chip == expected
    assert HardwareConfig.from_spec("pcm") == HardwareConfig.preset("pcm")
    exact = HardwareConfig.from_spec("pcm:256x256,adc_bits=none,out_bound=none")
    assert exact.adc_bits is None and exact.out_bound is None
    for spec, named in (
        ("pcm:256", "ROWSxCOLS"),
        ("pcm,adc_bits", "FIELD=VALUE"),
        ("nope", "preset"),
        ("pcm,adc_bits=99", "adc_bits"),
        ("pcm,colour=red", "colour"),
    ):
        with pytest.raises(ValueError, match=named):
            HardwareConfig.from_spec(spec)
