// The owner's share dialog on a batch ("Share…"): make a read-only link that expires
// (POST /batches/{id}/shares; its URL is shown once, so this browser keeps the links it
// made, by share_id, to copy again), copy it, list the batch's links and revoke one.
// Hidden on a server without share links (the route answers 404 or 405).

import { api, apiData, ApiError, hideError, whileBusy } from "./api.js";
import { el, uid } from "./dom.js";

const KEPT = "rendergate.shares"; // share_id -> url, the links this browser made

function keptLinks() {
  try {
    return JSON.parse(localStorage.getItem(KEPT) || "{}");
  } catch {
    return {};
  }
}

function keepLink(shareId, url) {
  localStorage.setItem(KEPT, JSON.stringify({ ...keptLinks(), [shareId]: url }));
}

const STATE = { active: "Active", expired: "Expired", revoked: "Revoked" };

/** "2026-12-13 20:45 UTC": a time as the API gives it, short and unambiguous. */
function when(iso) {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : "";
}

/** Copies `text`, saying so in `said`; where the clipboard is refused, selects `field`. */
async function copy(text, said, field) {
  try {
    await navigator.clipboard.writeText(text);
    said.textContent = "Copied.";
  } catch {
    field?.select();
    said.textContent = "Select the link and copy it.";
  }
}

/** The "Share…" button of batch `batchId` and its dialog; the button stays hidden until
 * the server answers that it has share links. */
export function shareButton(batchId) {
  const path = `/batches/${batchId}/shares`;
  const button = el("button", { type: "button", hidden: true, "aria-haspopup": "dialog" }, "Share…");
  const days = el("input", { id: uid("share-days"), type: "number", min: "1", max: "30", value: "7", inputmode: "numeric" });
  const keptOnly = el("input", { id: uid("share-kept"), type: "checkbox", checked: true });
  const problem = el("div", { class: "alert", role: "alert", hidden: true });
  const said = el("p", { class: "hint", role: "status" });
  const made = el("div", { class: "share-made", hidden: true });
  const list = el("ul", { class: "share-list" });
  const close = el("button", { type: "button", class: "icon", "aria-label": "Close" }, "×");
  const form = el("form", { class: "share-form" }, [
    el("label", { for: days.id }, "Expires after (days)"),
    days,
    el("div", { class: "param switch" }, [el("label", { for: keptOnly.id }, [keptOnly, " Kept results only"])]),
    el("button", { type: "submit", class: "primary" }, "Make link"),
  ]);
  const dialog = el("dialog", { class: "share-dialog panel", "aria-labelledby": `share-h-${batchId}` }, [
    el("div", { class: "share-top" }, [el("h2", { id: `share-h-${batchId}` }, "Share this batch"), close]),
    el("p", { class: "hint" }, "Anyone with the link sees this batch's name, views and results, read only, with no prices or settings, until it expires or you revoke it."),
    form,
    problem,
    made,
    said,
    el("h3", {}, "Links to this batch"),
    list,
  ]);

  async function refresh() {
    const { shares } = await apiData(path);
    const links = keptLinks();
    list.replaceChildren(
      ...shares.map((share) => shareItem(share, links[share.share_id])),
    );
    if (!shares.length) list.append(el("li", { class: "hint" }, "None yet."));
  }

  function shareItem(share, url) {
    const what = share.kept_only ? "kept results" : "all results";
    const end = share.state === "revoked" ? `revoked ${when(share.revoked_at)}` : `expires ${when(share.expires_at)}`;
    const item = el("li", { "data-share-id": share.share_id, "data-state": share.state }, [
      el("span", { class: "share-state" }, STATE[share.state] || share.state),
      el("span", {}, ` · ${what} · made ${when(share.created_at)} · ${end}`),
    ]);
    if (share.state !== "active") return item;
    const label = `link made ${when(share.created_at)}`;
    if (url) {
      const again = el("button", { type: "button", class: "quiet", "aria-label": `Copy ${label}` }, "Copy");
      again.addEventListener("click", () => copy(url, said));
      item.append(" ", again);
    }
    const revoke = el("button", { type: "button", class: "quiet", "aria-label": `Revoke ${label}` }, "Revoke");
    revoke.addEventListener("click", () => act(revoke, async () => {
      await apiData(`${path}/${share.share_id}`, { method: "DELETE" });
      if (made.dataset.shareId === String(share.share_id)) made.hidden = true;
      said.textContent = "Revoked: the link opens nothing now.";
      await refresh();
    }));
    item.append(" ", revoke);
    return item;
  }

  function showMade(shareId, url) {
    made.dataset.shareId = String(shareId);
    const field = el("input", { id: uid("share-url"), type: "text", readonly: true, value: url });
    const copyButton = el("button", { type: "button", class: "primary" }, "Copy link");
    copyButton.addEventListener("click", () => copy(url, said, field));
    made.replaceChildren(
      el("label", { for: field.id }, "The link (shown once; this browser keeps a copy)"),
      el("div", { class: "row" }, [field, copyButton]),
    );
    made.hidden = false;
    field.select();
  }

  const act = (control, run) => whileBusy(control, problem, run);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(form.querySelector("button[type=submit]"), async () => {
      const body = JSON.stringify({ expires_in_days: Number(days.value), kept_only: keptOnly.checked });
      const share = await apiData(path, { method: "POST", body, headers: { "Content-Type": "application/json" } });
      keepLink(share.share_id, share.url);
      showMade(share.share_id, share.url);
      said.textContent = "";
      await refresh();
    });
  });
  button.addEventListener("click", () => {
    made.hidden = true;
    said.textContent = "";
    hideError(problem);
    dialog.showModal();
    act(button, refresh);
  });
  close.addEventListener("click", () => dialog.close());

  // Shown only where the server has share links: an older one answers 404 or 405.
  api(path).then(
    () => (button.hidden = false),
    (error) => {
      if (!(error instanceof ApiError) || ![404, 405].includes(error.status)) button.hidden = false;
    },
  );
  return { button, dialog };
}
