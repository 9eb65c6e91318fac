/**
 * The hover tooltip: one absolutely positioned box inside the card, placed under the hovered
 * token (above it when there is no room below), and always clamped inside the card's own
 * box, so it is never cut by the notebook's output area (which clips what overflows it) and
 * never leaves the card. Coordinates are measured, not assumed: the box is first put at
 * (0, 0) of its containing block and its real viewport origin is read back, which stays
 * right inside JupyterLab's transformed or `contain`ed containers (a `position: fixed` box
 * there was found 291 px off).
 */
import { h } from "../../core/dom";

export interface Tooltip {
  el: HTMLDivElement;
  show(anchor: Element, content: Node): void;
  hide(): void;
  readonly anchor: Element | null;
}

const GAP = 4;

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
    const box = container.getBoundingClientRect();
    const ar = a.getBoundingClientRect();
    const w = origin.width;
    const ht = origin.height;
    let x = ar.left;
    let y = ar.bottom + GAP;
    if (y + ht > box.bottom && ar.top - GAP - ht >= box.top) y = ar.top - GAP - ht;
    x = Math.min(Math.max(x, box.left + 2), box.right - w - 2);
    y = Math.min(Math.max(y, box.top + 2), box.bottom - ht - 2);
    x = Math.max(x, box.left); // a box wider than the card starts at its left edge
    y = Math.max(y, box.top);
    el.style.width = `${Math.ceil(w)}px`; // keep the measured wrapping wherever it goes
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
