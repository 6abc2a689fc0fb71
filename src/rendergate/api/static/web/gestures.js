// Pointers on the stage's frames (mouse, pen and fingers alike, as pointer events): one
// drags the view when it is zoomed, two pinch it (zoom about their midpoint, and pan as the
// midpoint moves). `touch-action: none` on the frames only (compare.css) keeps the
// browser's own pinch and scroll off the images, so the page still scrolls by the rest.

const midpoint = ([a, b = a]) => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });
const spread = ([a, b]) => (b ? Math.hypot(b.x - a.x, b.y - a.y) : 0);

/**
 * Follows the pointers on `stage`'s `.viewport` frames and moves `view`, which holds the
 * zoom and pan of every pane: `view.now()` is { scale, x, y } (x, y in px from the frame's
 * centre), `view.set(scale, x, y)` applies one and `view.clamp(scale)` is that scale
 * within the zoom's limits.
 */
export function followGestures(stage, view) {
  const down = new Map(); // pointerId -> { x, y }, in the order they went down
  let start = null; // the view, the frame's centre and the pointers when the gesture (re)began

  const begin = (frame) => {
    const points = [...down.values()].slice(0, 2);
    const box = frame.getBoundingClientRect();
    const centre = { x: box.left + box.width / 2, y: box.top + box.height / 2 };
    start = points.length ? { ...view.now(), centre, frame, mid: midpoint(points), spread: spread(points) } : null;
  };

  const moved = () => {
    const points = [...down.values()].slice(0, 2);
    const mid = midpoint(points);
    if (points.length === 1) {
      if (start.scale > 1) view.set(start.scale, start.x + mid.x - start.mid.x, start.y + mid.y - start.mid.y);
      return;
    }
    // Two: the point of the image under the first midpoint stays under the midpoint now.
    const scale = start.spread > 0 ? (start.scale * spread(points)) / start.spread : start.scale;
    const ratio = view.clamp(scale) / start.scale;
    const [from, to] = [start.mid, mid].map((p) => ({ x: p.x - start.centre.x, y: p.y - start.centre.y }));
    view.set(scale, to.x - ratio * (from.x - start.x), to.y - ratio * (from.y - start.y));
  };

  stage.addEventListener("pointerdown", (event) => {
    const frame = event.target.closest(".viewport");
    if (!frame || event.button !== 0) return;
    if (event.isPrimary) down.clear(); // a new gesture: forget any pointer whose end was missed
    down.set(event.pointerId, { x: event.clientX, y: event.clientY });
    frame.setPointerCapture?.(event.pointerId);
    begin(frame);
  });
  stage.addEventListener("pointermove", (event) => {
    if (!down.has(event.pointerId) || !start) return;
    down.set(event.pointerId, { x: event.clientX, y: event.clientY });
    moved();
  });
  const lifted = (event) => {
    if (!down.delete(event.pointerId)) return;
    if (start) begin(start.frame); // the fingers left carry on from where the view is now
  };
  for (const end of ["pointerup", "pointercancel"]) stage.addEventListener(end, lifted);
}
