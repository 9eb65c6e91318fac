/**
 * What the three views' anywidget adapters (the FeatureCard in ../card/widget, the
 * ContributionGraph in ../graph/widget, the NodeTable in ../nodes/widget) share:
 *
 * - `interpretVersioned`: checks a `state` trait's schema version (and kind) and decodes it,
 *   turning every failure into a message instead of an exception;
 * - `stateProps`: what every view shows of `state`, `error` and `busy`, remembering the last
 *   state's meaning (`decodedOnce`), so a redraw that only changes `busy` or `error` does not
 *   decode the same arrays again;
 * - `watchTraits`: calls back after any listed traitlet changes, and returns the unsubscribe;
 * - `mountView` and `disposeOnAbort`: the render lifecycle (draw now and on every change,
 *   append the root, then clean up exactly once, on the returned call or on the abort signal).
 *
 * Reading single traits and naming a view's requests stays in each view's own sync module; the
 * requests themselves go through ./requests (the front end writes no trait).
 */
import type { AnyModel } from "@anywidget/types";

/** What a `state` value means for a view: something to draw, or why not. */
export interface Interpretation<D> {
  data: D | null;
  problem: string; // an error to show ('' for none)
  notice: string; // a neutral message ('' for none)
}

export function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** How one view's `state` is recognised and decoded. */
export interface StateFormat<S, D> {
  noun: string; // "card": "no card yet", "could not read the card: ..."
  versionName: string; // "schema version": "unknown schema version 9 (this bundle reads 1)"
  version: number;
  kind?: string; // the state's `kind`, for schemas that carry one
  decode: (state: S) => D;
}

/** Validates the schema version (and kind) and decodes the state; never throws. */
export function interpretVersioned<S, D>(state: unknown, f: StateFormat<S, D>): Interpretation<D> {
  if (!isObject(state) || Object.keys(state).length === 0) {
    return { data: null, problem: "", notice: `no ${f.noun} yet` };
  }
  const v = state.schema_version;
  if (v !== f.version || (f.kind !== undefined && state.kind !== f.kind)) {
    const shown = typeof v === "number" ? String(v) : (JSON.stringify(v) ?? "undefined");
    return {
      data: null,
      problem: `unknown ${f.versionName} ${shown} (this bundle reads ${f.version})`,
      notice: "",
    };
  }
  try {
    return { data: f.decode(state as unknown as S), problem: "", notice: "" };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { data: null, problem: `could not read the ${f.noun}: ${msg}`, notice: "" };
  }
}

/** Wraps `interpret` so that the same state object is interpreted only once in a row. */
export function decodedOnce<D>(
  interpret: (state: unknown) => Interpretation<D>,
): (state: unknown) => Interpretation<D> {
  let lastState: unknown = Symbol("none");
  let meaning: Interpretation<D> = { data: null, problem: "", notice: "" };
  return (state) => {
    if (state !== lastState) {
      lastState = state;
      meaning = interpret(state);
    }
    return meaning;
  };
}

/** What every view shows of its `state`, `error` and `busy` traits. */
export interface StateProps<D> {
  data: D | null;
  errors: string[]; // the state's problem, then the kernel's `error`; none empty
  busy: boolean;
  notice: string;
}

/** Maps a snapshot to its StateProps, interpreting each state object once (see decodedOnce). */
export function stateProps<D>(
  interpret: (state: unknown) => Interpretation<D>,
): (snap: { state: unknown; error: string; busy: boolean }) => StateProps<D> {
  const meaningOf = decodedOnce(interpret);
  return (snap) => {
    const meaning = meaningOf(snap.state);
    return {
      data: meaning.data,
      errors: [meaning.problem, snap.error].filter((m) => m !== ""),
      busy: snap.busy,
      notice: meaning.notice,
    };
  };
}

/** Whether a `card` trait holds a card (a FeatureCardState) rather than `{}`. */
export function hasCard(card: unknown): boolean {
  return isObject(card) && Object.keys(card).length > 0;
}

/** Calls `onChange(name)` after any of `names` changes; returns the unsubscribe. */
export function watchTraits<T extends object, K extends keyof T & string>(
  model: AnyModel<T>,
  names: readonly K[],
  onChange: (name: K) => void,
): () => void {
  const handlers = names.map((name) => {
    const handler = () => onChange(name);
    model.on(`change:${name}`, handler);
    return [name, handler] as const;
  });
  return () => {
    for (const [name, handler] of handlers) model.off(`change:${name}`, handler);
  };
}

/** Draws now and after every change of `watched`, then appends `root` to `el`; returns the unwatch. */
export function mountView<T extends object, K extends keyof T & string>(
  model: AnyModel<T>,
  watched: readonly K[],
  draw: () => void,
  el: HTMLElement,
  root: HTMLElement,
): () => void {
  const unwatch = watchTraits(model, watched, draw);
  draw();
  el.append(root);
  return unwatch;
}

/**
 * Runs `steps` in order, once: on the returned call or when `signal` aborts, whichever comes
 * first. What a view's `render` returns.
 */
export function disposeOnAbort(
  signal: AbortSignal | undefined,
  ...steps: (() => void)[]
): () => void {
  let done = false;
  const cleanup = () => {
    if (done) return;
    done = true;
    signal?.removeEventListener("abort", cleanup);
    for (const step of steps) step();
  };
  signal?.addEventListener("abort", cleanup, { once: true });
  return cleanup;
}
