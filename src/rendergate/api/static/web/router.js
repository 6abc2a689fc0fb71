// Hash routes (#/, #/batches/{id}, #/history, #/account, ...): a reload, a bookmark or a
// sent link keeps the view, and the server needs no route of its own for any of them.
//
// A route is [pattern, show]; `show(root, match, query)` fills `root` and may return a
// function that stops what the view started (a stream, a ticker) when another one opens.

let routes = [];
let root = null;
let leave = null; // the view on show's clean-up
let shown = 0; // the latest route shown: a slow view that finishes late stays out

/** "#/batches/12?x=1" -> { path: "/batches/12", query: URLSearchParams }. */
export function parseHash(hash) {
  const text = hash.replace(/^#/, "") || "/";
  const mark = text.indexOf("?");
  const path = mark < 0 ? text : text.slice(0, mark);
  const query = new URLSearchParams(mark < 0 ? "" : text.slice(mark + 1));
  return { path: path.startsWith("/") ? path : `/${path}`, query };
}

/** Goes to `hash` ("#/batches/12"); the hashchange shows it. */
export function navigate(hash) {
  if (location.hash === hash) show();
  else location.hash = hash;
}

/** Names the view: the page's title, and focus on its heading (for a screen reader). */
export function titled(title) {
  document.title = title ? `${title} · rendergate` : "rendergate";
  const heading = root?.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

async function show() {
  const mine = ++shown;
  const { path, query } = parseHash(location.hash);
  if (leave) leave();
  leave = null;
  for (const [pattern, view] of routes) {
    const match = pattern.exec(path);
    if (!match) continue;
    root.replaceChildren();
    root.dataset.view = view.name || "";
    const stop = await view(root, match, query);
    if (mine === shown) leave = typeof stop === "function" ? stop : null;
    else if (typeof stop === "function") stop();
    markNav(path);
    return;
  }
  navigate("#/"); // an unknown route: the start
}

function markNav(path) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    const here = link.dataset.nav === "/" ? path === "/" : path.startsWith(link.dataset.nav);
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/** Starts routing into `into` with `table` ([RegExp, view] pairs, tried in order). */
export function startRouter(into, table) {
  root = into;
  routes = table;
  window.addEventListener("hashchange", show);
  show();
}
