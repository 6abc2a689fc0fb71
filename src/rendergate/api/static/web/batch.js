// #/batches/{id}: a batch as a grid, one row per view and one card per variation (and per
// chained step), filled in from its one event stream (GET /batches/{id}/events; polling
// GET /batches/{id} every 2 s when the stream keeps failing). Cancel one or all; retry the
// failed once it has ended; download all as a zip.

import { api, apiData, ApiError, hideError, pause, serverEvents, showError, TERMINAL, whileBusy } from "./api.js";
import { memberCard } from "./card.js";
import { announce, el } from "./dom.js";
import { formatMoney, plural } from "./format.js";
import { saveFrom } from "./images.js";
import { titled } from "./router.js";
import { shareButton } from "./share.js";

const ENDED = new Set(["completed", "partial", "failed", "canceled"]);
export const STATUS = {
  submitted: "Waiting",
  processing: "Rendering",
  completed: "Done",
  partial: "Done, some failed",
  failed: "Failed",
  canceled: "Canceled",
};

const typical = new Map(); // app -> Promise of its typical run in seconds, or null

/** The median run of the key's last 20 completed tasks of `app` (asked once a session);
 * null with fewer than 3. */
function typicalRun(app) {
  if (!typical.has(app)) {
    const query = new URLSearchParams({ type: app, status: "completed", limit: "20" });
    const runs = apiData(`/tasks?${query}`).then(
      (page) => {
        const took = page.tasks
          .filter((task) => task.finished_at)
          .map((task) => (new Date(task.finished_at) - new Date(task.created_at)) / 1000)
          .sort((a, b) => a - b);
        return took.length >= 3 ? took[Math.floor(took.length / 2)] : null;
      },
      () => null,
    );
    typical.set(app, runs);
  }
  return typical.get(app);
}

function countsText(counts) {
  const order = ["completed", "processing", "submitted", "failed", "canceled"];
  const words = { completed: "done", processing: "rendering", submitted: "waiting", failed: "failed", canceled: "canceled" };
  return order.filter((status) => counts[status]).map((status) => `${counts[status]} ${words[status]}`).join(" · ");
}

/** "Charged so far: ¥4.00 · cost ¥0.34 (estimated)": the members' charges net of refunds,
 * then what the finished ones cost upstream, "(+2 not known)" beside a sum that leaves some
 * out (a provider that tells no cost). */
export function costText(cost) {
  if (!cost || cost.charged == null) return "";
  return `Charged so far: ${formatMoney(cost.charged, cost.currency)}${upstreamText(cost)}`;
}

function upstreamText(cost) {
  if (cost.amount == null || !cost.currency) return "";
  const guessed = cost.estimated ? " (estimated)" : "";
  const missing = cost.unknown ? ` (+${cost.unknown} not known)` : ""; // as Account says it
  return ` · cost ${formatMoney(cost.amount, cost.currency)}${guessed}${missing}`;
}

