import { afterEach, describe, expect, it, onTestFinished, vi } from "vitest";
import { makeNodeState } from "../../../testing/make-node-state";
import { decodeTable, type TableData } from "../data";
import type { SelectedNode } from "../schema";
import { cellValue, columnsFor } from "../table-logic";
import { createNodeTable, type NodeTableProps } from "./node-table";

const props = (data: TableData, over: Partial<NodeTableProps> = {}): NodeTableProps => ({
  data,
  position: 3,
  errors: [],
  busy: false,
  notice: "",
  ablations: [],
  selected: null,
  cardOpen: false,
  ...over,
});

function mount(data: TableData, over: Partial<NodeTableProps> = {}) {
  const onSelect = vi.fn();
  const view = createNodeTable({ onPosition: vi.fn(), onSelect, onAblations: vi.fn() });
  document.body.append(view.root);
  view.update(props(data, over));
  return view;
}

const valueKeys = (root: Element) =>
  Array.from(root.querySelectorAll<HTMLElement>("th.nt-th-val"), (th) => th.dataset.key);
const rowNames = (root: Element) =>
  Array.from(root.querySelectorAll("tr.nt-row td.nt-name"), (e) => e.textContent ?? "");
const sorted = (root: Element) => root.querySelector<HTMLElement>("th[aria-sort='descending']");

afterEach(() => {
  document.body.replaceChildren();
  vi.restoreAllMocks();
});

describe("two prompts: one set of columns at a time", () => {
  it("shows the Left columns first, sorted by the sort group", () => {
    const view = mount(decodeTable(makeNodeState(2)));
    expect(valueKeys(view.root)).toEqual([
      "write_norm:left",
      "act_times_grad:left",
      "direct_effect:left",
      "activation:left",
    ]);
    expect(sorted(view.root)?.dataset.key).toBe("direct_effect:left");
  });

  it("switches to Diff or Right, and the sort follows to the same group's column", () => {
    const data = decodeTable(makeNodeState(2));
    const view = mount(data);
    const button = (v: string) =>
      view.root.querySelector<HTMLButtonElement>(`button.nt-view[data-view='${v}']`);
    button("diff")?.click();
    expect(valueKeys(view.root).every((k) => k?.endsWith(":diff"))).toBe(true);
    expect(valueKeys(view.root)).toHaveLength(4);
    expect(sorted(view.root)?.dataset.key).toBe("direct_effect:diff");
    expect(button("diff")?.getAttribute("aria-pressed")).toBe("true");
    expect(button("left")?.getAttribute("aria-pressed")).toBe("false");
    // rows by Right − Left of the direct effect, descending, NaN last (a naive reference)
    const diff = columnsFor(data.groups, 2).find((c) => c.key === "direct_effect:diff");
    const want = [...data.rows]
      .map((r) => ({ r, v: diff ? cellValue(r, diff) : 0 }))
      .sort((a, b) => (Number.isNaN(a.v) ? 1 : Number.isNaN(b.v) ? -1 : b.v - a.v))
      .map((x) => x.r.name);
    expect(rowNames(view.root)).toEqual(want);
    button("right")?.click();
    expect(sorted(view.root)?.dataset.key).toBe("direct_effect:right");
    expect(valueKeys(view.root).every((k) => k?.endsWith(":right"))).toBe(true);
  });

  it("has no switch for one prompt", () => {
    const view = mount(decodeTable(makeNodeState(1)));
    expect(view.root.querySelector(".nt-views")).toBeNull();
    expect(valueKeys(view.root)).toEqual([
      "write_norm",
      "act_times_grad",
      "direct_effect",
      "activation",
    ]);
  });

  it("keeps the Node and Token columns apart for sticking", () => {
    const view = mount(decodeTable(makeNodeState(2)));
    expect(view.root.querySelectorAll("th.nt-c1, th.nt-c2")).toHaveLength(2);
    expect(view.root.querySelectorAll("td.nt-name.nt-c1").length).toBe(4);
    expect(view.root.querySelectorAll("td.nt-where.nt-c2").length).toBe(4);
  });
});

