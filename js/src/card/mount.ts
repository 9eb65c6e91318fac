/**
 * The card mount: the one module of card/ that the other views (graph/, nodes/) import
 * (js/tools/architecture.ts checks it). Importing it brings the card's styles
 * (./widget.css, through ./widget) into the host's bundle.
 *
 * The open card is drawn by the FeatureCard widget's own `render`, given a stand-in model
 * (../core/memory-model's CardProxy) fed from the host's `card` trait; the card's `show`
 * requests (index box, arrows, links) become the host's `select` request.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { CardProxy } from "../core/memory-model";
import { type Asker, createAsker, createRequester, type Outcome } from "../core/requests";
import type { CardModel } from "../core/schema";
import { disposeOnAbort, mountView } from "../core/view-host";
import { render as renderCard } from "./widget";

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
  const requests = createRequester(model as unknown as AnyModel<Record<string, unknown>>);
  const asker = createAsker<S>(requests, () => draw());
  const parts = make(asker);
  const proxy = new CardProxy((source, unit) => parts.select(asker, source, unit));
  function draw(): void {
    const snap = asker.overlay(parts.read(model));
    parts.view.update(parts.toProps(snap));
    proxy.update(snap.card, snap.busy);
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
