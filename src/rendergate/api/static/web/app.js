// rendergate's web page. htmx posts the create form (multipart, with upload progress and
// the key added to its headers); everything else calls the API with fetch() (api.js), and
// the task on show lives in task.js.

import {
  api,
  apiData,
  ApiError,
  apiKey,
  authHeaders,
  hideError,
  messageOf,
  saveKey,
  showError,
  TERMINAL,
} from "./api.js";
import {
  formatCost,
  formatMoney,
  openTask,
  rememberScreenshot,
  setUpTaskView,
  statusText,
  watchTasks,
} from "./task.js";

const $ = (id) => document.getElementById(id);
const PAGE = 10;
let cursor = null;
let thumbs = []; // object URLs of the recent tasks' thumbnails
let sending = null; // the screenshot of the create on its way
let loads = 0; // the latest list load: an older answer arriving late is dropped

// -- the key --------------------------------------------------------------------------------

function setUpKey() {
  const input = $("api-key");
  input.value = apiKey();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveKey(input.value.trim());
    loadRecent(false);
loadMonth();
  });
  $("key-forget").addEventListener("click", () => {
    input.value = "";
    saveKey("");
    loadRecent(false);
  });
}

// -- the inputs -----------------------------------------------------------------------------

function showThumb(zone, input) {
  const thumb = zone.querySelector(".thumb");
  if (thumb.src) URL.revokeObjectURL(thumb.src);
  const file = input.files[0];
  thumb.hidden = !file;
  if (file) thumb.src = URL.createObjectURL(file);
  else thumb.removeAttribute("src");
  const clear = zone.querySelector("[data-clear]");
  if (clear) clear.hidden = !file;
}

function setUpDrop(zone) {
  const input = zone.querySelector("input[type=file]");
  input.addEventListener("change", () => showThumb(zone, input));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (!file) return;
    const chosen = new DataTransfer();
    chosen.items.add(file); // one file, whatever was dropped
    input.files = chosen.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  zone.querySelector("[data-clear]")?.addEventListener("click", () => {
    input.value = "";
    showThumb(zone, input);
    input.focus();
  });
}

/** The chosen app's angles, description and whether it needs a reference. */
function chooseApp() {
  const option = $("type").selectedOptions[0];
  if (!option) return;
  const angles = $("angles");
  angles.replaceChildren();
  for (const angle of option.dataset.angles.split(",").filter(Boolean)) {
    const item = document.createElement("option");
    item.value = angle;
    angles.append(item);
  }
  const needed = option.dataset.reference === "true";
  $("reference").required = needed;
  $("reference-need").textContent = needed ? "(required by this app)" : "(optional)";
  $("app-help").textContent = option.dataset.description;
  for (const box of document.querySelectorAll("fieldset.params")) {
    box.hidden = box.dataset.app !== option.value;
  }
}

