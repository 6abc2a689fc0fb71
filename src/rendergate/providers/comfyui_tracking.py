"""What one ComfyUI server says of the prompts followed there, read together: one `/queue`
read for all of them, then one history read for those it no longer holds (comfyui_calls.py
bounds it). `/queue` first: a prompt that ends in between is then in the history. A prompt
in neither was lost (the server restarted), and so are all of a server's prompts once it has
been silent for `dead_after_s`; before that, its silence is only unavailable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rendergate.domain.errors import JobLost, ProviderError, ProviderUnavailable
from rendergate.providers.base import JobPhase, JobStatus
from rendergate.providers.comfyui_calls import ServerApi
from rendergate.providers.comfyui_servers import Server, ServerPool
from rendergate.providers.comfyui_workflow import history_status

POLL_AFTER_S = 0.5  # the servers are the user's own and answer these from memory

Answer = JobStatus | ProviderError


class PromptStatuses:
    def __init__(self, api: ServerApi, pool: ServerPool) -> None:
        self._api, self._pool = api, pool

    async def of_server(self, server: Server, prompt_ids: list[str]) -> dict[str, Answer]:
        """Each prompt's status, or its own error, from one read of each view."""
        try:
            places = await self._api.queue_places(server)
            ended = [prompt_id for prompt_id in prompt_ids if prompt_id not in places]
            entries = await self._api.histories(server, ended)
        except ProviderUnavailable as exc:
            return dict.fromkeys(prompt_ids, self._silent(server, prompt_ids, exc))
        if len(ended) < len(prompt_ids):
            self._pool.listen(server)  # progress of those still there comes by websocket
        return {p: self._status(server, p, places.get(p), entries.get(p)) for p in prompt_ids}

    def _silent(self, server: Server, prompt_ids: list[str], exc: ProviderError) -> ProviderError:
        if not server.is_dead(self._pool.now(), self._pool.dead_after_s):
            return exc
        for prompt_id in prompt_ids:
            server.forget(prompt_id)
        lost = JobLost(
            f"ComfyUI server {server.name} stopped answering; the task goes to another server"
        )
        lost.__cause__ = exc
        return lost

    @staticmethod
    def _status(
        server: Server, prompt_id: str, place: int | None, entry: Mapping[str, Any] | None
    ) -> Answer:
        if place == 0:
            progress = server.progress.get(prompt_id)
            return JobStatus(phase=JobPhase.RUNNING, progress=progress, poll_after_s=POLL_AFTER_S)
        if place is not None:
            return JobStatus(phase=JobPhase.QUEUED, queue_position=place, poll_after_s=POLL_AFTER_S)
        server.forget(prompt_id)
        if entry is None:
            return JobLost(f"ComfyUI server {server.name} no longer knows the prompt (restarted?)")
        return history_status(entry)
