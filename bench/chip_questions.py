"""The questions chip people ask next, on the README's digits job: how often to reprogram, which
layer hurts, and the same trained networks on RRAM.

Run: .venv/bin/python bench/chip_questions.py [--trials 400] [--top-k 2] [--epochs 8]
     [--mc-samples 8] [--train-examples N] [--workers 2]
The defaults are the README's example job (digits, pcm 256x256 tiles, at most 64, seed 0, whole
splits, post-training on). It searches with the shipped surrogate and verifies the top-K as a job
does (with the reprogramming grid to 10 years and the layer sensitivity), then re-scores each
verified network on rram 256x256 from its stored weights, without retraining. Prints per
candidate and chip: accuracy at 1 s and 1 day, the reprogramming interval (1 point below 1 s,
of the mean and of mean - 2 std over chips), the most sensitive layer (the largest gain when only
it is exact, in points, beside the chip's whole loss to the digital network) and the share of
that loss keeping it digital recovers, and the seconds each computation took: training (none on
rram), measuring (DAC calibration, post-training ranges, the verification's Monte Carlo), the
drift grid's extra times, the sensitivity, and the interval itself from the stored curve (ms, the
mean of 1000 runs).
"""

from __future__ import annotations

import argparse
import time

from torch import nn

from search.collect import local_executor
from search.driver import SearchConfig
from search.model import build_model
from search.pipeline import search_and_verify
from search.reprogramming import reprogramming_intervals
from search.rescore import StoredCandidate, rescore_candidates
from search.space import ArchConfig, SearchSpace
from search.surrogates import shipped_model
from search.tasks import load_task
from search.verify import VerificationResult
from service.schemas import JobCreate

REPEATS = 1000  # of the interval from a stored curve, timed on average


def job(args: argparse.Namespace) -> JobCreate:
    return JobCreate.model_validate(
        {
            "task": "digits",
            "hardware": {"preset": "pcm", "tile_rows": 256, "tile_cols": 256, "max_tiles": 64},
            "objectives": ["accuracy_1d", "tiles"],
            "budget": {
                "trials": args.trials,
                "top_k": args.top_k,
                "train_epochs": args.epochs,
                "mc_samples": args.mc_samples,
                "train_examples": args.train_examples,
            },
            "seed": 0,
        }
    )


def layer_kind(result: VerificationResult, name: str) -> str:
    """What an analog layer of the candidate is, e.g. ``conv3x3 16>32`` or ``linear 64>10``."""
    task = load_task(result.task)
    module = dict(build_model(ArchConfig.model_validate(result.arch), task).named_modules())[name]
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return f"conv{kh}x{kw} {module.in_channels}>{module.out_channels}"
    return f"linear {module.in_features}>{module.out_features}"


def row(chip: str, result: VerificationResult) -> str:
    grid = result.drift
    start = time.perf_counter()
    for _ in range(REPEATS):
        timing = reprogramming_intervals(grid["times"], grid["mean"], grid["std"])
    interval_ms = 1000 * (time.perf_counter() - start) / REPEATS
    sensitivity = result.sensitivity
    top = max(sensitivity["layers"], key=lambda layer: layer["only_exact_gain"])
    recovered = sensitivity["keep_digital"][0]
    loss = sensitivity["exact_accuracy"] - sensitivity["analog_accuracy"]
    return (
        f"{result.arch_id:16s} {chip:5s} {result.accuracy_at(1.0)[0]:6.3f} "
        f"{result.accuracy_1d:6.3f} {timing.mean.label:>21s} {timing.lower_band.label:>21s} "
        f"{len(sensitivity['layers']):3d} "
        f"{top['name'] + ' ' + layer_kind(result, top['name']):>30s} "
        f"{100 * top['only_exact_gain']:+5.1f}/{100 * loss:4.1f} "
        f"{100 * recovered['recovered']:4.0f}% {result.train_seconds:7.1f} "
        f"{result.eval_seconds:7.1f} {grid['seconds']:7.1f} {sensitivity['seconds']:7.1f} "
        f"{interval_ms:7.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--mc-samples", type=int, default=8)
    parser.add_argument("--train-examples", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    request = job(args)
    hw, budget = request.hardware.config(), request.verification_budget()
    rram = request.hardware.model_copy(update={"preset": "rram"}).config()
    space = SearchSpace.tiny()
    config = SearchConfig(
        objectives=tuple(request.objectives),
        trials=request.budget.trials,
        constraints=request.hardware.constraints(),
        seed=request.seed,
    )
    with local_executor(args.workers) as executor:
        surrogate = shipped_model("digits", hw)
        start = time.perf_counter()
        verified = search_and_verify(
            "digits", hw, space, surrogate, config, budget, request.budget.top_k, executor
        ).verified
        job_seconds = time.perf_counter() - start
        stored = [
            StoredCandidate(v.candidate.config, v.result.weights, hw, hw, v.result.epochs)
            for v in verified
        ]
        start = time.perf_counter()
        on_rram = rescore_candidates(stored, "digits", rram, budget, executor)
        rescore_seconds = time.perf_counter() - start
    print(
        f"README digits job: {request.budget.trials} trials, top {request.budget.top_k}, "
        f"{request.budget.train_epochs} epochs, {request.budget.mc_samples} chips, train "
        f"examples {request.budget.train_examples or 'all'}; search + verification "
        f"{job_seconds:.0f} s ({args.workers} workers); re-scoring all on rram "
        f"{rescore_seconds:.1f} s"
    )
    print(
        f"{'architecture':16s} {'chip':5s} {'acc 1s':>6s} {'acc 1d':>6s} "
        f"{'reprogram (mean)':>21s} {'(mean - 2 std)':>21s} {'lyr':>3s} "
        f"{'most sensitive layer':>30s} "
        f"{'gain/loss':>10s} {'rec.':>5s} {'train s':>7s} {'meas. s':>7s} {'grid s':>7s} "
        f"{'sens. s':>7s} {'intv ms':>7s}"
    )
    for v, rescored in zip(verified, on_rram, strict=True):
        print(row("pcm", v.result))
        print(row("rram", rescored))


if __name__ == "__main__":
    main()
