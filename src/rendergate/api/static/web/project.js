// #/ (New): a job of several views with one look, an app's settings, 1-4 variations and a
// name, priced before Render; Render sends it as one ordered POST /batches and opens it.

import { upscalerFor } from "./actions.js";
import { apiData, hideError, showError, upload } from "./api.js";
import { buildControls } from "./controls.js";
import { el } from "./dom.js";
import { appLabel, plural } from "./format.js";
import { lookPicker } from "./looks.js";
import { showLimit } from "./limits.js";
import { priceLine } from "./quote.js";
import { navigate, titled } from "./router.js";
import { viewStrip } from "./viewstrip.js";

/** Apps a job can be rendered with: all but the upscalers (`kind`, once the API says it). */
function renderApps(apps) {
  return apps.filter((app) => (app.kind || "render") === "render");
}

function appPicker(apps) {
  const select = el("select", { id: "type", "aria-describedby": "app-help" });
  for (const app of apps) {
    const option = el("option", { value: app.name }, appLabel(app) + (app.available ? "" : ": not available here"));
    option.disabled = !app.available;
    if (app.title && app.title !== appLabel(app)) {
      option.title = app.title;
      option.lang = "zh";
    }
    select.append(option);
  }
  const runnable = apps.filter((app) => app.available).map((app) => app.name);
  select.value = runnable.includes("preview") ? "preview" : runnable[0] || "";
  const unavailable = apps.filter((app) => !app.available);
  const why = unavailable.length
    ? el("details", { class: "hint" }, [
        el("summary", {}, "Why some apps cannot run here"),
        el("ul", {}, unavailable.map((app) => el("li", {}, [el("code", {}, app.name), `: ${app.unavailable_reason}`]))),
      ])
    : "";
  return { select, why };
}

function variationsGroup(changed) {
  const group = el("fieldset", { class: "variations" }, [el("legend", {}, "Variations of each view")]);
  const row = el("div", { class: "segmented" });
  for (const n of [1, 2, 3, 4]) {
    const input = el("input", { type: "radio", name: "variations", value: n, id: `variations-${n}`, class: "sr-only" });
    input.checked = n === 1;
    row.append(input, el("label", { for: `variations-${n}` }, String(n)));
  }
  group.append(row);
  group.addEventListener("change", changed);
  return { node: group, value: () => Number(group.querySelector("input:checked").value) };
}

