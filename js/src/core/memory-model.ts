/**
 * The memory model of a card opened inside another view (the ContributionGraph, the NodeTable):
 * anywidget's model interface over plain values, with no kernel of its own (../card/mount.ts
 * draws the card with it).
 *
 * Its traits come from the host's `card` trait (`update`). The card asks through the one
 * request protocol (./requests) as it would its own kernel; the proxy answers a `show`
 * {source, feature} (another feature from its index box, a correlated latent or neuron) by
 * passing it to `select`, which asks the host's kernel for its `select` request, and replies
 * with the host's outcome. `search`, `random`, `window` (an example row's ±20 tokens) and
 * `label` (the latent's label, set through the Workspace) go to `forward`, the host's requester: the host's kernel answers them for its open card's source
 * (python/featurecard/core/view.py, CardHost). Without `forward` (an exported file: no kernel)
 * the proxy reports `live: false`, so the card disables them with the reason; anything else
 * (complete) is refused.
 *
 * While the host asks for another unit (its `select` in flight, `update`'s `asked`), the proxy
 * reports that unit as its feature (and source, when known), as a FeatureCard's model does while
 * its `show` is in flight, so the card marks the shown card stale and says what loads.
 */
import { Events } from "./events";
import { isRequest, type Outcome } from "./requests";

/** The requests the proxy passes to the host's requester. */
export const FORWARDED: readonly string[] = ["search", "random", "window", "label"];

/** A unit the host asked to open; `source` null when the request names it otherwise (a node). */
export interface AskedUnit {
  source: string | null;
  feature: number;
}

export class CardProxy extends Events {
  private values: Record<string, unknown> = {
    source: "",
    feature: 0,
    state: {},
    error: "",
    busy: false,
    live: false,
    choices: [],
  };
  private base = { source: "", feature: 0 }; // the host card's unit (the last one it had)
  readonly widget_manager = {
    get_model: async (): Promise<never> => {
      throw new Error("featurecard: a card inside another view has no widget manager");
    },
  };

  constructor(
    private readonly select: (source: string, feature: number) => Promise<Outcome>,
    private readonly forward?: (name: string, args: Record<string, unknown>) => Promise<Outcome>,
  ) {
    super();
    this.values.live = forward !== undefined;
  }

  get(key: string): unknown {
    return this.values[key];
  }

  set(key: string, value: unknown): void {
    if (Object.is(this.values[key], value)) return;
    this.values[key] = value;
    this.emit(`change:${key}`);
  }

  save_changes(): void {}

  /** A request from the card: `show` goes to the host's `select`, `search` and `random` to the
   * host's requester; the reply comes back as the kernel's would. */
  send(content: unknown): void {
    if (!isRequest(content)) return;
    const { id, name, args } = content;
    const reply = this.replier(id);
    const { source, feature } = args;
    if (this.forward && FORWARDED.includes(name)) {
      void this.forward(name, args).then(reply);
    } else if (name !== "show") {
      queueMicrotask(() =>
        reply({ ok: false, error: `${name}: a card inside another view cannot ask for this` }),
      );
    } else if (typeof source !== "string" || !Number.isInteger(feature)) {
      queueMicrotask(() => reply({ ok: false, error: `show: no unit in ${JSON.stringify(args)}` }));
    } else {
      void this.select(source, feature as number).then(reply);
    }
  }

  /** The host's `card` (a FeatureCardState or {}), `busy`, and the unit it asks for (or null). */
  update(card: unknown, busy: boolean, asked: AskedUnit | null = null): void {
    const c = (typeof card === "object" && card !== null ? card : {}) as Record<string, unknown>;
    if (typeof c.source === "string") this.base.source = c.source;
    if (typeof c.feature === "number") this.base.feature = c.feature;
    const source = asked?.source ?? this.base.source;
    const feature = asked?.feature ?? this.base.feature;
    const v = this.values;
    if (card !== v.state || source !== v.source || feature !== v.feature) {
      Object.assign(v, { state: card, source, feature });
      for (const k of ["source", "feature", "state"]) this.emit(`change:${k}`);
    }
    if (busy !== v.busy) {
      v.busy = busy;
      this.emit("change:busy");
    }
  }
}
