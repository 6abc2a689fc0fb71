// rendergate's web page: the shell around the views. The identity bar and nav are in the
// template; this boots the route table, the month pill and the key banner that appears
// after a 401. Each view lives in its own module.

import { apiData, apiKey, saveKey } from "./api.js";
import { showAccount } from "./account.js";
import { showBatch } from "./batch.js";
import { showCompare } from "./compare.js";
import { formatMoney } from "./format.js";
import { showHistory } from "./history.js";
import { showProject } from "./project.js";
import { navigate, startRouter } from "./router.js";
import { showTask } from "./taskview.js";

const $ = (id) => document.getElementById(id);

const ROUTES = [
  [/^\/$/, showProject],
  [/^\/batches\/(\d+)$/, showBatch],
  [/^\/batches\/(\d+)\/views\/(\d+)$/, showCompare],
  [/^\/tasks\/(\d+)$/, showTask],
  [/^\/history$/, showHistory],
  [/^\/account$/, showAccount],
];

/** "¥22.00 of ¥100 this month" in the bar, from GET /account; hidden while the server has
 * no such route or the key is refused. */
async function refreshMonth() {
  const pill = $("month-pill");
  let account;
  try {
    account = await apiData("/account");
  } catch {
    pill.hidden = true;
    return;
  }
  const currency = account.currency || document.body.dataset.currency;
  const spent = formatMoney(account.month.net, currency);
  const budget = account.budget && account.budget.monthly;
  pill.textContent = budget
    ? `${spent} of ${formatMoney(budget, currency)} this month`
    : `${spent} this month`;
  pill.classList.toggle("low", Boolean(account.budget && account.budget.low));
  pill.hidden = false;
}

/** After a 401: one field and Save, then the view on show asks again with the key. */
function setUpKeyBanner() {
  const banner = $("key-banner");
  window.addEventListener("rendergate:unauthorized", (event) => {
    // a 401 to a call sent before the key was saved says nothing of the key saved since
    if (!banner.hidden || event.detail.sentWith !== apiKey()) return;
    $("banner-key").value = apiKey();
    banner.hidden = false;
  });
  banner.addEventListener("submit", (event) => {
    event.preventDefault();
    saveKey($("banner-key").value.trim());
    banner.hidden = true;
    window.dispatchEvent(new CustomEvent("rendergate:key"));
  });
  window.addEventListener("rendergate:key", () => {
    refreshMonth();
    navigate(location.hash || "#/");
  });
}

setUpKeyBanner();
window.addEventListener("rendergate:spent", refreshMonth);
startRouter($("view"), ROUTES);
refreshMonth();
