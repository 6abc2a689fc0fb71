// The image stage that compare and the task view share: panes zoomed and panned as one
// (custom properties on the stage, set with style.setProperty, which the page's CSP
// allows: no style attribute is written), the before/after slider, and full screen.

import { el, uid } from "./dom.js";
import { showImage } from "./images.js";

const ZOOMS = [1, 1.5, 2, 3, 4, 6, 8];

/** An image whose zoom and pan follow the stage's; loaded from `path` with the key. */
export function zoomedImage(path, alt) {
  const img = el("img", { class: "zoomed", alt, draggable: "false" });
  showImage(img, path, () => img.replaceWith(el("span", { class: "placeholder" }, "no image")));
  return img;
}

/**
 * Zoom for every pane in `stage` at once: returns { zoomIn, zoomOut, fit, output }, where
 * `output` shows the zoom ("200%"). A drag on a zoomed image pans them all together;
 * Ctrl + wheel zooms.
 */
export function zoomControl(stage) {
  let level = 0;
  let x = 0;
  let y = 0;
  const output = el("output", { class: "zoom-level", "aria-live": "polite" }, "100%");
  const apply = () => {
    stage.style.setProperty("--zoom", String(ZOOMS[level]));
    stage.style.setProperty("--x", `${x}px`);
    stage.style.setProperty("--y", `${y}px`);
    stage.dataset.zoom = String(ZOOMS[level]);
    output.textContent = `${Math.round(ZOOMS[level] * 100)}%`;
  };
  const to = (next) => {
    level = Math.max(0, Math.min(ZOOMS.length - 1, next));
    if (level === 0) x = y = 0;
    apply();
  };
  let drag = null;
  stage.addEventListener("pointerdown", (event) => {
    if (level === 0 || !event.target.closest(".viewport")) return;
    drag = { px: event.clientX, py: event.clientY, x, y };
    event.target.setPointerCapture?.(event.pointerId);
  });
  stage.addEventListener("pointermove", (event) => {
    if (!drag) return;
    x = drag.x + event.clientX - drag.px;
    y = drag.y + event.clientY - drag.py;
    apply();
  });
  for (const end of ["pointerup", "pointercancel"]) stage.addEventListener(end, () => (drag = null));
  stage.addEventListener(
    "wheel",
    (event) => {
      if (!event.ctrlKey) return; // a plain wheel scrolls the page
      event.preventDefault();
      to(level + (event.deltaY < 0 ? 1 : -1));
    },
    { passive: false },
  );
  apply();
  return { zoomIn: () => to(level + 1), zoomOut: () => to(level - 1), fit: () => to(0), output };
}

/** The zoom's buttons (−, Fit, +) and its level, as a group for a toolbar. */
export function zoomButtons(zoom) {
  const out = el("button", { type: "button", class: "icon", "aria-label": "Zoom out", title: "Zoom out (-)" }, "−");
  const fit = el("button", { type: "button", "aria-label": "Zoom to fit", title: "Fit (0)" }, "Fit");
  const zoomIn = el("button", { type: "button", class: "icon", "aria-label": "Zoom in", title: "Zoom in (+)" }, "+");
  out.addEventListener("click", zoom.zoomOut);
  fit.addEventListener("click", zoom.fit);
  zoomIn.addEventListener("click", zoom.zoomIn);
  return el("div", { class: "group", role: "group", "aria-label": "Zoom" }, [out, fit, zoomIn, zoom.output]);
}

/**
 * The before/after slider: `before` (the screenshot) over `after` (the render), cut at the
 * slider's place; a native range input, so arrows, Page Up/Down, Home and End move it.
 * `split` is where it starts (0-100), `moved(split)` hears each move.
 */
export function beforeAfter({ before, after, name, split = 50, moved = () => {} }) {
  const id = uid("split");
  const frame = el("div", { class: "ba viewport" }, [
    zoomedImage(after, `Render: ${name}`),
    el("div", { class: "ba-before" }, zoomedImage(before, `Screenshot of ${name}`)),
    el("div", { class: "ba-line", "aria-hidden": "true" }),
    el("span", { class: "ba-tag ba-tag-before", "aria-hidden": "true" }, "Screenshot"),
    el("span", { class: "ba-tag ba-tag-after", "aria-hidden": "true" }, "Render"),
  ]);
  const input = el("input", { id, type: "range", min: "0", max: "100", step: "1", class: "ba-range" });
  input.value = String(split);
  const set = () => {
    frame.style.setProperty("--split", `${input.value}%`);
    input.setAttribute("aria-valuetext", `${input.value}% screenshot, ${100 - input.value}% render`);
    moved(Number(input.value));
  };
  input.addEventListener("input", set);
  set();
  const label = el("label", { for: id, class: "sr-only" }, `Before and after: how much of the screenshot shows over ${name}`);
  return el("div", { class: "ba-box" }, [frame, label, input]);
}

/** A button that puts `target` in full screen and takes it out again (Esc works too). */
export function fullScreenButton(target) {
  const button = el("button", { type: "button", "aria-pressed": "false", "data-key": "full" }, "Full screen");
  button.hidden = !document.fullscreenEnabled;
  button.addEventListener("click", () => toggleFullScreen(target));
  const changed = () => {
    const on = document.fullscreenElement === target;
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Exit full screen" : "Full screen";
  };
  document.addEventListener("fullscreenchange", changed);
  return button;
}

export function toggleFullScreen(target) {
  if (document.fullscreenElement) return document.exitFullscreen();
  return target.requestFullscreen().catch(() => {});
}
