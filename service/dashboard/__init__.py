"""The browser dashboard: server-rendered pages; a small script fills them from the REST API.

The pages hold no user data, so they need no key; the script sends the key (taken once from
``?token=`` in the URL that ``xbarnas serve`` prints, then kept in the browser) with every API
call. Plotly comes from its PyPI package and is served here, so the dashboard works offline.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from service import __version__
from service.dashboard.forms import job_form
from service.exports import FORMATS
from simulator.config import PRESETS, HardwareConfig

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["version"] = __version__
static = StaticFiles(directory=HERE / "static")
router = APIRouter(include_in_schema=False)

PRESET_FIELDS = (
    "device",
    "g_max",
    "dac_bits",
    "adc_bits",
    "out_noise",
    "prog_noise_scale",
    "read_noise_scale",
    "drift_scale",
    "drift_compensation",
)


@router.get("/", response_class=HTMLResponse)
def jobs_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "jobs.html", {"page": "jobs"})


@router.get("/jobs/new", response_class=HTMLResponse)
def new_job_page(request: Request) -> HTMLResponse:
    presets = {
        name: HardwareConfig.preset(name).model_dump(include=set(PRESET_FIELDS)) for name in PRESETS
    }
    context = {"page": "new", "sections": job_form(), "presets": presets, "fields": PRESET_FIELDS}
    return templates.TemplateResponse(request, "new_job.html", context)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str) -> HTMLResponse:
    context = {"page": "job", "job_id": job_id, "formats": FORMATS}
    return templates.TemplateResponse(request, "job.html", context)


@router.get("/static/vendor/plotly.min.js")
def plotly_js(request: Request) -> Response:
    """Plotly from the installed ``plotly`` package, gzipped once (4.8 MB -> 1.4 MB)."""
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(_plotly(compressed=True), media_type="text/javascript", headers=headers)
    return Response(_plotly(compressed=False), media_type="text/javascript", headers=headers)


@cache
def _plotly(compressed: bool) -> bytes:
    source = files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    return gzip.compress(source, compresslevel=6) if compressed else source
