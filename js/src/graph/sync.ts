/**
 * The only module of the ContributionGraph that reads the widget model (get) and names its
 * requests; ../core/view-host subscribes to the `WATCHED` traitlets. The front end writes no
 * trait: it asks (../core/requests) for `target`, `threshold` and `select`, and Python
 * (python/featurecard/graph/widget.py) answers by setting `target`, `threshold`, `state`,
 * `selected`, `card`, `error` and `busy`.
 */
import type { AnyModel } from "@anywidget/types";
import type { Asker, Outcome } from "../core/requests";
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
    live: (model as unknown as { get(key: string): unknown }).get("live") !== false,
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
