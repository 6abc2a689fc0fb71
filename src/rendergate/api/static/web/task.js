// The task on show: its live state from GET /tasks/{id}/events (read with fetch(), so the
// key goes along; polling if the stream keeps failing), cancel, and the result beside the
// screenshot with a before/after slider and a download link.

import { api, apiData, ApiError, hideError, pause, serverEvents, showError, TERMINAL } from "./api.js";

const $ = (id) => document.getElementById(id);
const screenshots = new Map(); // task id -> object URL of the screenshot sent from this page
let current = null; // { id, abort }
let resultUrl = null;
let listeners = { changed: () => {}, finished: () => {} };

const STATUS = {
  submitted: "Waiting",
  processing: "Rendering",
  completed: "Done",
  failed: "Failed",
  canceled: "Canceled",
};

/** `changed(task)` on every new state shown; `finished(task)` when a followed task ends. */
export function watchTasks(callbacks) {
  listeners = { ...listeners, ...callbacks };
}

/** Keeps the screenshot a task was created from, for the before/after view. */
export function rememberScreenshot(taskId, file) {
  if (file) screenshots.set(taskId, URL.createObjectURL(file));
}

const SYMBOLS = { CNY: "¥", USD: "$", EUR: "€", GBP: "£", JPY: "¥" };

/** "¥0.17": an amount as the API gives it (a decimal string, never a float's rounding). */
export function formatMoney(amount, currency) {
  const symbol = SYMBOLS[currency];
  return symbol ? `${symbol}${amount}` : `${amount} ${currency}`;
}

/** What the task cost upstream, in money, and what its key was charged. */
export function formatCost(cost, charge) {
  const said = [];
  if (!cost) said.push("not finished");
  else if (cost.amount === null) said.push("not known");
  else if (cost.billed === false) said.push("nothing billed");
  else said.push(formatMoney(cost.amount, cost.currency) + (cost.estimated ? " (estimated)" : ""));
  if (charge) {
    const charged = formatMoney(charge.amount, charge.currency);
    said.push(charge.refunded ? `charged ${charged}, refunded` : `charged ${charged}`);
  }
  return said.join("; ");
}

/** "Rendering: 40%", or where it waits: in our queue (submitted) or the provider's. */
export function statusText(task) {
  const words = STATUS[task.status] || task.status;
  if (TERMINAL.has(task.status)) return words;
  const ahead = task.queue_position;
  if (ahead != null) {
    const place = ahead === 0 ? "next in line" : `${ahead} ahead in line`;
    return task.status === "submitted" ? `Waiting: ${place}` : `Queued at ${task.provider}: ${place}`;
  }
  return task.status === "submitted" ? `${words} to start` : `${words}: ${task.progress}%`;
}

function render(task) {
  $("task-id").textContent = String(task.task_id);
  const status = $("task-status");
  status.textContent = statusText(task);
  status.dataset.status = task.status;
  $("task-progress").value = task.progress;
  $("task-app").textContent = task.angle ? `${task.type}, angle ${task.angle}` : task.type;
  $("task-provider").textContent = task.provider || "not chosen yet";
  $("task-cost").textContent = formatCost(task.cost, task.charge);
  const message = $("task-message");
  message.textContent = task.error_message;
  message.hidden = !task.error_message;
  $("cancel").hidden = TERMINAL.has(task.status);
  listeners.changed(task);
}

/** Shows `task` and follows it until it finishes, or until another task is opened. */
export function openTask(task) {
  current?.abort.abort();
  const view = { id: task.task_id, abort: new AbortController() };
  current = view;
  $("task").hidden = false;
  $("result").hidden = true;
  hideError($("task-error"));
  render(task);
  if (TERMINAL.has(task.status)) showFinished(task, view);
  else follow(task.task_id, view);
}

async function follow(taskId, view) {
  let lastId = null;
  for (let failures = 0; failures < 3; failures += 1) {
    const headers = lastId === null ? {} : { "Last-Event-ID": lastId };
    try {
      const response = await api(`/tasks/${taskId}/events`, { headers, signal: view.abort.signal });
      for await (const event of serverEvents(response.body)) {
        if (event.id !== null) lastId = event.id;
        const task = JSON.parse(event.data);
        if (view !== current) return;
        render(task);
        if (TERMINAL.has(task.status)) return finished(task, view);
        failures = 0;
      }
    } catch (error) {
      if (view.abort.signal.aborted) return;
      if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
        return showError($("task-error"), error); // 401, 404: asking again will not help
      }
    }
    await pause(500 * (failures + 1), view.abort.signal); // the stream dropped: resume it
    if (view.abort.signal.aborted) return;
  }
  return poll(taskId, view);
}

/** When the stream keeps failing (a proxy that buffers it, say): GET every 2 s. */
async function poll(taskId, view) {
  while (!view.abort.signal.aborted) {
    try {
      const task = await apiData(`/tasks/${taskId}?include_base64=false`, {
        signal: view.abort.signal,
      });
      hideError($("task-error"));
      render(task);
      if (TERMINAL.has(task.status)) return finished(task, view);
    } catch (error) {
      if (view.abort.signal.aborted) return;
      showError($("task-error"), error);
      if (error.status >= 400 && error.status < 500) return;
    }
    await pause(2000, view.abort.signal);
  }
}

function finished(task, view) {
  listeners.finished(task);
  return showFinished(task, view);
}

async function showFinished(task, view) {
  if (task.status !== "completed") return;
  if (task.files_expired_at) {
    // retention removed them: a note, not an error, and nothing to fetch
    const box = $("task-error");
    box.textContent = `Its files were removed on ${task.files_expired_at.slice(0, 10)} (retention).`;
    box.hidden = false;
    return;
  }
  try {
    const response = await api(`/tasks/${task.task_id}/image`, { signal: view.abort.signal });
    const blob = await response.blob();
    if (view === current) showResult(task, blob, fileName(response, task));
  } catch (error) {
    if (!view.abort.signal.aborted) showError($("task-error"), error);
  }
}

function fileName(response, task) {
  const disposition = response.headers.get("Content-Disposition") || "";
  const named = /filename="([^"]+)"/.exec(disposition);
  return named ? named[1] : `${task.task_id}-0.png`;
}

function showResult(task, blob, name) {
  if (resultUrl) URL.revokeObjectURL(resultUrl);
  resultUrl = URL.createObjectURL(blob);
  $("after").src = resultUrl;
  const before = screenshots.get(task.task_id);
  const figure = $("result");
  figure.classList.toggle("compared", Boolean(before));
  $("before").hidden = !before;
  $("slide").hidden = !before;
  if (before) $("before").src = before;
  const link = $("download");
  link.href = resultUrl;
  link.download = name;
  figure.hidden = false;
}

async function cancel() {
  if (!current) return;
  const view = current;
  const button = $("cancel");
  button.disabled = true;
  hideError($("task-error"));
  try {
    const task = await apiData(`/tasks/${view.id}/cancel`, { method: "POST" });
    if (view === current) render(task); // the stream ends with task.canceled too
  } catch (error) {
    showError($("task-error"), error);
  } finally {
    button.disabled = false;
  }
}

function slide() {
  const figure = $("result");
  figure.style.setProperty("--split", `${$("slider").value}%`);
}

export function setUpTaskView() {
  $("cancel").addEventListener("click", cancel);
  $("slider").addEventListener("input", slide);
  slide();
}
