// #/history: the key's jobs (batches), newest first, each with its cover, status, size, date
// and price, opening its grid; a search by name kept in the URL (#/history?q=villa), so a
// reload or a sent link keeps it; "Load more" pages on. #/history?tab=renders lists every
// task of the key, those made through the API directly too, each opening #/tasks/{id}.

import { apiData, hideError, showError } from "./api.js";
import { STATUS as BATCH_STATUS } from "./batch.js";
import { memberName } from "./card.js";
import { el } from "./dom.js";
import { appLabel, formatMoney, plural, statusText } from "./format.js";
import { titled } from "./router.js";
import { thumbnails } from "./thumbs.js";

const PAGE = 20;
const QUIET_MS = 300; // typing pauses this long before the search is asked
const WIDTH = 320; // the thumbnails' width; a card is at most about 300 CSS pixels wide

const batchNames = new Map(); // batch id -> name, for "in <name>" on a render
let appsAsked = null; // Promise of app name -> app, asked once a session

function apps() {
  appsAsked ??= apiData("/apps").then(
    (list) => new Map(list.map((app) => [app.name, app])),
    () => new Map(),
  );
  return appsAsked;
}

function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function thumb(thumbs, path, waiting) {
  const img = el("img", { alt: "", hidden: true });
  const note = el("span", { class: "placeholder" }, waiting);
  const box = el("div", { class: "history-thumb" }, [note, img]);
  if (path) thumbs.watch(box, img, note, path);
  return box;
}

function item(href, picture, lines, id) {
  const [name, ...rest] = lines;
  return el("li", { "data-id": id }, [
    el("a", { class: "history-card", href }, [
      picture,
      el("span", { class: "history-text" }, [el("span", { class: "history-name" }, name), ...rest]),
    ]),
  ]);
}

function batchItem(batch, thumbs) {
  const name = batch.name || `Batch ${batch.batch_id}`;
  batchNames.set(batch.batch_id, name);
  const cover = batch.cover_task_id && `/tasks/${batch.cover_task_id}/thumbnail?width=${WIDTH}`;
  const size = `${plural(batch.views.length, "view")} × ${plural(batch.variations, "variation")}`;
  const cost = batch.cost;
  const price = cost && cost.currency ? formatMoney(cost.charged, cost.currency) : "";
  const status = BATCH_STATUS[batch.status] || batch.status;
  return item(`#/batches/${batch.batch_id}`, thumb(thumbs, cover, "no result yet"), [
    name,
    el("span", { class: "history-status", "data-status": batch.status }, status),
    el("span", { class: "hint" }, [size, when(batch.created_at), price].filter(Boolean).join(" · ")),
  ], batch.batch_id);
}

/** A render: its result once done, else the screenshot it was sent (the "before"). */
function taskPicture(task, thumbs) {
  if (task.files_expired_at) return thumb(thumbs, null, "files removed");
  const role = task.status === "completed" ? "result" : "image";
  return thumb(thumbs, `/tasks/${task.task_id}/thumbnail?width=${WIDTH}&role=${role}`, "");
}

function taskItem(task, thumbs, known) {
  const label = appLabel(known.get(task.type)) || task.type;
  const member = task.batch_id != null;
  const name = member ? `${batchNames.get(task.batch_id) || "A job"} · ${memberName(task)}` : label;
  const about = [member ? label : "", task.angle].filter(Boolean).join(" · ");
  const charge = task.charge;
  const price = charge ? (charge.refunded ? "refunded" : formatMoney(charge.amount, charge.currency)) : "";
  return item(`#/tasks/${task.task_id}`, taskPicture(task, thumbs), [
    name,
    el("span", { class: "history-status", "data-status": task.status }, statusText(task)),
    el("span", { class: "hint" }, [about, when(task.created_at), price].filter(Boolean).join(" · ")),
  ], task.task_id);
}

