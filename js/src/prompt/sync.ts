/**
 * The only module of the prompt view that reads the widget model (get) and names its requests;
 * ../core/view-host subscribes to the `WATCHED` traitlets. The front end writes no trait: it
 * asks (../core/requests) for `select`, and Python (python/featurecard/prompt/widget.py)
 * answers by setting `selected`, `card`, `error` and `busy`.
 */
import type { AnyModel } from "@anywidget/types";
import type { Asker, Outcome } from "../core/requests";
import type { PromptModel, SelectedLatent } from "./schema";

export interface PromptSnapshot {
  state: unknown; // validated by the caller
  selected: SelectedLatent | null;
  card: unknown; // a FeatureCardState or {}
  error: string;
  busy: boolean;
}

export const WATCHED = [
  "state",
  "selected",
  "card",
  "error",
  "busy",
] as const satisfies readonly (keyof PromptModel)[];

function isSelected(x: unknown): x is SelectedLatent {
  return typeof x === "object" && x !== null && Number.isInteger((x as { unit?: unknown }).unit);
}

export function readPrompt(model: AnyModel<PromptModel>): PromptSnapshot {
  const selected = model.get("selected");
  const error = model.get("error");
  return {
    state: model.get("state"),
    selected: isSelected(selected) ? selected : null,
    card: model.get("card"),
    error: typeof error === "string" ? error : "",
    busy: model.get("busy") === true,
  };
}

/** Open latent `unit`'s card below the view ({unit, pos} from a token's list, or the card's own
 * {source, unit}); null closes it. */
export function askSelect(
  asker: Asker<PromptSnapshot>,
  selected: SelectedLatent | null,
): Promise<Outcome> {
  return asker.ask("select", selected ? { ...selected } : {}, { selected });
}
