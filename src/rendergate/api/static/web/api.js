// Talking to rendergate's API from the page: the key, fetch with it, an upload with
// progress, the API's errors as plain messages, and a server-sent event reader that can
// send the key. A 401 from any call fires "rendergate:unauthorized" on window, for the
// key banner.

const KEY = "rendergate.apiKey";

export const TERMINAL = new Set(["completed", "failed", "canceled"]);

export function apiKey() {
  return localStorage.getItem(KEY) || "";
}

export function saveKey(value) {
  if (value) localStorage.setItem(KEY, value);
  else localStorage.removeItem(KEY);
}

/** The key as the API wants it; nothing in open mode. */
export function authHeaders(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
}

export class ApiError extends Error {
  // retryAfter: a refusal's Retry-After; limit: a 429's X-Rendergate-Limit, the key's limit
  // it met ("monthly_budget", ...), so the page names it without parsing the words.
  constructor(status, message, retryAfter = null, limit = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
    this.limit = limit;
  }
}

/** The API's own words: `msg` of the envelope, or the first of a 422's `detail`. */
export function messageOf(text) {
  try {
    const body = JSON.parse(text);
    if (body && typeof body.msg === "string" && body.msg) return body.msg;
    const issue = body && Array.isArray(body.detail) ? body.detail[0] : null;
    if (issue && issue.msg) return issue.msg;
  } catch {
    // not JSON (a proxy's page, say): its text is all there is
  }
  return text.trim().slice(0, 300) || "no message";
}

/** fetch() with the key; resolves to an ok Response, rejects with an ApiError. */
export async function api(path, options = {}) {
  const sentWith = apiKey(); // a 401 speaks of this key, which may have changed meanwhile
  let response;
  try {
    response = await fetch(path, { ...options, headers: authHeaders(options.headers) });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "the server did not answer; is it running?");
  }
  if (response.ok) return response;
  const text = await response.text();
  throw refused(response.status, text, (name) => response.headers.get(name), sentWith);
}

function refused(status, text, header, sentWith) {
  if (status === 401) window.dispatchEvent(new CustomEvent("rendergate:unauthorized", { detail: { sentWith } }));
  return new ApiError(status, messageOf(text), header("Retry-After"), header("X-Rendergate-Limit"));
}

/**
 * POSTs `form` (a FormData, its parts in the order appended) with the key, reporting the
 * upload's progress as a percentage; resolves to the envelope's data, rejects with an
 * ApiError. XMLHttpRequest, because fetch() cannot tell how much of a body has gone.
 */
export function upload(path, form, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    const sentWith = apiKey();
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total) {
        onProgress(Math.round((100 * event.loaded) / event.total));
      }
    });
    xhr.addEventListener("error", () => {
      reject(new ApiError(0, "the upload did not reach the server"));
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(JSON.parse(xhr.responseText).data);
      } else {
        reject(refused(xhr.status, xhr.responseText, (name) => xhr.getResponseHeader(name), sentWith));
      }
    });
    xhr.send(form);
  });
}

export async function apiData(path, options = {}) {
  const response = await api(path, options);
  return (await response.json()).data;
}

const TITLES = {
  410: "Files removed",
  0: "Cannot reach rendergate",
  401: "API key missing or not accepted",
  404: "Not found",
  409: "Not possible now",
  413: "Too large",
  415: "Not an image rendergate can read",
  422: "Refused",
  429: "Limit reached",
  500: "Server error",
  503: "Busy",
};

const HINTS = {
  401: "Enter your key in the banner at the top (or under Account), then try again.",
  413: "Send a smaller image.",
  415: "Send a PNG, JPEG or WebP image.",
};

/** Shows an error in `box` (a role=alert element): what kind, then the API's message. */
export function showError(box, error) {
  const status = error instanceof ApiError ? error.status : 0;
  const title = TITLES[status] || `Error ${status}`;
  box.replaceChildren();
  const head = document.createElement("strong");
  head.textContent = status ? `${title} (${status})` : title;
  const text = document.createElement("span");
  text.className = "msg";
  text.textContent = error.message;
  box.append(head, " ", text);
  const later = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : "";
  const hint = (HINTS[status] || "") + later;
  if (hint.trim()) {
    const more = document.createElement("span");
    more.className = "hint";
    more.textContent = ` ${hint.trim()}`;
    box.append(more);
  }
  box.hidden = false;
}

export function hideError(box) {
  box.hidden = true;
  box.replaceChildren();
}

/**
 * Runs `run` with `control` disabled meanwhile and `box` cleared first; an error shows in
 * `box`, unless `signal` says the view was left while it ran.
 */
export async function whileBusy(control, box, run, signal = null) {
  control.disabled = true;
  hideError(box);
  try {
    await run();
  } catch (error) {
    if (!signal || !signal.aborted) showError(box, error);
  } finally {
    control.disabled = false;
  }
}

/**
 * The events of a text/event-stream body, as {id, event, data}. EventSource cannot send
 * an Authorization header, so the page reads the stream with fetch() and parses it here.
 * The server writes at least every 10 s; a stream silent for `quietMs` (a proxy holding it
 * back, say) throws, and the caller tries again or polls.
 */
export async function* serverEvents(body, quietMs = 25000) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await within(reader.read(), quietMs);
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event) yield event;
      }
    }
  } finally {
    reader.cancel().catch(() => {}); // closes the connection when the caller stops early
  }
}

function within(promise, ms) {
  let timer;
  const quiet = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("the event stream went quiet")), ms);
  });
  return Promise.race([promise, quiet]).finally(() => clearTimeout(timer));
}

function parseEvent(block) {
  const event = { id: null, event: "message", data: [] };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // comments keep proxies from closing it
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") event.data.push(value);
    else if (field === "id") event.id = value;
    else if (field === "event") event.event = value;
  }
  return event.data.length ? { ...event, data: event.data.join("\n") } : null;
}

/** Waits `ms`, or less if `signal` aborts first. */
export function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
