/**
 * The controls above the node table: family boxes, the layer filter, the ablation mode and,
 * for two prompts, the Left / Right / Diff switch. Each reports its change through a callback.
 */
import { h } from "../../core/dom";
import type { TableData } from "../data";
import type { NodeAblation, NodeFamily } from "../schema";
import { COMPARE_VIEWS, type CompareView, layersOf } from "../table-logic";
import { ABLATE_NEEDS_KERNEL } from "./table";

const FAMILY_LABEL: Record<string, string> = {
  mlp: "MLP neurons",
  attn: "attention heads",
  head: "heads (all sources)",
  attn_layer: "attention layers",
  mlp_layer: "MLP layers",
};

/** The label of a family's show/hide box. */
export const familyLabel = (f: NodeFamily): string =>
  FAMILY_LABEL[f.kind] ?? (f.kind === "error" ? f.name : `${f.name} latents`);

export const layerLabel = (layer: number): string =>
  layer < 0 ? "outside blocks" : `layer ${layer}`;

export function familyBoxes(
  data: TableData,
  hidden: ReadonlySet<string>,
  onToggle: (family: string, shown: boolean) => void,
): HTMLElement {
  const fams = h("span", "nt-families");
  for (const f of data.families) {
    if (!data.rows.some((r) => r.family.code === f.code)) continue;
    const label = h("label", "nt-family-label");
    const box = h("input", "nt-family");
    box.type = "checkbox";
    box.checked = !hidden.has(f.name);
    box.dataset.family = f.name;
    box.addEventListener("change", () => onToggle(f.name, box.checked));
    label.append(box, ` ${familyLabel(f)}`);
    fams.append(label);
  }
  return fams;
}

export function layerSelect(
  data: TableData,
  layer: number | null,
  onChange: (layer: number | null) => void,
): HTMLSelectElement {
  const select = h("select", "nt-layer");
  select.setAttribute("aria-label", "layer");
  const all = h("option", "", "all layers");
  all.value = "";
  select.append(all);
  for (const l of layersOf(data.rows)) {
    const o = h("option", "", layerLabel(l));
    o.value = String(l);
    select.append(o);
  }
  select.value = layer === null ? "" : String(layer);
  select.addEventListener("change", () =>
    onChange(select.value === "" ? null : Number(select.value)),
  );
  return select;
}

/** The ablation mode; offline (`live` false) disabled, with the reason in its title. */
export function modeSelect(
  mode: NodeAblation["mode"],
  onChange: (mode: NodeAblation["mode"]) => void,
  live = true,
): HTMLSelectElement {
  const select = h("select", "nt-mode");
  select.setAttribute("aria-label", "ablation mode");
  select.disabled = !live;
  if (!live) select.title = ABLATE_NEEDS_KERNEL;
  for (const [value, text] of [
    ["zero", "ablate: zero"],
    ["mean", "ablate: dataset mean"],
  ] as const) {
    const o = h("option", "", text);
    o.value = value;
    select.append(o);
  }
  select.value = mode;
  select.addEventListener("change", () => onChange(select.value === "mean" ? "mean" : "zero"));
  return select;
}

/** Offline, next to the disabled ablation controls: why they are disabled. */
export const offlineNote = (): HTMLElement => h("span", "nt-offline", ABLATE_NEEDS_KERNEL);

/** Left / Right / Diff: which prompt's columns a two-prompt table shows (one set at a time). */
export function viewSwitch(view: CompareView, onChange: (view: CompareView) => void): HTMLElement {
  const box = h("span", "nt-views");
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", "columns shown");
  for (const v of COMPARE_VIEWS) {
    const b = h("button", "nt-view", v.label);
    b.type = "button";
    b.dataset.view = v.view;
    b.title = `show ${v.title}`;
    b.setAttribute("aria-pressed", String(v.view === view));
    b.addEventListener("click", () => {
      for (const o of box.querySelectorAll<HTMLElement>("button.nt-view"))
        o.setAttribute("aria-pressed", String(o === b));
      onChange(v.view);
    });
    box.append(b);
  }
  return box;
}
