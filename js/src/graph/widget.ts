/**
 * anywidget adapter of the ContributionGraph: draws the component from the model's traitlets
 * and turns clicks into `target` / `threshold` / `select` requests (../core/requests). Model
 * access goes through ./sync and ../core/view-host; the open card is drawn by the FeatureCard
 * widget's own `render` with a stand-in model fed from the `card` trait, whose `show` requests
 * become this view's `select` (../card/mount, as the NodeTable does). "Trace from here" asks for
 * `trace`; the traced NodeTable is drawn below the graph by the table widget's own `render`
 * (../nodes/mount) from the `nodes` trait, its requests sent as this view's `nodes`.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { mountCardHost } from "../card/mount";
import { createRequester } from "../core/requests";
import { SCHEMA_VERSION } from "../core/schema";
import {
  disposeOnAbort,
  hasCard,
  type Interpretation,
  interpretVersioned,
  type StateFormat,
  stateProps,
} from "../core/view-host";
import { type InlineTable, mountNodes } from "../nodes/mount";
import { createContributionGraph, type GraphProps } from "./components/contribution-graph";
import { decodeGraph, type GraphData } from "./data";
import type { ContributionGraphState, GraphModel } from "./schema";
import {
  askHeads,
  askSelect,
  askTarget,
  askThreshold,
  askTrace,
  forwardNodes,
  type GraphSnapshot,
  readGraph,
  WATCHED,
} from "./sync";
import "./graph.css";

export const version: string = __FEATURECARD_VERSION__;

export type InterpretedGraph = Interpretation<GraphData>;

const GRAPH_FORMAT: StateFormat<ContributionGraphState, GraphData> = {
  noun: "graph",
  versionName: "contribution-graph schema version",
  version: SCHEMA_VERSION,
  kind: "contribution_graph",
  decode: decodeGraph,
};

/** Validates the schema version and decodes the graph; never throws. */
export function interpretGraph(state: unknown): InterpretedGraph {
  return interpretVersioned(state, GRAPH_FORMAT);
}

/** Turns a model snapshot into the component's props, decoding each state object once. */
export function graphPropsMaker(): (snap: GraphSnapshot) => GraphProps {
  const shown = stateProps(interpretGraph);
  return (snap) => ({
    ...shown(snap),
    target: snap.target,
    threshold: snap.threshold,
    cardOpen: hasCard(snap.card),
    live: snap.live,
    tracing: snap.tracing,
  });
}

/** Whether the `nodes` trait holds a traced table (Python's `{}` when none is open). */
const isOpen = (nodes: unknown): boolean =>
  typeof nodes === "object" && nodes !== null && Object.keys(nodes).length > 0;

function render(props: RenderProps<GraphModel>): () => void {
  const raw = props.model as unknown as AnyModel<Record<string, unknown>>;
  const nested = createRequester(raw); // the traced table's requests, apart from the graph's asker
  const live = raw.get("live") !== false; // an exported graph says false
  let host: HTMLElement | null = null;
  let table: InlineTable | null = null; // drawn only while a table is open
  const askedHeads = new WeakMap<object, Set<string>>(); // per decoded graph: nodes whose heads were asked
  const close = mountCardHost<GraphModel, GraphSnapshot, GraphProps>(props, (asker) => {
    const view = createContributionGraph({
      onTarget: (pos) => void askTarget(asker, pos),
      onThreshold: (value) => void askThreshold(asker, value),
      onOpenCard: (source, unit) => void askSelect(asker, { source, unit }),
      onCloseCard: () => void askSelect(asker, null),
      onTrace: (node) => void askTrace(asker, node),
      onHeads: (d, layer, pos) => {
        const seen = askedHeads.get(d) ?? new Set<string>();
        askedHeads.set(d, seen);
        if (seen.has(`${layer}:${pos}`)) return;
        seen.add(`${layer}:${pos}`);
        queueMicrotask(() => void askHeads(asker, layer, pos)); // not while the panel draws
      },
      onCloseTrace: () => void askTrace(asker, null),
    });
    host = view.nodesHost;
    return {
      view,
      watched: WATCHED,
      read: readGraph,
      toProps: graphPropsMaker(),
      select: (a, source, unit) => askSelect(a, { source, unit }),
    };
  });
  const feed = () => {
    const nodes = raw.get("nodes");
    if (!isOpen(nodes)) {
      table?.destroy();
      table = null;
      host?.replaceChildren();
    } else if (host) {
      table ??= mountNodes(host, live ? forwardNodes(nested) : undefined, props);
      table.update(nodes);
    }
  };
  feed();
  raw.on("change:nodes", feed);
  return disposeOnAbort(
    props.signal,
    () => raw.off("change:nodes", feed),
    () => nested.dispose(),
    () => table?.destroy(),
    close,
  );
}

/**
 * anywidget's module format (>= 0.9): one default export with the lifecycle methods; a named
 * `render` export is the old form, which anywidget warns about once per view.
 */
export default { render };
