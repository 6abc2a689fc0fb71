// Following one unfinished task live: its event stream (GET /tasks/{id}/events, read with
// fetch() so it carries the key), and after three failed tries in a row (a proxy that cuts
// streams, the key's share of streams taken) a poll of GET /tasks/{id} every 2 s.

import { api, apiData, ApiError, pause, serverEvents, TERMINAL } from "./api.js";

const TRIES = 3;
const POLL_MS = 2000;

/** A refusal that asking again will not change (404, 401, ...); 429 is a share taken. */
function final(error) {
  return error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429;
}

/**
 * Calls `changed(task)` with each new state of task `taskId` until it ends or `signal`
 * aborts; resolves to its last state (null when aborted). A refusal that asking again
 * cannot change rejects.
 */
export async function followTask(taskId, changed, signal) {
  const stream = await streamed(taskId, changed, signal);
  if (stream || signal.aborted) return stream;
  return polled(taskId, changed, signal);
}

async function streamed(taskId, changed, signal) {
  for (let failures = 0; failures < TRIES; failures += 1) {
    try {
      const response = await api(`/tasks/${taskId}/events`, { signal });
      for await (const event of serverEvents(response.body)) {
        if (!event.event.startsWith("task.")) continue;
        const task = JSON.parse(event.data);
        changed(task);
        failures = 0;
        if (TERMINAL.has(task.status)) return task;
      }
    } catch (error) {
      if (signal.aborted) return null;
      if (final(error)) throw error;
    }
    await pause(500 * (failures + 1), signal);
    if (signal.aborted) return null;
  }
  return null;
}

async function polled(taskId, changed, signal) {
  while (!signal.aborted) {
    try {
      const task = await apiData(`/tasks/${taskId}?include_base64=false`, { signal });
      changed(task);
      if (TERMINAL.has(task.status)) return task;
    } catch (error) {
      if (signal.aborted) return null;
      if (final(error)) throw error;
    }
    await pause(POLL_MS, signal);
  }
  return null;
}
