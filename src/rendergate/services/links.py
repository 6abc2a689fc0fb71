"""Where the links we hand out point: one policy for every answer and message with one.

A task's image links appear in answers to requests (POST, GET and list bodies, the event
stream) and in client webhooks; providers are given a callback URL. One rule for all:

- RENDERGATE_PUBLIC_URL, when set, for every one of them: the operator said where we are
  reached.
- Without it, an answer to a request uses that request's own base URL: the Host it came
  with (a proxy must pass it through), the scheme uvicorn gives it (X-Forwarded-Proto, from
  a proxy it trusts), its root path. A link that reached us once reaches us again.
- A webhook leaves without a request: it uses the base URL of the request that created its
  task, recorded with the task (`Task.link_base`), so the receiver gets the links the
  creating client saw, whichever process sends it. Not the address `serve` listens on: with
  `--host 0.0.0.0` that is `http://0.0.0.0:8000`, which no receiver can follow. A task with
  none recorded (made before it was, or by a request whose Host is absurdly long) gets the
  listening port on loopback, never a wildcard address.
- A provider callback only with RENDERGATE_PUBLIC_URL: a provider out on the internet can
  reach neither a client's Host nor our loopback; without one, the task is polled.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from rendergate.config.settings import Settings
from rendergate.domain.task import Task

MAX_BASE_CHARS = 2048  # a base URL longer than this is not recorded with a task


def request_base(scope: Mapping[str, Any]) -> str:
    """The base URL an ASGI request reached us at: its scheme, Host and root path."""
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
    if host is None:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope['scheme']}://{host}{scope.get('root_path', '')}".rstrip("/")


def answer_base(settings: Settings, scope: Mapping[str, Any]) -> str:
    """The base of the links in an answer to the request `scope`."""
    return _public(settings) or request_base(scope)


def recorded_base(scope: Mapping[str, Any]) -> str:
    """What a new task records of the request creating it: its base URL, "" if too long."""
    base = request_base(scope)
    return base if len(base) <= MAX_BASE_CHARS else ""


def outbound_base(settings: Settings, task: Task) -> str:
    """The base of the links in what is sent about `task` without a request (webhooks)."""
    return outbound_base_of(settings, task.link_base)


def outbound_base_of(settings: Settings, link_base: str) -> str:
    """The same, for a thing created by a request whose base was `link_base` (a batch)."""
    return _public(settings) or link_base or _loopback(settings)


def callback_url(settings: Settings, task: Task) -> str | None:
    """Where the provider may call us back about `task`; None: nobody could, it is polled."""
    base = _public(settings)
    if not base or not task.callback_token:
        return None
    return f"{base}/webhooks/{task.provider}/{task.task_id}/{task.callback_token}"


def _public(settings: Settings) -> str:
    return (settings.public_url or "").rstrip("/")


def _loopback(settings: Settings) -> str:
    """The port `serve` listens on, at an address this host reaches: a wildcard becomes
    loopback."""
    host = settings.host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{settings.port}"  # a name
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{shown}:{settings.port}"
