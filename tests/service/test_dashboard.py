"""The dashboard in headless Debian chromium (Playwright) against a real `xbarnas serve`.

Screenshots land in ``test-artifacts/dashboard/`` (or ``$XBARNAS_TEST_ARTIFACTS/dashboard``).
"""

import os
import re
import time
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from playwright.sync_api import expect, sync_playwright

from search.tasks import load_task
from tests.service.test_end_to_end import _start, _stop

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("XBARNAS_TEST_ARTIFACTS", "test-artifacts")) / "dashboard"
LIGHT_BUDGET = {"trials": 30, "top_k": 2, "train_epochs": 1, "mc_samples": 2, "train_examples": 400}

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI needs /usr/bin/chromium: `make test` installs it with apt")
    pytest.skip("no /usr/bin/chromium (`apt-get install chromium`)", allow_module_level=True)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dashboard")


@pytest.fixture(scope="module")
def served(data_dir):
    """A real `xbarnas serve` (whose log the tests read) and a client with its key."""
    process, client = _start(f"sqlite:///{data_dir / 'xbarnas.db'}", data_dir)
    try:
        yield process, client
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def server(served):
    return served[1]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(
        base_url=server.server, viewport={"width": 1366, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"/?token={server.key}")  # as `xbarnas serve` prints it: traded for a cookie
    try:
        yield page
    finally:
        context.close()


def _shot(page, name: str, section: str | None = None) -> None:
    """The whole page, or one ``section`` of it (a selector): a full-page screenshot resizes the
    viewport, and the charts' layout is still settling from it when the next click lands."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if section is None:
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    else:
        page.locator(section).screenshot(path=ARTIFACTS / f"{name}.png")


def _plotted(page, chart: str) -> list[dict]:
    """The traces Plotly drew in ``#chart``: name and the number of points."""
    return page.evaluate(
        f"""() => document.getElementById({chart!r}).data.map(
            (t) => ({{name: t.name || '', points: t.x.length, mode: t.mode}}))"""
    )


def test_submit_watch_plot_and_download(page, server, served):
    expect(page.locator("#empty")).to_be_visible()
    assert "token=" not in page.url  # the key left the address bar
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert server.key not in cookie["value"]
    _shot(page, "01-empty-job-list")

    page.get_by_role("link", name="Start your first search").click()
    expect(page.locator("#f-task")).to_have_value("digits")
    page.fill("#f-hardware\\.tile_rows", "0")
    page.click("#submit")
    error = page.locator('[data-error-for="hardware.tile_rows"]')
    expect(error).to_be_visible()
    expect(error).to_contain_text("greater than 0")
    _shot(page, "02-form-error-next-to-the-field")
    assert server.json("GET", "/v1/jobs")["total"] == 0  # nothing was submitted

    page.fill("#f-hardware\\.tile_rows", "256")
    job_id = _submit_light_job(page)
    budget = server.job(job_id)["request"]["budget"]
    assert {k: budget[k] for k in LIGHT_BUDGET} == LIGHT_BUDGET and not budget["post_training"]

    progress = page.locator("#progress")
    page.wait_for_function(
        "() => Number(document.getElementById('progress').getAttribute('aria-valuenow')) > 0"
    )
    _shot(page, "03-job-running")
    expect(page.locator("#status")).to_have_text("succeeded", timeout=400_000)
    expect(progress).to_have_attribute("aria-valuenow", "100")

    page.wait_for_function("() => document.querySelectorAll('#drift .scatterlayer .point').length")
    pareto = {trace["name"]: trace["points"] for trace in _plotted(page, "pareto")}
    assert pareto["verified (simulated chips, ± std)"] == 2
    assert pareto["predicted (surrogate)"] >= 2
    assert page.locator("#pareto .scatterlayer .point").count() >= 4
    curves = [t for t in _plotted(page, "drift") if t["mode"] == "lines+markers"]
    assert len(curves) == 2 and all(t["points"] == 5 for t in curves)  # 1 s ... 1 year
    assert page.locator("#drift .scatterlayer .point").count() == 10
    page.select_option("#pareto-x", "energy_nj")
    expect(page.locator("#pareto .xtitle")).to_contain_text("energy")
    _shot(page, "04-job-succeeded")

    best = page.locator("#candidates tr.verified").first
    with page.expect_download() as download:
        best.locator('a[data-format="onnx"]').click()
    onnx = ARTIFACTS / download.value.suggested_filename
    download.value.save_as(onnx)
    task = load_task("digits")
    inputs = task.prepare(task.test.x[:8]).numpy()
    (logits,) = onnxruntime.InferenceSession(str(onnx)).run(None, {"input": inputs})
    assert logits.shape == (8, 10) and np.isfinite(logits).all()
    _assert_no_key_in_the_log(served[0], server.key)

    page.get_by_role("link", name="Jobs", exact=True).click()
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row).to_contain_text("succeeded")
    expect(row.locator("td").last).to_contain_text("%")
    _shot(page, "05-job-list")


