"""Crossbar simulator for analog in-memory inference (PCM, RRAM, ideal devices).

Typical use::

    hw = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
    analog = to_analog(model, hw)
    result = evaluate(analog, (x_test, y_test), hw, n_samples=25)
"""

from simulator.config import PRESETS, HardwareConfig, HWATraining
from simulator.convert import (
    analog_layers,
    calibrate_input_ranges,
    drift,
    hardware_of,
    program,
    to_analog,
    to_digital,
)
from simulator.cost import CostReport, LayerCost, cost
from simulator.deploy import deployment_bundle, load_bundle, read_bundle
from simulator.device import default_device, use_reproducible_kernels
from simulator.evaluate import DEFAULT_TIMES, EvaluationResult, evaluate, examples_per_pass
from simulator.layers import AnalogConv2d, AnalogLayer, AnalogLinear, DigitalLinear, exact_weights
from simulator.post_training import PostTraining, calibration_loss, post_training_optimize
from simulator.randomized import (
    AlgorithmCost,
    AnalogMatrix,
    DigitalMatrix,
    RandomFeatures,
    frobenius_norm_estimate,
    gaussian_sketch,
    hutchinson_trace,
    kernel_approximation,
    randomized_svd,
    range_finder,
    sketch_and_solve,
    sketch_preconditioned_lstsq,
)

__all__ = [
    "DEFAULT_TIMES",
    "PRESETS",
    "AnalogConv2d",
    "AnalogLayer",
    "AnalogLinear",
    "DigitalLinear",
    "CostReport",
    "EvaluationResult",
    "HWATraining",
    "HardwareConfig",
    "LayerCost",
    "PostTraining",
    "analog_layers",
    "calibrate_input_ranges",
    "calibration_loss",
    "cost",
    "default_device",
    "deployment_bundle",
    "load_bundle",
    "read_bundle",
    "drift",
    "evaluate",
    "examples_per_pass",
    "exact_weights",
    "hardware_of",
    "post_training_optimize",
    "program",
    "to_analog",
    "to_digital",
    "use_reproducible_kernels",
    "AlgorithmCost",
    "AnalogMatrix",
    "DigitalMatrix",
    "RandomFeatures",
    "frobenius_norm_estimate",
    "gaussian_sketch",
    "hutchinson_trace",
    "kernel_approximation",
    "randomized_svd",
    "range_finder",
    "sketch_and_solve",
    "sketch_preconditioned_lstsq",
]
