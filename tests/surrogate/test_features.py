"""Closed-form features agree exactly with the networks search builds and the simulator costs."""

import numpy as np
import pytest

from search.model import build_model
from search.space import SearchSpace
from simulator import HardwareConfig, cost
from surrogate.features import (
    CHIP_NAMES,
    ENCODING_NAMES,
    EXACT_BITS,
    UNBOUNDED,
    FeatureExtractor,
    chip_features,
    full_encodings,
)


class Shape:
    def __init__(self, input_shape, num_classes):
        self.input_shape, self.num_classes = input_shape, num_classes


@pytest.mark.parametrize(
    ("shape", "tiles"),
    [
        ((1, 8, 8), (256, 256)),
        ((3, 32, 32), (512, 512)),
        ((1, 49, 10), (64, 32)),
        ((1, 1, 20), (128, 64)),
    ],
)
@pytest.mark.parametrize("extension", ["dense", "low-rank", "head"])
def test_features_match_built_networks(shape, tiles, extension):
    hw = HardwareConfig.preset("pcm", tile_rows=tiles[0], tile_cols=tiles[1])
    extractor = FeatureExtractor(shape, 7, hw)
    space = SearchSpace(out_channel0=(8, 24), R=(1, 3), B=(1, 3), widenfact=(1.0, 2.5))
    space = {
        "dense": space,
        "low-rank": space.with_ranks(),
        "head": space.with_head(48).with_ranks(),
    }[extension]
    rng = np.random.default_rng(sum(shape))
    configs = [space.sample(rng) for _ in range(12 if extension == "dense" else 6)]
    features = extractor.transform(SearchSpace.encode_many(configs))
    names = extractor.names
    for cfg, row in zip(configs, features, strict=True):
        value = dict(zip(names, row, strict=True))
        report = cost(build_model(cfg, Shape(shape, 7)), hw, shape)
        assert round(10 ** value["log_params"]) == report.params
        assert value["tiles"] == report.tiles
        assert value["energy_nj"] == pytest.approx(report.energy_nj, rel=1e-9)
        assert value["latency_us"] == pytest.approx(report.latency_us, rel=1e-9)
        assert value["utilization"] == pytest.approx(report.utilization, rel=1e-9)
        assert value["conv_layers"] == sum(layer.kind == "conv2d" for layer in report.layers)
        assert value["width_last"] == cfg.channels()[-1]


def test_encoding_layout_is_the_search_spaces():
    cfg = SearchSpace().sample(np.random.default_rng(0))
    assert list(cfg.to_analognas()) == list(ENCODING_NAMES)


def test_feature_matrix_shape_and_names():
    extractor = FeatureExtractor((1, 8, 8), 10, HardwareConfig())
    encodings = SearchSpace.encode_many(
        [SearchSpace.tiny().sample(np.random.default_rng(i)) for i in range(5)]
    )
    features = extractor.transform(encodings)
    assert features.shape == (5, len(extractor.names)) and np.isfinite(features).all()
    assert extractor.names[:22] == ENCODING_NAMES
    old = extractor.transform(encodings[:, :22])  # rows stored before the extensions: dense
    np.testing.assert_array_equal(old, features)
    assert full_encodings([list(encodings[0, :22]), list(encodings[1])]).shape == (2, 25)


def test_chip_parameters_are_features_of_unseen_chips():
    held_out = HardwareConfig.preset("rram", tile_rows=128, tile_cols=128, adc_bits=6)
    exact = HardwareConfig.preset("ideal")
    encodings = SearchSpace.encode_many([SearchSpace.tiny().sample(np.random.default_rng(0))])
    features = {}
    for name, hw in (("held_out", held_out), ("exact", exact)):
        extractor = FeatureExtractor((1, 8, 8), 10, hw)
        assert extractor.names[-len(CHIP_NAMES) :] == CHIP_NAMES
        features[name] = dict(zip(extractor.names, extractor.transform(encodings)[0], strict=True))
    chip = features["held_out"]
    assert (chip["device_rram"], chip["device_pcm"], chip["g_max"]) == (1, 0, 40)
    assert (chip["log2_tile_rows"], chip["adc_bits"], chip["dac_bits"]) == (7, 6, 8)
    assert chip["drift_compensation"] == 1 and chip["input_range"] == 0  # calibrated
    ideal = features["exact"]
    assert ideal["adc_bits"] == ideal["dac_bits"] == EXACT_BITS  # no converters
    assert ideal["log10_out_bound"] == np.log10(UNBOUNDED) and ideal["out_noise"] == 0
    assert not np.array_equal(chip_features(held_out), chip_features(exact))
