"""The dashboard's job form follows the API schema: fields, bounds, defaults."""

from fastapi.testclient import TestClient

from service.app import create_app
from service.dashboard.forms import job_form
from service.schemas import CHIP_OVERRIDES, JobCreate
from service.settings import Settings


def _fields() -> dict:
    return {f.path: f for section in job_form() for f in section.fields}


def test_every_field_of_the_job_body_is_in_the_form_with_its_default():
    fields = _fields()
    body = JobCreate().model_dump(mode="json")
    leaves = {
        f"{key}.{child}" if isinstance(value, dict) else key
        for key, value in body.items()
        for child in (value if isinstance(value, dict) else [None])
    }
    assert set(fields) == leaves
    for path, field in fields.items():
        section, _, name = path.partition(".")
        assert field.default == (body[section][name] if name else body[section])


def test_bounds_kinds_and_options_come_from_the_schema():
    fields = _fields()
    rows = fields["hardware.tile_rows"]
    assert (rows.kind, rows.minimum, rows.maximum, rows.integer) == ("number", 1, 4096, True)
    assert fields["hardware.max_tiles"].optional and not rows.optional
    energy = fields["hardware.max_energy_nj"]
    assert energy.minimum is None and not energy.integer  # gt=0 on a float: the API checks it
    assert fields["hardware.preset"].options == ("pcm", "rram", "ideal")
    assert fields["objectives"].kind == "choices" and "tiles" in fields["objectives"].options
    assert fields["task"].kind == "task"
    sections = job_form()
    assert [s.name for s in sections][:3] == ["", "hardware", "budget"]
    assert sections[0].fields[0].path == "task"


def test_every_chip_field_is_an_override_in_a_collapsible_group():
    (hardware,) = [s for s in job_form() if s.name == "hardware"]
    groups = hardware.groups()
    assert list(groups) == ["Chip overrides"]
    overrides = {f.path.removeprefix("hardware."): f for f in groups["Chip overrides"]}
    assert tuple(overrides) == CHIP_OVERRIDES  # every HardwareConfig field but device and tiles
    assert all(f.optional and f.default is None for f in overrides.values())
    assert {f.empty for f in overrides.values()} == {"preset's value"}
    assert _fields()["hardware.max_tiles"].empty == "no limit"  # a limit, not an override
    adc = overrides["adc_bits"]
    assert (adc.kind, adc.integer, adc.minimum, adc.maximum) == ("number", True, 0, 24)
    assert "0 = exact" in adc.help
    assert (overrides["g_max"].kind, overrides["g_max"].integer) == ("number", False)
    assert overrides["drift_compensation"].kind == overrides["column_scaling"].kind == "tristate"
    assert not {f.path for f in hardware.ungrouped()} & {f.path for f in overrides.values()}


def test_pages_and_the_bundled_chart_library_are_served(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", runner=False)
    with TestClient(create_app(settings)) as client:
        for path in ("/", "/jobs/new", "/jobs/0123"):
            page = client.get(path)
            assert page.status_code == 200 and "/static/dashboard.js" in page.text
        form = client.get("/jobs/new").text
        assert 'data-path="hardware.tile_rows"' in form
        assert '<details class="field-group" data-group="Chip overrides">' in form
        assert 'data-kind="tristate"' in form and 'placeholder="preset&#39;s value"' in form
        plotly = client.get("/static/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"})
        assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
        assert plotly.headers["content-encoding"] == "gzip"
        assert client.get("/static/dashboard.css").status_code == 200
