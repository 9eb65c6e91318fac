/**
 * Promote / suppress in the graph's node details: present for attention nodes (the block and each
 * head), MLP nodes and every listed unit, absent for residual states and for states made without
 * it; the tokens and values are the payload's (makeGraphState's `dynamics` rule, worked out here
 * by hand), and a token that is markup ("<b>x</b>") stays text. An attention node whose heads
 * the state lacks asks for them once (live) or says they need a kernel (an export).
 */
import { afterEach, describe, expect, it } from "vitest";
import { makeGraphState } from "../../../testing/make-graph-state";
import { payload } from "../../../testing/make-state";
import { mountWidget, q } from "../../../testing/mount-widget";
import { decodeGraph } from "../data";
import type { NodeKey } from "../routes";
import type { GraphModel } from "../schema";
import widget from "../widget";
import { details } from "./details";
import { HEADS_NEED_KERNEL, promoteLine } from "./promote";

const VOCAB = ["<b>x</b>", " the", " a", " cat"];
const cb = { openCard: () => undefined, live: true };
const node = (kind: NodeKey["kind"], index: number, pos: number): NodeKey => ({ kind, index, pos });

/** What makeGraphState's rule puts at flat node `n` with `shift`: tokens and values, k = 2. */
function expected(n: number, shift: number) {
  return {
    up: [VOCAB[(n + shift) % 4], VOCAB[(n + shift + 1) % 4]],
    upValues: ["+" + (2 + n).toFixed(3), "+" + (1 + n).toFixed(3)],
    down: [VOCAB[(n + shift + 2) % 4], VOCAB[(n + shift + 3) % 4]],
    downValues: [(-(2 + n)).toFixed(3), (-(1 + n)).toFixed(3)],
  };
}

/** A promote table's columns: token texts (data-text) and shown values. */
function read(table: Element) {
  const rows = Array.from(table.querySelectorAll("tr")).slice(1);
  const cell = (r: Element, i: number) => r.children[i] as HTMLElement;
  const text = (r: Element, i: number) =>
    (cell(r, i).querySelector(".fc-g-ptok") as HTMLElement).dataset.text;
  return {
    up: rows.map((r) => text(r, 0)),
    upValues: rows.map((r) => cell(r, 1).textContent),
    down: rows.map((r) => text(r, 2)),
    downValues: rows.map((r) => cell(r, 3).textContent),
  };
}

function panel(n: NodeKey, st = makeGraphState()): HTMLElement {
  const box = document.createElement("div");
  box.append(...details(decodeGraph(st), n, [], cb));
  return box;
}

afterEach(() => document.body.replaceChildren());

describe("promote / suppress in the node details", () => {
  it("an attention node shows its block's tokens and each head's, from the payload", () => {
    const box = panel(node("attn", 0, 1));
    const tables = box.querySelectorAll(".fc-g-promote-panel > .fc-g-promote");
    expect(tables).toHaveLength(1);
    expect(read(tables[0] as Element)).toEqual(expected(1, 2)); // attn [layer 0, pos 1]: node 1
    const heads = box.querySelectorAll(".fc-g-promote-panel details.fc-g-promote-node");
    expect(heads).toHaveLength(2);
    // heads [layer 0, pos 1, head h]: node 2 + h, shift 1
    for (const [h, d] of Array.from(heads).entries()) {
      expect(read(q(d as HTMLElement, ".fc-g-promote"))).toEqual(expected(2 + h, 1));
      expect(d.querySelector("summary")?.textContent?.startsWith(`H${h}`)).toBe(true);
    }
  });

  it("an MLP node shows its block's tokens and each listed neuron's", () => {
    const box = panel(node("mlp", 0, 0));
    const block = q(box, ".fc-g-promote-panel > .fc-g-promote");
    expect(read(block)).toEqual(expected(0, 3));
    // neurons [pos 0, unit j]: node j, shift 0 (the silent unit at pos 1 is not listed)
    const units = box.querySelectorAll(".fc-g-units-table details.fc-g-promote-node");
    expect(units).toHaveLength(2);
    for (const [j, d] of Array.from(units).entries()) {
      expect(read(q(d as HTMLElement, ".fc-g-promote"))).toEqual(expected(j, 0));
    }
  });

  it("draws markup tokens as text, with visible whitespace, in tables and summaries", () => {
    const box = panel(node("attn", 0, 0));
    expect(box.querySelector(".fc-g-promote b")).toBeNull();
    expect(box.querySelector(".fc-g-promote-node summary b")).toBeNull();
    const cells = Array.from(box.querySelectorAll(".fc-g-ptok"), (c) => c.textContent);
    expect(cells).toContain("<b>x</b>");
    expect(cells).toContain("·the"); // the leading space shown by the one token renderer
    const markup = Array.from(box.querySelectorAll<HTMLElement>(".fc-g-ptok")).find(
      (c) => c.dataset.text === "<b>x</b>",
    );
    expect(markup?.childElementCount).toBe(0);
  });

  it("is absent for residual states and for a state made without it", () => {
    expect(panel(node("resid", 1, 0)).querySelector(".fc-g-promote")).toBeNull();
    const bare = makeGraphState({ promote: null });
    for (const u of bare.units) u.promote = null;
    const box = panel(node("attn", 0, 1), bare);
    expect(box.querySelector(".fc-g-promote")).toBeNull();
    expect(panel(node("mlp", 0, 0), bare).querySelector(".fc-g-promote")).toBeNull();
    expect(promoteLine(decodeGraph(bare), node("mlp", 0, 0))).toBeNull();
  });

  it("the hover box of a block names its top tokens", () => {
    const { el } = mountWidget<GraphModel>(widget, {
      state: makeGraphState(),
      target: 1,
      threshold: 0.04,
      selected: {},
      card: {},
      error: "",
      busy: false,
      nodes: {},
    });
    q(el, "[data-node='mlp:0:1']").dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    const line = q(el, ".fc-g-hover .fc-g-promote-line");
    expect(line.textContent).toBe("promotes <b>x</b> ·the · suppresses ·a ·cat"); // mlp node 1, shift 3
    expect(line.querySelector("b")).toBeNull();
  });

  it("refuses a promote array of the wrong shape, naming it", () => {
    const st = makeGraphState();
    const heads = st.promote?.heads;
    if (!heads) throw new Error("makeGraphState has promote");
    const bad = {
      ...st,
      promote: { ...st.promote, heads: { ...heads, promote_values: heads.suppress_tokens } },
    };
    expect(() => decodeGraph(bad as typeof st)).toThrow("promote heads: promote_values");
  });
});

