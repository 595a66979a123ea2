"""`xbarnas search` runs the whole pipeline in the terminal and writes its result files."""

import json

from typer.testing import CliRunner

from service.cli import app
from surrogate.store import SampleStore


def test_search_in_the_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("XBARNAS_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "results"
    result = CliRunner().invoke(
        app,
        [
            "search",
            "--task",
            "digits",
            "--tile-rows",
            "256",
            "--tile-cols",
            "256",
            "--max-tiles",
            "64",
            "--trials",
            "100",
            "--population",
            "20",
            "--top-k",
            "1",
            "--epochs",
            "1",
            "--mc-samples",
            "2",
            "--workers",
            "1",
            "--baseline",
            "resnet8",
            "--database",
            f"sqlite:///{tmp_path / 'db.sqlite'}",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.output and "Verified" in result.output
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto and all(c["feasible"] and c["cost"]["tiles"] <= 64 for c in pareto)
    summary = json.loads((out / "verified.json").read_text())
    assert len(summary["verified"]) == 1 and len(summary["baselines"]["resnet8"]) == 1
    assert len((out / "trials.jsonl").read_text().splitlines()) == 100
    models = sorted(p.name for p in (out / "models").iterdir())
    assert len(models) == 2 and models[0].endswith("-analog.zip") and models[1].endswith(".onnx")
    # the shipped chip's context is known well: the shipped model, no loop, no fit of its own
    assert not list((tmp_path / "data").glob("surrogates/pooled-*.json"))
    rows = SampleStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}").all_rows()
    assert len(rows) == 2 and {r["budget"]["train"]["epochs"] for r in rows} == {1}
