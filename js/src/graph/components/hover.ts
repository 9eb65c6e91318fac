/**
 * Where the hover box goes: beside the hovered node, kept inside the part of the graph's box that
 * the user sees (it sits in the graph's root, outside the scroller that would cut it off): the
 * graph's box cut by the window and by every ancestor that clips, as JupyterLab's notebook
 * scroller does (core/boxes.ts, as for the card's tooltip).
 */
import { type Box, clamp, intersect, visibleArea } from "../../core/boxes";

const GAP = 12;

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
  return {
    left: clamp(left, bounds.left, bounds.right - size.w),
    top: clamp(top, bounds.top, bounds.bottom - size.h),
  };
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
  const bounds = intersect(r, visibleArea(host));
  const p = hoverPosition(at, { w: box.offsetWidth, h: box.offsetHeight }, bounds);
  box.style.left = `${Math.round(p.left - r.left - host.clientLeft)}px`;
  box.style.top = `${Math.round(p.top - r.top - host.clientTop)}px`;
}