/** Names of the batches a page of renders belongs to, when this session has not met them:
 * one light page of the newest batches. */
async function nameBatches(tasks) {
  if (tasks.every((task) => task.batch_id == null || batchNames.has(task.batch_id))) return;
  try {
    const page = await apiData("/batches?members=false&limit=100");
    for (const batch of page.batches) batchNames.set(batch.batch_id, batch.name || `Batch ${batch.batch_id}`);
  } catch {
    // the renders still list, named "A job"
  }
}

function tabs(renders) {
  const tab = (href, text, here) => el("a", { href, class: "tab", "aria-current": here ? "page" : null }, text);
  return el("nav", { class: "tabs", "aria-label": "History lists" }, [
    tab("#/history", "Jobs", !renders),
    tab("#/history?tab=renders", "All renders", renders),
  ]);
}

function emptyState(renders, q) {
  if (q) return [el("p", {}, `No job's name holds “${q}”.`)];
  if (renders) return [el("h2", {}, "No renders yet"), el("p", {}, "Each render made here or through the API is listed here.")];
  return [
    el("h2", {}, "No jobs yet"),
    el("p", {}, "Start one under New: drop one or more SketchUp screenshots, pick a look and press Render. Each job is kept here with its results, to open again."),
    el("a", { class: "button primary", href: "#/" }, "Start a new job"),
  ];
}

export async function showHistory(root, match, query) {
  const renders = query.get("tab") === "renders";
  let q = renders ? "" : (query.get("q") || "").trim();
  const thumbs = thumbnails();
  const list = el("ul", { class: "history", "aria-label": renders ? "All renders" : "Jobs" });
  const problem = el("div", { class: "alert", role: "alert", hidden: true });
  const empty = el("div", { class: "history-empty panel", hidden: true });
  const more = el("button", { type: "button", hidden: true }, "Load more");
  const search = el("input", { id: "history-q", type: "search", value: q, maxlength: "100", autocomplete: "off" });
  const form = el("form", { class: "history-search", role: "search" }, [
    el("label", { for: "history-q" }, "Search jobs by name"),
    search,
  ]);
  const head = el("div", { class: "history-head" }, [el("h1", {}, "History"), tabs(renders)]);
  form.hidden = renders;
  root.append(el("div", { class: "page" }, [head, form, problem, empty, list, more]));
  titled(renders ? "All renders" : "History");

  let cursor = null;
  let asked = 0; // the latest list asked for: an older answer arriving late is dropped
  async function load(fresh) {
    const mine = fresh ? ++asked : asked;
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (cursor && !fresh) params.set("cursor", cursor);
    if (!renders) params.set("members", "false");
    if (q) params.set("q", q);
    try {
      const page = await apiData(`/${renders ? "tasks" : "batches"}?${params}`);
      const known = renders ? await apps() : null;
      if (renders) await nameBatches(page.tasks);
      if (mine !== asked) return;
      if (fresh) {
        thumbs.clear();
        list.replaceChildren();
      }
      const items = renders ? page.tasks.map((task) => taskItem(task, thumbs, known)) : page.batches.map((batch) => batchItem(batch, thumbs));
      list.append(...items);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      empty.replaceChildren(...emptyState(renders, q));
      empty.hidden = list.children.length > 0;
      form.hidden = renders || (!q && empty.hidden === false); // nothing yet to search
      hideError(problem);
    } catch (error) {
      if (mine === asked) showError(problem, error);
    }
  }

  let timer = null;
  function searchNow() {
    clearTimeout(timer);
    const next = search.value.trim();
    if (next === q) return;
    q = next;
    history.replaceState(null, "", q ? `#/history?${new URLSearchParams({ q })}` : "#/history");
    load(true);
  }
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(searchNow, QUIET_MS);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    searchNow();
  });
  more.addEventListener("click", () => load(false));
  await load(true);
  return () => {
    clearTimeout(timer);
    asked += 1;
    thumbs.clear();
  };
}
