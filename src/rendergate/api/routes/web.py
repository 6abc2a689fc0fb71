"""GET /: the web page, a browser client of the public API (templates/index.html, with
static/web/app.js). The page itself holds no task and needs no key: its script calls the
API with the key the user gives it, so it shows exactly what that key may see."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from rendergate import __version__
from rendergate.api.deps import ServicesDep
from rendergate.api.present import public_apps
from rendergate.api.schemas import AppPublic
from rendergate.services.context import Services

router = APIRouter(include_in_schema=False)
TEMPLATES = Jinja2Templates(directory=Path(__file__).parents[1] / "templates")
# Only this origin's own scripts, styles and images (and the blob: URLs of the browser's
# own files and of results fetched with the key): the page makes no outside request.
CSP = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' blob: data:",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


@dataclass(frozen=True)
class Choice:
    app: AppPublic
    angles: str  # comma-separated; empty: any angle


def _choices(services: Services) -> tuple[list[Choice], str]:
    """Each app with the angles it takes, and the one chosen at first: `preview` when it
    can run here, else the first that can."""
    public = public_apps(services.apps, providers=services.providers, settings=services.settings)
    apps = [Choice(app, ",".join(services.apps[app.name].angles)) for app in public]
    runnable = [choice.app.name for choice in apps if choice.app.available]
    chosen = "preview" if "preview" in runnable else (runnable[0] if runnable else "")
    return apps, chosen


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, services: ServicesDep) -> HTMLResponse:
    apps, chosen = _choices(services)
    context = {
        "apps": apps,
        "chosen": chosen,
        "max_upload_mb": services.settings.max_upload_mb,
        "version": __version__,
    }
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
    return TEMPLATES.TemplateResponse(request, "index.html", context, headers=headers)
