/**
 * anywidget adapter: draws the FeatureCard component from the model's traitlets, turns the
 * user's navigation into `source` / `feature` changes, and sends search / random requests as
 * custom messages (./requests). Model access goes through ./sync and ./requests.
 */
import type { RenderProps } from "@anywidget/types";
import { type CardData, decodeCard } from "./card-data";
import { type CardProps, createFeatureCard } from "./components/feature-card";
import { createRequester } from "./requests";
import { type CardModel, type FeatureCardState, SCHEMA_VERSION, type SearchResult } from "./schema";
import { type ModelSnapshot, readModel, requestUnit, watchModel } from "./sync";
import "./widget.css";

export const version: string = __FEATURECARD_VERSION__;

/** What a `state` value means for the card: something to draw, or why not. */
export interface Interpreted {
  data: CardData | null;
  problem: string; // an error to show ('' for none)
  notice: string; // a neutral message ('' for none)
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Validates the schema version and decodes the card; never throws. */
export function interpretState(state: unknown): Interpreted {
  if (!isObject(state) || Object.keys(state).length === 0) {
    return { data: null, problem: "", notice: "no card yet" };
  }
  const v = state.schema_version;
  if (v !== SCHEMA_VERSION) {
    const shown = typeof v === "number" ? String(v) : (JSON.stringify(v) ?? "undefined");
    return {
      data: null,
      problem: `unknown schema version ${shown} (this bundle reads ${SCHEMA_VERSION})`,
      notice: "",
    };
  }
  try {
    return { data: decodeCard(state as unknown as FeatureCardState), problem: "", notice: "" };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { data: null, problem: `could not read the card: ${msg}`, notice: "" };
  }
}

/** Turns a model snapshot into the component's props, decoding each state object once. */
/** Hosts that embed the card without these traitlets (the node table) may leave them out. */
export type SnapshotIn = Pick<ModelSnapshot, "feature" | "state" | "error" | "busy"> &
  Partial<ModelSnapshot>;

export function propsMaker(): (snap: SnapshotIn) => CardProps {
  let lastState: unknown = Symbol("none");
  let lastMeaning: Interpreted = { data: null, problem: "", notice: "" };
  return (snap) => {
    if (snap.state !== lastState) {
      lastState = snap.state;
      lastMeaning = interpretState(snap.state);
    }
    const errors = [lastMeaning.problem, snap.error].filter((m) => m !== "");
    return {
      data: lastMeaning.data,
      source: snap.source ?? lastMeaning.data?.header.source ?? "",
      feature: snap.feature,
      errors,
      busy: snap.busy,
      notice: lastMeaning.notice,
      live: snap.live ?? true,
      choices: snap.choices ?? [],
    };
  };
}

export function render({ model, el, signal }: RenderProps<CardModel>): () => void {
  const requests = createRequester(model);
  const card = createFeatureCard({
    open: (u) => requestUnit(model, u.source, u.feature),
    search: (text) => requests.request<SearchResult>("search", { text, k: 10 }),
    random: () =>
      requests.request<{ feature: number }>("random").then((r) => {
        if (!Number.isInteger(r?.feature)) throw new Error("the kernel sent no feature");
        return r.feature;
      }),
  });
  const toProps = propsMaker();
  const draw = () => card.update(toProps(readModel(model)));
  const unwatch = watchModel(model, draw);
  draw();
  el.append(card.root);

  let done = false;
  const cleanup = () => {
    if (done) return;
    done = true;
    signal?.removeEventListener("abort", cleanup);
    unwatch();
    requests.dispose();
    card.destroy();
  };
  signal?.addEventListener("abort", cleanup, { once: true });
  return cleanup;
}

export default { render };
