// Words and figures the views share: money, a task's price and cost, its status, a
// duration, an app's ASCII label.

import { TERMINAL } from "./api.js";

const SYMBOLS = { CNY: "¥", USD: "$", EUR: "€", GBP: "£", JPY: "¥" };

const STATUS = {
  submitted: "Waiting",
  processing: "Rendering",
  completed: "Done",
  failed: "Failed",
  canceled: "Canceled",
};

/** "¥0.17": an amount as the API gives it (a decimal string, never a float's rounding). */
export function formatMoney(amount, currency) {
  const symbol = SYMBOLS[currency];
  return symbol ? `${symbol}${amount}` : `${amount} ${currency}`;
}

/** A card's or task's money line: "¥2.00 · cost ¥0.17 (estimated)", "¥2.00 refunded ·
 * cost ¥0.00": the price its key was charged (`charge`), then what it cost upstream
 * (`cost`) once finished; "" when neither is known yet. */
export function priceText(task) {
  const said = [];
  const charge = task.charge;
  if (charge) said.push(formatMoney(charge.amount, charge.currency) + (charge.refunded ? " refunded" : ""));
  const cost = task.cost;
  if (cost && cost.amount != null) said.push(`cost ${formatMoney(cost.amount, cost.currency)}${cost.estimated ? " (estimated)" : ""}`);
  else if (cost) said.push("cost not known");
  return said.join(" · ");
}

/** "Rendering 40%", or where it waits: in our queue (submitted) or the provider's. */
export function statusText(task) {
  const words = STATUS[task.status] || task.status;
  if (TERMINAL.has(task.status)) return words;
  const ahead = task.queue_position;
  if (ahead != null) {
    const place = ahead === 0 ? "next in line" : `${ahead} ahead`;
    return task.status === "submitted" ? `Waiting: ${place}` : `Queued: ${place}`;
  }
  return task.status === "submitted" ? `${words} to start` : `${words} ${task.progress}%`;
}

/** "0:07", "12:30", "1:02:03": seconds as a clock reads them. */
export function formatDuration(seconds) {
  const whole = Math.max(0, Math.round(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** An app's name for people: its ASCII `label` (a title may be CJK; no font may show it). */
export function appLabel(app) {
  return app ? app.label || app.name : "";
}

/** "3 views", "1 variation": a count and its noun. */
export function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
