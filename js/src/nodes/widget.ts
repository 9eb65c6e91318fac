/**
 * anywidget adapter of the NodeTable: draws the component from the model's traitlets and turns
 * clicks into `position` / `selected` / `ablations` requests. Model access goes through ./sync;
 * the open card is drawn by the FeatureCard component, from the card's own schema.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { CardModel } from "../schema";
import { render as renderCard } from "../widget";
import { CardProxy } from "./card-model";
import { createNodeTable, type NodeTableProps } from "./components/node-table";
import { decodeTable, type TableData } from "./data";
import { NODE_SCHEMA_VERSION, type NodesModel, type NodeTableState } from "./schema";
import {
  type NodesSnapshot,
  readNodes,
  requestAblations,
  requestPosition,
  requestSelected,
  watchNodes,
} from "./sync";
import "../widget.css";
import "./nodes.css";

export const version: string = __FEATURECARD_VERSION__;

export interface InterpretedTable {
  data: TableData | null;
  problem: string;
  notice: string;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Validates the schema version and decodes the table; never throws. */
export function interpretTable(state: unknown): InterpretedTable {
  if (!isObject(state) || Object.keys(state).length === 0)
    return { data: null, problem: "", notice: "no table yet" };
  const v = state.schema_version;
  if (v !== NODE_SCHEMA_VERSION || state.kind !== "node_table") {
    const shown = typeof v === "number" ? String(v) : (JSON.stringify(v) ?? "undefined");
    return {
      data: null,
      problem: `unknown node-table schema version ${shown} (this bundle reads ${NODE_SCHEMA_VERSION})`,
      notice: "",
    };
  }
  try {
    return { data: decodeTable(state as unknown as NodeTableState), problem: "", notice: "" };
  } catch (e) {
    return {
      data: null,
      problem: `could not read the table: ${e instanceof Error ? e.message : String(e)}`,
      notice: "",
    };
  }
}

/** Turns a model snapshot into the component's props, decoding each state object once. */
export function nodePropsMaker(): (snap: NodesSnapshot) => NodeTableProps {
  let lastState: unknown = Symbol("none");
  let meaning: InterpretedTable = { data: null, problem: "", notice: "" };
  return (snap) => {
    if (snap.state !== lastState) {
      lastState = snap.state;
      meaning = interpretTable(snap.state);
    }
    return {
      data: meaning.data,
      position: snap.position,
      errors: [meaning.problem, snap.error].filter((m) => m !== ""),
      busy: snap.busy,
      notice: meaning.notice,
      ablations: snap.ablations,
      selected: snap.selected,
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
}: RenderProps<NodesModel>): () => void {
  const view = createNodeTable({
    onPosition: (pos) => requestPosition(model, pos),
    onSelect: (node) => requestSelected(model, node),
    onAblations: (list) => requestAblations(model, list),
  });
  const toProps = nodePropsMaker();
  const proxy = new CardProxy((source, unit) => requestSelected(model, { source, unit }));
  const draw = () => {
    const snap = readNodes(model);
    view.update(toProps(snap));
    proxy.update(snap.card, snap.busy);
  };
  const unwatch = watchNodes(model, draw);
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
