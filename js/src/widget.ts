/**
 * anywidget adapter: draws the FeatureCard component from the model's traitlets and turns
 * index-box / arrow input into `feature` changes. Model access goes through ./sync.
 */
import type { RenderProps } from "@anywidget/types";
import { type CardData, decodeCard } from "./card-data";
import { type CardProps, createFeatureCard } from "./components/feature-card";
import { type CardModel, type FeatureCardState, SCHEMA_VERSION } from "./schema";
import { type ModelSnapshot, readModel, requestFeature, watchModel } from "./sync";
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
export function propsMaker(): (snap: ModelSnapshot) => CardProps {
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
      feature: snap.feature,
      errors,
      busy: snap.busy,
      notice: lastMeaning.notice,
    };
  };
}

export function render({ model, el, signal }: RenderProps<CardModel>): () => void {
  const card = createFeatureCard({ onSelect: (n) => requestFeature(model, n) });
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
    card.destroy();
  };
  signal?.addEventListener("abort", cleanup, { once: true });
  return cleanup;
}

export default { render };