describe("heads on request", () => {
  /** The test state with node (layer 0, position 1)'s heads not computed yet. */
  function pending() {
    const st = makeGraphState();
    if (!st.promote) throw new Error("the test state has promote");
    const done = payload("uint8", [1, 0], { as: "dataview", shape: [1, 2] });
    return { ...st, promote: { ...st.promote, heads_done: done } };
  }
  const base = { target: 1, threshold: 0.04, selected: {}, card: {}, error: "", busy: false };
  const sent = (model: { sent: Array<{ content: unknown }> }) =>
    model.sent.map((m) => m.content as { name: string; args: unknown });
  const click = (el: Element, id: string) =>
    q(el, `[data-node='${id}']`).dispatchEvent(new MouseEvent("click", { bubbles: true }));

  it("an opened attention node without its heads asks for them once and says they are coming", async () => {
    const { el, model } = mountWidget<GraphModel>(widget, { ...base, state: pending(), nodes: {} });
    click(el, "attn:0:1");
    expect(q(el, ".fc-g-heads-pending").textContent).toBe("computing…");
    expect(el.querySelectorAll(".fc-g-promote-panel details.fc-g-promote-node")).toHaveLength(0);
    click(el, "attn:0:1"); // drawn again: not asked again
    await Promise.resolve();
    expect(sent(model).map((c) => [c.name, c.args])).toEqual([
      ["promote_heads", { layer: 0, pos: 1 }],
    ]);
    model.pythonSet("state", makeGraphState()); // the kernel's state with them: shown, nothing asked
    await Promise.resolve();
    expect(el.querySelector(".fc-g-heads-pending")).toBeNull();
    expect(el.querySelectorAll(".fc-g-promote-panel details.fc-g-promote-node")).toHaveLength(2);
    expect(sent(model)).toHaveLength(1);
  });

  it("in an exported file without them, the panel says they need a kernel and asks nothing", async () => {
    const over = { ...base, state: pending(), nodes: {}, live: false };
    const { el, model } = mountWidget<GraphModel>(widget, over as GraphModel);
    click(el, "attn:0:1");
    await Promise.resolve();
    expect(q(el, ".fc-g-heads-pending").textContent).toBe(HEADS_NEED_KERNEL);
    expect(model.sent).toEqual([]);
  });

  it("a state made before heads on request holds them all", () => {
    const st = makeGraphState();
    if (!st.promote) throw new Error("the test state has promote");
    const { heads_done: _, ...old } = st.promote;
    const d = decodeGraph({ ...st, promote: old as typeof st.promote });
    expect(Array.from(d.promote?.headsDone ?? [])).toEqual([1, 1]);
  });
});
