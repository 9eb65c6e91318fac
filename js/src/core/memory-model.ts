/**
 * The memory model of a card opened inside another view (the ContributionGraph, the NodeTable):
 * anywidget's model interface over plain values, with no kernel of its own (../card/mount.ts
 * draws the card with it).
 *
 * Its traits come from the host's `card` trait (`update`), and what the card asks for (another
 * feature from its index box, a correlated latent or neuron) comes back through `onOpen`, which
 * the host turns into a `selected` request. It reports `live: false`, so the card never sends
 * requests (search, random) that only a FeatureCard's kernel side answers.
 */

type Listener = (...args: unknown[]) => void;

export class CardProxy {
  private values: Record<string, unknown> = {
    source: "",
    feature: 0,
    state: {},
    error: "",
    busy: false,
    live: false,
    choices: [],
  };
  private pending = new Set<string>();
  private listeners = new Map<string, Set<Listener>>();
  readonly widget_manager = {
    get_model: async (): Promise<never> => {
      throw new Error("featurecard: the node table's card has no widget manager");
    },
  };

  constructor(private readonly onOpen: (source: string, feature: number) => void) {}

  get(key: string): unknown {
    return this.values[key];
  }

  set(key: string, value: unknown): void {
    if (Object.is(this.values[key], value)) return;
    this.values[key] = value;
    this.pending.add(key);
    this.emit(`change:${key}`);
  }

  save_changes(): void {
    const asked = this.pending.has("feature") || this.pending.has("source");
    this.pending.clear();
    const feature = this.values.feature;
    if (asked && typeof feature === "number" && Number.isInteger(feature)) {
      this.onOpen(String(this.values.source), feature);
    }
  }

  send(): void {}

  on(event: string, cb: Listener): void {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event)?.add(cb);
  }

  off(event?: string | null, cb?: Listener | null): void {
    if (!event) this.listeners.clear();
    else if (!cb) this.listeners.delete(event);
    else this.listeners.get(event)?.delete(cb);
  }

  listenerCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  /** The NodeTable's `card` (a FeatureCardState or {}) and `busy` changed. */
  update(card: unknown, busy: boolean): void {
    if (card !== this.values.state) {
      const c = (typeof card === "object" && card !== null ? card : {}) as Record<string, unknown>;
      this.values.state = card;
      if (typeof c.source === "string") this.values.source = c.source;
      if (typeof c.feature === "number") this.values.feature = c.feature;
      for (const k of ["source", "feature", "state"]) this.emit(`change:${k}`);
    }
    if (busy !== this.values.busy) {
      this.values.busy = busy;
      this.emit("change:busy");
    }
  }

  private emit(event: string): void {
    for (const cb of [...(this.listeners.get(event) ?? [])]) cb();
  }
}
