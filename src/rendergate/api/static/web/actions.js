// What can be done to results: keep or unkeep one, upscale a batch's kept ones, run one
// again in another look (relook.js) or with changed settings (the New view's own controls,
// from controls.js), download one, the kept ones or all; and the re-runs a task has had.

import { api, apiData, hideError, showError } from "./api.js";
import { buildControls } from "./controls.js";
import { el, uid } from "./dom.js";
import { formatMoney } from "./format.js";
import { fileNameOf } from "./images.js";
import { lookChoice } from "./relook.js";

let apps = null;

/** GET /apps, asked once a page. */
export function appsOnce() {
  if (!apps) {
    apps = apiData("/apps");
    apps.catch(() => (apps = null)); // asked again next time
  }
  return apps;
}

/** The app named `name`, or null. */
export async function appNamed(name) {
  return (await appsOnce()).find((app) => app.name === name) || null;
}

/** PUT or DELETE /tasks/{id}/kept: the task as it is now. */
export function setKept(taskId, kept) {
  return apiData(`/tasks/${taskId}/kept`, { method: kept ? "PUT" : "DELETE" });
}

/** Saves the file at `path` (fetched with the key) under the API's name for it. */
export async function saveFrom(path, fallback) {
  const response = await api(path);
  const url = URL.createObjectURL(await response.blob());
  el("a", { href: url, download: fileNameOf(response, fallback) }).click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The upscalers that can run here (apps of kind upscale). */
export async function upscalers() {
  return (await appsOnce()).filter((app) => app.kind === "upscale" && app.available);
}

/** The upscaler to offer for results of `app`: one on the same provider (a RunningHub
 * render is upscaled on RunningHub, not by the CPU one), else the first there is. */
export function upscalerFor(found, app) {
  return found.find((upscaler) => app && upscaler.provider === app.provider) || found[0] || null;
}

/** "¥1.00" for `count` results upscaled by `app` (GET /quote); "" when not priced or unknown. */
export async function upscalePrice(app, count) {
  try {
    const query = new URLSearchParams({ type: app, renders: String(count) });
    const quote = await apiData(`/quote?${query}`);
    return quote.total == null ? "" : formatMoney(quote.total, quote.currency);
  } catch {
    return "";
  }
}

/** POST /batches/{id}/steps: `app` run on the batch's kept results; answers {steps, made, batch}. */
export function upscaleKept(batchId, app) {
  return apiData(`/batches/${batchId}/steps`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: app }),
  });
}

/**
 * The re-runs of `tasks` (POST /tasks/{id}/rerun names its original in `rerun_of`), oldest
 * first: GET /tasks?rerun_of= for each, the latest 100 of each.
 */
export async function rerunsOf(tasks) {
  const found = [];
  for (const task of tasks) {
    const query = new URLSearchParams({ rerun_of: String(task.task_id), limit: "100" });
    found.push(...(await apiData(`/tasks?${query}`)).tasks);
  }
  return found.sort((a, b) => a.created_at.localeCompare(b.created_at));
}

/**
 * The Re-run panel for `task` of `app`: its look (its own, or another preset), its settings
 * as the New view builds them, set to the task's (or the chosen preset's), and the same or a
 * new seed. `made(task)` hears the re-run once it is created; `closed()` when the panel is
 * closed.
 */
export function rerunPanel(task, app, name, made, closed) {
  let controls = buildControls(app);
  controls.set(task.params || {});
  const settings = el("div", {}, controls.node);
  const advanced = el("div", {}, controls.advanced);
  const renders = !app || (app.kind || "render") === "render"; // an upscale step has no look
  const look = renders
    ? lookChoice(task, appsOnce(), (preset, presetApp) => {
        controls = buildControls(preset ? presetApp : app); // a preset may run another app
        controls.set(preset ? preset.params : task.params || {});
        settings.replaceChildren(controls.node);
        advanced.replaceChildren(controls.advanced);
      })
    : null;
  const seedName = uid("seed-choice");
  const same = el("input", { type: "radio", name: seedName, id: `${seedName}-same`, value: "same", checked: true });
  const fresh = el("input", { type: "radio", name: seedName, id: `${seedName}-new`, value: "new" });
  const seedGroup = el("fieldset", { class: "seed-choice" }, [
    el("legend", {}, "Seed"),
    el("label", { for: same.id, class: "choice" }, [same, task.seed == null ? " The same" : ` The same (${task.seed})`]),
    el("label", { for: fresh.id, class: "choice" }, [fresh, " A new one"]),
  ]);
  const problem = el("div", { class: "alert", role: "alert", hidden: true });
  const run = el("button", { type: "submit", class: "primary" }, "Run again");
  const close = el("button", { type: "button" }, "Close");
  const headingId = uid("rerun-title");
  const form = el("form", { class: "rerun panel", "aria-labelledby": headingId, novalidate: true }, [
    el("h2", { id: headingId }, `Re-run ${name}`),
    el("p", { class: "hint" }, "The same screenshot; change the look or the settings. The original stays as it is."),
    look ? look.node : "",
    settings,
    seedGroup,
    advanced,
    problem,
    el("div", { class: "row" }, [run, close]),
  ]);
  close.addEventListener("click", closed);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    hideError(problem);
    run.disabled = true;
    const typed = controls.seedText();
    const asTyped = /^\d+$/.test(typed) ? typed : JSON.stringify(typed); // the API says what is wrong
    const seed = typed ? asTyped : fresh.checked ? '"random"' : null;
    const preset = look && look.preset() ? `, "preset": ${JSON.stringify(look.preset())}` : "";
    const body = `{"params": ${controls.paramsText()}${preset}${seed == null ? "" : `, "seed": ${seed}`}}`;
    try {
      const rerun = await apiData(`/tasks/${task.task_id}/rerun`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body,
      });
      window.dispatchEvent(new CustomEvent("rendergate:spent"));
      made(rerun);
    } catch (error) {
      showError(problem, error);
    } finally {
      run.disabled = false;
    }
  });
  return form;
}
