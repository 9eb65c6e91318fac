/**
 * Boxes in viewport pixels, and the part of the page a user can see around an element: what a
 * view's floating box (the card's tooltip, the graph's hover box) is kept inside. The views
 * choose where their box goes; this measures the room.
 */

/** A box in viewport pixels. */
export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** The part of `a` inside `b` (a box of no size, at `a`'s or `b`'s corner, where they do not meet). */
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

/** `v` moved into [lo, hi] (to `lo` when the range is empty). */
export const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(v, hi));

/** The element's parent, or the host of its shadow root. */
function parentOf(el: Element): Element | null {
  if (el.parentElement) return el.parentElement;
  const root = el.getRootNode();
  return root instanceof ShadowRoot ? root.host : null;
}

const CLIPS: ReadonlySet<string> = new Set(["auto", "scroll", "hidden", "clip", "overlay"]);

/** What the page lets the user see around `el`: the viewport cut by every clipping ancestor (the
 * notebook's scroller in JupyterLab, an output area that scrolls, a host's card area), crossing
 * shadow roots; not the body's or the root's box: their overflow applies to the viewport, and
 * Lab's body has no height. */
export function visibleArea(el: Element): Box {
  const view = el.ownerDocument.defaultView;
  let box: Box = { left: 0, top: 0, right: view?.innerWidth ?? 0, bottom: view?.innerHeight ?? 0 };
  const doc = el.ownerDocument;
  for (let a = parentOf(el); a; a = parentOf(a)) {
    if (a === doc.body || a === doc.documentElement) continue; // their overflow is the viewport's
    const cs = getComputedStyle(a);
    if (CLIPS.has(cs.overflowX) || CLIPS.has(cs.overflowY))
      box = intersect(box, a.getBoundingClientRect());
  }
  return box;
}
