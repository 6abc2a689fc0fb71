// The results of one view of a batch, as the compare view lists them: its variations, the
// steps made from them (an upscale) and their re-runs (not members of the batch), each
// with a name people read ("View 1 · v3 · re-run 1") and in the filmstrip's order.

import { appLabel } from "./format.js";

const DEEPEST = 8; // links followed up a lineage: a chain is at most a few steps

/** The lineup of view `viewNo` (from 1) of `batch`; `apps` maps app names to GET /apps'. */
export function lineup(batch, viewNo, apps) {
  const tasks = new Map(); // id -> task
  const reruns = new Set(); // ids of re-runs
  let memberIds = new Set();

  /** Takes in the batch's members of this view as they are now (after a step, say). */
  function absorb(next) {
    memberIds = new Set(next.tasks.map((task) => task.task_id));
    for (const task of next.tasks) if (task.view === viewNo - 1) tasks.set(task.task_id, task);
  }
  const isVariation = (task) => !reruns.has(task.task_id) && !(task.parent_task_id && memberIds.has(task.parent_task_id));

  /** The variation a task comes from: itself, its step's parent's, its re-run's original's. */
  function origin(task, hops = 0) {
    const up = tasks.get(task.rerun_of) || (!isVariation(task) && tasks.get(task.parent_task_id));
    return up && hops < DEEPEST ? origin(up, hops + 1) : task;
  }

  function nameOf(task, hops = 0) {
    if (isVariation(task) || hops > DEEPEST) return `View ${viewNo} · v${(task.variation ?? 0) + 1}`;
    if (reruns.has(task.task_id)) {
      const original = tasks.get(task.rerun_of);
      const siblings = [...reruns].map((id) => tasks.get(id)).filter((other) => other.rerun_of === task.rerun_of);
      const number = siblings.findIndex((other) => other.task_id === task.task_id) + 1;
      return `${original ? nameOf(original, hops + 1) : "?"} · re-run ${number}`;
    }
    const parent = tasks.get(task.parent_task_id);
    return `${parent ? nameOf(parent, hops + 1) : "?"} · ${appLabel(apps.get(task.type)) || task.type}`;
  }

  absorb(batch);
  return {
    absorb,
    nameOf,
    get: (id) => tasks.get(id),
    all: () => [...tasks.values()],
    /** A task's new state (from its stream, a keep, ...). */
    set: (task) => tasks.set(task.task_id, { ...tasks.get(task.task_id), ...task }),
    addRerun(task) {
      reruns.add(task.task_id);
      tasks.set(task.task_id, task);
    },
    variations: () => [...tasks.values()].filter(isVariation).sort((a, b) => a.variation - b.variation),
    kept: () => [...tasks.values()].filter((task) => task.kept),
    /** Each variation, then its steps, then its re-runs, oldest first. */
    ordered() {
      const rank = (task) => (isVariation(task) ? 0 : reruns.has(task.task_id) ? 2 : 1);
      return [...tasks.values()].sort(
        (a, b) => origin(a).variation - origin(b).variation || rank(a) - rank(b) || a.created_at.localeCompare(b.created_at),
      );
    },
  };
}