describe("the open card's row", () => {
  const marked = (root: Element) =>
    Array.from(root.querySelectorAll("tr.nt-selected td.nt-name"), (e) => e.textContent);

  it("is marked: a neuron by family, layer and unit; a latent by family and unit", () => {
    const data = decodeTable(makeNodeState(1));
    const view = mount(data);
    expect(marked(view.root)).toEqual([]);
    const sel = (s: SelectedNode) => view.update(props(data, { selected: s, cardOpen: true }));
    sel({ family: "mlp", layer: 1, unit: 7 });
    expect(marked(view.root)).toEqual(["mlp L1 n7"]);
    expect(view.root.querySelector("tr.nt-selected")?.getAttribute("aria-current")).toBe("true");
    sel({ family: "mlp", layer: 0, unit: 7 }); // no such neuron in the table
    expect(marked(view.root)).toEqual([]);
    sel({ family: "res", layer: -1, unit: 12 });
    expect(marked(view.root)).toEqual(["res #12"]);
  });

  it("brings a newly opened card into view, once it is open; not one open from the start", () => {
    const spy = vi.fn();
    const original = HTMLElement.prototype.scrollIntoView;
    HTMLElement.prototype.scrollIntoView = spy;
    onTestFinished(() => {
      HTMLElement.prototype.scrollIntoView = original;
    });
    const data = decodeTable(makeNodeState(1));
    const first = { family: "mlp", layer: 0, unit: 5 };
    const view = mount(data, { selected: first, cardOpen: true });
    expect(spy).not.toHaveBeenCalled();
    const next = { family: "mlp", layer: 1, unit: 7 };
    view.update(props(data, { selected: next, cardOpen: false })); // the card is still coming
    expect(spy).not.toHaveBeenCalled();
    view.update(props(data, { selected: next, cardOpen: true }));
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.contexts[0]).toBe(view.root.querySelector(".nt-card-area"));
    view.update(props(data, { selected: next, cardOpen: true })); // nothing new: no scroll
    expect(spy).toHaveBeenCalledTimes(1);
  });
});

describe("values that round to zero", () => {
  it("print 0.000 without a sign or a sign's colour", () => {
    const data = decodeTable(makeNodeState(1));
    const row = data.rows[0];
    if (row?.values[0]) row.values[0] = [-0.0004, 0.0004, -0.0006, -0];
    const view = mount(data);
    const tr = view.root.querySelector(`tr.nt-row[data-index='${row?.index}']`);
    const nums = Array.from(tr?.querySelectorAll(".nt-num") ?? []);
    expect(nums.map((n) => n.textContent)).toEqual(["0.000", "0.000", "-0.001", "0.000"]);
    expect(nums.map((n) => n.classList.contains("nt-neg"))).toEqual([false, false, true, false]);
    expect(nums.map((n) => n.classList.contains("nt-posv"))).toEqual([false, false, false, false]);
  });
});

describe("roll-up rows (heads over sources, whole layers) and node targets", () => {
  const rollups = (): TableData => {
    const st = makeNodeState(1);
    const [mlp] = st.families;
    if (!mlp) throw new Error("no mlp family");
    const families = [
      mlp,
      { ...mlp, code: 1, kind: "head" as const, name: "heads", card: false },
      { ...mlp, code: 2, kind: "mlp_layer" as const, name: "mlp layer", n_units: 1, card: false },
    ];
    const target = {
      ...st.target,
      kind: "node" as const,
      description: "attention L1 H0: position 3 → 1, query side",
      side: "query" as const,
      node: {
        ...{ kind: "attn" as const, pos: 3, layer: 1, unit: null, head: 0, src: 1 },
        ...{ source: null, write_kind: null, direction: null, label: null },
      },
    };
    return decodeTable(makeNodeState(1, { families, target }));
  };

  it("are named, labelled, drawn without a source or an ablate button", () => {
    const view = mount(rollups());
    expect(new Set(rowNames(view.root))).toEqual(
      new Set(["mlp L0 n5", "head L1 H3", "mlp L0", "mlp L1 n7"]),
    );
    const row = (name: string) =>
      Array.from(view.root.querySelectorAll("tr.nt-row")).find(
        (tr) => tr.querySelector("td.nt-name")?.textContent === name,
      );
    expect(row("head L1 H3")?.querySelector(".nt-where-arrow")).toBeNull(); // summed over sources
    expect(row("head L1 H3")?.querySelector(".nt-label")?.getAttribute("title")).toMatch(/summed/);
    expect(row("mlp L0")?.querySelector("button.nt-ablate")).toBeNull();
    expect(row("head L1 H3")?.querySelector("button.nt-ablate")).toBeNull();
    expect(row("mlp L0 n5")?.querySelector("button.nt-ablate")).not.toBeNull();
    const labels = Array.from(view.root.querySelectorAll(".nt-family-label"), (l) => l.textContent);
    expect(labels).toEqual([" MLP neurons", " heads (all sources)", " MLP layers"]);
    expect(view.root.querySelector(".nt-target-desc")?.textContent).toBe(
      "attention L1 H0: position 3 → 1, query side",
    );
  });
});
