/**
 * While the card asks for another unit (a `show` in flight: the asker of ../../core/requests
 * shows the asked source and feature until the reply; a host's `select`, through the card's
 * stand-in model, likewise) and that unit's card is not drawn yet, the card says so: an
 * indeterminate progress bar with "loading #N…", and the shown card marked stale (dimmed, the
 * `fc-stale` class), so the old card is never taken for the new one. The reply, or a refusal
 * that puts the asked unit back on the shown one, ends it.
 */
import { h } from "../../core/dom";
import type { CardData } from "../card-data";
import type { Unit } from "../history";

/** The unit being loaded: asked for (`props`) and not the one drawn (`shown`); else null. */
export function loadingOf(
  props: { source: string; feature: number | null },
  shown: CardData | null,
): Unit | null {
  if (!shown || props.feature === null) return null;
  const source = props.source || shown.header.source;
  if (source === shown.header.source && props.feature === shown.header.feature) return null;
  return { source, feature: props.feature };
}

/** "loading #N…", naming the source when it is not the shown card's. */
export function loadingText(u: Unit, shown: CardData | null): string {
  const from = shown && u.source !== shown.header.source ? `${u.source} ` : "";
  return `loading ${from}#${u.feature}…`;
}

export interface LoadingView {
  root: HTMLElement;
  /** Shows `u` loading over `shown` (null: nothing loads) and marks `card` stale meanwhile. */
  update(u: Unit | null, shown: CardData | null, card: HTMLElement): void;
}

export function createLoading(): LoadingView {
  const root = h("span", "fc-loading");
  root.setAttribute("role", "status");
  const bar = h("progress", "fc-loading-bar");
  bar.setAttribute("aria-label", "loading the card");
  const text = h("span", "fc-loading-text");
  root.append(bar, text);
  root.hidden = true;
  return {
    root,
    update(u, shown, card) {
      root.hidden = u === null;
      text.textContent = u ? loadingText(u, shown) : "";
      card.classList.toggle("fc-stale", u !== null);
      if (u) card.dataset.loading = `${u.source}#${u.feature}`;
      else delete card.dataset.loading;
    },
  };
}
