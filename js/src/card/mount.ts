/**
 * The card mount: the one module of card/ that the other views (graph/, nodes/) import
 * (js/tools/architecture.ts checks it). Importing it brings the card's styles
 * (./widget.css, through ./widget) into the host's bundle.
 *
 * The open card is drawn by the FeatureCard widget's own `render`, given this stand-in model:
 * its traits come from the host's `card` trait (the NodeTable's, the ContributionGraph's), and
 * what the card asks for (another feature from its index box, a correlated latent or neuron)
 * comes back through `onOpen`, which the host turns into a `selected` request. It reports
 * `live: false`, so the card never sends requests (search, random) that only a FeatureCard's
 * kernel side answers. `renderProxyCard` draws it.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { CardModel } from "../core/schema";
import { render as renderCard } from "./widget";

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

/** Draws the FeatureCard into `el` with `proxy` as its model; returns what takes it down. */
export function renderProxyCard(
  proxy: CardProxy,
  el: HTMLElement,
  { host, experimental }: Pick<RenderProps, "host" | "experimental">,
): () => void {
  const controller = new AbortController();
  renderCard({
    model: proxy as unknown as AnyModel<CardModel>,
    el,
    signal: controller.signal,
    host,
    experimental,
  });
  return () => controller.abort();
}
