/**
 * The card mount: the one module of card/ that the other views (graph/, nodes/) import
 * (js/tools/architecture.ts checks it). Importing it brings the card's styles
 * (./widget.css, through ./widget) into the host's bundle.
 *
 * The open card is drawn by the FeatureCard widget's own `render`, given a stand-in model
 * (../core/memory-model's CardProxy) fed from the host's `card` trait; the card's `show`
 * requests (index box, arrows, links) become the host's `select` request, and its `search`,
 * `random` and `window` go to the host's kernel as they are (it answers them for its open card's
 * source). An
 * exported host (its model reports `live: false`: ../core/snapshot-model) has no kernel, and
 * the card disables them with the reason. While the host's `select` is in flight the card shows
 * the asked unit loading, over its shown card marked stale.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { type AskedUnit, CardProxy } from "../core/memory-model";
import {
  type Asker,
  createAsker,
  createRequester,
  errorText,
  type Outcome,
  type Requester,
} from "../core/requests";
import type { CardModel } from "../core/schema";
import { disposeOnAbort, mountView } from "../core/view-host";
import cardWidget from "./widget";

/** Draws the FeatureCard into `el` with `proxy` as its model; returns what takes it down. */
export function renderProxyCard(
  proxy: CardProxy,
  el: HTMLElement,
  { host, experimental }: Pick<RenderProps, "host" | "experimental">,
): () => void {
  const controller = new AbortController();
  cardWidget.render({
    model: proxy as unknown as AnyModel<CardModel>,
    el,
    signal: controller.signal,
    host,
    experimental,
  });
  return () => controller.abort();
}

/** The unit a host's request opens: a `select` with an integer `unit` (null for anything else). */
export function askedUnit(name: string, args: Record<string, unknown>): AskedUnit | null {
  const { source, unit } = args;
  if (name !== "select" || typeof unit !== "number" || !Number.isInteger(unit)) return null;
  return { source: typeof source === "string" ? source : null, feature: unit };
}

/** `asker`, noting the unit of the latest `select` in flight (`onAsked`; null once it settles). */
export function trackSelect<S extends { error: string }>(
  asker: Asker<S>,
  onAsked: (u: AskedUnit | null) => void,
): Asker<S> {
  let latest = 0;
  return {
    ask(name, args, shows, timeoutMs) {
      const unit = askedUnit(name, args);
      if (name !== "select") return asker.ask(name, args, shows, timeoutMs);
      latest += 1;
      const mine = latest;
      onAsked(unit);
      return asker.ask(name, args, shows, timeoutMs).then((o) => {
        if (mine === latest) onAsked(null);
        return o;
      });
    },
    overlay: (snap) => asker.overlay(snap),
  };
}

/** A card's request passed to the host's kernel as it is, its outcome as the card's reply. */
function forwardTo(
  requests: Requester,
): (name: string, args: Record<string, unknown>) => Promise<Outcome> {
  return (name, args) =>
    requests.request(name, args).then(
      (result): Outcome => ({ ok: true, result }),
      (e: unknown): Outcome => ({ ok: false, error: errorText(e) }),
    );
}

/** What a view that opens a card inline gives `mountCardHost`: its component and its traits. */
export interface CardHostView<
  T extends object,
  S extends { error: string; card: unknown; busy: boolean },
  P,
> {
  view: { root: HTMLElement; cardHost: HTMLElement; update(props: P): void; destroy(): void };
  watched: readonly (keyof T & string)[];
  read: (model: AnyModel<T>) => S;
  toProps: (snap: S) => P;
  /** The host's `select` request for a unit the open card asks for (its index box, its links). */
  select: (asker: Asker<S>, source: string, unit: number) => Promise<Outcome>;
}

/**
 * The render of a view that opens a card inline (the graph, the node table): draws its
 * component from the traits (with what is asked for in flight, ../core/requests' Asker), feeds
 * the open card from the `card` trait, and takes all of it down once. `make` builds the view's
 * parts from the asker, so its handlers send their requests through it.
 */
export function mountCardHost<
  T extends object,
  S extends { error: string; card: unknown; busy: boolean },
  P,
>(
  { model, el, signal, host, experimental }: RenderProps<T>,
  make: (asker: Asker<S>) => CardHostView<T, S, P>,
): () => void {
  const raw = model as unknown as AnyModel<Record<string, unknown>>;
  const requests = createRequester(raw);
  let asked: AskedUnit | null = null;
  const asker = trackSelect(
    createAsker<S>(requests, () => draw()),
    (u) => {
      asked = u;
      draw();
    },
  );
  const parts = make(asker);
  const live = raw.get("live") !== false; // an exported host says false
  const proxy = new CardProxy(
    (source, unit) => parts.select(asker, source, unit),
    live ? forwardTo(requests) : undefined,
  );
  function draw(): void {
    const snap = asker.overlay(parts.read(model));
    parts.view.update(parts.toProps(snap));
    proxy.update(snap.card, snap.busy, asked);
  }
  const unwatch = mountView(model, parts.watched, draw, el, parts.view.root);
  const closeCard = renderProxyCard(proxy, parts.view.cardHost, { host, experimental });
  return disposeOnAbort(
    signal,
    unwatch,
    () => requests.dispose(),
    closeCard,
    () => parts.view.destroy(),
  );
}
