"""`xbarnas surrogate fit|eval|collect`: fits on a small JSON-lines file of synthetic samples,
collection of a few real ones on more than one chip."""

import json

import numpy as np
from typer.testing import CliRunner

from search.collect import CHEAP_BUDGET
from search.space import SearchSpace
from service.cli import app
from simulator import HardwareConfig

HW = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)


def _write_rows(path, n=40, task="digits"):
    rng = np.random.default_rng(0)
    with path.open("w") as file:
        for i in range(n):
            cfg = SearchSpace.tiny().sample(rng)
            accuracy = 0.5 + 0.4 * cfg.out_channel0 / 32 + 0.01 * rng.normal()
            row = {
                "task": task,
                "hardware_hash": HW.config_hash(),
                "hardware": HW.model_dump(mode="json"),
                "arch_id": cfg.id,
                "arch": cfg.model_dump(mode="json"),
                "encoding": SearchSpace.encode(cfg).tolist(),
                "seed": 0,
                "budget_hash": "b",
                "budget": CHEAP_BUDGET.model_dump(mode="json"),
                "times": [1.0, 86400.0],
                "accuracy_mean": [accuracy, accuracy],
                "accuracy_std": [0.01, 0.01],
                "accuracy_1d": accuracy,
                "spread_1d": 0.01,
                "avm": 0.01 * i / n,
                "digital_accuracy": accuracy,
                "cost": {},
            }
            file.write(json.dumps(row) + "\n")


def test_fit_then_eval(tmp_path):
    data = tmp_path / "rows.jsonl"
    _write_rows(data)
    model = tmp_path / "model.json"
    profiles = ["--profiles", str(tmp_path / "profiles.json")]  # the package's file untouched
    runner = CliRunner()
    fitted = runner.invoke(
        app, ["surrogate", "fit", "--data", str(data), "--out", str(model), *profiles]
    )
    assert fitted.exit_code == 0, fitted.output
    assert "digits/trainall-testall-e6-mc8@" in fitted.output and "held out 10" in fitted.output
    assert model.is_file()
    evaluated = runner.invoke(
        app, ["surrogate", "eval", "--model", str(model), "--data", str(data), *profiles]
    )
    assert evaluated.exit_code == 0, evaluated.output
    (report,) = json.loads(evaluated.output).values()
    assert report["accuracy_1d"]["kendall_tau"] > 0.5 and report["n"] == 40


def test_fit_without_rows_of_a_known_task_is_refused(tmp_path):
    data = tmp_path / "rows.jsonl"
    _write_rows(data, n=12, task="dataset-0123")  # an upload whose profile was never measured
    result = CliRunner().invoke(
        app,
        ["surrogate", "fit", "--data", str(data), "--out", str(tmp_path / "m.json")],
    )
    assert result.exit_code != 0 and "known profile" in result.output


def test_collect_measures_each_network_on_more_chips(tmp_path):
    other = HardwareConfig.preset("rram", tile_rows=128, tile_cols=128, adc_bits=6)
    common = ["surrogate", "collect", "-n", "2", "--max-tiles", "8", "--epochs", "1"]
    common += ["--mc-samples", "1", "--train-examples", "100", "--test-examples", "50"]
    common += ["--workers", "1", "--database", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    result = CliRunner().invoke(
        app, [*common, "--also-on", "rram:128x128,adc_bits=6", "--export", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "added 4" in result.output
    on_pcm = [json.loads(line) for line in (tmp_path / f"digits-{HW.config_hash()}.jsonl").open()]
    on_other = [
        json.loads(line) for line in (tmp_path / f"digits-{other.config_hash()}.jsonl").open()
    ]
    assert len(on_pcm) == len(on_other) == 2
    assert all(r["trained_on"] == HW.model_dump(mode="json") for r in on_other)
    assert {r["hardware"]["adc_bits"] for r in on_other} == {6}


def test_collect_refuses_a_bad_chip_naming_the_field(tmp_path):
    result = CliRunner().invoke(
        app, ["surrogate", "collect", "--also-on", "rram:128x128,adc_bits=99", "-n", "2"]
    )
    assert result.exit_code != 0 and "adc_bits" in result.output
