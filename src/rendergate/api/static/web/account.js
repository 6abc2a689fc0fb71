// #/account: the API key (set, forget; kept in this browser only), and the key's month from
// GET /account: renders and money, the budget as a bar with what is left, the limits and
// their use now, what a render of each app is charged; then this month's usage by app
// (GET /usage?group_by=app). Open mode says plainly that there is no key and no budget.

import { apiData, apiKey, saveKey, showError } from "./api.js";
import { titled } from "./router.js";
import { el } from "./dom.js";
import { appLabel, formatMoney } from "./format.js";

function keyForm() {
  const input = el("input", {
    id: "api-key",
    type: "password",
    spellcheck: "false",
    autocomplete: "off",
    placeholder: "none in open mode",
    "aria-describedby": "key-note",
  });
  input.value = apiKey();
  const said = el("p", { class: "hint", role: "status" });
  const form = el("form", { class: "key-form panel", autocomplete: "off" }, [
    el("h2", {}, "API key"),
    el("label", { for: "api-key" }, "API key"),
    input,
    el("p", { id: "key-note", class: "hint" }, [
      "Kept in this browser only and sent as a Bearer token. A server in open mode needs none.",
    ]),
    el("div", { class: "row" }, [
      el("button", { type: "submit", class: "primary" }, "Save"),
      el("button", { type: "button", id: "key-forget" }, "Forget"),
    ]),
    said,
  ]);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveKey(input.value.trim());
    said.textContent = input.value.trim() ? "Saved." : "No key kept.";
    document.getElementById("key-banner").hidden = true;
    window.dispatchEvent(new CustomEvent("rendergate:key")); // the pill and this view ask again
  });
  form.querySelector("#key-forget").addEventListener("click", () => {
    input.value = "";
    saveKey("");
    said.textContent = "Forgotten: this browser keeps no key.";
  });
  return form;
}

/** A two-column list of [term, value, name] rows; `name` marks a value for the tests and
 * for a reader's "what is this" (data-figure). */
function figures(rows) {
  return el(
    "dl",
    { class: "figures" },
    rows.flatMap(([term, value, name]) => [
      el("dt", {}, term),
      el("dd", { "data-figure": name }, value),
    ]),
  );
}

function monthPanel(account, money) {
  const month = account.month;
  return el("section", { class: "panel", "aria-labelledby": "month-h" }, [
    el("h2", { id: "month-h" }, `This month (since ${month.since}, UTC)`),
    figures([
      ["Renders", String(month.renders), "renders"],
      ["Charged", money(month.charged), "charged"],
      ["Refunded", money(month.refunded), "refunded"],
      ["Net", money(month.net), "net"],
    ]),
  ]);
}

/** The budget as a bar: what is charged of it, what is left, a warning when low. */
function budgetPanel(account, money) {
  const { budget, key, month } = account;
  const body = [el("h2", { id: "budget-h" }, "Monthly budget")];
  if (!key) {
    body.push(el("p", { class: "open-note" }, "Open mode: this server asks for no key, so there is no key and no budget. Every render is charged at the app's price."));
  } else if (budget.monthly == null) {
    body.push(el("p", {}, "No monthly budget on this key: its renders are not capped by money."));
  } else {
    const spent = Math.min(Number(month.net), Number(budget.monthly));
    const share = Number(budget.monthly) > 0 ? Math.round((100 * spent) / Number(budget.monthly)) : 100;
    const bar = el("div", {
      class: "budget-bar",
      role: "meter",
      "aria-label": "Budget charged",
      "aria-valuemin": "0",
      "aria-valuemax": "100",
      "aria-valuenow": String(share),
      "aria-valuetext": `${money(month.net)} of ${money(budget.monthly)}`,
    }, el("span", { class: "budget-fill" }));
    bar.style.setProperty("--share", `${share}%`);
    bar.classList.toggle("low", budget.low);
    body.push(
      bar,
      figures([
        ["Charged", `${money(month.net)} of ${money(budget.monthly)}`, "budget-charged"],
        ["Left", money(budget.left), "budget-left"],
      ]),
    );
    if (Number(budget.left) <= 0) {
      body.push(el("p", { class: "budget-warn", role: "status" }, "Monthly budget reached: renders that are charged are refused until the month resets."));
    } else if (budget.low) {
      body.push(el("p", { class: "budget-warn", role: "status" }, `Budget low: ${money(budget.left)} left this month.`));
    }
  }
  return el("section", { class: "panel", "aria-labelledby": "budget-h" }, body);
}

