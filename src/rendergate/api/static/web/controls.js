// An app's settings as controls, built from the params GET /apps declares (slider, choice,
// switch, number, text), with the params under "Advanced" and a JSON box whose keys go over
// the controls'. New and Re-run use this one builder.

import { el, uid } from "./dom.js";

/** A slider when the range is known and a default set; a number box otherwise. */
function numberInput(param, id) {
  const integer = param.type === "integer";
  const bounded = param.min != null && param.max != null && param.default != null;
  const step = param.step ?? (integer ? 1 : bounded ? (param.max - param.min) / 100 : "any");
  const input = el("input", {
    id,
    type: bounded ? "range" : "number",
    min: param.min,
    max: param.max,
    step,
    "data-param": param.name,
    "data-kind": param.type,
  });
  input.value = param.default == null ? "" : String(param.default);
  return input;
}

function choiceInput(param, id) {
  const select = el("select", { id, "data-param": param.name, "data-kind": "choice" });
  if (param.default == null) select.append(el("option", { value: "" }, "(the app's own)"));
  param.choices.forEach((choice, i) => {
    const label = (param.choice_labels && param.choice_labels[i]) || String(choice);
    const option = el("option", { value: JSON.stringify(choice) }, label);
    option.selected = choice === param.default;
    select.append(option);
  });
  return select;
}

/** One param's row: its label, its control, the value shown (sliders), its description. */
function paramRow(param) {
  const id = uid(`param-${param.name}`);
  const name = param.label || param.name;
  const note = param.description ? uid("note") : null;
  const describe = note ? { "aria-describedby": note } : {};
  let row;
  if (param.type === "boolean") {
    const box = el("input", {
      id,
      type: "checkbox",
      role: "switch",
      "data-param": param.name,
      "data-kind": "boolean",
      ...describe,
    });
    box.checked = Boolean(param.default);
    row = el("div", { class: "param switch" }, [el("label", { for: id }, [box, ` ${name}`])]);
  } else {
    const input =
      param.type === "choice"
        ? choiceInput(param, id)
        : param.type === "number" || param.type === "integer"
          ? numberInput(param, id)
          : el("input", { id, type: "text", spellcheck: "false", "data-param": param.name, "data-kind": "string" });
    if (param.type === "string") input.value = param.default ?? "";
    for (const [key, value] of Object.entries(describe)) input.setAttribute(key, value);
    const label = el("label", { for: id }, name);
    if (input.type === "range") {
      const shown = el("output", { for: id }, input.value);
      input.addEventListener("input", () => (shown.textContent = input.value));
      label.append(" ", shown);
    }
    row = el("div", { class: "param" }, [label, input]);
  }
  if (note) row.append(el("p", { id: note, class: "hint" }, param.description));
  return row;
}

/** Sets the controls in `box` to `values` (a preset's params, a task's), by param name. */
export function setValues(box, values) {
  for (const input of box.querySelectorAll("[data-param]")) {
    if (!(input.dataset.param in values)) continue;
    const value = values[input.dataset.param];
    if (input.dataset.kind === "boolean") input.checked = Boolean(value);
    else if (input.dataset.kind === "choice") input.value = JSON.stringify(value);
    else input.value = String(value);
    input.dispatchEvent(new Event("input"));
  }
}

/** The controls' values, typed as the app declares them; an empty box is left out. */
export function readValues(box) {
  const params = {};
  for (const input of box.querySelectorAll("[data-param]")) {
    const { param, kind } = input.dataset;
    if (kind === "boolean") params[param] = input.checked;
    else if (input.value === "") continue;
    else if (kind === "choice") params[param] = JSON.parse(input.value);
    else if (kind === "number") params[param] = Number(input.value);
    else if (kind === "integer") params[param] = parseInt(input.value, 10);
    else params[param] = input.value;
  }
  return params;
}

/**
 * The settings of `app`: { node, advanced, paramsText(), seedText() }. `node` holds the
 * everyday controls, `advanced` a <details> with the advanced params, the seed (when the
 * app takes one) and the JSON box. paramsText() is what a create sends: the controls with
 * the JSON box's keys over them; a box that is not a JSON object goes as typed, for the
 * API to say what is wrong with it.
 */
export function buildControls(app) {
  const params = app ? app.params : [];
  const node = el("div", { class: "params" });
  const extra = el("div", { class: "params" });
  for (const param of params) (param.advanced ? extra : node).append(paramRow(param));
  if (!params.some((param) => !param.advanced)) {
    node.append(el("p", { class: "hint" }, "This app has no settings to choose."));
  }
  const seedId = uid("seed");
  const seed = el("input", { id: seedId, inputmode: "numeric", autocomplete: "off", placeholder: "random" });
  const jsonId = uid("params-json");
  const json = el("textarea", { id: jsonId, rows: "2", spellcheck: "false", "aria-describedby": `${jsonId}-note` });
  json.value = "{}";
  const advanced = el("details", { class: "advanced" }, [el("summary", {}, "Advanced"), extra]);
  if (app && app.seed) advanced.append(el("label", { for: seedId }, "Seed"), seed);
  advanced.append(
    el("label", { for: jsonId }, "Parameters (JSON)"),
    json,
    el("p", { id: `${jsonId}-note`, class: "hint" }, 'Its keys go over the settings above; e.g. {"strength": 0.8}'),
  );
  const paramsText = () => {
    const typed = json.value.trim() || "{}";
    let given;
    try {
      given = JSON.parse(typed);
    } catch {
      return typed;
    }
    if (given === null || typeof given !== "object" || Array.isArray(given)) return typed;
    return JSON.stringify({ ...readValues(node), ...readValues(extra), ...given });
  };
  const set = (values) => {
    setValues(node, values);
    setValues(extra, values);
  };
  return { node, advanced, paramsText, seedText: () => seed.value.trim(), set };
}
