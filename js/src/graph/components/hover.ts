/**
 * Where the hover box goes: beside the hovered node, kept inside the part of the graph's box that
 * is in the window (it sits in the graph's root, outside the scroller that would cut it off).
 */

export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

const GAP = 12;

/** The intersection of two boxes (an empty one keeps `a`'s corner). */
export function intersect(a: Box, b: Box): Box {
  const left = Math.max(a.left, b.left);
  const top = Math.max(a.top, b.top);
  return {
    left,
    top,
    right: Math.max(left, Math.min(a.right, b.right)),
    bottom: Math.max(top, Math.min(a.bottom, b.bottom)),
  };
}

/**
 * The box's top-left corner (window coordinates) for a box `w` x `h` next to the point `at`:
 * right of and below it when there is room, else left of or above it, and always within
 * `bounds` as far as the box fits (a box larger than `bounds` starts at its top-left).
 */
export function hoverPosition(
  at: { x: number; y: number },
  size: { w: number; h: number },
  bounds: Box,
): { left: number; top: number } {
  let left = at.x + GAP;
  if (left + size.w > bounds.right) left = at.x - GAP - size.w;
  let top = at.y + GAP / 2;
  if (top + size.h > bounds.bottom) top = at.y - GAP / 2 - size.h;
  left = Math.max(bounds.left, Math.min(left, bounds.right - size.w));
  top = Math.max(bounds.top, Math.min(top, bounds.bottom - size.h));
  return { left, top };
}

/** Shows `box` (a child of `host`, which is positioned) next to `at`, inside the visible host. */
export function placeHover(
  box: HTMLElement,
  host: HTMLElement,
  at: { x: number; y: number },
): void {
  box.hidden = false;
  box.style.left = "0px";
  box.style.top = "0px";
  const r = host.getBoundingClientRect();
  const view = host.ownerDocument.defaultView;
  const win = {
    left: 0,
    top: 0,
    right: view?.innerWidth ?? r.right,
    bottom: view?.innerHeight ?? r.bottom,
  };
  const bounds = intersect(r, win);
  const p = hoverPosition(at, { w: box.offsetWidth, h: box.offsetHeight }, bounds);
  box.style.left = `${Math.round(p.left - r.left - host.clientLeft)}px`;
  box.style.top = `${Math.round(p.top - r.top - host.clientTop)}px`;
}
