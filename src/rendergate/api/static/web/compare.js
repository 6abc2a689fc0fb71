// #/batches/{id}/views/{v}: one view's results to choose from. Side by side (2-4 panes,
// zoomed and panned together, the screenshot as a pane of its own if wanted) or one at a
// time over its screenshot (the before/after slider); a filmstrip of the view's variations,
// their upscales and re-runs; keep, upscale the kept, re-run, download. `v` counts from 1,
// as the batch's rows do.

import { apiData, ApiError, showError, TERMINAL, whileBusy } from "./api.js";
import { appNamed, appsOnce, rerunPanel, rerunsOf, saveFrom, setKept, upscaleKept, upscalePrice, upscalers } from "./actions.js";
import { announce, el } from "./dom.js";
import { appLabel, formatMoney, statusText } from "./format.js";
import { followTask } from "./follow.js";
import { imageUrl } from "./images.js";
import { lineup } from "./lineup.js";
import { titled } from "./router.js";
import { beforeAfter, fullScreenButton, toggleFullScreen, wideOnly, zoomButtons, zoomControl, zoomedImage } from "./stage.js";

const MAX_PANES = 4;

/** A toggle button: `pressed` says whether it is on. */
function toggle(text, key, pressed = false) {
  return el("button", { type: "button", "aria-pressed": String(pressed), "data-key": key }, text);
}

