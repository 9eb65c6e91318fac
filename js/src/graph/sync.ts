/**
 * The only module of the ContributionGraph that reads the widget model (get) and names its
 * requests; ../core/view-host subscribes to the `WATCHED` traitlets. The front end writes no
 * trait: it asks (../core/requests) for `target`, `threshold`, `select` and `trace`, and Python
 * (python/featurecard/graph/widget.py) answers by setting `target`, `threshold`, `state`,
 * `selected`, `card`, `nodes` (the traced table's traits), `error` and `busy`. The traced
 * table's own requests go as `nodes` {request, args} (`forwardNodes`).
 */
import type { AnyModel } from "@anywidget/types";
import { type Asker, errorText, type Outcome, type Requester } from "../core/requests";
import type { TraceNode } from "./components/trace";
import type { GraphModel, SelectedUnit } from "./schema";

export type GraphAnyModel = AnyModel<GraphModel>;

export interface GraphSnapshot {
  state: unknown; // validated by the caller
  target: number | null;
  threshold: number;
  card: unknown; // a FeatureCardState or {}
  error: string;
  busy: boolean;
  live: boolean; // a kernel answers requests; an exported file's model says false
  tracing: boolean; // a traced NodeTable is open below the graph (`nodes` holds its state)
}

export const WATCHED = [
  "state",
  "target",
  "threshold",
  "selected",
  "card",
  "error",
  "busy",
  "nodes",
] as const satisfies readonly (keyof GraphModel)[];

function hasState(nodes: unknown): boolean {
  if (typeof nodes !== "object" || nodes === null) return false;
  const state = (nodes as Record<string, unknown>).state;
  return typeof state === "object" && state !== null && Object.keys(state).length > 0;
}

export function readGraph(model: GraphAnyModel): GraphSnapshot {
  const target = model.get("target");
  const threshold = model.get("threshold");
  const error = model.get("error");
  return {
    state: model.get("state"),
    target: Number.isInteger(target) ? target : null,
    threshold: typeof threshold === "number" && Number.isFinite(threshold) ? threshold : 0,
    card: model.get("card"),
    error: typeof error === "string" ? error : "",
    busy: model.get("busy") === true,
    live: (model as unknown as { get(key: string): unknown }).get("live") !== false,
    tracing: hasState(model.get("nodes")),
  };
}

/** A token click: its routes are drawn at once (the front end walks them), the kernel keeps it. */
export function askTarget(asker: Asker<GraphSnapshot>, target: number): Promise<Outcome> {
  return asker.ask("target", { target }, { target });
}

/** The slider, once the user pauses: a new graph with the edges above `threshold`. */
export function askThreshold(asker: Asker<GraphSnapshot>, threshold: number): Promise<Outcome> {
  return asker.ask("threshold", { threshold }, { threshold });
}

/** Open the card of `unit` inside the graph; null closes it. */
export function askSelect(
  asker: Asker<GraphSnapshot>,
  unit: SelectedUnit | null,
): Promise<Outcome> {
  return asker.ask("select", unit ? { ...unit } : {});
}

/** Each head's promote / suppress at attention node (`layer`, `pos`), kept in `state`. */
export function askHeads(
  asker: Asker<GraphSnapshot>,
  layer: number,
  pos: number,
): Promise<Outcome> {
  return asker.ask("promote_heads", { layer, pos });
}

/** "Trace from here": a NodeTable with `node` as its target opens below the graph; null closes it. */
export function askTrace(asker: Asker<GraphSnapshot>, node: TraceNode | null): Promise<Outcome> {
  return asker.ask("trace", node ? { node: { ...node } } : {}, {}, TRACE_TIMEOUT_MS);
}

/** A table computes for longer than a card: its first trace waits this long for the kernel. */
export const TRACE_TIMEOUT_MS = 120_000;

/** The traced table's requests, sent as the graph's `nodes` {request, args}, their outcome as its. */
export function forwardNodes(
  requests: Requester,
): (name: string, args: Record<string, unknown>) => Promise<Outcome> {
  return (name, args) =>
    requests.request("nodes", { request: name, args }, TRACE_TIMEOUT_MS).then(
      (result): Outcome => ({ ok: true, result }),
      (e: unknown): Outcome => ({ ok: false, error: errorText(e) }),
    );
}
