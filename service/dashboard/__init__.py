"""The browser dashboard: server-rendered pages; a small script fills them from the REST API.

The pages hold no user data, so they need no key; the script's API calls carry a session cookie
(HttpOnly, SameSite=Strict, signed, never the key itself). A page opened with ``?token=KEY`` (the
URL that ``xbarnas serve`` prints) is answered with a redirect to itself without the token that
sets the cookie; the key form posts the key to ``/session`` in a request body. Plotly comes from
its PyPI package and is served here, so the dashboard works offline.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from service import __version__
from service.auth import SESSION_COOKIE, check_origin, find_key, refusal, session_cookie, usable_key
from service.dashboard.forms import job_form
from service.deps import get_session, get_settings
from service.exports import FORMATS
from service.models import ApiKey
from service.schemas import CHIP_OVERRIDE_EXTRA, CHIP_OVERRIDES, ZERO_MEANS, SessionCreate
from service.settings import Settings
from simulator.config import PRESETS, HardwareConfig

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["version"] = __version__
static = StaticFiles(directory=HERE / "static")
router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

PRESET_FIELDS = ("device", *CHIP_OVERRIDES)
# the rescore form's fields besides the overrides: the chip, not the search's limits
RESCORE_CHIP = ("hardware.preset", "hardware.tile_rows", "hardware.tile_cols")


def _start_session(response: Response, request: Request, settings: Settings, key: ApiKey) -> None:
    value, lifetime = session_cookie(settings, key)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=lifetime,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,  # out of reach of scripts
        samesite="strict",  # never sent with a request that another site starts
    )


def _adopt_token(request: Request, session: Session, settings: Settings) -> Response | None:
    """For a page opened with ``?token=KEY``: a redirect to the page without the token that sets
    the session cookie (when the key is good, and the address was opened, not followed from
    another site, which could otherwise sign the browser in with a key of its own). The key
    leaves the address bar and the history; the log line of this one request has it redacted."""
    token = request.query_params.get("token")
    if token is None:
        return None
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
    response = RedirectResponse(
        request.url.path + (f"?{query}" if query else ""), status.HTTP_303_SEE_OTHER
    )
    opened_here = request.headers.get("sec-fetch-site", "none") in ("none", "same-origin")
    key = find_key(session, token)
    if settings.auth and opened_here and refusal(key) is None:
        _start_session(response, request, settings, key)
    return response


@router.post("/session", status_code=status.HTTP_204_NO_CONTENT)
def sign_in(
    body: SessionCreate, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """The key form: the key in the body (never in a URL), a session cookie in return."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    if settings.auth:
        check_origin(request)
        _start_session(response, request, settings, usable_key(session, body.key))
    return response


@router.get("/", response_class=HTMLResponse)
def jobs_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    if (redirect := _adopt_token(request, session, settings)) is not None:
        return redirect
    return templates.TemplateResponse(request, "jobs.html", {"page": "jobs"})


@router.get("/jobs/new", response_class=HTMLResponse)
def new_job_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    if (redirect := _adopt_token(request, session, settings)) is not None:
        return redirect
    presets = {
        name: HardwareConfig.preset(name).model_dump(include=set(PRESET_FIELDS)) for name in PRESETS
    }
    context = {
        "page": "new",
        "sections": job_form(),
        "presets": presets,
        "fields": PRESET_FIELDS,
        "zero_means": ZERO_MEANS,
    }
    return templates.TemplateResponse(request, "new_job.html", context)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, session: SessionDep, settings: SettingsDep) -> Response:
    if (redirect := _adopt_token(request, session, settings)) is not None:
        return redirect
    (hardware,) = [section for section in job_form() if section.name == "hardware"]
    context = {
        "page": "job",
        "job_id": job_id,
        "formats": FORMATS,
        "chip_overrides": CHIP_OVERRIDES,
        "zero_means": ZERO_MEANS,
        "rescore_fields": [f for f in hardware.ungrouped() if f.path in RESCORE_CHIP],
        "rescore_overrides": hardware.groups()[CHIP_OVERRIDE_EXTRA["x-group"]],
    }
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
