/**
 * The only module of the ContributionGraph that reads and writes the widget model
 * (get/set/save_changes); ../core/view-host subscribes to the `WATCHED` traitlets. Requests are
 * trait changes: `target`, `threshold` and `selected`; Python answers with `state`, `card`,
 * `error` and `busy`.
 */
import type { AnyModel } from "@anywidget/types";
import type { GraphModel, SelectedUnit } from "./schema";

export type GraphAnyModel = AnyModel<GraphModel>;

export interface GraphSnapshot {
  state: unknown; // validated by the caller
  target: number | null;
  threshold: number;
  card: unknown; // a FeatureCardState or {}
  error: string;
  busy: boolean;
}

export const WATCHED = [
  "state",
  "target",
  "threshold",
  "selected",
  "card",
  "error",
  "busy",
] as const satisfies readonly (keyof GraphModel)[];

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
  };
}

export function requestTarget(model: GraphAnyModel, pos: number): void {
  model.set("target", pos);
  model.save_changes();
}

export function requestThreshold(model: GraphAnyModel, value: number): void {
  model.set("threshold", value);
  model.save_changes();
}

export function requestSelected(model: GraphAnyModel, unit: SelectedUnit | null): void {
  model.set("selected", unit ?? {});
  model.save_changes();
}
