/**
 * How far the complete index is while a quick card's pending panels wait for it. The kernel
 * publishes `build_progress` {done, total, seconds} (tokens of the dataset run through the
 * model, of all, since the build began) every 0.5 s while the card's `complete` request waits
 * (python/featurecard/card/widget.py), and null otherwise. Under the first pending panel's
 * reason the card shows a <progress> bar of done / total and one line:
 * "indexing every latent: 42 % · 18.3k tok/s · about 31 s left", the rate being done / seconds
 * and the time left (total - done) / rate. Before the build has a rate (no token done, or no
 * time yet) the line says "starting…". Nothing shows without a report, without a pending
 * panel, or in an exported file (no kernel builds anything there).
 *
 * The bar is updated in place (no redraw of the card); the line is not a live region, so a
 * screen reader is not interrupted twice a second: the bar's value is there when asked for.
 */
import { h } from "../../core/dom";
import type { BuildProgress } from "../../core/schema";
import type { CardData } from "../card-data";

/** What a report says, checked: done clamped to [0, total]; rate and time left null until known. */
export interface ProgressFigures {
  done: number;
  total: number;
  percent: number; // whole percent, rounded down (100 only when done reaches total)
  rate: number | null; // tokens per second
  secondsLeft: number | null;
}

const finite = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

export function progressFigures(p: BuildProgress): ProgressFigures {
  const total = Math.max(0, finite(p.total));
  const done = Math.min(Math.max(0, finite(p.done)), total);
  const seconds = finite(p.seconds);
  const percent = total > 0 ? Math.floor((100 * done) / total) : 0;
  const rate = done > 0 && seconds > 0 ? done / seconds : null;
  return { done, total, percent, rate, secondsLeft: rate ? (total - done) / rate : null };
}

/** A count with 3 significant digits and k / M / G: 950, 18.3k, 183k, 1.5M (999,960 is 1M). */
export function compactCount(n: number): string {
  const units = ["", "k", "M", "G"];
  let v = n;
  let i = 0;
  while (i < units.length - 1 && Math.abs(Number(v.toPrecision(3))) >= 1000) {
    v /= 1000;
    i += 1;
  }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** "about 31 s left" under 90 s, "about 4 min left" under 90 min, then "about 2.5 h left". */
export function timeLeft(seconds: number): string {
  if (seconds < 0.5) return "finishing…";
  if (seconds < 90) return `about ${Math.round(seconds)} s left`;
  if (seconds < 90 * 60) return `about ${Math.round(seconds / 60)} min left`;
  return `about ${Number((seconds / 3600).toFixed(1))} h left`;
}

export const PROGRESS_LABEL = "indexing every latent";

/** "indexing every latent: 42 % · 18.3k tok/s · about 31 s left", or "…: starting…". */
export function progressText(p: BuildProgress): string {
  const f = progressFigures(p);
  if (f.rate === null || f.secondsLeft === null) return `${PROGRESS_LABEL}: starting…`;
  return `${PROGRESS_LABEL}: ${f.percent} % · ${compactCount(f.rate)} tok/s · ${timeLeft(f.secondsLeft)}`;
}

export interface BuildProgressView {
  root: HTMLElement;
  /** Puts the view under the reason of `data`'s first pending panel in `body` (a new card body). */
  place(body: HTMLElement, data: CardData | null): void;
  /** Shows report `p` while the placed card has pending panels and a kernel (`live`). */
  update(p: BuildProgress | null, live: boolean): void;
}

let views = 0; // the text's id, unique on the page

export function createBuildProgress(): BuildProgressView {
  const root = h("div", "fc-build");
  const bar = h("progress", "fc-build-bar");
  bar.setAttribute("aria-label", PROGRESS_LABEL);
  const text = h("span", "fc-build-text");
  views += 1;
  text.id = `fc-build-text-${views}`;
  bar.setAttribute("aria-describedby", text.id);
  root.append(bar, text);
  root.hidden = true;
  let placed = false;
  return {
    root,
    place(body, data) {
      const key = `fc-panel-${data?.pending[0]}`;
      const panel = Array.from(body.querySelectorAll(".fc-panel")).find((e) =>
        e.classList.contains(key),
      );
      placed = data !== null && data.pending.length > 0 && panel !== undefined;
      if (placed) panel?.append(root);
      else root.remove();
    },
    update(p, live) {
      root.hidden = p === null || !live || !placed;
      if (root.hidden || p === null) return;
      const f = progressFigures(p);
      bar.max = Math.max(f.total, 1);
      if (f.rate === null)
        bar.removeAttribute("value"); // indeterminate until it has a rate
      else bar.value = f.done;
      text.textContent = progressText(p);
    },
  };
}
