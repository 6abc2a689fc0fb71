// The look of a re-run: the task's own, as it ran (its preset or its reference), or another
// preset by its label. POST /tasks/{id}/rerun takes `preset`: that preset's app, params and
// reference, the body's params over them.

import { apiData } from "./api.js";
import { el, uid } from "./dom.js";
import { lookName } from "./looks.js";

const OWN = ""; // the option that keeps the task's own look

function ownOption(task, presets) {
  if (!task.preset) return el("option", { value: OWN }, "Its own, as it ran");
  const found = presets.find((preset) => preset.name === task.preset);
  return el("option", { value: OWN }, `${lookName(found || { name: task.preset })}, as it ran`);
}

function presetOption(preset, app) {
  const why = !app ? "its app is not here" : app.available ? "" : "not available here";
  const option = el("option", { value: preset.name }, lookName(preset) + (why ? `: ${why}` : ""));
  option.disabled = Boolean(why);
  if (preset.description) option.title = preset.description;
  return option;
}

/**
 * The look choice for re-running `task`: a <select> with its own look first and chosen, then
 * each render preset by its label (greyed when its app cannot run here). It fills in once
 * GET /presets and `appsLoaded` (GET /apps) answer; until then, and if one fails, only the
 * task's own look is offered. `changed(preset, app)` hears each choice (null, null: its own).
 * Returns { node, preset() }, preset() the name chosen or "".
 */
export function lookChoice(task, appsLoaded, changed) {
  const id = uid("rerun-look");
  const select = el("select", { id, "aria-describedby": `${id}-note` });
  select.append(ownOption(task, []));
  const node = el("div", { class: "rerun-look" }, [
    el("label", { for: id }, "Look"),
    select,
    el("p", { id: `${id}-note`, class: "hint" }, "Another look renders the same screenshot with its reference and settings."),
  ]);
  let presets = [];
  let apps = [];
  const appOf = (preset) => apps.find((app) => app.name === preset.type) || null;
  Promise.all([apiData("/presets"), appsLoaded]).then(
    ([found, known]) => {
      apps = known;
      presets = found.filter((preset) => (appOf(preset)?.kind || "render") === "render" && preset.name !== task.preset);
      select.replaceChildren(ownOption(task, found), ...presets.map((preset) => presetOption(preset, appOf(preset))));
      node.dataset.ready = "true";
    },
    () => (node.dataset.ready = "true"), // the task's own look still re-runs
  );
  select.addEventListener("change", () => {
    const preset = presets.find((candidate) => candidate.name === select.value) || null;
    changed(preset, preset && appOf(preset));
  });
  return { node, preset: () => select.value };
}
