/**
 * The whole NodeTable view: errors, the target and its values, ablations in place, the
 * prompt's tokens, filters, the sortable table and the open FeatureCard below it. Knows
 * nothing of Jupyter: it draws `NodeTableProps` and reports requests through callbacks.
 * Sorting, filters and hover are UI-only state and never leave this component.
 */

import { fmt, h } from "../../core/dom";
import { quoteToken } from "../../core/tokens";
import type { TableData } from "../data";
import type { NodeAblation, SelectedNode } from "../schema";
import {
  type Column,
  columnsFor,
  defaultSort,
  type Filter,
  filterRows,
  layersOf,
  NO_FILTER,
  type SortKey,
  sortRows,
  toggleSort,
} from "../table-logic";
import { type PromptStrip, renderPrompts } from "./prompt";
import { renderTable } from "./table";

export interface NodeTableProps {
  data: TableData | null; // the last good table
  position: number | null; // the requested target position
  errors: string[];
  busy: boolean;
  notice: string; // shown in place of the table when data is null
  ablations: NodeAblation[]; // the requested ablations
  selected: SelectedNode | null;
  cardOpen: boolean; // a card is open (drawn into `cardHost` by the widget)
}

export interface NodeTableCallbacks {
  onPosition(pos: number): void;
  onSelect(node: SelectedNode | null): void;
  onAblations(list: NodeAblation[]): void;
}

export interface NodeTableView {
  root: HTMLDivElement;
  cardHost: HTMLElement; // where the open FeatureCard is drawn
  update(props: NodeTableProps): void;
  destroy(): void;
}

const FAMILY_LABEL: Record<string, string> = { mlp: "MLP neurons", attn: "attention heads" };

function ablationLabel(a: NodeAblation): string {
  const what =
    a.family === "mlp"
      ? `mlp L${a.layer} n${a.unit}`
      : a.family === "attn"
        ? `attn L${a.layer} H${a.unit}`
        : `${a.family} #${a.unit}`;
  return `${a.mode}-ablated ${what} @${a.pos}`;
}

function selectedLabel(s: SelectedNode): string {
  if (s.family === "mlp") return `mlp L${s.layer} n${s.unit}`;
  return `${s.family ?? s.source ?? "?"} #${s.unit}`;
}

function targetLine(data: TableData): HTMLElement {
  const head = h("div", "nt-target-line");
  head.append(h("span", "nt-target-desc", data.target.description));
  for (const p of data.prompts) {
    const v = h("span", "nt-value");
    v.dataset.prompt = p.label;
    const delta = p.target - p.cleanTarget;
    v.textContent =
      `${data.prompts.length > 1 ? `${p.label}: ` : ""}target ${fmt(p.target)}` +
      (data.ablations.length
        ? ` (clean ${fmt(p.cleanTarget)}, ablation effect ${delta >= 0 ? "+" : ""}${fmt(delta)})`
        : "");
    head.append(v);
  }
  const preds = h("div", "nt-preds");
  const first = data.prompts[0];
  if (first) {
    preds.append(h("span", "nt-preds-label", "most likely next:"));
    for (const p of first.predictions)
      preds.append(h("span", "nt-pred", `${quoteToken(p.token)} ${(100 * p.prob).toFixed(1)}%`));
  }
  const box = h("div", "nt-head");
  box.append(head, preds);
  return box;
}

