/**
 * The memory model of a card opened inside another view (the ContributionGraph, the NodeTable):
 * anywidget's model interface over plain values, with no kernel of its own (../card/mount.ts
 * draws the card with it).
 *
 * Its traits come from the host's `card` trait (`update`). The card asks through the one
 * request protocol (./requests) as it would its own kernel; the proxy answers a `show`
 * {source, feature} (another feature from its index box, a correlated latent or neuron) by
 * passing it to `select`, which asks the host's kernel for its `select` request, and replies
 * with the host's outcome. It reports `live: false`, so the card never asks for what only a
 * FeatureCard's kernel side answers (search, random, complete); such a request is refused.
 */
import { isRequest, type Outcome } from "./requests";
import type { Reply } from "./schema";

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
  private listeners = new Map<string, Set<Listener>>();
  readonly widget_manager = {
    get_model: async (): Promise<never> => {
      throw new Error("featurecard: a card inside another view has no widget manager");
    },
  };

  constructor(private readonly select: (source: string, feature: number) => Promise<Outcome>) {}

  get(key: string): unknown {
    return this.values[key];
  }

  set(key: string, value: unknown): void {
    if (Object.is(this.values[key], value)) return;
    this.values[key] = value;
    this.emit(`change:${key}`);
  }

  save_changes(): void {}

  /** A request from the card: `show` goes to the host's `select`; the reply comes back as the kernel's would. */
  send(content: unknown): void {
    if (!isRequest(content)) return;
    const { id, name, args } = content;
    const reply = (o: Outcome) => {
      const msg: Reply = o.ok
        ? { kind: "fc-reply", id, ok: true, result: o.result }
        : { kind: "fc-reply", id, ok: false, error: o.error };
      this.emit("msg:custom", msg);
    };
    const { source, feature } = args;
    if (name !== "show") {
      queueMicrotask(() =>
        reply({ ok: false, error: `${name}: a card inside another view cannot ask for this` }),
      );
    } else if (typeof source !== "string" || !Number.isInteger(feature)) {
      queueMicrotask(() => reply({ ok: false, error: `show: no unit in ${JSON.stringify(args)}` }));
    } else {
      void this.select(source, feature as number).then(reply);
    }
  }

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

  /** The host's `card` (a FeatureCardState or {}) and `busy` changed. */
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

  private emit(event: string, ...args: unknown[]): void {
    for (const cb of [...(this.listeners.get(event) ?? [])]) cb(...args);
  }
}
