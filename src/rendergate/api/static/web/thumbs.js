// Thumbnails for a list that may grow long (History): each is fetched with the key into a
// blob: URL only when its item nears the viewport, and revoked when the item goes far out of
// view or leaves the list, so the page holds only the pictures near the screen however many
// pages are loaded. Coming back asks again (the browser's cache answers, or a 304).

import { api } from "./api.js";

const NEAR = "800px"; // how far beyond the viewport an item still holds its picture

/** A set of watched thumbnails; `clear()` revokes them all (a new search, the view left). */
export function thumbnails() {
  const watched = new Map(); // box -> { img, note, path, url: Promise of a blob URL | null }
  const observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        const item = watched.get(entry.target);
        if (item && entry.isIntersecting) load(item);
        else if (item) unload(item);
      }
    },
    { rootMargin: NEAR },
  );

  function load(item) {
    if (item.url) return;
    const url = api(item.path).then(async (response) => URL.createObjectURL(await response.blob()));
    item.url = url;
    url.then(
      (made) => {
        if (item.url !== url) return URL.revokeObjectURL(made); // unloaded while on its way
        item.img.src = made;
        item.img.hidden = false;
        item.note.hidden = true;
      },
      () => {
        if (item.url === url) item.note.textContent = "no picture";
      },
    );
  }

  function unload(item) {
    const url = item.url;
    if (!url) return;
    item.url = null;
    item.img.removeAttribute("src");
    item.img.hidden = true;
    item.note.hidden = false;
    url.then((made) => URL.revokeObjectURL(made), () => {});
  }

  return {
    /** Shows the image at `path` in `img` (inside `box`) while `box` is near the viewport;
     * `note` (a placeholder in `box`) shows until then, or says it failed. */
    watch(box, img, note, path) {
      watched.set(box, { img, note, path, url: null });
      observer.observe(box);
    },
    clear() {
      for (const item of watched.values()) unload(item);
      watched.clear();
      observer.disconnect();
    },
  };
}
