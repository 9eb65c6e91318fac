/**
 * The only module that reads and writes the card's widget model (model.get/set/save_changes);
 * ../core/view-host subscribes to the `WATCHED` traitlets. Everything else works on plain values.
 */
import type { AnyModel } from "@anywidget/types";
import type { CardModel } from "../core/schema";

export type CardAnyModel = AnyModel<CardModel>;

/** The synced traitlets as read now; missing ones come back as their defaults. */
export interface ModelSnapshot {
  source: string;
  feature: number | null;
  state: unknown; // validated by the caller (it may be {} or from another schema version)
  error: string;
  busy: boolean;
  live: boolean;
  choices: number[];
}

export const WATCHED = [
  "source",
  "feature",
  "state",
  "error",
  "busy",
  "live",
  "choices",
] as const satisfies readonly (keyof CardModel)[];

export function readModel(model: CardAnyModel): ModelSnapshot {
  const feature = model.get("feature");
  const error = model.get("error");
  const source = model.get("source");
  const choices = model.get("choices");
  return {
    source: typeof source === "string" ? source : "",
    feature: Number.isInteger(feature) ? feature : null,
    state: model.get("state"),
    error: typeof error === "string" ? error : "",
    busy: model.get("busy") === true,
    live: model.get("live") !== false, // an older kernel without the trait is live
    choices: Array.isArray(choices) ? choices.filter((c) => Number.isInteger(c)) : [],
  };
}

/** Asks the kernel for another unit: sets `source` (when it changes) and `feature`, sends both. */
export function requestUnit(model: CardAnyModel, source: string, feature: number): void {
  if (source && model.get("source") !== source) model.set("source", source);
  model.set("feature", feature);
  model.save_changes();
}
