// A create refused by one of the key's limits or its budget (429): a calm panel with the
// limit's name, the API's own words and when to try again (Retry-After), plus a link to
// Account. The quote's refusal before Render is titled the same way.

import { el } from "./dom.js";

// A refusal names its limit: a create's 429 in X-Rendergate-Limit, a quote in refusal_limit.
const TITLES = {
  monthly_budget: "Monthly budget reached",
  rate_per_minute: "Too many renders this minute",
  max_in_flight: "Too many renders unfinished",
  daily_tasks: "Daily limit reached",
  share: "Too much at once",
};

/** "Monthly budget reached", ...: the title of the limit a refusal names. */
export function limitTitle(limit) {
  return TITLES[limit] || "Limit reached";
}

/** "Try again in 10 s", "in 4 min", or after a day and hour (UTC) when it is far. */
export function retryText(seconds, now = new Date()) {
  const wait = Number(seconds);
  if (!Number.isFinite(wait) || wait <= 0) return "";
  if (wait < 120) return `Try again in ${Math.ceil(wait)} s.`;
  if (wait < 7200) return `Try again in ${Math.ceil(wait / 60)} min.`;
  const at = new Date(now.getTime() + wait * 1000).toISOString();
  return `Try again after ${at.slice(0, 10)} ${at.slice(11, 16)} UTC.`;
}

/** Fills `box` (a .limit-panel) for a 429 `error` (an ApiError) and shows it. */
export function showLimit(box, error) {
  const later = retryText(error.retryAfter);
  box.replaceChildren(
    el("strong", {}, limitTitle(error.limit)),
    el("span", { class: "msg" }, error.message),
    el("p", { class: "hint" }, [later, later ? " " : "", el("a", { href: "#/account" }, "See your account")]),
  );
  box.hidden = false;
  box.scrollIntoView({ block: "center" }); // clear of a sticky Render bar
}