export async function showProject(root) {
  const page = el("div", { class: "project" });
  root.append(page);
  const problem = el("div", { class: "alert", role: "alert", hidden: true });
  let apps;
  let presets;
  try {
    [apps, presets] = await Promise.all([apiData("/apps"), apiData("/presets").catch(() => [])]);
  } catch (error) {
    page.append(el("h1", {}, "New job"), problem);
    showError(problem, error);
    titled("New job");
    return;
  }
  const choosable = renderApps(apps);
  const upscalers = apps.filter((app) => app.kind === "upscale" && app.available);
  let upscaler = null; // the one for the chosen app's provider (chooseApp)

  const stage = el("section", { class: "stage", "aria-labelledby": "new-title" }, [el("h1", { id: "new-title" }, "New job")]);
  const rail = el("form", { class: "rail", id: "create", novalidate: true });
  page.append(stage, rail);

  const name = el("input", { id: "job-name", autocomplete: "off", maxlength: "200", placeholder: "Villa, scheme B" });
  let named = false;
  name.addEventListener("input", () => (named = name.value.trim() !== ""));

  const { select, why } = appPicker(choosable);
  const help = el("p", { id: "app-help", class: "hint" });
  const settings = el("div", { class: "settings-box" });
  const advancedBox = el("div");
  let controls = null;
  let preset = null;

  const strip = viewStrip(stage, () => {
    const views = strip ? strip.views() : [];
    if (!named && views.length) name.value = views[0].file.name.replace(/\.[^.]*$/, "").slice(0, 200);
    requote();
  });

  function chooseApp() {
    const app = choosable.find((candidate) => candidate.name === select.value);
    help.textContent = app ? app.description : "No app can run here: see why above.";
    if (app && app.requires_reference) help.textContent += " It needs a reference: pick a look or your own.";
    controls = buildControls(app);
    settings.replaceChildren(controls.node);
    advancedBox.replaceChildren(controls.advanced);
    if (preset && app && preset.type === app.name) controls.set(preset.params);
    strip.setAngles(app ? app.angles : []);
    upscaler = upscalerFor(upscalers, app);
    upscaleName.textContent = upscaler ? appLabel(upscaler) : "";
    requote();
  }

  const looks = lookPicker(presets, apps, (chosen) => {
    preset = chosen;
    if (chosen && choosable.some((app) => app.name === chosen.type && app.available)) select.value = chosen.type;
    chooseApp();
  });
  const variations = variationsGroup(() => requote());
  const upscale = el("input", { id: "upscale-each", type: "checkbox" });
  const upscaleName = el("span");
  upscale.addEventListener("change", () => requote());
  const limit = el("div", { class: "limit-panel", role: "alert", hidden: true });
  const progress = el("progress", { max: "100", value: "0", "aria-label": "Upload", hidden: true });
  const render = el("button", { type: "submit", class: "primary", id: "render" }, "Render");
  render.disabled = !select.value;
  const price = el("p", { class: "price", hidden: true, "aria-live": "polite" }, [
    el("span", { class: "price-text" }),
    el("span", { class: "price-note" }),
  ]);
  const count = el("span", { class: "count" });
  const then = () => (upscaler && upscale.checked ? upscaler.name : "");
  const quote = priceLine(price, () => ({
    type: select.value,
    preset: looks.preset(),
    renders: Math.max(1, strip.views().length) * variations.value(),
    then: then(),
  }));
  function requote() {
    const views = strip.views().length;
    count.textContent = views ? plural(views * variations.value(), "render") : "Add a view to render";
    quote();
  }

  rail.append(
    el("label", { for: "job-name" }, "Job name"),
    name,
    looks.node,
    el("label", { for: "type" }, "App"),
    select,
    help,
    why,
    el("details", { class: "settings", open: true }, [el("summary", {}, "Settings"), settings]),
    variations.node,
  );
  if (upscalers.length) {
    const words = el("span", {}, ["Upscale each result (", upscaleName, ")"]); // one line of text
    rail.append(el("div", { class: "param switch" }, [el("label", { for: "upscale-each" }, [upscale, " ", words])]));
  }
  rail.append(
    advancedBox,
    problem,
    limit,
    el("div", { class: "render-bar" }, [el("div", { class: "render-facts" }, [count, price]), render]),
    progress,
  );
  select.addEventListener("change", chooseApp);
  chooseApp();
  titled("New job");

  rail.addEventListener("submit", async (event) => {
    event.preventDefault();
    hideError(problem);
    limit.hidden = true;
    const form = new FormData();
    for (const view of strip.views()) form.append("image", view.file, view.file.name);
    for (const view of strip.views()) form.append("angle", view.angle);
    form.append("type", select.value);
    if (looks.preset()) form.append("preset", looks.preset());
    const reference = looks.reference();
    if (reference) form.append("reference", reference, reference.name);
    form.append("params", controls.paramsText());
    form.append("variations", String(variations.value()));
    if (controls.seedText()) form.append("seed", controls.seedText());
    if (name.value.trim()) form.append("name", name.value.trim());
    if (then()) form.append("then", JSON.stringify([{ type: then(), params: { scale: 2 } }]));
    render.disabled = true;
    progress.value = 0;
    progress.hidden = false;
    try {
      const batch = await upload("/batches", form, (percent) => (progress.value = percent));
      window.dispatchEvent(new CustomEvent("rendergate:spent"));
      navigate(`#/batches/${batch.batch_id}`);
    } catch (error) {
      if (error.status === 429) showLimit(limit, error); // calm: a limit, not a fault
      else showError(problem, error);
    } finally {
      render.disabled = false;
      progress.hidden = true;
    }
  });
}
