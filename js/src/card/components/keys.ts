/**
 * Keyboard shortcuts of a card (listed in nav.ts's SHORTCUTS and the "?" button's title).
 * They act while focus is inside the card and not in a text field; the card root carries
 * `data-lm-suppress-shortcuts`, so JupyterLab's command-mode keys (r, a, b, …) leave them
 * to us, and every key we handle is stopped there.
 */

export interface KeyActions {
  step(delta: 1 | -1): void;
  back(): void;
  forward(): void;
  random(): void;
  focusSearch(): void;
  focusIndex(): void;
  escape(): void;
}

function inField(target: EventTarget | null): boolean {
  if (!(target instanceof Element)) return false;
  const tag = target.tagName;
  return (
    tag === "INPUT" ||
    tag === "TEXTAREA" ||
    tag === "SELECT" ||
    (target as HTMLElement).isContentEditable
  );
}

/** Handles one keydown; returns true when it was a shortcut (then it is stopped). */
export function handleKey(e: KeyboardEvent, act: KeyActions): boolean {
  if (e.ctrlKey || e.metaKey) return false;
  const key = e.key;
  let done = true;
  if (key === "Escape") act.escape();
  else if (inField(e.target)) done = false;
  else if (key === "ArrowLeft" && e.altKey) act.back();
  else if (key === "ArrowRight" && e.altKey) act.forward();
  else if (e.altKey) done = false;
  else if (key === "ArrowLeft") act.step(-1);
  else if (key === "ArrowRight") act.step(1);
  else if (key === "[") act.back();
  else if (key === "]") act.forward();
  else if (key === "r") act.random();
  else if (key === "/") act.focusSearch();
  else if (key === "i") act.focusIndex();
  else done = false;
  if (done) {
    e.preventDefault();
    e.stopPropagation();
  }
  return done;
}
