// The views of a new job: screenshots dropped or picked several at once, shown big in the
// order they will be sent, each with its angle, moved with ◀ ▶ (or Alt+←/→) and removed
// with ×. They stay in the page until Render sends them as one ordered form.

import { el } from "./dom.js";

export const MAX_VIEWS = 12; // as the API's batches take (domain/batches.py)
const SAMPLE = "/static/web/sample-view.jpg";

function stem(name) {
  return name.replace(/\.[^.]*$/, "").slice(0, 64);
}

/**
 * The strip inside `stage`, telling `changed()` after each change. Returns
 * { views(), setAngles(list) }: views() is [{file, angle}] in order; setAngles gives the
 * angle field its suggestions (the app's angles; empty: any).
 */
export function viewStrip(stage, changed) {
  let views = []; // {file, url, angle, edited}
  let angles = [];
  const note = el("p", { class: "hint", role: "status" });
  const list = el("ol", { class: "views", "aria-label": "Views, in the order they are sent" });
  const datalist = el("datalist", { id: "angle-list" });
  const picker = el("input", {
    id: "view-files",
    type: "file",
    accept: "image/*",
    multiple: true,
    hidden: true,
    "aria-label": "Screenshots to add",
  });
  const pickButton = (attributes, text) => {
    const button = el("button", { type: "button", ...attributes }, text);
    button.addEventListener("click", () => picker.click());
    return button;
  };
  picker.addEventListener("change", () => {
    add([...picker.files]);
    picker.value = "";
  });

  const defaultAngle = (file) => {
    const name = stem(file.name);
    if (!angles.length || angles.includes(name)) return name;
    return "";
  };

  function add(files) {
    const images = files; // what is not an image, the API says so in its words
    const room = MAX_VIEWS - views.length;
    for (const file of images.slice(0, Math.max(room, 0))) {
      views.push({ file, url: URL.createObjectURL(file), angle: defaultAngle(file), edited: false });
    }
    note.textContent =
      images.length > room ? `A job takes up to ${MAX_VIEWS} views: ${images.length - room} left out.` : "";
    draw();
  }

  function move(index, by, focusSelector) {
    const to = index + by;
    if (to < 0 || to >= views.length) return;
    [views[index], views[to]] = [views[to], views[index]];
    draw(`[data-index="${to}"] ${focusSelector}`);
  }

  function remove(index) {
    URL.revokeObjectURL(views[index].url);
    views.splice(index, 1);
    const next = Math.min(index, views.length - 1);
    draw(next >= 0 ? `[data-index="${next}"] .remove` : "#add-views");
  }

  function card(view, index) {
    const n = index + 1;
    const angleId = `angle-${index}`;
    const angle = el("input", { id: angleId, list: "angle-list", autocomplete: "off", spellcheck: "false", maxlength: "64", class: "angle" });
    angle.value = view.angle;
    angle.addEventListener("input", () => {
      view.angle = angle.value;
      view.edited = true;
    });
    const button = (cls, label, text) =>
      el("button", { type: "button", class: `icon ${cls}`, "aria-label": label, title: label }, text);
    const earlier = button("earlier", `Move view ${n} earlier`, "◀");
    const later = button("later", `Move view ${n} later`, "▶");
    const gone = button("remove", `Remove view ${n}`, "×");
    earlier.disabled = index === 0;
    later.disabled = index === views.length - 1;
    earlier.addEventListener("click", () => move(index, -1, ".earlier:not([disabled]), .later"));
    later.addEventListener("click", () => move(index, 1, ".later:not([disabled]), .earlier"));
    gone.addEventListener("click", () => remove(index));
    const item = el("li", { class: "view", "data-index": index }, [
      el("div", { class: "frame" }, el("img", { src: view.url, alt: `View ${n}: ${view.file.name}` })),
      el("div", { class: "view-foot" }, [
        el("span", { class: "view-n" }, `View ${n}`),
        el("label", { for: angleId, class: "sr-only" }, `Angle of view ${n}`),
        angle,
        earlier,
        later,
        gone,
      ]),
    ]);
    item.addEventListener("keydown", (event) => {
      if (!event.altKey || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) return;
      event.preventDefault();
      const focused = document.activeElement;
      const where = focused && focused.classList.contains("angle") ? ".angle" : ".remove";
      move(index, event.key === "ArrowLeft" ? -1 : 1, where);
    });
    return item;
  }

  function draw(focusSelector) {
    list.replaceChildren(...views.map(card));
    const addTile = el("li", { class: "view add" }, [pickButton({ id: "add-views" }, "+ Add views")]);
    if (views.length && views.length < MAX_VIEWS) list.append(addTile);
    stage.classList.toggle("empty", !views.length);
    if (focusSelector) stage.querySelector(focusSelector)?.focus();
    if (ready) changed();
  }

  const sample = el("button", { type: "button", class: "quiet" }, "Try a sample");
  sample.addEventListener("click", async () => {
    const response = await fetch(SAMPLE);
    const blob = await response.blob();
    add([new File([blob], "sample-view.jpg", { type: blob.type || "image/jpeg" })]);
  });
  const max = document.body.dataset.maxUploadMb;
  const empty = el("div", { class: "dropzone" }, [
    el("p", { class: "drop-title" }, "Drop your SketchUp views here"),
    el("p", { class: "hint" }, `Several at once: they render in the order shown. Up to ${MAX_VIEWS} images, ${max} MB each.`),
    el("div", { class: "row" }, [
      pickButton({ class: "primary", id: "pick-views" }, "Choose screenshots"),
      sample,
    ]),
  ]);
  stage.append(empty, list, note, picker, datalist);
  stage.addEventListener("dragover", (event) => {
    event.preventDefault();
    stage.classList.add("over");
  });
  stage.addEventListener("dragleave", () => stage.classList.remove("over"));
  stage.addEventListener("drop", (event) => {
    event.preventDefault();
    stage.classList.remove("over");
    add([...event.dataTransfer.files]);
  });
  let ready = false; // the first draw tells no one: the caller is still building
  draw();
  ready = true;

  return {
    views: () => views.map(({ file, angle }) => ({ file, angle: angle.trim() })),
    setAngles(given) {
      angles = given;
      datalist.replaceChildren(...angles.map((angle) => el("option", { value: angle })));
      for (const view of views) if (!view.edited) view.angle = defaultAngle(view.file);
      for (const [i, view] of views.entries()) {
        const input = stage.querySelector(`#angle-${i}`);
        if (input) input.value = view.angle;
      }
    },
  };
}
