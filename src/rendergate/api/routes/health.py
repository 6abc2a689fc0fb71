"""/healthz and /apps: is the service up, and what can it run."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from rendergate import __version__
from rendergate.api.deps import ServicesDep
from rendergate.api.examples import errors, ok
from rendergate.api.present import public_apps
from rendergate.api.schemas import AppPublic, Envelope, Health

router = APIRouter()


HEALTH_EXAMPLE = {
    "code": 0,
    "msg": "success",
    "data": {
        "status": "ok",
        "database": "ok",
        "worker": True,
        "providers": ["local"],
        "version": __version__,
    },
}
APPS_EXAMPLE = {
    "code": 0,
    "msg": "success",
    "data": [
        {
            "name": "comfy_demo",
            "provider": "comfyui",
            "title": "ComfyUI demo (model-free)",
            "label": "ComfyUI demo (model-free)",
            "description": "Runs on your own ComfyUI servers: scales the screenshot by "
            "`params.scale` and inverts its colours.",
            "kind": "render",
            "reference": "none",
            "requires_reference": False,
            "seed": False,
            "angles": [],
            "params": [
                {
                    "name": "scale",
                    "type": "number",
                    "min": 1,
                    "max": 4,
                    "step": 0.5,
                    "choices": None,
                    "choice_labels": None,
                    "default": 2,
                    "label": "Scale",
                    "description": "How many times larger the result is",
                    "advanced": False,
                }
            ],
            "deadline_s": 600.0,
            "available": True,
            "unavailable_reason": None,
        },
        {
            "name": "su_render",
            "provider": "runninghub",
            "title": "SU截图转效果图",
            "label": "SketchUp screenshot to render",
            "description": "SketchUp screenshot to photoreal render on RunningHub.",
            "kind": "render",
            "reference": "required",
            "requires_reference": True,
            "seed": False,
            "angles": [],
            "params": [],
            "deadline_s": 1800.0,
            "available": False,
            "unavailable_reason": "provider 'runninghub' is not configured: "
            "set RENDERGATE_RUNNINGHUB_API_KEY",
        },
    ],
}


@router.get(
    "/healthz",
    summary="Liveness and database check",
    response_model=Envelope[Health],
    responses={
        200: ok(HEALTH_EXAMPLE),
        503: {"description": "The database is unreachable", "model": Envelope[Health]},
        **errors(413, 500),
    },
)
async def healthz(services: ServicesDep) -> JSONResponse:
    try:
        await services.store.find(limit=1)
        database = "ok"
    except Exception as exc:
        database = f"error: {type(exc).__name__}"
    health = Health(
        status="ok" if database == "ok" else "degraded",
        database=database,
        worker=services.settings.worker,
        providers=sorted(services.providers),
        version=__version__,
    )
    body = Envelope[Health](data=health).model_dump(mode="json")
    return JSONResponse(body, status_code=200 if database == "ok" else 503)


@router.get(
    "/apps",
    summary="The apps a task's `type` can name",
    response_model=Envelope[list[AppPublic]],
    responses={200: ok(APPS_EXAMPLE), **errors(413, 500)},
)
async def list_apps(services: ServicesDep) -> JSONResponse:
    apps = public_apps(services.apps, providers=services.providers, settings=services.settings)
    return JSONResponse(Envelope[list[AppPublic]](data=apps).model_dump(mode="json"))
