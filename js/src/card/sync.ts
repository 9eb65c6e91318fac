/**
 * The only module that reads the card's widget model (model.get) and names its requests;
 * ../core/view-host subscribes to the `WATCHED` traitlets. The front end writes no trait: it
 * asks through ../core/requests and the kernel (python/featurecard/card/widget.py) sets them.
 */
import type { AnyModel } from "@anywidget/types";
import type { Asker, Outcome } from "../core/requests";
import type { BuildProgress, CardModel } from "../core/schema";

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
  build_progress: BuildProgress | null; // a report with three finite numbers, else null
}

export const WATCHED = [
  "source",
  "feature",
  "state",
  "error",
  "busy",
  "live",
  "choices",
  "build_progress",
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
    build_progress: readProgress(model.get("build_progress")),
  };
}

/** The `build_progress` trait if it holds finite done, total and seconds; else null. */
export function readProgress(v: unknown): BuildProgress | null {
  if (typeof v !== "object" || v === null) return null;
  const { done, total, seconds } = v as Record<string, unknown>;
  const ok = [done, total, seconds].every((x) => typeof x === "number" && Number.isFinite(x));
  return ok ? ({ done, total, seconds } as BuildProgress) : null;
}

/** Asks the kernel to show another unit; the index box shows it until the reply. */
export function askUnit(
  asker: Asker<ModelSnapshot>,
  source: string,
  feature: number,
): Promise<Outcome> {
  return asker.ask("show", { source, feature }, { source, feature });
}
