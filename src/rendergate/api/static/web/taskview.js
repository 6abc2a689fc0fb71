// #/tasks/{id}: one task, as its card (status, image, download). The before/after stage,
// settings used and lineage come with the task-view chunk.

import { apiData, showError } from "./api.js";
import { memberCard } from "./card.js";
import { el } from "./dom.js";
import { titled } from "./router.js";

export async function showTask(root, match) {
  const page = el("div", { class: "page narrow" }, [el("h1", {}, `Task ${match[1]}`)]);
  root.append(page);
  titled(`Task ${match[1]}`);
  try {
    const task = await apiData(`/tasks/${match[1]}?include_base64=false`);
    if (task.batch_id) page.append(el("p", {}, el("a", { href: `#/batches/${task.batch_id}` }, "Its batch")));
    page.append(memberCard(task, () => {}).node);
  } catch (error) {
    const problem = el("div", { class: "alert", role: "alert" });
    page.append(problem);
    showError(problem, error);
  }
}
