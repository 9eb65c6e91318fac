/**
 * The only module of the SAE overview that reads the widget model (get) and names its requests;
 * ../core/view-host subscribes to the `WATCHED` traitlets. The front end writes no trait: it
 * asks (../core/requests) for `select` and `label`, and Python
 * (python/featurecard/overview/widget.py) answers by setting `selected`, `card`, `labels`,
 * `error` and `busy`.
 */
import type { AnyModel } from "@anywidget/types";
import type { Asker, Outcome } from "../core/requests";
import type { OverviewModel, SelectedLatent } from "./schema";

export interface OverviewSnapshot {
  state: unknown; // validated by the caller
  labels: Record<string, string>;
  selected: SelectedLatent | null;
  card: unknown; // a FeatureCardState or {}
  error: string;
  busy: boolean;
}

export const WATCHED = [
  "state",
  "labels",
  "selected",
  "card",
  "error",
  "busy",
] as const satisfies readonly (keyof OverviewModel)[];

function isSelected(x: unknown): x is SelectedLatent {
  return typeof x === "object" && x !== null && Number.isInteger((x as { unit?: unknown }).unit);
}

/** The labels trait, with only string values kept. */
export function cleanLabels(x: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof x !== "object" || x === null || Array.isArray(x)) return out;
  for (const [k, v] of Object.entries(x)) if (typeof v === "string") out[k] = v;
  return out;
}

export function readOverview(model: AnyModel<OverviewModel>): OverviewSnapshot {
  const selected = model.get("selected");
  const error = model.get("error");
  return {
    state: model.get("state"),
    labels: cleanLabels(model.get("labels")),
    selected: isSelected(selected) ? selected : null,
    card: model.get("card"),
    error: typeof error === "string" ? error : "",
    busy: model.get("busy") === true,
  };
}

/** Open latent `unit`'s card below the table (or the open card's own {source, unit}); null closes it. */
export function askSelect(
  asker: Asker<OverviewSnapshot>,
  selected: SelectedLatent | null,
): Promise<Outcome> {
  return asker.ask("select", selected ? { ...selected } : {}, { selected });
}

/** Set latent `unit`'s label ('' removes it). */
export function askLabel(
  asker: Asker<OverviewSnapshot>,
  unit: number,
  text: string,
  labels: Record<string, string>,
): Promise<Outcome> {
  const shown = { ...labels };
  if (text) shown[String(unit)] = text;
  else delete shown[String(unit)];
  return asker.ask("label", { feature: unit, text }, { labels: shown });
}