export async function showBatch(root, match) {
  const batchId = match[1];
  const stop = new AbortController();
  const page = el("div", { class: "batch page" });
  root.append(page);
  const problem = el("div", { class: "alert", role: "alert", hidden: true });
  let batch;
  try {
    batch = await apiData(`/batches/${batchId}`, { signal: stop.signal });
  } catch (error) {
    page.append(el("h1", {}, "Batch"), problem);
    showError(problem, error);
    titled("Batch");
    return () => stop.abort();
  }

  const heading = el("h1", {}, batch.name || `Batch ${batchId}`);
  const status = el("p", { class: "batch-status", "aria-live": "polite" });
  const bar = el("progress", { max: "100", value: "0", "aria-label": "Progress of the batch" });
  const facts = el("p", { class: "hint batch-facts" });
  const cancelAll = el("button", { type: "button" }, "Cancel all");
  const retry = el("button", { type: "button" }, "Retry failed");
  const zip = el("button", { type: "button" }, "Download all");
  const grid = el("div", { class: "grid" });
  const share = shareButton(batchId);
  page.append(
    el("header", { class: "batch-head" }, [heading, status, bar, facts, el("div", { class: "row actions" }, [cancelAll, retry, zip, share.button])]),
    problem,
    grid,
    share.dialog,
  );
  titled(batch.name || `Batch ${batchId}`);

  const cards = new Map(); // task id -> card
  let userScrolled = false;
  let shownFirst = false;
  const scrolled = () => (userScrolled = true);
  for (const kind of ["wheel", "touchmove", "keydown"]) window.addEventListener(kind, scrolled, { passive: true });

  function drawGrid() {
    const rows = batch.views.map((view) =>
      el("section", { class: "view-row", "aria-label": `View ${view.view + 1}` }, [
        el("h2", {}, `View ${view.view + 1}${view.angle ? ` · ${view.angle}` : ""}`),
        el("div", { class: "cards" }),
      ]),
    );
    for (const task of batch.tasks) {
      let card = cards.get(task.task_id);
      if (card) card.update(task);
      else {
        card = memberCard(task, changedTask);
        cards.set(task.task_id, card);
      }
      rows[task.view ?? 0]?.querySelector(".cards").append(card.node);
      if (!TERMINAL.has(task.status)) typicalRun(task.type).then((s) => s && card.setEstimate(s));
    }
    grid.replaceChildren(...rows);
  }

  function drawHead() {
    status.textContent = STATUS[batch.status] || batch.status;
    status.dataset.status = batch.status;
    bar.value = batch.progress;
    const total = `${plural(batch.views.length, "view")} × ${plural(batch.variations, "variation")}`;
    facts.textContent = [total, countsText(batch.counts), costText(batch.cost)].filter(Boolean).join(" · ");
    const ended = ENDED.has(batch.status);
    cancelAll.hidden = ended;
    retry.hidden = !ended || !(batch.counts.failed || batch.counts.canceled);
    zip.hidden = !batch.counts.completed;
  }

  function changedTask(task) {
    const card = cards.get(task.task_id);
    if (!card) return false;
    const was = card.task.status;
    card.update(task);
    if (task.status === "completed" && was !== "completed") finishedOne(card);
    return true;
  }

  /** The first result comes into view, unless the user scrolled since: then a toast offers
   * to show it. Either way a screen reader hears of each. */
  function finishedOne(card) {
    const said = `${card.node.getAttribute("aria-label")} done`;
    announce(said);
    if (shownFirst) return;
    shownFirst = true;
    if (!userScrolled) return card.node.scrollIntoView({ block: "center" });
    const show = el("button", { type: "button" }, "Show");
    const toast = el("div", { class: "toast" }, [el("span", {}, said), show]);
    show.addEventListener("click", () => {
      card.node.scrollIntoView({ block: "center" });
      card.node.querySelector("a.download, button")?.focus({ preventScroll: true });
      toast.remove();
    });
    page.append(toast);
    setTimeout(() => toast.remove(), 15_000);
  }

  async function reload() {
    batch = await apiData(`/batches/${batchId}`, { signal: stop.signal });
    drawHead();
    drawGrid();
  }

  async function follow() {
    for (let failures = 0; failures < 3; failures += 1) {
      try {
        const response = await api(`/batches/${batchId}/events`, { signal: stop.signal });
        for await (const event of serverEvents(response.body)) {
          const data = JSON.parse(event.data);
          if (event.event.startsWith("task.")) {
            if (!changedTask(data)) await reload(); // a new member: a chained step, a retry
          } else {
            Object.assign(batch, data);
            drawHead();
            if (ENDED.has(data.status)) return ended();
          }
          failures = 0;
        }
      } catch (error) {
        if (stop.signal.aborted) return;
        if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429) {
          return showError(problem, error);
        }
      }
      await pause(500 * (failures + 1), stop.signal);
      if (stop.signal.aborted) return;
    }
    return poll();
  }

  async function poll() {
    while (!stop.signal.aborted) {
      try {
        const before = new Set(cards.keys());
        batch = await apiData(`/batches/${batchId}`, { signal: stop.signal });
        hideError(problem);
        drawHead();
        if (batch.tasks.some((task) => !before.has(task.task_id))) drawGrid();
        else batch.tasks.forEach(changedTask);
        if (ENDED.has(batch.status)) return ended();
      } catch (error) {
        if (stop.signal.aborted) return;
        showError(problem, error);
        if (error.status >= 400 && error.status < 500) return;
      }
      await pause(2000, stop.signal);
    }
  }

  async function ended() {
    await reload(); // the final costs and every member's end
    window.dispatchEvent(new CustomEvent("rendergate:spent"));
  }

  const act = (button, run) => whileBusy(button, problem, run, stop.signal);

  cancelAll.addEventListener("click", () =>
    act(cancelAll, async () => {
      await apiData(`/batches/${batchId}/cancel`, { method: "POST" });
      await reload();
    }),
  );
  retry.addEventListener("click", () =>
    act(retry, async () => {
      await apiData(`/batches/${batchId}/retry`, { method: "POST" });
      await reload();
      follow();
    }),
  );
  zip.addEventListener("click", () =>
    act(zip, () => saveFrom(`/batches/${batchId}/archive`, `batch-${batchId}.zip`)),
  );

  drawHead();
  drawGrid();
  const ticker = setInterval(() => cards.forEach((card) => card.tick()), 1000);
  if (!ENDED.has(batch.status)) follow();
  return () => {
    stop.abort();
    clearInterval(ticker);
    for (const kind of ["wheel", "touchmove", "keydown"]) window.removeEventListener(kind, scrolled);
  };
}
