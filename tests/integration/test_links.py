"""One link policy (services/links.py), in each configuration (RENDERGATE_PUBLIC_URL set or
not; requests straight to us or through a proxy): the GET body, the event stream and the
client's webhook carry the same image URL, and RunningHub is given a callback URL on the
public URL only. The server is set to listen on 0.0.0.0, as `serve --host 0.0.0.0` is: no
link may point there."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from test_keys_api import accepted_key
from test_push import SECRET, read_events

from rendergate.config.settings import Settings
from support.hub import hub_settings, running_emulator, su_form
from support.process import free_port
from support.receiver import Receiver, receiving
from support.server import serve

PROXY = {  # what a TLS-terminating proxy on loopback sends (nginx in docs/deploy.md)
    "Host": "render.example.com",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.7",
}


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        body = await response.json()
        assert response.status == 200, body
        return body["data"]


@pytest.mark.slow  # the proxied cases make an API key with `rendergate keys` (a process)
@pytest.mark.parametrize("public", [False, True], ids=["no-public-url", "public-url"])
@pytest.mark.parametrize("proxied", [False, True], ids=["direct", "proxied"])
async def test_every_link_to_a_result_is_the_same(
    settings: Settings, public: bool, proxied: bool
) -> None:
    port = free_port()
    public_url = f"http://localhost:{port}" if public else None  # not the URL we are called at
    async with running_emulator() as emu, receiving(Receiver([SECRET])) as hook:
        live = hub_settings(
            settings,
            emu,
            host="0.0.0.0",
            public_url=public_url,
            webhook_secret=SECRET,
            fetch_allow=["127.0.0.1"],
        )
        async with serve(live, port=port) as server:
            # open mode refuses requests through a proxy: those come with a key
            key = await accepted_key(server, settings.data_dir, "alice") if proxied else {}
            async with aiohttp.ClientSession(headers={**key, **(PROXY if proxied else {})}) as http:
                form = su_form()
                form.add_field("webhook_url", hook.url)
                form.add_field("webhook_events", "task.completed")
                async with http.post(f"{server.url}/tasks", data=form) as response:
                    created = await response.json()
                    assert response.status == 201, created
                task_id = created["data"]["task_id"]
                events = await read_events(http, f"{server.url}/tasks/{task_id}/events")
                polled = await get_json(http, f"{server.url}/tasks/{task_id}?include_base64=false")
                cached = await get_json(http, f"{server.url}/tasks/{task_id}?include_base64=false")
                full = await get_json(http, f"{server.url}/tasks/{task_id}")
            [delivered] = await hook.until(1)
    base = public_url or ("https://render.example.com" if proxied else server.url)
    image_url = f"{base}/tasks/{task_id}/image"
    webhook = json.loads(delivered.body)
    assert (events[-1]["event"], webhook["type"]) == ("task.completed", "task.completed")
    shown = [events[-1]["data"], polled, cached, full, webhook["data"]]
    assert [t["image"]["image_url"] for t in shown] == [image_url] * 5
    assert [t["outputs"][0]["url"] for t in shown] == [f"{image_url}?index=0"] * 5
    [upstream] = emu.tasks.values()
    if public:
        assert upstream.webhook_url is not None
        assert upstream.webhook_url.startswith(f"{public_url}/webhooks/runninghub/{task_id}/")
    else:
        assert upstream.webhook_url is None  # nobody could reach us: polled
