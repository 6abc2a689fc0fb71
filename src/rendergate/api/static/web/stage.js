// The image stage that compare and the task view share: panes zoomed and panned as one
// (custom properties on the stage, set with style.setProperty, which the page's CSP
// allows: no style attribute is written), the before/after slider, and full screen.

import { el, uid } from "./dom.js";
import { followGestures } from "./gestures.js";
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
 * `output` shows the zoom ("200%"). The buttons and Ctrl + wheel step through ZOOMS; a
 * pinch zooms anywhere between its ends, and a drag (one finger or the mouse) on a zoomed
 * image pans them all together (gestures.js). The pan stops where the image's edge meets
 * its frame's.
 */
export function zoomControl(stage) {
  const [least, most] = [ZOOMS[0], ZOOMS[ZOOMS.length - 1]];
  let [scale, x, y] = [least, 0, 0];
  const output = el("output", { class: "zoom-level", "aria-live": "polite" }, "100%");
  const clamp = (next) => Math.max(least, Math.min(most, next));
  const set = (nextScale, nextX, nextY) => {
    scale = clamp(nextScale);
    const frame = stage.querySelector(".viewport")?.getBoundingClientRect() ?? { width: Infinity, height: Infinity };
    const [reachX, reachY] = scale > least ? [((scale - 1) * frame.width) / 2, ((scale - 1) * frame.height) / 2] : [0, 0];
    x = Math.max(-reachX, Math.min(reachX, nextX));
    y = Math.max(-reachY, Math.min(reachY, nextY));
    stage.style.setProperty("--zoom", String(scale));
    stage.style.setProperty("--x", `${x}px`);
    stage.style.setProperty("--y", `${y}px`);
    stage.dataset.zoom = String(Math.round(scale * 100) / 100);
    output.textContent = `${Math.round(scale * 100)}%`;
  };
  const to = (next) => {
    const ratio = clamp(next) / scale; // about the frame's centre: what is there stays there
    set(next, x * ratio, y * ratio);
  };
  const step = (up) => to(up ? (ZOOMS.find((z) => z > scale + 0.01) ?? most) : ([...ZOOMS].reverse().find((z) => z < scale - 0.01) ?? least));
  followGestures(stage, { now: () => ({ scale, x, y }), set, clamp });
  stage.addEventListener(
    "wheel",
    (event) => {
      if (!event.ctrlKey) return; // a plain wheel scrolls the page
      event.preventDefault();
      step(event.deltaY < 0);
    },
    { passive: false },
  );
  set(scale, x, y);
  return { zoomIn: () => step(true), zoomOut: () => step(false), fit: () => to(least), output };
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

/** Words of a label that a phone's toolbar leaves unseen but still reads out: "Full" + wideOnly(" screen"). */
export const wideOnly = (text) => el("span", { class: "wide-only" }, text);

/** A button that puts `target` in full screen and takes it out again (Esc works too). */
export function fullScreenButton(target) {
  const button = el("button", { type: "button", "aria-pressed": "false", "data-key": "full" }, ["Full", wideOnly(" screen")]);
  button.hidden = !document.fullscreenEnabled;
  button.addEventListener("click", () => toggleFullScreen(target));
  const changed = () => {
    const on = document.fullscreenElement === target;
    button.setAttribute("aria-pressed", String(on));
    button.replaceChildren(...(on ? ["Exit", wideOnly(" full screen")] : ["Full", wideOnly(" screen")]));
  };
  document.addEventListener("fullscreenchange", changed);
  return button;
}

export function toggleFullScreen(target) {
  if (document.fullscreenElement) return document.exitFullscreen();
  return target.requestFullscreen().catch(() => {});
}
