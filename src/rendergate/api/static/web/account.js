// #/account: the API key (set, forget), kept in this browser only. This month's usage,
// budget, limits and prices join it once GET /account exists.

import { apiKey, saveKey } from "./api.js";
import { titled } from "./router.js";
import { el } from "./dom.js";

export function showAccount(root) {
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
    window.dispatchEvent(new CustomEvent("rendergate:spent")); // the month pill asks again
    document.getElementById("key-banner").hidden = true;
  });
  form.querySelector("#key-forget").addEventListener("click", () => {
    input.value = "";
    saveKey("");
    said.textContent = "Forgotten: this browser keeps no key.";
  });
  root.append(
    el("div", { class: "page narrow" }, [
      el("h1", {}, "Account"),
      form,
      el("p", { class: "hint" }, [el("a", { href: "/docs" }, "The API's documentation")]),
    ]),
  );
  titled("Account");
}
