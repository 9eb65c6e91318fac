/**
 * The hover tooltip: one absolutely positioned box inside the card, placed under the hovered
 * token, or above it when there is no room below, where "room" is the part of the card the
 * user can see: the card's box cut by the viewport and by every ancestor that clips (the
 * notebook's scroller in JupyterLab, an output area that scrolls, the graph's or the table's
 * card area), crossing shadow roots. So a token at the bottom of the notebook's view shows its
 * tooltip above it, one at the top below it, and the box never leaves the card: a later
 * cell's output (later in the page, so painted over what overflows an earlier cell) or the
 * output area's clipping cannot hide it. When the visible part is too small for the box, it
 * goes on the side with more visible room, still inside the card.
 *
 * Coordinates are measured, not assumed: the box is first put at (0, 0) of its containing
 * block and its real viewport origin is read back, which stays right inside JupyterLab's
 * transformed or `contain`ed containers (a `position: fixed` box there was found 291 px off).
 * The room is measured by core/boxes.ts, as for the graph's hover box.
 */
import { type Box, clamp, intersect, visibleArea } from "../../core/boxes";
import { h } from "../../core/dom";

export interface Tooltip {
  el: HTMLDivElement;
  show(anchor: Element, content: Node): void;
  hide(): void;
  readonly anchor: Element | null;
}

const GAP = 4;
const MARGIN = 2;

/** The tooltip's top edge: under the anchor, above it, or on the side with more visible room. */
function placeY(h: number, anchor: Box, card: Box, seen: Box): number {
  const below = anchor.bottom + GAP;
  const above = anchor.top - GAP - h;
  let y: number;
  if (below + h <= seen.bottom - MARGIN) y = below;
  else if (above >= seen.top + MARGIN) y = above;
  else y = seen.bottom - anchor.bottom >= anchor.top - seen.top ? below : above;
  if (h <= seen.bottom - seen.top - 2 * MARGIN)
    y = clamp(y, seen.top + MARGIN, seen.bottom - h - MARGIN);
  return clamp(y, card.top, card.bottom - h);
}

/**
 * Where the tooltip's top-left corner goes (viewport pixels), for a box of `size`: under or
 * above `anchor`, inside what is `visible` of the `card` when it fits there, always inside the
 * card (its left and top edges first when the box is larger than the card).
 */
export function placeTooltip(
  size: { width: number; height: number },
  anchor: Box,
  card: Box,
  visible: Box,
): { x: number; y: number } {
  const seen = intersect(card, visible);
  const y = placeY(size.height, anchor, card, seen.bottom > seen.top ? seen : card);
  const lo = seen.right > seen.left ? seen : card;
  const x = clamp(anchor.left, lo.left + MARGIN, lo.right - size.width - MARGIN);
  return { x: clamp(x, card.left, card.right - size.width), y };
}

export function createTooltip(container: HTMLElement): Tooltip {
  const el = h("div", "fc-tooltip");
  el.setAttribute("role", "tooltip");
  el.hidden = true;
  container.append(el);
  let anchor: Element | null = null;

  function place(a: Element): void {
    el.style.left = "0px";
    el.style.top = "0px";
    el.style.width = "";
    el.style.maxWidth = `${Math.max(160, container.clientWidth - 8)}px`;
    const origin = el.getBoundingClientRect(); // where (0, 0) really is, in viewport pixels
    const size = { width: origin.width, height: origin.height };
    const card = container.getBoundingClientRect();
    const { x, y } = placeTooltip(size, a.getBoundingClientRect(), card, visibleArea(container));
    el.style.width = `${Math.ceil(size.width)}px`; // keep the measured wrapping wherever it goes
    el.style.left = `${Math.round(x - origin.left)}px`;
    el.style.top = `${Math.round(y - origin.top)}px`;
  }

  return {
    el,
    get anchor() {
      return anchor;
    },
    show(a, content) {
      anchor = a;
      el.replaceChildren(content);
      el.hidden = false;
      place(a);
    },
    hide() {
      anchor = null;
      el.hidden = true;
      el.replaceChildren();
    },
  };
}