function limitsPanel(limits) {
  const used = (count, cap) => (cap == null ? `${count} (no limit)` : `${count} of ${cap}`);
  return el("section", { class: "panel", "aria-labelledby": "limits-h" }, [
    el("h2", { id: "limits-h" }, "Limits and their use now"),
    figures([
      ["Creates in the last minute", used(limits.last_minute, limits.rate_per_minute), "rate"],
      ["Unfinished now", used(limits.in_flight, limits.max_in_flight), "in-flight"],
      ["Created today (UTC)", used(limits.today, limits.daily_tasks), "today"],
    ]),
  ]);
}

function table(caption, head, rows) {
  return el("table", { class: "money-table" }, [
    el("caption", { class: "sr-only" }, caption),
    el("thead", {}, el("tr", {}, head.map((text) => el("th", { scope: "col" }, text)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((text, i) => el(i ? "td" : "th", i ? {} : { scope: "row" }, text))))),
  ]);
}

function pricesPanel(account, apps, money) {
  const named = new Map(apps.map((app) => [app.name, app]));
  const rows = Object.entries(account.prices).map(([name, amount]) => [appLabel(named.get(name)) || name, money(amount)]);
  return el("section", { class: "panel", "aria-labelledby": "prices-h" }, [
    el("h2", { id: "prices-h" }, "Prices"),
    rows.length
      ? table("What a render of each app is charged", ["App", "Per render"], rows)
      : el("p", {}, "No app is charged."),
    el("p", { class: "hint" }, "An app not listed is not charged."),
  ]);
}

function usagePanel(usage, apps) {
  const named = new Map(apps.map((app) => [app.name, app]));
  const rows = (usage?.groups || []).map((group) => [
    appLabel(named.get(group.group)) || group.group || "none",
    String(group.tasks),
    formatMoney(group.charge.net, group.currency),
    formatMoney(group.cost.spent, group.currency) + (group.cost.unknown ? ` (+${group.cost.unknown} not known)` : ""),
  ]);
  return el("section", { class: "panel", "aria-labelledby": "usage-h" }, [
    el("h2", { id: "usage-h" }, "By app this month"),
    rows.length
      ? table("This month's renders by app", ["App", "Renders", "Charged", "Cost upstream"], rows)
      : el("p", {}, "No renders this month yet."),
  ]);
}

export async function showAccount(root) {
  const problem = el("div", { class: "alert", role: "alert", hidden: true });
  const page = el("div", { class: "page narrow account" }, [el("h1", {}, "Account"), problem]);
  root.append(page);
  titled("Account");
  try {
    const [account, apps] = await Promise.all([apiData("/account"), apiData("/apps").catch(() => [])]);
    const money = (amount) => formatMoney(amount, account.currency);
    const usage = await apiData(`/usage?group_by=app&since=${account.month.since}`).catch(() => null);
    const who = account.key ? `Key “${account.key.name}” (${account.key.id})` : "Open mode: no key";
    page.append(
      el("p", { class: "who" }, who),
      monthPanel(account, money),
      budgetPanel(account, money),
      limitsPanel(account.limits),
      pricesPanel(account, apps, money),
      usagePanel(usage, apps),
    );
  } catch (error) {
    showError(problem, error);
  }
  page.append(keyForm(), el("p", { class: "hint" }, [el("a", { href: "/docs" }, "The API's documentation")]));
}
