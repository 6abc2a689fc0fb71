"""The API's answers around a task's public shape (services/presenting.py): the envelope,
the base of their links, the apps a task can name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from rendergate.api.schemas import AppPublic, Envelope, ParamPublic
from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.params import ParamSpec
from rendergate.providers.base import Provider
from rendergate.services.links import answer_base
from rendergate.services.routing import RunsHere


def envelope(data: Any, status_code: int = 200) -> JSONResponse:
    """A success: `data` in the task API's {code: 0, msg, data} envelope."""
    return JSONResponse(Envelope[Any](data=data).model_dump(mode="json"), status_code=status_code)


def base_url(request: Request, settings: Settings) -> str:
    """The base of the image links in an answer to `request` (services/links.py)."""
    return answer_base(settings, request.scope)


def public_apps(
    apps: Mapping[str, AppSpec], *, providers: Mapping[str, Provider], settings: Settings
) -> list[AppPublic]:
    """The apps a task's `type` can name, by name, each with whether it runs here (on
    `providers`; `settings` say why not): GET /apps and the web page's choice."""
    public, here = [], RunsHere(providers, settings)
    for app in sorted(apps.values(), key=lambda a: a.name):
        provider, reason = here.availability(app)
        public.append(
            AppPublic(
                name=app.name,
                provider=provider,
                title=app.title,
                label=app.label,
                description=app.description,
                kind=app.kind,
                reference=app.reference,
                requires_reference=app.requires_reference,
                seed=app.seed,
                angles=list(app.angles),
                params=[public_param(spec) for spec in app.params],
                deadline_s=app.deadline_s,
                available=reason is None,
                unavailable_reason=reason,
            )
        )
    return public


def public_param(spec: ParamSpec) -> ParamPublic:
    return ParamPublic(
        name=spec.name,
        type=spec.type,
        min=spec.min,
        max=spec.max,
        step=spec.step,
        choices=list(spec.choices) if spec.type == "choice" else None,
        choice_labels=list(spec.choice_labels) or None,
        default=spec.default,
        label=spec.label,
        description=spec.description,
        advanced=spec.advanced,
    )
