"""AsyncClient's /presets calls: a key's saved looks (an app, its params, a reference
image) that a create names with `preset=`. Kept apart from aio.py so that each stays short."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Required, TypedDict
from urllib.parse import quote

from rendergate.client.inputs import Image, create_request, is_url
from rendergate.client.models import Preset
from rendergate.client.transport import Request, Transport

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.12


class PresetLook(TypedDict, total=False):
    """What a preset saves, as create_preset() and edit_preset() take it: the app (`type`),
    its `params`, a `reference` image (a path or bytes: the server fetches no URL for a
    preset), a `description` and a `label` (its name on a page, at most 64 characters)."""

    type: Required[str]
    params: dict[str, Any] | None
    reference: Image | None
    description: str
    label: str


class PresetCalls:
    """Mixed into AsyncClient, whose transport `_http` it uses."""

    _http: Transport

    async def presets(self) -> list[Preset]:
        """The key's own presets by name, then the server's built-in ones."""
        reply = await self._http.call(Request("GET", "/presets"))
        return [Preset.from_json(item) for item in reply.data()]

    async def preset(self, name: str) -> Preset:
        """One preset, the key's or a built-in one; NotFound otherwise."""
        reply = await self._http.call(Request("GET", _path(name)))
        return Preset.from_json(reply.data())

    async def create_preset(self, name: str, **look: Unpack[PresetLook]) -> Preset:
        """A preset of the key's (version 1); Conflict if it has one of that name already,
        InvalidRequest if the params do not fit the app's form."""
        return await self._saved("POST", "/presets", {"name": name}, look)

    async def edit_preset(self, name: str, **look: Unpack[PresetLook]) -> Preset:
        """The preset's next version: it replaces type, params, description and label, and the
        reference if one is given (else keeps the last one's). Tasks made before keep
        the version they ran with."""
        return await self._saved("PUT", _path(name), {}, look)

    async def delete_preset(self, name: str) -> None:
        """Deletes every version of the key's preset; NotFound if it has none of that name."""
        await self._http.call(Request("DELETE", _path(name)))

    async def preset_reference(self, name: str) -> bytes:
        """The preset's reference image; NotFound if it has none."""
        reply = await self._http.call(Request("GET", _path(name) + "/reference"))
        return reply.body

    async def _saved(
        self, method: str, path: str, named: dict[str, str], look: PresetLook
    ) -> Preset:
        reference = look.get("reference")
        if is_url(reference):
            raise ValueError("a preset's reference is a path or bytes, not a URL")
        fields = named | {
            "type": look["type"],
            "params": look.get("params") or {},
            "description": look.get("description", ""),
        }
        if "label" in look:  # only when given: a server from before labels refuses the key
            fields["label"] = look["label"]
        request = await create_request({"reference": reference}, fields, method=method, path=path)
        return Preset.from_json((await self._http.call(request)).data())


def _path(name: str) -> str:
    return "/presets/" + quote(name, safe="")
