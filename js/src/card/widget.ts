/**
 * anywidget adapter: draws the FeatureCard component from the model's traitlets and turns the
 * user's navigation into requests (../core/requests): `show` {source, feature} (index box,
 * arrows, links, back/forward), `search`, `random`, `complete` for a quick card's pending
 * panels, `window` for an example row widened to ±20 tokens (answered, no trait changes), and
 * `label` {text} for the shown latent's label (the kernel redraws the card with it). Model access goes through ./sync, ../core/view-host and ../core/requests. The same
 * render draws a card inside the graph or the table (./mount), whose stand-in model passes
 * `show` on to its host's `select`, and an exported card, whose model answers `show` itself.
 */
import type { RenderProps } from "@anywidget/types";
import { createAsker, createRequester } from "../core/requests";
import {
  type CardModel,
  type FeatureCardState,
  SCHEMA_VERSION,
  type SearchResult,
} from "../core/schema";
import {
  disposeOnAbort,
  type Interpretation,
  interpretVersioned,
  mountView,
  type StateFormat,
  stateProps,
} from "../core/view-host";
import { type CardData, decodeCard } from "./card-data";
import { type CardProps, createFeatureCard } from "./components/feature-card";
import { askUnit, type ModelSnapshot, readModel, WATCHED } from "./sync";
import "./widget.css";

export const version: string = __FEATURECARD_VERSION__;

/** How long the kernel may take to build the complete index for a quick card's pending panels. */
export const COMPLETE_TIMEOUT_MS = 30 * 60_000;

/** What a `state` value means for the card: something to draw, or why not. */
export type Interpreted = Interpretation<CardData>;

const CARD_FORMAT: StateFormat<FeatureCardState, CardData> = {
  noun: "card",
  versionName: "schema version",
  version: SCHEMA_VERSION,
  kind: "feature_card",
  decode: decodeCard,
};

/** Validates the schema version and decodes the card; never throws. */
export function interpretState(state: unknown): Interpreted {
  return interpretVersioned(state, CARD_FORMAT);
}

/** Turns a model snapshot into the component's props, decoding each state object once. */
/** Hosts that embed the card without these traitlets (the node table) may leave them out. */
export type SnapshotIn = Pick<ModelSnapshot, "feature" | "state" | "error" | "busy"> &
  Partial<ModelSnapshot>;

export function propsMaker(): (snap: SnapshotIn) => CardProps {
  const shown = stateProps(interpretState);
  return (snap) => {
    const props = shown(snap);
    return {
      ...props,
      source: snap.source ?? props.data?.header.source ?? "",
      feature: snap.feature,
      live: snap.live ?? true,
      choices: snap.choices ?? [],
      progress: snap.build_progress ?? null,
    };
  };
}

function render({ model, el, signal }: RenderProps<CardModel>): () => void {
  const requests = createRequester(model);
  const asker = createAsker<ModelSnapshot>(requests, () => draw());
  const card = createFeatureCard({
    open: (u) => void askUnit(asker, u.source, u.feature),
    search: (text) => requests.request<SearchResult>("search", { text, k: 10 }),
    random: () =>
      requests.request<{ feature: number }>("random").then((r) => {
        if (!Number.isInteger(r?.feature)) throw new Error("the kernel sent no feature");
        return r.feature;
      }),
    window: (args) => requests.request<unknown>("window", { ...args }),
    label: (text) => requests.request<unknown>("label", { text }),
  });
  const toProps = propsMaker();
  let asked: unknown = null;
  function draw(): void {
    const snap = asker.overlay(readModel(model));
    card.update(toProps(snap));
    // A quick card's pending panels (correlations over every latent) fill once the kernel has
    // the complete index: ask once per such state; failures come back in `error`.
    const pending = (snap.state as Partial<FeatureCardState> | null)?.pending;
    if (snap.live && Array.isArray(pending) && pending.length > 0 && snap.state !== asked) {
      asked = snap.state;
      requests.request("complete", {}, COMPLETE_TIMEOUT_MS).catch(() => undefined);
    }
  }
  const unwatch = mountView(model, WATCHED, draw, el, card.root);
  return disposeOnAbort(
    signal,
    unwatch,
    () => requests.dispose(),
    () => card.destroy(),
  );
}

/**
 * anywidget's module format (>= 0.9): one default export with the lifecycle methods; a named
 * `render` export is the old form, which anywidget warns about once per view.
 */
export default { render };
