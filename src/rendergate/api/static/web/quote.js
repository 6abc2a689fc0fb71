// The price line before Render, from GET /quote: "8 renders × ¥2.00 = ¥16.00", what is left
// of the month's budget, or the limit it would meet (Render stays enabled: the API decides).
// Hidden while the server has no /quote or cannot price the job.

import { apiData } from "./api.js";
import { formatMoney, plural } from "./format.js";
import { limitTitle, retryText } from "./limits.js";

/** The line's text from a quote; "" when nothing can be said (nothing it prices: the
 * count beside it already says how many renders). */
export function quoteText(quote) {
  if (!quote.priced) return "";
  const money = (amount) => formatMoney(amount, quote.currency);
  const parts = [];
  if (quote.per_render != null) {
    parts.push(`${plural(quote.renders, "render")} × ${money(quote.per_render)}`);
  } else {
    parts.push(plural(quote.renders, "render"));
  }
  for (const step of quote.steps || []) {
    if (step.per_result != null) parts.push(`${step.count} ${step.type} × ${money(step.per_result)}`);
  }
  let text = parts.join(" + ");
  if (quote.total != null && quote.priced) text += ` = ${money(quote.total)}`;
  return text;
}

function monthText(quote) {
  const month = quote.month;
  if (!month || month.budget == null || month.left == null) return "";
  const money = (amount) => formatMoney(amount, quote.currency);
  return `${money(month.left)} left of this month's ${money(month.budget)}`;
}

/** "Monthly budget reached: this key has been charged ...": what a create would be
 * answered now, before Render is pressed; when to try again unless the message says. */
function refusalText(quote) {
  const said = /resets|retry after|wait for/.test(quote.refusal);
  const later = said ? "" : retryText(quote.retry_after_s);
  return `${limitTitle(quote.refusal_limit)}: ${quote.refusal}.${later ? ` ${later}` : ""}`;
}

/**
 * Keeps `line` (an element with .price-text and .price-note) showing the quote for what
 * `ask()` returns ({type, preset, renders, then}); call the returned function on a change.
 */
export function priceLine(line, ask) {
  let timer = null;
  let asked = 0;
  const update = async () => {
    const mine = ++asked;
    const wanted = ask();
    const query = new URLSearchParams({ renders: String(wanted.renders) });
    if (wanted.type) query.set("type", wanted.type);
    if (wanted.preset) query.set("preset", wanted.preset);
    if (wanted.then) query.set("then", wanted.then);
    let quote;
    try {
      quote = await apiData(`/quote?${query}`);
    } catch {
      quote = null; // no /quote on this server, or it cannot price this: say nothing
    }
    if (mine !== asked) return;
    line.removeAttribute("aria-busy");
    const text = quote ? quoteText(quote) : "";
    line.querySelector(".price-text").textContent = text;
    const note = line.querySelector(".price-note");
    note.textContent = quote && quote.refusal ? refusalText(quote) : quote ? monthText(quote) : "";
    note.classList.toggle("warn", Boolean(quote && quote.refusal));
    line.dataset.total = quote && quote.total != null ? quote.total : "";
    line.hidden = !text && !note.textContent;
  };
  return () => {
    clearTimeout(timer);
    line.setAttribute("aria-busy", "true"); // dimmed until the quote for the change is in
    timer = setTimeout(update, 250);
  };
}
