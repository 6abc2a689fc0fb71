// The look of a job, as cards: none, each preset with its reference thumbnail (fetched with
// the key), or an own reference image dropped or picked. A preset whose app cannot run here
// is greyed, with the reason.

import { el } from "./dom.js";
import { imageUrl } from "./images.js";

function prettyName(name) {
  const words = name.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A preset's name on the page: its label, else its name made readable ("warm_lobby": "Warm lobby"). */
export function lookName(preset) {
  return preset.label || prettyName(preset.name);
}

function card(value, name, { thumb = null, note = "", disabled = false, title = "" } = {}) {
  const input = el("input", { type: "radio", name: "look", value, class: "sr-only", disabled });
  const picture = el("span", { class: "look-thumb" });
  if (thumb) picture.append(thumb);
  const label = el("label", { class: "look", title: title || null }, [
    input,
    picture,
    el("span", { class: "look-name" }, name),
  ]);
  if (note) label.append(el("span", { class: "look-note" }, note));
  label.classList.toggle("disabled", disabled);
  return label;
}

function presetThumb(preset) {
  if (!preset.reference) return null;
  const img = el("img", { alt: "" });
  imageUrl(`/presets/${encodeURIComponent(preset.name)}/reference`).then(
    (url) => (img.src = url),
    () => img.remove(), // the card keeps its name; the API's refusal is not the job's
  );
  return img;
}

/**
 * The look cards for `presets`, with `apps` (GET /apps) saying which can run here.
 * Returns { node, preset(), reference() }; `changed(presetOrNull)` after each choice.
 */
export function lookPicker(presets, apps, changed) {
  const byName = new Map(apps.map((app) => [app.name, app]));
  const cards = [card("", "None", { thumb: el("span", { class: "none-mark", "aria-hidden": "true" }, "—") })];
  for (const preset of presets) {
    const app = byName.get(preset.type);
    const why = !app ? `its app ${preset.type} is not here` : app.available ? "" : app.unavailable_reason;
    cards.push(
      card(`preset:${preset.name}`, lookName(preset), {
        thumb: presetThumb(preset),
        note: why ? "Not available here" : "",
        disabled: Boolean(why),
        title: why ? `${preset.description} Cannot run here: ${why}` : preset.description,
      }),
    );
  }
  cards.push(card("own", "Own reference", { thumb: el("span", { class: "none-mark", "aria-hidden": "true" }, "+") }));
  cards[0].querySelector("input").checked = true;

  const file = el("input", { id: "reference", type: "file", accept: "image/*" });
  const thumb = el("img", { class: "thumb", alt: "The reference you chose", hidden: true });
  const clear = el("button", { type: "button", class: "quiet", hidden: true }, "Remove the reference");
  const own = el("div", { class: "own-reference", hidden: true }, [
    el("label", { for: "reference" }, "Reference image"),
    file,
    thumb,
    clear,
    el("p", { class: "hint" }, "The look to aim for; drop an image here or pick one."),
  ]);
  const showFile = () => {
    if (thumb.src) URL.revokeObjectURL(thumb.src);
    const chosen = file.files[0];
    thumb.hidden = !chosen;
    clear.hidden = !chosen;
    if (chosen) thumb.src = URL.createObjectURL(chosen);
    else thumb.removeAttribute("src");
  };
  file.addEventListener("change", showFile);
  clear.addEventListener("click", () => {
    file.value = "";
    showFile();
    file.focus();
  });
  own.addEventListener("dragover", (event) => {
    event.preventDefault();
    event.stopPropagation();
  });
  own.addEventListener("drop", (event) => {
    event.preventDefault();
    event.stopPropagation(); // not a view: the stage's drop is for screenshots
    const dropped = event.dataTransfer.files[0];
    if (!dropped) return;
    const one = new DataTransfer();
    one.items.add(dropped);
    file.files = one.files;
    showFile();
  });

  const group = el("fieldset", { class: "looks" }, [el("legend", {}, "Look"), el("div", { class: "look-cards" }, cards)]);
  const node = el("div", {}, [group, own]);
  const chosen = () => group.querySelector("input[name=look]:checked")?.value || "";
  group.addEventListener("change", () => {
    const value = chosen();
    own.hidden = value !== "own";
    const name = value.startsWith("preset:") ? value.slice(7) : "";
    changed(presets.find((preset) => preset.name === name) || null);
  });
  return {
    node,
    preset: () => (chosen().startsWith("preset:") ? chosen().slice(7) : ""),
    reference: () => (chosen() === "own" ? file.files[0] || null : null),
  };
}
