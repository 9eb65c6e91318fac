/**
 * Trace upstream in the widget: a row's node spec (as `fc.node` makes it), its "trace" request,
 * the breadcrumb of targets followed (each crumb one click away: "back"), and an export, where
 * both are disabled and say they need a running kernel.
 */
import { afterEach, describe, expect, it } from "vitest";
import { makeNodeState } from "../../testing/make-node-state";
import { mountWidget, q } from "../../testing/mount-widget";
import type { Request } from "../core/schema";
import { rowSpec, TRACE_NEEDS_KERNEL } from "./components/trace";
import { decodeTable } from "./data";
import type { NodesModel, TraceStep } from "./schema";
import widget from "./widget";

const TRAIL: TraceStep[] = [
  {
    description: "logit ' on' − logit ' in' at position 3",
    node: null,
    side: "total",
    position: 3,
  },
  {
    description: "MLP neuron L1 n7 at position 3",
    node: {
      ...{ kind: "neuron", pos: 3, layer: 1, unit: 7, head: null, src: null },
      ...{ source: null, write_kind: null, direction: null, label: null },
    },
    side: "total",
    position: 3,
  },
  {
    description: "attention L1 H3: position 3 → 1, key side",
    node: {
      ...{ kind: "attn", pos: 3, layer: 1, unit: null, head: 3, src: 1 },
      ...{ source: null, write_kind: null, direction: null, label: null },
    },
    side: "key",
    position: 3,
  },
];

function mount(over: Partial<NodesModel> & { live?: boolean } = {}) {
  return mountWidget<NodesModel>(widget, {
    state: makeNodeState(1),
    position: 3,
    selected: {},
    card: {},
    ablations: [],
    trail: [],
    error: "",
    busy: false,
    ...over,
  });
}

const lastAsked = (model: { sent: Array<{ content: unknown }> }) => {
  const c = model.sent[model.sent.length - 1]?.content as Request | undefined;
  return c ? [c.name, c.args] : undefined;
};

const row = (el: Element, name: string) => {
  const tr = Array.from(el.querySelectorAll("tr.nt-row")).find(
    (r) => r.querySelector("td.nt-name")?.textContent === name,
  );
  if (!tr) throw new Error(`no row ${name}`);
  return tr;
};

afterEach(() => document.body.replaceChildren());

describe("a row's node spec", () => {
  it("is a neuron, a head's pair, a latent, an error node or a roll-up's write", () => {
    const data = decodeTable(makeNodeState(1));
    const specs = data.rows.map((r) => rowSpec(r));
    expect(specs).toEqual([
      { kind: "neuron", layer: 0, unit: 5, pos: 2 },
      { kind: "attn", layer: 1, head: 3, pos: 3, src: 1 },
      { kind: "latent", source: "res", unit: 12, pos: 3 },
      { kind: "neuron", layer: 1, unit: 7, pos: 3 },
    ]);
    const [first] = data.rows;
    if (!first) throw new Error("no row");
    const error = { ...first.family, kind: "error" as const, name: "res error", sae: "res" };
    expect(rowSpec({ ...first, family: error })).toEqual({ kind: "error", source: "res", pos: 2 });
    // a roll-up: its write with no direction (the kernel fills in the target's gradient there)
    const as = (kind: "head" | "attn_layer" | "mlp_layer") =>
      rowSpec({ ...first, unit: kind === "head" ? 4 : 0, family: { ...first.family, kind } });
    expect(as("head")).toEqual({ kind: "write", write_kind: "attn", layer: 0, head: 4, pos: 2 });
    expect(as("attn_layer")).toEqual({ kind: "write", write_kind: "attn", layer: 0, pos: 2 });
    expect(as("mlp_layer")).toEqual({ kind: "write", write_kind: "mlp", layer: 0, pos: 2 });
  });
});

describe("tracing in the widget", () => {
  it("asks the kernel for a table with the row's node as the target", () => {
    const { el, model } = mount();
    q(row(el, "attn L1 H3"), "button.nt-trace").click();
    expect(lastAsked(model)).toEqual([
      "trace",
      { node: { kind: "attn", layer: 1, head: 3, pos: 3, src: 1 }, side: "total" },
    ]);
    q(row(el, "res #12"), "button.nt-trace").click();
    expect(lastAsked(model)).toEqual([
      "trace",
      { node: { kind: "latent", source: "res", unit: 12, pos: 3 }, side: "total" },
    ]);
    expect(model.saved).toEqual([]); // a request, never a trait write
  });

  it("shows the trail, each earlier target one click away, the shown one current", () => {
    const { el, model } = mount();
    expect(q(el, "nav.nt-trail").hidden).toBe(true); // one target: nothing to go back to
    model.pythonSet("trail", TRAIL);
    const crumbs = Array.from(el.querySelectorAll<HTMLElement>(".nt-crumb"));
    expect(crumbs.map((c) => c.textContent)).toEqual(TRAIL.map((s) => s.description));
    expect(q(el, "nav.nt-trail").hidden).toBe(false);
    expect(crumbs.map((c) => c.tagName)).toEqual(["BUTTON", "BUTTON", "SPAN"]);
    expect(crumbs[2]?.getAttribute("aria-current")).toBe("step");
    crumbs[1]?.click();
    expect(lastAsked(model)).toEqual(["back", { index: 1 }]);
    crumbs[0]?.click();
    expect(lastAsked(model)).toEqual(["back", { index: 0 }]);
  });

  it("in an exported file disables tracing and the trail, and says why", () => {
    const { el, model } = mount({ live: false, trail: TRAIL });
    const buttons = Array.from(el.querySelectorAll<HTMLButtonElement>("button.nt-trace"));
    expect(buttons).toHaveLength(4);
    for (const b of buttons) {
      expect(b.disabled).toBe(true);
      expect(b.title.startsWith(`${TRACE_NEEDS_KERNEL}: what feeds `)).toBe(true);
    }
    const crumbs = Array.from(el.querySelectorAll<HTMLButtonElement>("button.nt-crumb"));
    expect(crumbs.map((c) => [c.disabled, c.title])).toEqual([
      [true, `${TRACE_NEEDS_KERNEL}: back to this target`],
      [true, `${TRACE_NEEDS_KERNEL}: back to this target`],
    ]);
    buttons[0]?.click();
    crumbs[0]?.click();
    expect(model.sent).toEqual([]);
  });
});
