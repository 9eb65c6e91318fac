/**
 * The only module of the NodeTable that reads the widget model (get) and names its requests;
 * ../core/view-host subscribes to the `WATCHED` traitlets. The front end writes no trait: it
 * asks (../core/requests) for `position`, `select`, `ablations`, `trace` and `back`, and Python
 * (python/featurecard/nodes/widget.py) answers by setting `position`, `selected`, `ablations`,
 * `trail`, `state`, `card`, `error` and `busy`.
 */
import type { AnyModel } from "@anywidget/types";
import type { Asker, Outcome } from "../core/requests";
import type {
  NodeAblation,
  NodeSpecPayload,
  NodesModel,
  SelectedNode,
  Side,
  TraceStep,
} from "./schema";

export type NodesAnyModel = AnyModel<NodesModel>;

export interface NodesSnapshot {
  state: unknown; // validated by the caller
  position: number | null;
  selected: SelectedNode | null;
  card: unknown; // a FeatureCardState or {}
  ablations: NodeAblation[];
  trail: TraceStep[];
  error: string;
  busy: boolean;
}

export const WATCHED = [
  "state",
  "position",
  "selected",
  "card",
  "ablations",
  "trail",
  "error",
  "busy",
] as const satisfies readonly (keyof NodesModel)[];

function isSelected(x: unknown): x is SelectedNode {
  if (typeof x !== "object" || x === null) return false;
  const s = x as Record<string, unknown>;
  return Number.isInteger(s.unit) && (typeof s.family === "string" || typeof s.source === "string");
}

export function readNodes(model: NodesAnyModel): NodesSnapshot {
  const position = model.get("position");
  const selected = model.get("selected");
  const ablations = model.get("ablations");
  const trail = model.get("trail");
  const error = model.get("error");
  return {
    state: model.get("state"),
    position: Number.isInteger(position) ? position : null,
    selected: isSelected(selected) ? selected : null,
    card: model.get("card"),
    ablations: Array.isArray(ablations) ? ablations : [],
    trail: Array.isArray(trail) ? trail : [],
    error: typeof error === "string" ? error : "",
    busy: model.get("busy") === true,
  };
}

/** A prompt token click: the target moves there (a new table). */
export function askPosition(asker: Asker<NodesSnapshot>, position: number): Promise<Outcome> {
  return asker.ask("position", { position }, { position });
}

/** Open the card of `node` below the table; null closes it. */
export function askSelect(
  asker: Asker<NodesSnapshot>,
  node: SelectedNode | null,
): Promise<Outcome> {
  return asker.ask("select", node ? { ...node } : {}, { selected: node });
}

/** Recompute with `list` of ablations in place. */
export function askAblations(asker: Asker<NodesSnapshot>, list: NodeAblation[]): Promise<Outcome> {
  return asker.ask("ablations", { ablations: list }, { ablations: list });
}

/** Trace upstream from `node` (a row's spec): a new table with it as the target. */
export function askTrace(
  asker: Asker<NodesSnapshot>,
  node: Partial<NodeSpecPayload>,
  side: Side = "total",
): Promise<Outcome> {
  return asker.ask("trace", { node, side }, {});
}

/** Back to step `index` of the trail of targets. */
export function askBack(asker: Asker<NodesSnapshot>, index: number): Promise<Outcome> {
  return asker.ask("back", { index }, {});
}
