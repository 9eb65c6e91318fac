/**
 * "Trace from here" in the graph: each kind of graph node's button asks for `trace` with its
 * node (a block, a head summed, a head's (query, source) pair, a neuron, a latent, an SAE's
 * error), a residual state says it has none, the traced NodeTable is drawn below the graph from
 * the `nodes` trait with its own requests sent as the graph's `nodes` {request, args} (replies
 * passed back), and in an exported file every trace button is disabled with the reason.
 */
import { afterEach, describe, expect, it } from "vitest";
import { makeGraphState } from "../../testing/make-graph-state";
import { makeNodeState } from "../../testing/make-node-state";
import { mountWidget, q } from "../../testing/mount-widget";
import type { Request } from "../core/schema";
import { TableProxy } from "../nodes/mount";
import { NO_TRACE_RESID, TRACE_NEEDS_KERNEL } from "./components/trace";
import type { GraphModel } from "./schema";
import widget from "./widget";

function mount(over: Partial<GraphModel> & { live?: boolean } = {}) {
  return mountWidget<GraphModel>(widget, {
    state: makeGraphState(),
    target: 1,
    threshold: 0.04,
    selected: {},
    card: {},
    error: "",
    busy: false,
    nodes: {},
    ...over,
  });
}

type Sent = { sent: Array<{ content: unknown }> };
const requests = (model: Sent) => model.sent.map((m) => m.content as Request);
const asked = (model: Sent) => requests(model).map((c) => [c.name, c.args]);
const click = (el: Element, node: string) =>
  q(el, `[data-node='${node}']`).dispatchEvent(new MouseEvent("click", { bubbles: true }));
const traces = (el: Element) =>
  Array.from(el.querySelectorAll<HTMLButtonElement>(".fc-g-panel .fc-g-trace"));

const TABLE = {
  state: makeNodeState(),
  position: 1,
  selected: {},
  card: {},
  ablations: [],
  trail: [
    {
      description: "write of attention layer 0 at position 1 · a direction (norm 1)",
      node: null,
      side: "total",
      position: 1,
    },
  ],
  error: "",
  busy: false,
};

afterEach(() => {
  document.body.replaceChildren();
});

describe("trace from here", () => {
  it("an attention block traces its write, each head summed and at each kept source", () => {
    const { el, model } = mount();
    click(el, "attn:0:1");
    const buttons = traces(el);
    expect(buttons[0]?.textContent).toBe("trace from here");
    buttons[0]?.click();
    const heads = el.querySelectorAll<HTMLButtonElement>(
      ".fc-g-heads-table .fc-g-head-name .fc-g-trace",
    );
    expect(heads).toHaveLength(2);
    heads[1]?.click();
    const pair = q<HTMLButtonElement>(el, ".fc-g-heads-table .fc-g-sources .fc-g-trace");
    pair.click();
    const node = JSON.parse(pair.dataset.trace ?? "{}");
    expect(asked(model)).toEqual([
      ["trace", { node: { kind: "block", block: "attn", layer: 0, pos: 1 } }],
      ["trace", { node: { kind: "head", layer: 0, head: 1, pos: 1 } }],
      ["trace", { node }],
    ]);
    expect(node).toEqual({ kind: "attn", layer: 0, head: node.head, pos: 1, src: node.src });
    expect([0, 1]).toContain(node.head);
    expect([0, 1]).toContain(node.src);
    expect(pair.textContent).toMatch(/\(\d\) /); // the source token, its position and weight
  });

  it("an MLP block traces its write and its listed neurons", () => {
    const { el, model } = mount();
    click(el, "mlp:0:1");
    const units = el.querySelectorAll<HTMLButtonElement>(".fc-g-units-table .fc-g-trace");
    expect(units).toHaveLength(1); // neuron 1 is silent there
    units[0]?.click();
    traces(el)[0]?.click();
    expect(asked(model)).toEqual([
      ["trace", { node: { kind: "neuron", layer: 0, unit: 9, pos: 1 } }],
      ["trace", { node: { kind: "block", block: "mlp", layer: 0, pos: 1 } }],
    ]);
  });

  it("a residual state has no trace button and says why", () => {
    const { el } = mount();
    click(el, "resid:2:1");
    expect(traces(el)).toHaveLength(0);
    expect(q(el, ".fc-g-no-trace").textContent).toBe(NO_TRACE_RESID);
  });

  it("in an exported file, trace buttons are disabled with the reason and send nothing", () => {
    const { el, model } = mount({ live: false });
    click(el, "attn:0:1");
    const buttons = traces(el);
    expect(buttons.length).toBeGreaterThan(2);
    for (const b of buttons) {
      expect(b.disabled).toBe(true);
      expect(b.title).toContain(TRACE_NEEDS_KERNEL);
      b.click();
    }
    expect(q(el, ".fc-g-trace-needs-kernel").textContent).toBe(
      `trace from here: ${TRACE_NEEDS_KERNEL}`,
    );
    expect(model.sent).toEqual([]);
  });
});

