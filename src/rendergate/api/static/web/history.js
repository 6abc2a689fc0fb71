// #/history: the key's batches, newest first, each opening its grid; "Load more" pages on.
// (Search, cover thumbnails and "All renders" come with the history chunk.)

import { apiData, showError } from "./api.js";
import { el } from "./dom.js";
import { plural } from "./format.js";
import { titled } from "./router.js";

const PAGE = 20;

function batchRow(batch) {
  const when = new Date(batch.created_at).toLocaleString();
  const size = `${plural(batch.views.length, "view")} × ${plural(batch.variations, "variation")}`;
  return el("li", {}, [
    el("a", { class: "history-card", href: `#/batches/${batch.batch_id}` }, [
      el("span", { class: "history-name" }, batch.name || `Batch ${batch.batch_id}`),
      el("span", { class: "hint" }, `${size} · ${batch.status} · ${when}`),
    ]),
  ]);
}

export async function showHistory(root) {
  const list = el("ul", { class: "history" });
  const problem = el("div", { class: "alert", role: "alert", hidden: true });
  const empty = el("p", { class: "hint", hidden: true }, "No jobs yet: start one under New.");
  const more = el("button", { type: "button", hidden: true }, "Load more");
  root.append(el("div", { class: "page" }, [el("h1", {}, "History"), problem, empty, list, more]));
  titled("History");
  let cursor = null;
  async function load() {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) query.set("cursor", cursor);
    try {
      const page = await apiData(`/batches?${query}`);
      list.append(...page.batches.map(batchRow));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      empty.hidden = list.children.length > 0;
    } catch (error) {
      showError(problem, error);
    }
  }
  more.addEventListener("click", load);
  await load();
}