export async function showCompare(root, match) {
  const [batchId, viewNo] = [match[1], Number(match[2])];
  const stop = new AbortController();
  const page = el("div", { class: "compare page" });
  const problem = el("div", { class: "alert", role: "alert", hidden: true });
  root.append(page);
  let batch;
  try {
    batch = await apiData(`/batches/${batchId}`, { signal: stop.signal });
    if (!batch.views[viewNo - 1]) throw new ApiError(404, `batch ${batchId} has no view ${viewNo}`);
  } catch (error) {
    page.append(el("h1", {}, `View ${viewNo}`), problem);
    showError(problem, error);
    titled(`View ${viewNo}`);
    return () => stop.abort();
  }
  const view = batch.views[viewNo - 1];
  const title = `${batch.name || `Batch ${batchId}`} · View ${viewNo}${view.angle ? ` · ${view.angle}` : ""}`;
  let mode = "side";
  let withShot = false;
  let chosen = []; // ids side by side
  let current = null; // the id over its screenshot
  let split = 50;
  const apps = new Map((await appsOnce().catch(() => [])).map((app) => [app.name, app]));
  const tasks = lineup(batch, viewNo, apps);
  try {
    (await rerunsOf(tasks.variations())).forEach(tasks.addRerun);
  } catch {
    // the re-runs are a convenience: the view stands without them
  }
  const nameOf = tasks.nameOf;
  const shotOf = () => `/tasks/${tasks.variations()[0].task_id}/input`;

  chosen = tasks.variations().slice(0, MAX_PANES).map((task) => task.task_id);
  current = chosen[0];

  // The page: head, toolbar, stage, filmstrip, the re-run drawer.
  const stage = el("div", { class: "cmp-stage", "data-mode": mode, role: "region", "aria-label": "Results side by side" });
  const zoom = zoomControl(stage);
  const sideButton = toggle(["Side", wideOnly(" by side")], "mode-side", true);
  const sliderButton = toggle("Before/after", "mode-slider");
  const shotButton = toggle(["Screenshot", wideOnly(" pane")], "shot");
  const theatre = el("div", { class: "theatre" }); // what full screen shows: the toolbar and the stage
  const full = fullScreenButton(theatre);
  const upscaler = el("select", { id: "upscaler", "aria-label": "Upscaler", hidden: true });
  const upscale = el("button", { type: "button", hidden: true }, ["Upscale", wideOnly(" kept")]);
  const keptZip = el("button", { type: "button" }, "Download kept");
  const allZip = el("button", { type: "button" }, "Download all");
  const strip = el("ul", { class: "filmstrip", "aria-label": "Results of this view" });
  const drawer = el("div", { class: "drawer" });
  page.append(
    el("header", { class: "compare-head" }, [
      el("h1", {}, title),
      el("nav", { class: "row views-nav", "aria-label": "Views" }, [
        el("a", { href: `#/batches/${batchId}` }, "All views"),
        ...batch.views.map((_, i) =>
          el("a", { href: `#/batches/${batchId}/views/${i + 1}`, "aria-current": i + 1 === viewNo ? "page" : null }, `View ${i + 1}`),
        ),
      ]),
    ]),
    theatre,
    problem,
    el("section", { class: "strip-box", "aria-label": "Filmstrip" }, [
      el("h2", {}, "Results"),
      el("p", { class: "hint" }, "Choose up to 4 to compare; Before/after shows the one chosen first."),
      strip,
    ]),
    drawer,
  );
  theatre.append(
    el("div", { class: "toolbar", role: "toolbar", "aria-label": "Compare" }, [
      el("div", { class: "group", role: "group", "aria-label": "Mode" }, [sideButton, sliderButton]),
      shotButton,
      zoomButtons(zoom),
      full,
      el("div", { class: "group" }, [upscaler, upscale]),
      el("div", { class: "group", role: "group", "aria-label": "Download" }, [keptZip, allZip]),
    ]),
    stage,
  );
  titled(title);

  function pane(task) {
    const name = nameOf(task);
    const frame = el("div", { class: "viewport" });
    if (task.status === "completed" && !task.files_expired_at) frame.append(zoomedImage(`/tasks/${task.task_id}/image`, `Render: ${name}`));
    else frame.append(el("span", { class: "placeholder" }, task.files_expired_at ? "files removed" : statusText(task)));
    return el("figure", { class: "pane", "data-task-id": task.task_id, "aria-label": name }, [
      mode === "slider" && task.status === "completed"
        ? beforeAfter({ before: shotOf(), after: `/tasks/${task.task_id}/image`, name, split, moved: (at) => (split = at) })
        : frame,
      caption(task, name),
    ]);
  }

  function caption(task, name) {
    const done = task.status === "completed";
    const price = task.charge ? (task.charge.refunded ? "refunded" : formatMoney(task.charge.amount, task.charge.currency)) : "";
    const keep = toggle(task.kept ? "★ Keep" : "☆ Keep", `keep-${task.task_id}`, Boolean(task.kept));
    keep.setAttribute("aria-label", `Keep ${name}`);
    keep.classList.add("keep");
    keep.hidden = !done;
    keep.addEventListener("click", () => flipKept(task.task_id, keep));
    const save = el("button", { type: "button", "data-key": `dl-${task.task_id}`, "aria-label": `Download ${name}`, hidden: !done }, "Download");
    save.addEventListener("click", () => act(save, () => saveFrom(`/tasks/${task.task_id}/image`, `${task.task_id}-0.png`)));
    const again = el("button", { type: "button", "data-key": `rerun-${task.task_id}`, "aria-label": `Re-run ${name}`, hidden: !TERMINAL.has(task.status) }, "Re-run…");
    again.addEventListener("click", () => openRerun(task));
    return el("figcaption", {}, [
      el("p", { class: "pane-title" }, [el("strong", {}, name), el("span", { class: "hint" }, [statusText(task), price ? ` · ${price}` : ""].join(""))]),
      el("div", { class: "row pane-actions" }, [keep, save, again, el("a", { href: `#/tasks/${task.task_id}`, "aria-label": `Details of ${name}` }, "Details")]),
    ]);
  }

  function shotPane() {
    const frame = el("div", { class: "viewport" }, zoomedImage(shotOf(), `Screenshot of view ${viewNo}`));
    return el("figure", { class: "pane shot", "aria-label": "Screenshot" }, [frame, el("figcaption", {}, el("p", { class: "pane-title" }, el("strong", {}, "Screenshot")))]);
  }

  function thumb(task) {
    const name = nameOf(task);
    const on = mode === "side" ? chosen.includes(task.task_id) : current === task.task_id;
    const picture = el("span", { class: "thumb-frame" });
    if (task.status === "completed" && !task.files_expired_at) {
      const img = el("img", { alt: "" });
      imageUrl(`/tasks/${task.task_id}/thumbnail?width=160`).then((url) => (img.src = url), () => img.remove());
      picture.append(img);
    } else picture.append(el("span", { class: "placeholder" }, statusText(task)));
    const button = el("button", { type: "button", class: "thumb", "aria-pressed": String(on), "data-key": `thumb-${task.task_id}`, "data-task-id": task.task_id }, [
      picture,
      el("span", { class: "thumb-name" }, name),
      el("span", { class: "thumb-kept" }, task.kept ? "★ Kept" : ""),
    ]);
    button.addEventListener("click", () => choose(task.task_id));
    return el("li", {}, button);
  }

  function draw() {
    const focused = document.activeElement?.dataset?.key;
    stage.dataset.mode = mode;
    stage.setAttribute("aria-label", mode === "side" ? "Results side by side" : "Before and after");
    sideButton.setAttribute("aria-pressed", String(mode === "side"));
    sliderButton.setAttribute("aria-pressed", String(mode === "slider"));
    shotButton.setAttribute("aria-pressed", String(withShot));
    shotButton.hidden = mode !== "side";
    const shown = mode === "side" ? chosen.map((id) => tasks.get(id)).filter(Boolean) : [tasks.get(current)].filter(Boolean);
    const panes = shown.map(pane);
    if (mode === "side" && withShot) panes.unshift(shotPane());
    stage.dataset.panes = String(panes.length);
    stage.replaceChildren(...panes);
    strip.replaceChildren(...tasks.ordered().map(thumb));
    const kept = tasks.kept().length;
    keptZip.disabled = !kept;
    keptZip.textContent = kept ? `Download kept (${kept})` : "Download kept";
    drawUpscale(kept);
    if (focused) page.querySelector(`[data-key="${focused}"]`)?.focus({ preventScroll: true });
  }

  let pricing = 0;
  async function drawUpscale(kept) {
    const mine = ++pricing;
    upscale.disabled = !kept || !upscaler.value;
    const price = kept && upscaler.value ? await upscalePrice(upscaler.value, kept) : "";
    if (mine === pricing) upscale.replaceChildren("Upscale", wideOnly(" kept"), price ? ` (${price})` : "");
  }

  let queued = false;
  function redraw() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      if (!stop.signal.aborted) draw();
    });
  }

  function choose(id) {
    if (mode === "slider") current = id;
    else if (chosen.includes(id)) chosen = chosen.filter((other) => other !== id);
    else chosen = [...chosen.slice(0, MAX_PANES - 1), id];
    if (mode === "side" && chosen.length) current = chosen[0];
    draw();
  }

  const act = (button, run) => whileBusy(button, problem, run, stop.signal);

  async function flipKept(id, button) {
    const task = tasks.get(id);
    await act(button, async () => {
      const now = await setKept(id, !task.kept);
      tasks.set(now);
      announce(`${nameOf(task)} ${now.kept ? "kept" : "no longer kept"}`);
    });
    draw();
  }

  function watch(task) {
    if (TERMINAL.has(task.status)) return;
    const changed = (now) => {
      tasks.set(now);
      if (now.status === "completed") announce(`${nameOf(now)} done`);
      redraw();
    };
    followTask(task.task_id, changed, stop.signal).catch((error) => showError(problem, error));
  }

  async function openRerun(task) {
    const app = apps.get(task.type) || (await appNamed(task.type).catch(() => null));
    const name = nameOf(task);
    const panel = rerunPanel(task, app, name, (rerun) => {
      tasks.addRerun(rerun);
      if (mode === "slider") current = rerun.task_id;
      else chosen = [...chosen.filter((id) => id !== rerun.task_id).slice(0, MAX_PANES - 1), rerun.task_id];
      drawer.replaceChildren();
      announce(`${nameOf(rerun)} started`);
      draw();
      watch(rerun);
      page.querySelector(`[data-key="thumb-${rerun.task_id}"]`)?.focus();
    }, () => {
      drawer.replaceChildren();
      page.querySelector(`[data-key="rerun-${task.task_id}"]`)?.focus();
    });
    drawer.replaceChildren(panel);
    panel.scrollIntoView({ block: "start" });
    panel.querySelector("h2").tabIndex = -1;
    panel.querySelector("h2").focus({ preventScroll: true });
  }

  function setMode(next) {
    mode = next;
    draw();
  }
  sideButton.addEventListener("click", () => setMode("side"));
  sliderButton.addEventListener("click", () => setMode("slider"));
  shotButton.addEventListener("click", () => {
    withShot = !withShot;
    draw();
  });
  keptZip.addEventListener("click", () => act(keptZip, () => saveFrom(`/batches/${batchId}/archive?kept=true`, `batch-${batchId}-kept.zip`)));
  allZip.addEventListener("click", () => act(allZip, () => saveFrom(`/batches/${batchId}/archive`, `batch-${batchId}.zip`)));
  upscaler.addEventListener("change", () => drawUpscale(tasks.kept().length));
  upscale.addEventListener("click", () =>
    act(upscale, async () => {
      let answer;
      try {
        answer = await upscaleKept(batchId, upscaler.value);
      } catch (error) {
        if (error instanceof ApiError && (error.status === 404 || error.status === 405) && !error.message.includes("batch")) {
          upscale.hidden = upscaler.hidden = true; // a server without the route
          return;
        }
        throw error;
      }
      tasks.absorb(answer.batch);
      announce(`Upscaling ${answer.steps.length} kept`);
      draw();
      answer.steps.forEach(watch);
    }),
  );

  function onKey(event) {
    if (event.target.closest?.("input, select, textarea, form, .drawer") || event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = { "+": zoom.zoomIn, "=": zoom.zoomIn, "-": zoom.zoomOut, 0: zoom.fit, f: () => toggleFullScreen(theatre) };
    if (keys[event.key]) {
      keys[event.key]();
      event.preventDefault();
    } else if (event.key === "k" || event.key === "K") {
      const id = Number(event.target.closest("[data-task-id]")?.dataset.taskId || current);
      const button = page.querySelector(`[data-key="keep-${id}"]`);
      if (button && !button.hidden) flipKept(id, button);
    }
  }
  document.addEventListener("keydown", onKey); // focus may be on the page's body after a drag

  draw();
  tasks.all().forEach(watch);
  upscalers().then((found) => {
    upscaler.replaceChildren(...found.map((app) => el("option", { value: app.name }, appLabel(app))));
    upscaler.hidden = found.length < 2;
    upscale.hidden = !found.length;
    drawUpscale(tasks.kept().length);
  }, () => {});
  return () => {
    stop.abort();
    document.removeEventListener("keydown", onKey);
    if (document.fullscreenElement === theatre) document.exitFullscreen().catch(() => {});
  };
}