export function createNodeTable(callbacks: NodeTableCallbacks): NodeTableView {
  const root = h("div", "nt-widget");
  const banner = h("div", "nt-error");
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  const busy = h("span", "nt-busy", "computing…");
  busy.hidden = true;
  let head: HTMLElement = h("div", "nt-head");
  const ablations = h("div", "nt-ablations");
  let prompts: PromptStrip = { root: h("div", "nt-prompts"), highlight: () => {} };
  const controls = h("div", "nt-controls");
  const count = h("div", "nt-count");
  const scroll = h("div", "nt-scroll");
  const notice = h("div", "nt-notice");
  const notes = h("div", "nt-notes");
  const cardArea = h("div", "nt-card-area");
  cardArea.hidden = true;
  const cardBar = h("div", "nt-card-bar");
  const cardTitle = h("span", "nt-card-title");
  const close = h("button", "nt-close-card", "close card");
  close.type = "button";
  close.addEventListener("click", () => callbacks.onSelect(null));
  cardBar.append(cardTitle, close);
  const cardHost = h("div", "nt-card-host");
  cardArea.append(cardBar, cardHost);
  root.append(
    banner,
    busy,
    head,
    ablations,
    prompts.root,
    controls,
    count,
    notice,
    scroll,
    notes,
    cardArea,
  );

  let props: NodeTableProps = {
    data: null,
    position: null,
    errors: [],
    busy: false,
    notice: "",
    ablations: [],
    selected: null,
    cardOpen: false,
  };
  let columns: Column[] = [];
  let sort: SortKey = { column: "name", descending: false };
  let filter: Filter = NO_FILTER;
  let hovered: number | null = null;
  let mode: NodeAblation["mode"] = "zero";

  function drawTable(): void {
    const data = props.data;
    if (!data) {
      scroll.replaceChildren();
      count.textContent = "";
      return;
    }
    const rows = sortRows(filterRows(data.rows, filter), columns, sort);
    scroll.replaceChildren(
      renderTable(data, columns, rows, sort, {
        onSort: (key) => {
          sort = toggleSort(sort, key);
          drawTable();
        },
        onHover: (row) => {
          hovered = row?.index ?? null;
          prompts.highlight(row);
          for (const tr of scroll.querySelectorAll<HTMLElement>("tr.nt-row")) {
            tr.classList.toggle("nt-hovered", tr.dataset.index === String(hovered));
          }
        },
        onSelect: (row) =>
          callbacks.onSelect({ family: row.family.name, layer: row.layer, unit: row.unit }),
        onAblate: (row) =>
          callbacks.onAblations([
            ...props.ablations,
            {
              family: row.family.name,
              layer: row.layer,
              unit: row.unit,
              pos: row.pos,
              mode,
            },
          ]),
      }),
    );
    count.textContent = `${rows.length} of ${data.rows.length} nodes (top ${data.k} per group)`;
  }

  function drawControls(data: TableData): void {
    const fams = h("span", "nt-families");
    for (const f of data.families) {
      if (!data.rows.some((r) => r.family.code === f.code)) continue;
      const label = h("label", "nt-family-label");
      const box = h("input", "nt-family");
      box.type = "checkbox";
      box.checked = !filter.hidden.has(f.name);
      box.dataset.family = f.name;
      box.addEventListener("change", () => {
        const hidden = new Set(filter.hidden);
        if (box.checked) hidden.delete(f.name);
        else hidden.add(f.name);
        filter = { ...filter, hidden };
        drawTable();
      });
      const text = FAMILY_LABEL[f.kind] ?? (f.kind === "error" ? f.name : `${f.name} latents`);
      label.append(box, ` ${text}`);
      fams.append(label);
    }
    const select = h("select", "nt-layer");
    select.setAttribute("aria-label", "layer");
    const all = h("option", "", "all layers");
    all.value = "";
    select.append(all);
    for (const l of layersOf(data.rows)) {
      const o = h("option", "", l < 0 ? "outside blocks" : `layer ${l}`);
      o.value = String(l);
      select.append(o);
    }
    select.value = filter.layer === null ? "" : String(filter.layer);
    select.addEventListener("change", () => {
      filter = { ...filter, layer: select.value === "" ? null : Number(select.value) };
      drawTable();
    });
    const modeSelect = h("select", "nt-mode");
    modeSelect.setAttribute("aria-label", "ablation mode");
    for (const [value, text] of [
      ["zero", "ablate: zero"],
      ["mean", "ablate: dataset mean"],
    ] as const) {
      const o = h("option", "", text);
      o.value = value;
      modeSelect.append(o);
    }
    modeSelect.value = mode;
    modeSelect.addEventListener("change", () => {
      mode = modeSelect.value === "mean" ? "mean" : "zero";
    });
    controls.replaceChildren(fams, select, modeSelect);
  }

  function drawAblations(): void {
    const list = props.ablations;
    ablations.replaceChildren();
    ablations.hidden = list.length === 0;
    list.forEach((a, i) => {
      const chip = h("span", "nt-ablation", ablationLabel(a));
      const x = h("button", "nt-unablate", "×");
      x.type = "button";
      x.title = "remove this ablation";
      x.addEventListener("click", () => callbacks.onAblations(list.filter((_, j) => j !== i)));
      chip.append(x);
      ablations.append(chip);
    });
  }

  function update(next: NodeTableProps): void {
    const old = props;
    props = next;
    const data = next.data;
    if (data !== old.data || next.position !== old.position) {
      const fresh = data
        ? renderPrompts(data, next.position, callbacks.onPosition)
        : { root: h("div", "nt-prompts"), highlight: () => {} };
      prompts.root.replaceWith(fresh.root);
      prompts = fresh;
    }
    if (data !== old.data) {
      const freshHead = data ? targetLine(data) : h("div", "nt-head");
      head.replaceWith(freshHead);
      head = freshHead;
      if (data) {
        const nPrompts = data.prompts.length;
        const oldCols = columns;
        columns = columnsFor(data.groups, nPrompts);
        const same =
          oldCols.length === columns.length && oldCols.every((c, i) => c.key === columns[i]?.key);
        if (!same) sort = defaultSort(data, columns);
        drawControls(data);
      } else controls.replaceChildren();
      notes.replaceChildren(...(data?.notes ?? []).map((n) => h("div", "nt-note", n)));
      drawTable();
    }
    if (next.ablations !== old.ablations) drawAblations();
    banner.replaceChildren(...next.errors.map((m) => h("div", "nt-error-line", m)));
    banner.hidden = next.errors.length === 0;
    notice.textContent = data ? "" : next.notice;
    notice.hidden = data !== null || next.notice === "";
    busy.hidden = !next.busy;
    root.classList.toggle("nt-is-busy", next.busy);
    root.setAttribute("aria-busy", String(next.busy));
    cardArea.hidden = !next.cardOpen;
    const sel = next.selected;
    cardTitle.textContent = sel ? `card of ${selectedLabel(sel)}` : "card";
  }

  drawAblations();
  return {
    root,
    cardHost,
    update,
    destroy() {
      root.remove();
    },
  };
}