describe("the traced table below the graph", () => {
  it("is drawn from `nodes`; its requests go through the graph and their replies come back", async () => {
    const { el, model } = mount();
    const host = q(el, ".fc-g-traced");
    expect(host.hidden).toBe(true);
    expect(el.querySelector(".nt-widget")).toBeNull(); // nothing drawn before a trace
    model.pythonSet("nodes", TABLE);
    expect(host.hidden).toBe(false);
    expect(q(el, ".fc-g-tracebar").hidden).toBe(false);
    expect(host.querySelectorAll(".nt-row, tbody tr").length).toBeGreaterThan(0);
    const trace = q<HTMLButtonElement>(host, ".nt-trace");
    trace.click();
    const outer = requests(model)[0];
    if (!outer) throw new Error("the table's trace sent nothing");
    expect(outer.name).toBe("nodes");
    expect(outer.args.request).toBe("trace");
    expect((outer.args.args as { node: { kind: string } }).node.kind).toBeTypeOf("string");
    // the kernel's refusal comes back to the table (shown there), not to the graph
    model.pythonSend({ kind: "fc-reply", id: outer.id, ok: false, error: "trace: no" });
    await new Promise((r) => setTimeout(r, 0));
    expect(q(el, ".fc-g-error").hidden).toBe(true);
    expect(host.textContent).toContain("trace: no");
    q<HTMLButtonElement>(el, ".fc-g-close-trace").click();
    expect(asked(model).slice(-1)).toEqual([["trace", {}]]);
    model.pythonSet("nodes", {});
    expect(host.hidden).toBe(true);
    expect(host.childElementCount).toBe(0); // taken down: no table, no card host while none is open
  });

  it("in an exported file the table's actions say they need a kernel", () => {
    const { el, model } = mount({ live: false, nodes: TABLE });
    const host = q(el, ".fc-g-traced");
    expect(host.hidden).toBe(false);
    expect(q(el, ".fc-g-close-trace").hidden).toBe(false);
    const trace = host.querySelector<HTMLButtonElement>(".nt-trace");
    expect(trace === null || trace.disabled).toBe(true);
    expect(host.textContent).toContain("needs a running kernel");
    expect(model.sent).toEqual([]);
  });

  it("the proxy announces only the traits that changed, and without a kernel refuses requests", async () => {
    const proxy = new TableProxy();
    const seen: string[] = [];
    for (const k of ["state", "trail", "busy"]) proxy.on(`change:${k}`, () => seen.push(k));
    const state = {};
    proxy.update({ state, trail: [], busy: false });
    proxy.update({ state, trail: [], busy: true });
    expect(seen).toEqual(["state", "trail", "busy", "trail", "busy"]); // a new [] is a change
    expect(proxy.get("live")).toBe(false);
    const replies: unknown[] = [];
    proxy.on("msg:custom", (m) => replies.push(m));
    proxy.send({ kind: "fc-request", id: "r1", name: "back", args: { index: 0 } });
    await Promise.resolve();
    expect(replies).toEqual([
      { kind: "fc-reply", id: "r1", ok: false, error: `back: ${TRACE_NEEDS_KERNEL}` },
    ]);
  });
});
