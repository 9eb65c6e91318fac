/**
 * anywidget adapter of the SAE overview: draws the component from the model's traitlets and
 * turns row clicks and label edits into `select` / `label` requests (../core/requests). Model
 * access goes through ./sync and ../core/view-host; the open card is drawn by the FeatureCard
 * widget (../card/mount), whose `show` requests become this view's `select`.
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
import { createOverview, type OverviewProps } from "./components/overview";
import { decodeOverview, type OverviewData } from "./data";
import type { OverviewModel, OverviewState } from "./schema";
import { askLabel, askSelect, type OverviewSnapshot, readOverview, WATCHED } from "./sync";
import "./overview.css";

export const version: string = __FEATURECARD_VERSION__;

const FORMAT: StateFormat<OverviewState, OverviewData> = {
  noun: "overview",
  versionName: "overview schema version",
  version: SCHEMA_VERSION,
  kind: "sae_overview",
  decode: decodeOverview,
};

/** Validates the schema version and decodes the overview; never throws. */
export function interpretOverview(state: unknown): Interpretation<OverviewData> {
  return interpretVersioned(state, FORMAT);
}

/** A snapshot and whether a kernel answers (an exported file's model says `live: false`). */
export type LiveOverviewSnapshot = OverviewSnapshot & { live?: boolean };

/** Turns a model snapshot into the component's props, decoding each state object once. */
export function overviewPropsMaker(): (snap: LiveOverviewSnapshot) => OverviewProps {
  const shown = stateProps(interpretOverview);
  let labels: Record<string, string> = {};
  let key = "";
  return (snap) => {
    const k = JSON.stringify(snap.labels);
    if (k !== key) {
      key = k;
      labels = snap.labels; // a new object only when the labels changed: the table redraws then
    }
    return {
      ...shown(snap),
      labels,
      selected: snap.selected,
      cardOpen: hasCard(snap.card),
      live: snap.live !== false,
    };
  };
}

function readLive(model: AnyModel<OverviewModel>): LiveOverviewSnapshot {
  const live = (model as unknown as { get(key: string): unknown }).get("live");
  return { ...readOverview(model), live: live !== false };
}

function render(props: RenderProps<OverviewModel>): () => void {
  let current: Record<string, string> = {};
  return mountCardHost<OverviewModel, LiveOverviewSnapshot, OverviewProps>(props, (asker) => {
    const toProps = overviewPropsMaker();
    return {
      view: createOverview({
        onSelect: (unit) => void askSelect(asker, unit === null ? null : { unit }),
        onLabel: (unit, text) => void askLabel(asker, unit, text, current),
      }),
      watched: WATCHED,
      read: readLive,
      toProps: (snap) => {
        const p = toProps(snap);
        current = p.labels;
        return p;
      },
      select: (a, source, unit) => askSelect(a, { source, unit }),
    };
  });
}

/** anywidget's module format (>= 0.9): one default export with the lifecycle methods. */
export default { render };
