"""Faults the RunningHub emulator can inject into its answers, switchable at runtime.

A fault rule hits the next `times` requests whose path matches (all API and file paths when
`path` is None; a path ending in "/" matches as a prefix). What the client sees:

- HTTP_502: HTTP 502, text/html, an nginx "502 Bad Gateway" page.
- HTML_200: HTTP 200, text/html, a maintenance page where JSON was expected.
- CODE: HTTP 200, the JSON envelope `{code, msg, data: null}` with the rule's code.
- RESET: no answer; the TCP connection is reset (SO_LINGER 0, then abort).
- STALL: the request is held `stall_s` seconds and then answered normally; with
  `stall_s=None` it is held until `release()` (then answered normally) or until the server
  stops (then reset). `stalled` is set once a request is being held, so a test can act
  while it is, instead of racing a duration.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web

from rendergate_emulators.runninghub_model import code_name


class InjectedFault(StrEnum):
    HTTP_502 = "http_502"
    HTML_200 = "html_200"
    CODE = "code"
    RESET = "reset"  # before the request is handled: nothing happened
    LOST_REPLY = "lost_reply"  # handled as usual (a run creates its task), then reset
    STALL = "stall"
    ECHO = "echo"  # an error code whose msg repeats the request body, API key included
    MALFORMED = "malformed"  # code 0 with a `data` that lacks every field it should have


BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
MAINTENANCE_HTML = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>RunningHub</title></head>"
    "<body><h1>系统维护中</h1><p>The service is under maintenance, please retry later.</p>"
    "</body></html>"
)


@dataclass(slots=True)
class FaultRule:
    kind: InjectedFault
    path: str | None = None  # None: every API and file path
    times: int | None = 1  # None: until cleared
    code: int = 500  # for CODE
    stall_s: float | None = None  # for STALL; None: until released or the server stops
    fired: int = 0
    stalled: asyncio.Event = field(default_factory=asyncio.Event)  # a request is held
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """Lets the held requests (and later ones) go on to their normal answer."""
        self.released.set()

    def matches(self, path: str) -> bool:
        if self.path is None:
            return True
        return path.startswith(self.path) if self.path.endswith("/") else path == self.path

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.kind.value,
            "path": self.path,
            "times": self.times,
            "code": self.code,
            "stall_s": self.stall_s,
            "fired": self.fired,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        """The body of POST /_emulator/inject; raises ValueError on a bad one."""
        try:
            kind = InjectedFault(str(data["fault"]))
        except (KeyError, ValueError):
            raise ValueError(f"fault must be one of {[f.value for f in InjectedFault]}") from None
        path, code, stall_s = (data.get(k) for k in ("path", "code", "stall_s"))
        times = data.get("times", 1)  # as in inject(); an explicit null means until cleared
        if path is not None and not isinstance(path, str):
            raise ValueError("path must be a string or null")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer or null")
        if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
            raise ValueError("code must be an integer")
        if stall_s is not None and (not isinstance(stall_s, int | float) or stall_s < 0):
            raise ValueError("stall_s must be a non-negative number or null")
        rule = cls(kind=kind, path=path, times=times, stall_s=stall_s)
        if code is not None:
            rule.code = code
        return rule


class FaultPlan:
    """The rules in the order they were added; the first matching one fires."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        self._rules.append(rule)
        return rule

    def clear(self) -> None:
        self._rules.clear()

    def take(self, path: str) -> FaultRule | None:
        for rule in self._rules:
            if rule.matches(path):
                rule.fired += 1
                if rule.times is not None and rule.fired >= rule.times:
                    self._rules.remove(rule)
                return rule
        return None

    def to_json(self) -> list[dict[str, Any]]:
        return [rule.to_json() for rule in self._rules]


async def answer_fault(
    rule: FaultRule, request: web.Request, stopping: asyncio.Event
) -> web.StreamResponse | None:
    """The faulty answer, or None when the request should go on (a stall that ended)."""
    if rule.kind is InjectedFault.HTTP_502:
        return web.Response(status=502, text=BAD_GATEWAY_HTML, content_type="text/html")
    if rule.kind is InjectedFault.HTML_200:
        return web.Response(status=200, text=MAINTENANCE_HTML, content_type="text/html")
    if rule.kind is InjectedFault.CODE:
        envelope = {"code": rule.code, "msg": code_name(rule.code), "data": None}
        return web.json_response(envelope)
    if rule.kind is InjectedFault.ECHO:
        message = f"{code_name(rule.code)}: bad request {await request.text()}"
        return web.json_response({"code": rule.code, "msg": message, "data": None})
    if rule.kind is InjectedFault.MALFORMED:
        return web.json_response({"code": 0, "msg": "success", "data": {"unexpected": True}})
    if rule.kind is InjectedFault.STALL and not await _held_until_stop(rule, stopping):
        return None
    return reset(request)


async def _held_until_stop(rule: FaultRule, stopping: asyncio.Event) -> bool:
    """Holds a stalled request; True when the server stopping ended the stall (a stop ends
    every stall, so shutdown never waits on one)."""
    rule.stalled.set()
    stop = asyncio.ensure_future(stopping.wait())
    release = asyncio.ensure_future(rule.released.wait())
    try:
        await asyncio.wait({stop, release}, timeout=rule.stall_s, return_when="FIRST_COMPLETED")
    finally:
        stop.cancel()
        release.cancel()
    return stopping.is_set()


def reset(request: web.Request) -> web.Response:
    """Resets the connection; aiohttp then drops the returned response quietly."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=204)
