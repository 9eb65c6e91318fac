/**
 * The left column: neuron alignment, correlated neurons, correlated latents of the same SAE
 * and of encoder B, as compact tables whose first value has a bar (width |value| / the
 * table's largest, colour by sign). Every index is a link that opens that unit's card in the
 * same widget (the card listens for clicks on `.fc-link`): neurons open the card of the SAE's input hook,
 * latents of encoder B the source "<sae>::B". A link the view cannot follow (an exported
 * file without that card) is plain text. A table the card cannot have says why; a table that
 * simply does not exist here (no encoder B) is left out.
 */

import { barColor, barWidth, maxAbs } from "../../core/colors";
import { fmt, h, percent } from "../../core/dom";
import type { CardData, TableRow } from "../card-data";

export interface LeftLinks {
  canOpen(source: string, feature: number): boolean; // the card wires clicks on .fc-link
}

interface TableSpec {
  key: string; // the `unavailable` key and a class suffix
  title: string;
  unit: string; // column header of the index
  value: string; // column header of the barred value
  second: string; // column header of the second value
  source: string; // where the index links to
  rows: TableRow[] | null;
  secondIsShare?: boolean;
  help?: string; // what the barred value is and how rows are ranked (the value header's tooltip)
}

/** The neuron-alignment table ranks by |weight| (SAEDashboard and sae_vis rank by signed weight). */
export const ALIGNMENT_HELP =
  "Decoder weight onto each input neuron: the neurons with the largest |weight|, ranked by " +
  "magnitude (sign shown, negative weights included); % of L1 is |weight| / Σ|weights|.";

function link(source: string, feature: number, links: LeftLinks): HTMLElement {
  if (!links.canOpen(source, feature)) {
    const span = h("span", "fc-unit-id", String(feature));
    span.title = `${source} #${feature} is not available in this view`;
    return span;
  }
  const a = h("button", "fc-link fc-unit-id", String(feature));
  a.type = "button";
  a.dataset.source = source;
  a.dataset.feature = String(feature);
  a.title = `open ${source} #${feature}`;
  return a;
}

function table(spec: TableSpec, links: LeftLinks): HTMLTableElement {
  const t = h("table", `fc-left-table fc-left-${spec.key}`);
  const head = h("tr", "");
  const valueHead = h("th", "", spec.value);
  if (spec.help !== undefined) valueHead.title = spec.help;
  head.append(h("th", "", spec.unit), valueHead, h("th", "", spec.second));
  t.append(h("thead", ""));
  t.tHead?.append(head);
  const body = h("tbody", "");
  const rows = spec.rows ?? [];
  const scale = maxAbs(rows.map((r) => r.value));
  for (const r of rows) {
    const tr = h("tr", "");
    const id = h("td", "fc-left-id");
    id.append(link(spec.source, r.id, links));
    const val = h("td", "fc-left-val");
    const bar = h("span", "fc-bar-fill");
    bar.style.width = barWidth(r.value, scale);
    bar.style.backgroundColor = barColor(r.value);
    val.append(bar, h("span", "fc-bar-text", fmt(r.value)));
    const second = h(
      "td",
      "fc-left-second",
      spec.secondIsShare ? percent(r.second) : fmt(r.second),
    );
    tr.append(id, val, second);
    body.append(tr);
  }
  t.append(body);
  return t;
}

export function renderLeft(data: CardData, links: LeftLinks): HTMLElement {
  const root = h("div", "fc-left");
  const hd = data.header;
  const neuronSource = hd.hook_name;
  const isNeuron = hd.unit === "neuron";
  const specs: TableSpec[] = [
    {
      key: "alignment",
      title: "Neuron alignment",
      unit: "neuron",
      value: "weight",
      second: "% of L1",
      source: neuronSource,
      rows: data.left.alignment,
      secondIsShare: true,
      help: ALIGNMENT_HELP,
    },
    {
      key: "neurons",
      title: isNeuron ? "Correlated neurons (same hook)" : "Correlated neurons",
      unit: "neuron",
      value: "Pearson",
      second: "cosine",
      source: neuronSource,
      rows: data.left.neurons,
    },
    {
      key: "latents",
      title: isNeuron ? "Correlated neurons (same hook)" : "Correlated latents",
      unit: isNeuron ? "neuron" : "latent",
      value: "Pearson",
      second: "cosine",
      source: hd.source,
      rows: data.left.latents,
    },
    {
      key: "latents_b",
      title: "Correlated latents (encoder B)",
      unit: "latent",
      value: "Pearson",
      second: "cosine",
      source: `${hd.source}::B`,
      rows: data.left.latentsB,
    },
  ];
  for (const spec of specs) {
    // A neuron's source is its hook: its correlated "latents" are the same hook's neurons,
    // the table above, so it is shown once.
    if (isNeuron && spec.key === "latents") continue;
    const why = data.unavailable[spec.key];
    if (spec.rows === null && why === undefined) continue;
    const section = h("section", `fc-panel fc-left-panel fc-panel-${spec.key}`);
    section.append(h("h4", "fc-panel-title", spec.title));
    if (spec.rows === null) section.append(h("div", "fc-unavailable", why ?? "not available"));
    else if (spec.rows.length === 0) section.append(h("div", "fc-unavailable", "none"));
    else section.append(table(spec, links));
    root.append(section);
  }
  return root;
}
