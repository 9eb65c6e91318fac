/**
 * The only module that talks to the widget model (model.get/set/on/off/save_changes).
 * Everything else works on plain values.
 */
import type { AnyModel } from "@anywidget/types";
import type { CardModel } from "./schema";

export type CardAnyModel = AnyModel<CardModel>;

/** The synced traitlets as read now; missing ones come back as their defaults. */
export interface ModelSnapshot {
  feature: number | null;
  state: unknown; // validated by the caller (it may be {} or from another schema version)
  error: string;
  busy: boolean;
}

export const WATCHED = [
  "feature",
  "state",
  "error",
  "busy",
] as const satisfies readonly (keyof CardModel)[];

export function readModel(model: CardAnyModel): ModelSnapshot {
  const feature = model.get("feature");
  const error = model.get("error");
  return {
    feature: Number.isInteger(feature) ? feature : null,
    state: model.get("state"),
    error: typeof error === "string" ? error : "",
    busy: model.get("busy") === true,
  };
}

/** Asks the kernel for another unit: sets `feature` and sends it. */
export function requestFeature(model: CardAnyModel, feature: number): void {
  model.set("feature", feature);
  model.save_changes();
}

/** Calls `onChange(name)` after any watched traitlet changes; returns the unsubscribe. */
export function watchModel(
  model: CardAnyModel,
  onChange: (name: (typeof WATCHED)[number]) => void,
): () => void {
  const handlers = WATCHED.map((name) => {
    const handler = () => onChange(name);
    model.on(`change:${name}`, handler);
    return [name, handler] as const;
  });
  return () => {
    for (const [name, handler] of handlers) model.off(`change:${name}`, handler);
  };
}
