/**
 * anywidget adapter of the prompt view: draws the component from the model's traitlets and
 * turns a latent's click into the `select` request (../core/requests). Model access goes through
 * ./sync and ../core/view-host; the open card (with the prompt above its examples) is drawn by
 * the FeatureCard widget (../card/mount), whose `show` requests become this view's `select`.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { mountCardHost } from "../card/mount";
import { SCHEMA_VERSION } from "../core/schema";
import {
  hasCard,
  type Interpretation,
  interpretVersioned,
  type StateFormat,
  stateProps,
} from "../core/view-host";
import { createPromptView, type PromptProps } from "./components/prompt-view";
import { decodePrompt, type PromptData } from "./data";
import type { PromptModel, PromptState } from "./schema";
import { askSelect, type PromptSnapshot, readPrompt, WATCHED } from "./sync";
import "./prompt.css";

export const version: string = __FEATURECARD_VERSION__;

const FORMAT: StateFormat<PromptState, PromptData> = {
  noun: "prompt view",
  versionName: "prompt view schema version",
  version: SCHEMA_VERSION,
  kind: "prompt_view",
  decode: decodePrompt,
};

/** Validates the schema version and decodes the view; never throws. */
export function interpretPrompt(state: unknown): Interpretation<PromptData> {
  return interpretVersioned(state, FORMAT);
}

/** A snapshot and whether a kernel answers (an exported file's model says `live: false`). */
export type LivePromptSnapshot = PromptSnapshot & { live?: boolean };

/** Turns a model snapshot into the component's props, decoding each state object once. */
export function promptPropsMaker(): (snap: LivePromptSnapshot) => PromptProps {
  const shown = stateProps(interpretPrompt);
  return (snap) => ({
    ...shown(snap),
    selected: snap.selected,
    cardOpen: hasCard(snap.card),
    live: snap.live !== false,
  });
}

function readLive(model: AnyModel<PromptModel>): LivePromptSnapshot {
  const live = (model as unknown as { get(key: string): unknown }).get("live");
  return { ...readPrompt(model), live: live !== false };
}

function render(props: RenderProps<PromptModel>): () => void {
  return mountCardHost<PromptModel, LivePromptSnapshot, PromptProps>(props, (asker) => ({
    view: createPromptView({ onSelect: (sel) => void askSelect(asker, sel) }),
    watched: WATCHED,
    read: readLive,
    toProps: promptPropsMaker(),
    select: (a, source, unit) => askSelect(a, { source, unit }),
  }));
}

/** anywidget's module format (>= 0.9): one default export with the lifecycle methods. */
export default { render };
