// #/tasks/{id}: one task, from a batch or from history. Its result over its screenshot (the
// before/after slider), zoom and full screen; the settings it ran with under their labels;
// its price; its lineage (batch, the result it was made from, re-runs, steps). An
// unfinished task is followed live (follow.js) and shown once it ends.

import { apiData, showError, TERMINAL } from "./api.js";
import { appNamed, rerunPanel, rerunsOf, saveFrom, setKept } from "./actions.js";
import { announce, el } from "./dom.js";
import { appLabel, priceText, statusText } from "./format.js";
import { followTask } from "./follow.js";
import { navigate, titled } from "./router.js";
import { beforeAfter, fullScreenButton, zoomButtons, zoomControl } from "./stage.js";

const UP = 5; // parents walked up to find the screenshot a chain started from

/** The task whose stored image is the screenshot: walks up from a step to its render. */
async function screenshotOf(task, signal) {
  let at = task;
  for (let hop = 0; hop < UP && at.parent_task_id; hop += 1) {
    try {
      at = await apiData(`/tasks/${at.parent_task_id}?include_base64=false`, { signal });
    } catch {
      break; // its parent is gone: its own input is the nearest "before"
    }
  }
  return at.task_id;
}

/** A param's value as its control shows it: a choice's label, a switch's on or off. */
function shown(param, value) {
  if (param && param.type === "choice" && param.choice_labels) {
    const i = param.choices.findIndex((choice) => JSON.stringify(choice) === JSON.stringify(value));
    if (i >= 0 && param.choice_labels[i]) return param.choice_labels[i];
  }
  if (typeof value === "boolean") return value ? "on" : "off";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** "Dusk, photoreal (su_dusk v1)": the preset by its label once GET /presets says it, as
 * the App row names its app; "none" without one. */
function lookUsed(task) {
  if (!task.preset) return "none";
  const id = `${task.preset}${task.preset_version != null ? ` v${task.preset_version}` : ""}`;
  const shown = el("span", {}, id);
  apiData("/presets").then((presets) => {
    const found = presets.find((preset) => preset.name === task.preset);
    if (found && found.label) shown.textContent = `${found.label} (${id})`;
  }, () => {}); // the id alone is still true
  return shown;
}

function settingsUsed(task, app) {
  const rows = [
    ["App", app ? `${appLabel(app)} (${task.type})` : task.type],
    ["Look", lookUsed(task)],
    ["Seed", task.seed == null ? "not kept" : String(task.seed)],
  ];
  const declared = new Map((app ? app.params : []).map((param) => [param.name, param]));
  for (const [name, value] of Object.entries(task.params || {})) {
    const param = declared.get(name);
    rows.push([param ? param.label || name : name, shown(param, value)]);
  }
  return el("dl", { class: "facts" }, rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
}

function link(href, text) {
  return el("li", {}, el("a", { href }, text));
}

async function lineage(task, signal) {
  const items = [];
  if (task.batch_id) {
    const where = `View ${(task.view ?? 0) + 1} · v${(task.variation ?? 0) + 1}`;
    items.push(link(`#/batches/${task.batch_id}/views/${(task.view ?? 0) + 1}`, `Batch: ${where}, compared`));
    items.push(link(`#/batches/${task.batch_id}`, "Batch: all views"));
  }
  if (task.parent_task_id) items.push(link(`#/tasks/${task.parent_task_id}`, `Made from the result of task ${task.parent_task_id}`));
  if (task.rerun_of) items.push(link(`#/tasks/${task.rerun_of}`, `A re-run of task ${task.rerun_of}`));
  const reruns = await rerunsOf([task]).catch(() => []);
  if (signal.aborted) return null;
  reruns.forEach((rerun, i) => items.push(link(`#/tasks/${rerun.task_id}`, `Re-run ${i + 1}: task ${rerun.task_id} (${statusText(rerun)})`)));
  for (const child of task.children || []) items.push(link(`#/tasks/${child}`, `Step on its result: task ${child}`));
  if (!items.length) items.push(el("li", {}, "Made on its own: no batch, parent, re-run or step."));
  return el("ul", { class: "lineage" }, items);
}

export async function showTask(root, match) {
  const taskId = match[1];
  const stop = new AbortController();
  const heading = el("h1", {}, `Task ${taskId}`);
  const problem = el("div", { class: "alert", role: "alert", hidden: true });
  const page = el("div", { class: "task-view page" }, [heading, problem]);
  root.append(page);
  titled(`Task ${taskId}`);
  let task;
  let app;
  try {
    task = await apiData(`/tasks/${taskId}?include_base64=false`, { signal: stop.signal });
    app = await appNamed(task.type).catch(() => null);
  } catch (error) {
    showError(problem, error);
    return () => stop.abort();
  }
  const name = `${appLabel(app) || task.type}${task.batch_id ? ` · View ${(task.view ?? 0) + 1} · v${(task.variation ?? 0) + 1}` : ""}${task.angle ? ` · ${task.angle}` : ""}`;
  heading.textContent = name;
  titled(name);
  const shot = await screenshotOf(task, stop.signal);

  const status = el("p", { class: "task-status", "aria-live": "polite" });
  const bar = el("progress", { max: "100", value: "0", "aria-label": `Progress of ${name}` });
  const stage = el("div", { class: "cmp-stage", "data-mode": "slider", "data-panes": "1", role: "region", "aria-label": "Before and after" });
  const zoom = zoomControl(stage);
  const keep = el("button", { type: "button", "aria-pressed": "false", class: "keep" });
  const save = el("button", { type: "button" }, "Download");
  const again = el("button", { type: "button" }, "Re-run…");
  const theatre = el("div", { class: "theatre" }); // what full screen shows
  const toolbar = el("div", { class: "toolbar", role: "toolbar", "aria-label": "Result" }, [
    zoomButtons(zoom),
    fullScreenButton(theatre),
    keep,
    save,
    again,
  ]);
  theatre.append(toolbar, stage);
  const price = el("p", { class: "task-price" });
  const drawer = el("div", { class: "drawer" });
  const lineageBox = el("section", { class: "panel", "aria-labelledby": "lineage-title" }, [el("h2", { id: "lineage-title" }, "Lineage")]);
  page.append(
    el("div", { class: "task-status-row" }, [status, bar]),
    theatre,
    drawer,
    el("div", { class: "task-facts" }, [
      el("section", { class: "panel", "aria-labelledby": "settings-title" }, [el("h2", { id: "settings-title" }, "Settings used"), settingsUsed(task, app)]),
      el("section", { class: "panel", "aria-labelledby": "price-title" }, [el("h2", { id: "price-title" }, "Price"), price]),
      lineageBox,
    ]),
  );

  let staged = false;
  function draw() {
    const done = task.status === "completed" && !task.files_expired_at;
    status.textContent = task.files_expired_at ? "Files removed" : statusText(task);
    status.dataset.status = task.status;
    bar.value = task.status === "completed" ? 100 : task.progress || 0;
    bar.hidden = TERMINAL.has(task.status);
    price.textContent = priceText(task) || "not finished";
    keep.hidden = save.hidden = toolbar.hidden = !done;
    keep.textContent = task.kept ? "★ Kept" : "☆ Keep";
    keep.setAttribute("aria-pressed", String(Boolean(task.kept)));
    again.hidden = !TERMINAL.has(task.status);
    if (done && !staged) {
      staged = true;
      stage.replaceChildren(beforeAfter({ before: `/tasks/${shot}/input`, after: `/tasks/${task.task_id}/image`, name }));
    } else if (!done) {
      stage.replaceChildren(el("div", { class: "viewport" }, el("span", { class: "placeholder" }, status.textContent)));
    }
  }

  keep.addEventListener("click", async () => {
    keep.disabled = true;
    try {
      task = { ...task, ...(await setKept(task.task_id, !task.kept)) };
      announce(task.kept ? "Kept" : "No longer kept");
      draw();
    } catch (error) {
      showError(problem, error);
    } finally {
      keep.disabled = false;
    }
  });
  save.addEventListener("click", () => saveFrom(`/tasks/${task.task_id}/image`, `${task.task_id}-0.png`).catch((error) => showError(problem, error)));
  again.addEventListener("click", () => {
    const panel = rerunPanel(task, app, name, (rerun) => navigate(`#/tasks/${rerun.task_id}`), () => {
      drawer.replaceChildren();
      again.focus();
    });
    drawer.replaceChildren(panel);
    panel.querySelector("h2").tabIndex = -1;
    panel.querySelector("h2").focus();
  });

  draw();
  lineage(task, stop.signal).then((list) => list && lineageBox.append(list));
  if (!TERMINAL.has(task.status)) {
    const changed = (now) => {
      task = { ...task, ...now };
      draw();
    };
    followTask(task.task_id, changed, stop.signal).then(
      (last) => last && announce(`${name}: ${statusText(last)}`),
      (error) => showError(problem, error),
    );
  }
  return () => {
    stop.abort();
    if (document.fullscreenElement === theatre) document.exitFullscreen().catch(() => {});
  };
}
