/**
 * anywidget adapter of the NodeTable: draws the component from the model's traitlets and turns
 * clicks into `position` / `select` / `ablations` / `trace` / `back` requests (../core/requests). Model access
 * goes through ./sync and ../core/view-host; the open card is drawn by the FeatureCard widget
 * (../card/mount), whose `show` requests become this view's `select`.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { mountCardHost } from "../card/mount";
import { SCHEMA_VERSION } from "../core/schema";
import {
  hasCard,
  type Interpretation,
  interpretVersioned,
  type StateFormat,
  stateProps,
} from "../core/view-host";
import { createNodeTable, type NodeTableProps } from "./components/node-table";
import { decodeTable, type TableData } from "./data";
import type { NodesModel, NodeTableState } from "./schema";
import {
  askAblations,
  askBack,
  askPosition,
  askSelect,
  askTrace,
  type NodesSnapshot,
  readNodes,
  WATCHED,
} from "./sync";
import "./nodes.css";

export const version: string = __FEATURECARD_VERSION__;

export type InterpretedTable = Interpretation<TableData>;

const TABLE_FORMAT: StateFormat<NodeTableState, TableData> = {
  noun: "table",
  versionName: "node-table schema version",
  version: SCHEMA_VERSION,
  kind: "node_table",
  decode: decodeTable,
};

/** Validates the schema version and decodes the table; never throws. */
export function interpretTable(state: unknown): InterpretedTable {
  return interpretVersioned(state, TABLE_FORMAT);
}

/** A snapshot and whether a kernel answers (an exported file's model says `live: false`). */
export type LiveNodesSnapshot = NodesSnapshot & { live?: boolean };

/** Turns a model snapshot into the component's props, decoding each state object once. */
export function nodePropsMaker(): (snap: LiveNodesSnapshot) => NodeTableProps {
  const shown = stateProps(interpretTable);
  return (snap) => ({
    ...shown(snap),
    position: snap.position,
    ablations: snap.ablations,
    selected: snap.selected,
    cardOpen: hasCard(snap.card),
    live: snap.live !== false,
    trail: snap.trail,
  });
}

/** The model's traits, and `live` (not a trait of the widget: only an exported file sets it). */
function readLive(model: AnyModel<NodesModel>): LiveNodesSnapshot {
  const live = (model as unknown as { get(key: string): unknown }).get("live");
  return { ...readNodes(model), live: live !== false };
}

function render(props: RenderProps<NodesModel>): () => void {
  return mountCardHost<NodesModel, LiveNodesSnapshot, NodeTableProps>(props, (asker) => ({
    view: createNodeTable({
      onPosition: (pos) => void askPosition(asker, pos),
      onSelect: (node) => void askSelect(asker, node),
      onAblations: (list) => void askAblations(asker, list),
      onTrace: (spec) => void askTrace(asker, spec),
      onBack: (index) => void askBack(asker, index),
    }),
    watched: WATCHED,
    read: readLive,
    toProps: nodePropsMaker(),
    select: (a, source, unit) => askSelect(a, { source, unit }),
  }));
}

/**
 * anywidget's module format (>= 0.9): one default export with the lifecycle methods; a named
 * `render` export is the old form, which anywidget warns about once per view.
 */
export default { render };