/** The chosen app's settings as the form shows them, typed as its form declares. */
function formParams() {
  const params = {};
  const box = document.querySelector(`fieldset.params[data-app="${CSS.escape($("type").value)}"]`);
  for (const input of box ? box.querySelectorAll("[data-param]") : []) {
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

/** The params sent: the settings, with the JSON box's keys over them; a box that is not a
 * JSON object goes as it is, for the API to say what is wrong with it. */
function paramsToSend() {
  const typed = $("params-json").value.trim() || "{}";
  let extra;
  try {
    extra = JSON.parse(typed);
  } catch {
    return typed;
  }
  if (extra === null || typeof extra !== "object" || Array.isArray(extra)) return typed;
  return JSON.stringify({ ...formParams(), ...extra });
}

function setUpParams() {
  for (const range of document.querySelectorAll("fieldset.params input[type=range]")) {
    const shown = document.querySelector(`output[for="${CSS.escape(range.id)}"]`);
    range.addEventListener("input", () => {
      if (shown) shown.textContent = range.value;
    });
  }
  // Before htmx reads the form's values: the hidden `params` field holds what is sent.
  $("create").addEventListener("htmx:confirm", () => {
    $("params").value = paramsToSend();
  });
}

// -- create, through htmx -------------------------------------------------------------------

function setUpCreate() {
  const form = $("create");
  const upload = $("upload");
  form.addEventListener("htmx:configRequest", (event) => {
    Object.assign(event.detail.headers, authHeaders());
    hideError($("create-error"));
    sending = $("image").files[0] || null;
    upload.value = 0;
    upload.hidden = false;
  });
  form.addEventListener("htmx:xhr:progress", (event) => {
    if (event.detail.lengthComputable && event.detail.total) {
      upload.value = Math.round((100 * event.detail.loaded) / event.detail.total);
    }
  });
  form.addEventListener("htmx:afterRequest", (event) => {
    upload.hidden = true;
    const xhr = event.detail.xhr;
    if (xhr.status === 201) {
      const task = JSON.parse(xhr.responseText).data;
      rememberScreenshot(task.task_id, sending);
      openTask(task);
      loadRecent(false);
      $("task").scrollIntoView({ behavior: "smooth", block: "nearest" });
    } else if (xhr.status === 0) {
      showError($("create-error"), new ApiError(0, "the upload did not reach the server"));
    } else {
      const retry = xhr.getResponseHeader("Retry-After");
      showError($("create-error"), new ApiError(xhr.status, messageOf(xhr.responseText), retry));
    }
  });
}

// -- recent tasks ---------------------------------------------------------------------------

function taskRow(task) {
  const item = document.createElement("li");
  const open = document.createElement("button");
  open.type = "button";
  open.className = "task-card";
  open.dataset.taskId = String(task.task_id);
  const thumb = document.createElement("span");
  thumb.className = "thumb-box";
  const facts = document.createElement("span");
  facts.className = "card-facts";
  const line = (cls, text) => {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    facts.append(span);
    return span;
  };
  const id = line("card-id", `${task.task_id}`);
  const say = document.createElement("span");
  say.className = "sr-only";
  say.textContent = "Open task ";
  id.prepend(say);
  line("badge", "");
  line("card-line", `${task.type} on ${task.provider || "?"}`);
  line("card-line", `cost: ${formatCost(task.cost, task.charge)}`);
  line("card-line", new Date(task.created_at).toLocaleString());
  open.append(thumb, facts);
  open.addEventListener("click", () => openTask(task));
  item.append(open);
  setBadge(open, task);
  if (task.status === "completed" && !task.files_expired_at) loadThumb(task, thumb);
  else if (task.files_expired_at) thumb.textContent = "files removed";
  else thumb.textContent = TERMINAL.has(task.status) ? "no image" : "not yet";
  return item;
}

function setBadge(card, task) {
  const badge = card.querySelector(".badge");
  badge.textContent = statusText(task);
  badge.dataset.status = task.status;
}

/** The task on show moved on: so does its card, if listed. */
function updateCard(task) {
  const card = document.querySelector(`.task-card[data-task-id="${task.task_id}"]`);
  if (card) setBadge(card, task);
}

async function loadThumb(task, box) {
  try {
    const blob = await (await api(`/tasks/${task.task_id}/image`)).blob();
    const url = URL.createObjectURL(blob);
    thumbs.push(url);
    const image = document.createElement("img");
    image.alt = "result";
    image.src = url;
    box.append(image);
  } catch {
    box.textContent = "no image";
  }
}

/** "This month: 12 renders, ¥24.00 charged": the key's usage since the 1st (GET /usage). */
async function loadMonth() {
  let usage;
  try {
    usage = await apiData("/usage?group_by=app");
  } catch {
    $("month").textContent = "";  // the page works without it
    return;
  }
  const said = usage.totals.filter((total) => total.tasks > 0).map((total) => {
    const renders = `${total.tasks} render${total.tasks === 1 ? "" : "s"}`;
    return `${renders}, ${formatMoney(total.charge.net, total.currency)} charged`;
  });
  $("month").textContent = `This month: ${said.join("; ") || "no renders"}`;
}

async function loadRecent(more) {
  const query = new URLSearchParams({ limit: String(PAGE) });
  if (more && cursor) query.set("cursor", cursor);
  const mine = ++loads;
  let page;
  try {
    page = await apiData(`/tasks?${query}`);
  } catch (error) {
    if (mine === loads) showError($("recent-error"), error);
    return;
  }
  if (mine !== loads) return;
  hideError($("recent-error"));
  const list = $("recent");
  if (!more) {
    thumbs.forEach((url) => URL.revokeObjectURL(url));
    thumbs = [];
    list.replaceChildren();
  }
  list.append(...page.tasks.map(taskRow));
  cursor = page.next_cursor;
  $("more").hidden = !cursor;
  $("recent-empty").hidden = list.children.length > 0;
}

// -- start ----------------------------------------------------------------------------------

setUpKey();
document.querySelectorAll("[data-drop]").forEach(setUpDrop);
$("type").addEventListener("change", chooseApp);
chooseApp();
setUpCreate();
setUpParams();
setUpTaskView();
watchTasks({
  changed: updateCard,
  finished: () => {
    loadRecent(false);
    loadMonth();
  },
});
$("refresh").addEventListener("click", () => loadRecent(false));
$("more").addEventListener("click", () => loadRecent(true));
loadRecent(false);
loadMonth();
