import { afterEach, describe, expect, it, vi } from "vitest";
import { makeGraphState } from "../../testing/make-graph-state";
import { mountWidget, q } from "../../testing/mount-widget";
import type { Request } from "../core/schema";
import { tokenLabel } from "../core/tokens";
import { THRESHOLD_DELAY_MS } from "./components/contribution-graph";
import { decodeGraph } from "./data";
import type { GraphModel } from "./schema";
import * as widgetModule from "./widget";
import widget, { interpretGraph } from "./widget";

function mount(over: Partial<GraphModel> = {}) {
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

const edges = (el: Element) => el.querySelectorAll(".fc-g-edge").length;
const asked = (model: { sent: Array<{ content: unknown }> }) =>
  model.sent.map((m) => m.content as Request).map((c) => [c.name, c.args]);
const lastId = (model: { sent: Array<{ content: unknown }> }) =>
  (model.sent[model.sent.length - 1]?.content as Request | undefined)?.id ?? "";

afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
});

describe("the graph widget", () => {
  it("exports only a default { render } (anywidget's module format)", () => {
    // anywidget (>= 0.9) warns once per view about a module that exports `render` by name.
    expect(Object.keys(widgetModule)).not.toContain("render");
    expect(Object.keys(widget)).toEqual(["render"]);
    expect(typeof widget.render).toBe("function");
  });

  it("draws the target's routes, tokens as text", () => {
    const { el } = mount();
    expect(edges(el)).toBe(7); // the hand-built case: 7 edges reach position 1
    const tokens = Array.from(el.querySelectorAll(".fc-g-token"), (t) => t.firstChild?.textContent);
    expect(tokens).toEqual([tokenLabel("<b>x</b>"), tokenLabel(" the")]);
    expect(el.querySelector("b")).toBeNull(); // markup from the vocabulary stays text
  });

  it("a click on a token asks for it as the target, drawn at once, and kept when the kernel agrees", async () => {
    const { el, model } = mount();
    q(el, ".fc-g-token[data-pos='0']").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(asked(model)).toEqual([["target", { target: 0 }]]);
    expect(model.saved).toEqual([]); // no trait written
    expect(edges(el)).toBe(4);
    model.pythonSet("target", 0);
    model.pythonSend({ kind: "fc-reply", id: lastId(model), ok: true, result: { target: 0 } });
    await Promise.resolve();
    expect(edges(el)).toBe(4);
  });

  it("a refused target puts the drawing back on the kernel's", async () => {
    const { el, model } = mount();
    q(el, ".fc-g-token[data-pos='0']").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    model.pythonSet("error", "target 0 is refused");
    model.pythonSend({
      kind: "fc-reply",
      id: lastId(model),
      ok: false,
      error: "target 0 is refused",
    });
    await Promise.resolve();
    expect(edges(el)).toBe(7);
    expect(q(el, ".fc-g-error").textContent).toContain("target 0 is refused");
  });

  it("the slider redraws at once and asks the kernel once the user pauses", () => {
    vi.useFakeTimers();
    const { el, model } = mount();
    const slider = q<HTMLInputElement>(el, "input.fc-g-threshold");
    for (const v of ["0.1", "0.15", "0.2"]) {
      slider.value = v;
      slider.dispatchEvent(new Event("input", { bubbles: true }));
    }
    expect(edges(el)).toBe(6); // source 0 and b_O of position 1 fall under 0.2
    expect(model.sent).toEqual([]);
    vi.advanceTimersByTime(THRESHOLD_DELAY_MS);
    expect(asked(model)).toEqual([["threshold", { threshold: 0.2 }]]);
    expect(model.saved).toEqual([]);
  });

  it("a refused threshold puts the slider back on the shown graph's", async () => {
    vi.useFakeTimers();
    const { el, model } = mount();
    const slider = q<HTMLInputElement>(el, "input.fc-g-threshold");
    slider.value = "0.2";
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    vi.advanceTimersByTime(THRESHOLD_DELAY_MS);
    expect(edges(el)).toBe(6);
    model.pythonSet("error", "RuntimeError: out of memory");
    model.pythonSend({
      kind: "fc-reply",
      id: lastId(model),
      ok: false,
      error: "RuntimeError: out of memory",
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(Number(slider.value)).toBeCloseTo(0.04);
    expect(edges(el)).toBe(7);
  });

  it("an error is shown and the last graph stays", () => {
    const { el, model } = mount();
    model.pythonSet("error", "ValueError: threshold 2 is out of range");
    expect(q(el, ".fc-g-error").textContent).toContain("out of range");
    expect(edges(el)).toBe(7);
  });

  it("a state of another schema version is refused with a message", () => {
    const bad = { ...makeGraphState(), schema_version: 99 };
    expect(interpretGraph(bad).problem).toContain("unknown contribution-graph schema version 99");
    const { el } = mount({ state: bad as unknown as GraphModel["state"] });
    expect(q(el, ".fc-g-error").textContent).toContain("schema version 99");
  });

  it("clicking an MLP node lists its neurons; their button asks for a card", () => {
    const { el, model } = mount();
    q(el, "[data-node='mlp:0:1']").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    const buttons = el.querySelectorAll<HTMLButtonElement>(".fc-g-open-card");
    expect(Array.from(buttons, (b) => b.dataset.unit)).toEqual(["9"]); // neuron 1 is silent there
    buttons[0]?.click();
    expect(asked(model)).toEqual([["select", { source: "blocks.0.mlp.hook_post", unit: 9 }]]);
    expect(model.saved).toEqual([]);
  });

  it("in an exported file, card buttons are disabled with the reason and the slider stops at the floor", () => {
    const { el, model } = mount({ live: false } as Partial<GraphModel>);
    q(el, "[data-node='mlp:0:1']").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    const button = q<HTMLButtonElement>(el, ".fc-g-open-card");
    expect(button.disabled).toBe(true);
    expect(button.title).toContain("needs a running kernel");
    expect(q(el, ".fc-g-needs-kernel").textContent).toBe("card: needs a running kernel");
    button.click();
    expect(model.sent).toEqual([]);
    const slider = q<HTMLInputElement>(el, "input.fc-g-threshold");
    expect(Number(slider.min)).toBe(0.01); // the graph's floor (make-graph-state)
    const floor = q(el, ".fc-g-floor");
    expect(floor.hidden).toBe(false);
    expect(floor.textContent).toBe(
      "edges below 0.010 need a recompute: open the graph in a running kernel",
    );
  });

  it("live, the card buttons work and the floor note shows only for a slider below it", () => {
    const { el } = mount();
    q(el, "[data-node='mlp:0:1']").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(q<HTMLButtonElement>(el, ".fc-g-open-card").disabled).toBe(false);
    expect(el.querySelector(".fc-g-needs-kernel")).toBeNull();
    const slider = q<HTMLInputElement>(el, "input.fc-g-threshold");
    expect(Number(slider.min)).toBe(0.005);
    expect(q(el, ".fc-g-floor").hidden).toBe(true);
    slider.value = "0.005";
    slider.dispatchEvent(new Event("input"));
    expect(q(el, ".fc-g-floor").textContent).toBe(
      "edges below 0.010 need a recompute: asked of the kernel",
    );
  });

  it("a hover box opens over a node and a click closes it", () => {
    const { el } = mount();
    const node = q(el, "[data-node='resid:2:1']");
    node.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    const box = q(el, ".fc-g-hover");
    expect(box.hidden).toBe(false);
    expect(box.parentElement).toBe(q(el, ".fc-graph")); // outside the scroller
    node.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(box.hidden).toBe(true);
    // the clicked node, drawn anew under the pointer, opens none until the pointer leaves it
    const again = q(el, "[data-node='resid:2:1']");
    again.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(box.hidden).toBe(true);
    q(el, "[data-node='resid:1:1']").dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(box.hidden).toBe(false);
  });

  it("has a legend of the edge colours and node kinds", () => {
    const { el } = mount();
    const keys = Array.from(
      el.querySelectorAll<HTMLElement>(".fc-g-legend-item"),
      (i) => i.dataset.key,
    );
    expect(keys).toEqual([
      "attn",
      "mlp",
      "resid",
      "state",
      "dot",
      "attn-block",
      "mlp-block",
      "pinned",
    ]);
    expect(el.querySelectorAll(".fc-g-legend .fc-g-edge, .fc-g-legend .fc-g-node")).toHaveLength(0);
  });

  it("clicking a residual node shows its logit lens, an attention node its heads", () => {
    const { el } = mount();
    q(el, "[data-node='resid:2:1']").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(el.querySelectorAll(".fc-g-lens-top tr").length).toBe(3); // header + k = 2
    expect(el.querySelector(".fc-g-lens-up")).not.toBeNull();
    q(el, "[data-node='attn:0:1']").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(el.querySelectorAll(".fc-g-heads-table tr").length).toBe(3); // header + 2 heads
  });

  it("shift-click pins a node: its routes stay drawn with the target's", () => {
    const { el, model } = mount({ target: 0 });
    expect(edges(el)).toBe(4);
    q(el, "[data-node='resid:1:1']").dispatchEvent(
      new MouseEvent("click", { bubbles: true, shiftKey: true }),
    );
    expect(edges(el)).toBe(4 + 4); // resid, two sources and the block into resid(1, 1)
    model.pythonSet("target", 1);
    expect(el.querySelectorAll(".fc-g-unpin").length).toBe(1);
  });

  it("cleans up every listener", () => {
    const { model, controller } = mount();
    controller.abort();
    expect(model.listenerCount()).toBe(0);
  });
});

describe("decoding", () => {
  it("reads base64 buffers (an exported file) like DataViews", () => {
    const a = decodeGraph(makeGraphState({}, "base64"));
    const b = decodeGraph(makeGraphState());
    expect(Array.from(a.edgeShare)).toEqual(Array.from(b.edgeShare));
    expect(a.tokens).toEqual(["<b>x</b>", " the"]);
  });

  it("rejects arrays of the wrong shape", () => {
    const st = makeGraphState();
    const bad = { ...st, resid: { ...st.resid, shape: [4, 1] } }; // the right bytes, the wrong shape
    expect(interpretGraph(bad).problem).toMatch(/resid has shape \[4, 1\], expected \[2, 2\]/);
  });
});
