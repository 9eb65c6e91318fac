/**
 * The model of an exported page (../standalone.ts, ./export-page.ts): anywidget's model interface over the
 * states the file holds, with no kernel behind it. Setting `feature` shows the state of that
 * feature when the file holds it, and an error naming the features it holds when not.
 * Listeners get the new value (`change:<key>`), as Backbone's do.
 */

type Listener = (...args: unknown[]) => void;

/** What python/featurecard/core/export.py writes into the page's JSON script. */
export interface ExportData {
  states: Array<{ feature?: unknown } & Record<string, unknown>>;
  values?: Record<string, unknown>; // the view's other traitlets, as they were
}

export class SnapshotModel {
  readonly listeners = new Map<string, Set<Listener>>();
  readonly values: Record<string, unknown>;

  constructor(
    readonly states: ExportData["states"],
    extra: Record<string, unknown>,
  ) {
    this.values = {
      feature: states[0]?.feature,
      state: states[0],
      error: "",
      busy: false,
      ...extra,
    };
  }

  get(k: string): unknown {
    return this.values[k];
  }

  set(k: string, v: unknown): void {
    this.values[k] = v;
    this.emit(`change:${k}`, v);
    if (k === "feature") {
      const s = this.states.find((x) => x.feature === v);
      if (s) {
        this.values.state = s;
        this.values.error = "";
        this.emit("change:state", s);
      } else {
        const have = this.states.map((x) => x.feature).join(", ");
        this.values.error = `feature ${v} is not in this exported file; it holds: ${have}`;
      }
      this.emit("change:error", this.values.error);
    }
  }

  save_changes(): void {}

  send(): void {}

  on(ev: string, cb: Listener): void {
    if (!this.listeners.has(ev)) this.listeners.set(ev, new Set());
    this.listeners.get(ev)?.add(cb);
  }

  off(ev?: string | null, cb?: Listener | null): void {
    if (!ev) this.listeners.clear();
    else if (!cb) this.listeners.delete(ev);
    else this.listeners.get(ev)?.delete(cb);
  }

  emit(ev: string, ...a: unknown[]): void {
    for (const cb of [...(this.listeners.get(ev) ?? [])]) cb(...a);
  }
}
