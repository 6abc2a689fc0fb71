// Building the page's elements without innerHTML: a tag, its attributes, its children.

/**
 * el("button", { type: "button", class: "primary" }, "Render"): attributes are set as
 * attributes (never `style`: the CSP forbids inline styles; use classes or
 * style.setProperty); children are nodes or strings (as text, never parsed as HTML).
 */
export function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value == null) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...(Array.isArray(children) ? children : [children]));
  return node;
}

/** A live-region line for a screen reader ("View 1 · v2 done"). */
export function announce(text) {
  const live = document.getElementById("announce");
  if (live) live.textContent = text;
}

/** A short unique id for a label's `for`. */
let made = 0;
export function uid(prefix) {
  made += 1;
  return `${prefix}-${made}`;
}