def test_rescore_a_job_from_its_page_and_compare_the_chips(page, server):
    light = {"budget": {**LIGHT_BUDGET, "post_training": False}, "hardware": {"max_tiles": 16}}
    job = server.submit(light)
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("#status")).to_have_text("succeeded", timeout=400_000)
    expect(page.locator("#rescore")).to_be_visible()
    expect(page.locator("#f-hardware\\.tile_rows")).to_have_value("256")  # the job's chip
    page.select_option("#f-hardware\\.preset", "rram")
    page.locator("#rescore-form summary").click()
    page.fill("#f-hardware\\.adc_bits", "6")
    _shot(page, "07-rescore-form", "#rescore")
    with page.expect_response(f"**/v1/jobs/{job['id']}/rescore") as posted:
        page.click("#rescore-submit")
    assert posted.value.status == 202
    (child,) = [j["id"] for j in server.json("GET", f"/v1/jobs?parent={job['id']}")["items"]]
    page.wait_for_url(f"**/jobs/{child}")
    expect(page.locator("#status")).to_have_text("succeeded", timeout=300_000)
    expect(page.locator("#rescore-of")).to_contain_text("pooled surrogate")  # knows the chip
    expect(page.locator("#comparison")).to_be_visible()
    page.wait_for_function(
        "() => document.querySelectorAll('#compare-drift .scatterlayer .trace').length >= 4"
    )
    dashes = page.evaluate(
        "() => document.getElementById('compare-drift').data.map((t) => t.line.dash)"
    )
    assert sorted(dashes) == ["dash", "dash", "solid", "solid"]  # two networks, both chips
    front = {trace["name"]: trace["points"] for trace in _plotted(page, "compare-front")}
    assert front["verified, job's chip"] == front["verified, this chip"] == 2
    rows = page.locator("#candidates tr.verified")
    expect(rows.first.locator("td").nth(9)).to_have_text(re.compile(r"\d"))  # reprogram after
    _shot(page, "08-rescore-comparison", "#comparison")

    rows.first.locator("[data-details]").click()
    expect(page.locator("#candidate-view")).to_be_visible()
    expect(page.locator("#keep-digital")).to_contain_text("digital recovers")
    page.wait_for_function("() => document.querySelectorAll('#sensitivity .bars .point').length")
    bars = _plotted(page, "sensitivity")
    assert len(bars) == 2 and bars[0]["points"] == bars[1]["points"] > 1  # per analog layer
    assert page.locator("#sensitivity .bars .point").count() == 2 * bars[0]["points"]
    assert len(_plotted(page, "reprogramming")) == 3  # mean, lower band, threshold
    _shot(page, "09-candidate-sensitivity")

    page.goto(f"/jobs/{job['id']}")  # the job lists its re-scorings
    expect(page.locator(f'#rescores a[href="/jobs/{child}"]')).to_be_visible()


