/**
 * anywidget adapter of the ContributionGraph: draws the component from the model's traitlets
 * and turns clicks into `target` / `threshold` / `selected` requests. Model access goes through
 * ./sync; the open card is drawn by the FeatureCard widget's own `render` with a stand-in model
 * fed from the `card` trait (as the NodeTable does).
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { CardProxy } from "../nodes/card-model";
import type { CardModel } from "../schema";
import { render as renderCard } from "../widget";
import { createContributionGraph, type GraphProps } from "./components/contribution-graph";
import { decodeGraph, type GraphData } from "./data";
import { type ContributionGraphState, GRAPH_SCHEMA_VERSION, type GraphModel } from "./schema";
import {
  type GraphSnapshot,
  readGraph,
  requestSelected,
  requestTarget,
  requestThreshold,
  watchGraph,
} from "./sync";
import "../widget.css";
import "./graph.css";

export const version: string = __FEATURECARD_VERSION__;

export interface InterpretedGraph {
  data: GraphData | null;
  problem: string;
  notice: string;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Validates the schema version and decodes the graph; never throws. */
export function interpretGraph(state: unknown): InterpretedGraph {
  if (!isObject(state) || Object.keys(state).length === 0)
    return { data: null, problem: "", notice: "no graph yet" };
  const v = state.schema_version;
  if (v !== GRAPH_SCHEMA_VERSION || state.kind !== "contribution_graph") {
    const shown = typeof v === "number" ? String(v) : (JSON.stringify(v) ?? "undefined");
    return {
      data: null,
      problem: `unknown contribution-graph schema version ${shown} (this bundle reads ${GRAPH_SCHEMA_VERSION})`,
      notice: "",
    };
  }
  try {
    return {
      data: decodeGraph(state as unknown as ContributionGraphState),
      problem: "",
      notice: "",
    };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { data: null, problem: `could not read the graph: ${msg}`, notice: "" };
  }
}

/** Turns a model snapshot into the component's props, decoding each state object once. */
export function graphPropsMaker(): (snap: GraphSnapshot) => GraphProps {
  let lastState: unknown = Symbol("none");
  let meaning: InterpretedGraph = { data: null, problem: "", notice: "" };
  return (snap) => {
    if (snap.state !== lastState) {
      lastState = snap.state;
      meaning = interpretGraph(snap.state);
    }
    return {
      data: meaning.data,
      target: snap.target,
      threshold: snap.threshold,
      errors: [meaning.problem, snap.error].filter((m) => m !== ""),
      busy: snap.busy,
      notice: meaning.notice,
      cardOpen: isObject(snap.card) && Object.keys(snap.card).length > 0,
    };
  };
}

export function render({
  model,
  el,
  signal,
  host,
  experimental,
}: RenderProps<GraphModel>): () => void {
  const view = createContributionGraph({
    onTarget: (pos) => requestTarget(model, pos),
    onThreshold: (value) => requestThreshold(model, value),
    onOpenCard: (source, unit) => requestSelected(model, { source, unit }),
    onCloseCard: () => requestSelected(model, null),
  });
  const toProps = graphPropsMaker();
  const proxy = new CardProxy((source, unit) => requestSelected(model, { source, unit }));
  const draw = () => {
    const snap = readGraph(model);
    view.update(toProps(snap));
    proxy.update(snap.card, snap.busy);
  };
  const unwatch = watchGraph(model, draw);
  draw();
  el.append(view.root);
  const cardSignal = new AbortController();
  renderCard({
    model: proxy as unknown as AnyModel<CardModel>,
    el: view.cardHost,
    signal: cardSignal.signal,
    host,
    experimental,
  });
  let done = false;
  const cleanup = () => {
    if (done) return;
    done = true;
    signal?.removeEventListener("abort", cleanup);
    unwatch();
    cardSignal.abort();
    view.destroy();
  };
  signal?.addEventListener("abort", cleanup, { once: true });
  return cleanup;
}

export default { render };
