/**
 * The only module of the NodeTable that reads and writes the widget model (get/set/save_changes);
 * ../core/view-host subscribes to the `WATCHED` traitlets. Requests are trait changes: `position`,
 * `selected` and `ablations`; Python answers with `state`, `card`, `error` and `busy`.
 */
import type { AnyModel } from "@anywidget/types";
import type { NodeAblation, NodesModel, SelectedNode } from "./schema";

export type NodesAnyModel = AnyModel<NodesModel>;

export interface NodesSnapshot {
  state: unknown; // validated by the caller
  position: number | null;
  selected: SelectedNode | null;
  card: unknown; // a FeatureCardState or {}
  ablations: NodeAblation[];
  error: string;
  busy: boolean;
}

export const WATCHED = [
  "state",
  "position",
  "selected",
  "card",
  "ablations",
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
  const error = model.get("error");
  return {
    state: model.get("state"),
    position: Number.isInteger(position) ? position : null,
    selected: isSelected(selected) ? selected : null,
    card: model.get("card"),
    ablations: Array.isArray(ablations) ? ablations : [],
    error: typeof error === "string" ? error : "",
    busy: model.get("busy") === true,
  };
}

export function requestPosition(model: NodesAnyModel, pos: number): void {
  model.set("position", pos);
  model.save_changes();
}

export function requestSelected(model: NodesAnyModel, node: SelectedNode | null): void {
  model.set("selected", node ?? {});
  model.save_changes();
}

export function requestAblations(model: NodesAnyModel, list: NodeAblation[]): void {
  model.set("ablations", list);
  model.save_changes();
}
