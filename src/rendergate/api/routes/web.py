"""GET /: the web page, a browser client of the public API (templates/index.html, with the
ES modules of static/web/, entered at main.js). The page itself holds no task and needs no
key: its script calls the API with the key the user gives it, so it shows exactly what that
key may see."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from rendergate import __version__
from rendergate.api.deps import ServicesDep

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


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, services: ServicesDep) -> HTMLResponse:
    """The shell: the identity bar and an empty view that static/web/main.js fills from
    the hash route (#/, #/batches/{id}, ...), asking the API with the browser's key."""
    context = {
        "currency": services.settings.currency,
        "max_upload_mb": services.settings.max_upload_mb,
        "version": __version__,
    }
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
    return TEMPLATES.TemplateResponse(request, "index.html", context, headers=headers)
