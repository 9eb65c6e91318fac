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
import type { CardProxy } from "../core/memory-model";
import type { CardModel } from "../core/schema";
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