def test_a_job_on_a_new_chip_shows_its_active_loop(page, server):
    budget = {
        **LIGHT_BUDGET,
        "top_k": 1,
        "train_examples": 300,
        "post_training": False,
        "collect_architectures": 4,
        "collect_batch": 2,
        "collect_train_examples": 150,
        "collect_test_examples": 60,
        "collect_epochs": 1,
        "collect_mc_samples": 1,
    }
    chip = {"preset": "rram", "tile_rows": 128, "tile_cols": 128, "max_tiles": 16}
    job = server.submit({"hardware": chip, "budget": budget})
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("#status")).to_have_text("succeeded", timeout=400_000)
    expect(page.locator("#surrogate")).to_be_visible()
    expect(page.locator("#rounds tbody tr")).to_have_count(2)
    expect(page.locator("#rounds tbody tr").nth(1).locator("td").nth(2)).to_have_text("4")
    expect(page.locator("#surrogate-quality")).to_contain_text("Fitted with 4 rows")
    traces = _plotted(page, "rounds-chart")
    assert [t["name"] for t in traces] == ["all", "better half"] and traces[0]["points"] == 1
    _shot(page, "10-active-loop", "#surrogate")


def _assert_no_key_in_the_log(process, key: str) -> None:
    """The server's whole log (stdout and stderr, runner included) of the session so far, the
    download's line included, holds neither the key nor its body."""
    deadline = time.monotonic() + 10
    while not any("/export?format=onnx" in line for line in process.lines):
        assert time.monotonic() < deadline, process.output()
        time.sleep(0.1)
    log = process.output()
    assert "GET /?token=*** " in log  # the one request with the key, redacted
    assert key not in log and key.removeprefix("xbn_") not in log


def _submit_light_job(page) -> str:
    for field, value in LIGHT_BUDGET.items():
        page.fill(f"#f-budget\\.{field}", str(value))
    page.uncheck("#f-budget\\.post_training")  # 3/4 of a small verification's time
    page.fill("#f-hardware\\.max_tiles", "16")  # small networks: the chain is what is checked
    page.click("#submit")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    return page.url.rsplit("/", 1)[-1]


def test_cancel_a_running_job(page, server):
    running = server.submit({"budget": {"trials": 4000, "top_k": 5, "train_epochs": 50}})
    page.goto(f"/jobs/{running['id']}")
    expect(page.locator("#status")).to_have_text("running", timeout=120_000)
    page.click("#cancel")
    expect(page.locator("#status")).to_have_text("cancelled", timeout=120_000)
    expect(page.locator("#cancel")).to_be_hidden()
    assert server.job(running["id"])["status"] == "cancelled"


def test_upload_a_data_set_and_see_why_its_job_failed(page, data_dir, tmp_path):
    upload = tmp_path / "blobs.npz"
    rng = np.random.default_rng(0)
    np.savez(upload, x=rng.normal(size=(120, 8)).astype("float32"), y=np.arange(120) % 3)
    page.goto("/jobs/new")
    page.get_by_text("Upload a data set").click()
    page.set_input_files("#upload-file", upload)
    page.click("#upload-button")
    expect(page.locator("#f-task")).to_have_value(re.compile(r"dataset-[0-9a-f]{32}"))
    dataset = page.input_value("#f-task")
    (stored,) = (data_dir / "datasets").glob("*.npz")
    stored.unlink()  # the stored file vanished: the job must fail, and say why
    page.get_by_text("Chip overrides").click()
    page.fill("#f-hardware\\.adc_bits", "6")
    page.select_option("#f-hardware\\.drift_compensation", "false")
    _submit_light_job(page)
    expect(page.locator("#summary")).to_contain_text("256, adc_bits 6, drift_compensation off")
    expect(page.locator("#status")).to_have_text("failed", timeout=120_000)
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text(dataset.removeprefix("dataset-"))
    _shot(page, "06-failed-job")
