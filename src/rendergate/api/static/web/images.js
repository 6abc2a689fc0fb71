// Images the API serves behind the key: fetched as blobs into object URLs (an <img src>
// cannot send an Authorization header), kept in a small cache and revoked when dropped.

import { api } from "./api.js";

const LIMIT = 120;
const urls = new Map(); // path -> Promise of an object URL, oldest first

/** An object URL of the image at `path` (GET with the key); the same one while cached. */
export function imageUrl(path) {
  let url = urls.get(path);
  if (url) {
    urls.delete(path); // most recently used goes last
    urls.set(path, url);
    return url;
  }
  url = api(path).then(async (response) => URL.createObjectURL(await response.blob()));
  url.catch(() => urls.delete(path)); // a refusal is not kept: asking again may work
  urls.set(path, url);
  while (urls.size > LIMIT) {
    const [oldest, dropped] = urls.entries().next().value;
    urls.delete(oldest);
    dropped.then((gone) => URL.revokeObjectURL(gone), () => {});
  }
  return url;
}

/** Puts the image at `path` into `img` when it arrives; `onFail(error)` if it does not. */
export async function showImage(img, path, onFail = () => {}) {
  try {
    img.src = await imageUrl(path);
  } catch (error) {
    onFail(error);
  }
}

/** The file name the API gives a download ("{id}-0.png" when it gives none). */
export function fileNameOf(response, fallback) {
  const disposition = response.headers.get("Content-Disposition") || "";
  const named = /filename="([^"]+)"/.exec(disposition);
  return named ? named[1] : fallback;
}

/** Saves the file at `path` (GET with the key) under the API's file name: fetched only when
 * asked, so a page of results holds their thumbnails, not their full images. */
export async function saveFrom(path, fallback) {
  const response = await api(path);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = fileNameOf(response, fallback);
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
