// #/batches/{id}/views/{v}: comparing a view's variations side by side (a later chunk);
// until then, the batch's grid.

import { showBatch } from "./batch.js";

export function showCompare(root, match) {
  return showBatch(root, match);
}
