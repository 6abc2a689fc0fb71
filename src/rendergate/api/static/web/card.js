// One member of a batch as a card: its result once done (a thumbnail fetched with the key;
// the full image on download), its status, queue place, progress and elapsed time, its
// price, and cancel / download.

import { apiData, showError, TERMINAL } from "./api.js";
import { el } from "./dom.js";
import { formatDuration, priceText, statusText } from "./format.js";
import { imageUrl, saveFrom } from "./images.js";

/** "View 1 · v2", "View 1 · v2 · upscale": what a card shows, people counting from 1 (the
 * view's angle heads its row). */
export function memberName(task) {
  const step = task.parent_task_id ? ` · ${task.type}` : "";
  return `View ${(task.view ?? 0) + 1} · v${(task.variation ?? 0) + 1}${step}`;
}

/** A card for `task`; `changed(task)` after this card's own cancel answers. */
export function memberCard(task, changed) {
  const title = memberName(task);
  const frame = el("div", { class: "frame" }, el("span", { class: "placeholder" }, "waiting"));
  const status = el("p", { class: "card-status" });
  const bar = el("progress", { max: "100", value: "0", "aria-label": `Progress of ${title}` });
  const clock = el("span", { class: "card-clock" });
  const price = el("span", { class: "card-price" });
  const error = el("div", { class: "alert", role: "alert", hidden: true });
  const cancel = el("button", { type: "button", class: "icon cancel", "aria-label": `Cancel ${title}`, title: "Cancel" }, "×");
  const download = el("a", { class: "button download", hidden: true }, "Download");
  const kept = el("span", { class: "card-kept", hidden: !task.kept }, "★ Kept");
  const view = (task.view ?? 0) + 1;
  const compare = task.batch_id ? el("a", { class: "card-compare", href: `#/batches/${task.batch_id}/views/${view}`, "aria-label": `Compare view ${view}: ${title}` }, "Compare") : "";
  const node = el("article", { class: "card", "data-task-id": task.task_id, "aria-label": title }, [
    frame,
    el("div", { class: "card-body" }, [
      el("div", { class: "card-head" }, [el("h3", {}, title), cancel]),
      status,
      bar,
      el("p", { class: "card-facts" }, [clock, price]),
      el("p", { class: "card-links" }, [kept, compare]),
      el("p", { class: "card-message hint", hidden: true }),
      error,
      download,
    ]),
  ]);
  let current = task;
  let imageAsked = false;
  let estimate = null; // seconds a run of this app typically takes; null: not known

  download.addEventListener("click", async (event) => {
    event.preventDefault(); // the href alone would go without the key
    try {
      await saveFrom(`/tasks/${current.task_id}/image`, `${current.task_id}-0.png`);
    } catch (failure) {
      showError(error, failure);
    }
  });

  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      const now = await apiData(`/tasks/${current.task_id}/cancel`, { method: "POST" });
      update(now);
      changed(now);
    } catch (failure) {
      showError(error, failure);
    } finally {
      cancel.disabled = false;
    }
  });

  /** The result at the grid's width (a 640-pixel thumbnail, from the LRU of images.js);
   * the full image is fetched only when downloaded. */
  async function showImage() {
    imageAsked = true;
    try {
      const url = await imageUrl(`/tasks/${current.task_id}/thumbnail?width=640`);
      frame.replaceChildren(el("img", { src: url, alt: `Render of ${title}` }));
      download.href = `/tasks/${current.task_id}/image`;
      download.setAttribute("aria-label", `Download ${title}`);
      download.hidden = false;
      node.classList.add("has-image");
    } catch (failure) {
      frame.replaceChildren(el("span", { class: "placeholder" }, "no image"));
      showError(error, failure);
    }
  }

  function tick(now = Date.now()) {
    if (!current.created_at) return;
    const end = current.finished_at ? new Date(current.finished_at).getTime() : now;
    const took = formatDuration((end - new Date(current.created_at).getTime()) / 1000);
    if (current.finished_at) clock.textContent = `took ${took}`;
    else clock.textContent = estimate ? `${took} of ~${formatDuration(estimate)}` : took;
  }

  function update(next) {
    current = next;
    node.dataset.status = next.status;
    kept.hidden = !next.kept;
    status.textContent = statusText(next);
    bar.value = next.status === "completed" ? 100 : next.progress || 0;
    bar.hidden = TERMINAL.has(next.status);
    cancel.hidden = TERMINAL.has(next.status);
    price.textContent = priceText(next);
    const message = node.querySelector(".card-message");
    message.textContent = next.error_message || "";
    message.hidden = !next.error_message;
    if (!TERMINAL.has(next.status) && !node.classList.contains("has-image")) {
      frame.firstChild.textContent = next.status === "processing" ? `${next.progress}%` : "waiting";
    }
    if (next.status === "completed" && !imageAsked) {
      if (next.files_expired_at) frame.replaceChildren(el("span", { class: "placeholder" }, "files removed"));
      else showImage();
    } else if (TERMINAL.has(next.status) && next.status !== "completed") {
      frame.replaceChildren(el("span", { class: "placeholder" }, next.status));
    }
    tick();
  }

  update(task);
  return {
    node,
    update,
    tick,
    get task() {
      return current;
    },
    setEstimate(value) {
      estimate = value;
      tick();
    },
  };
}
