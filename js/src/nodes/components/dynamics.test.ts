import { describe, expect, it } from "vitest";
import { makeNodeState, NODE_ROWS, NODE_VOCAB } from "../../../testing/make-node-state";
import { payload } from "../../../testing/make-state";
import { decodeDynamics, decodeTable, type RowDynamics } from "../data";
import { dynamicsCell } from "./dynamics";
import { createNodeTable } from "./node-table";

const ROW: RowDynamics = {
  promote: [
    [
      { token: " <b>x</b>", value: 1.5 },
      { token: "\u202eevil", value: 0.25 },
    ],
  ],
  suppress: [[{ token: "<img src=x onerror=alert(1)>", value: -2 }]],
  read: [],
  readNote: "blocks.0.mlp.hook_post is not the residual stream",
};

function key(el: HTMLElement, k: string): void {
  el.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true }));
}

describe("the promote / suppress cell", () => {
  it("starts collapsed and expands and collapses on click", () => {
    const td = dynamicsCell(ROW, "mlp L0 n5");
    const b = td.querySelector("button") as HTMLButtonElement;
    const panel = td.querySelector(".nt-dyn-panel") as HTMLElement;
    expect(b.getAttribute("aria-expanded")).toBe("false");
    expect(panel.hidden).toBe(true);
    b.click();
    expect(b.getAttribute("aria-expanded")).toBe("true");
    expect(panel.hidden).toBe(false);
    b.click();
    expect(panel.hidden).toBe(true);
  });

  it("toggles once per Enter or Space, and ignores other keys", () => {
    const td = dynamicsCell(ROW, "mlp L0 n5");
    const b = td.querySelector("button") as HTMLButtonElement;
    const panel = td.querySelector(".nt-dyn-panel") as HTMLElement;
    key(b, "Enter");
    expect(panel.hidden).toBe(false);
    key(b, " ");
    expect(panel.hidden).toBe(true);
    key(b, "a");
    expect(panel.hidden).toBe(true);
  });

  it("draws tokens as text, never markup, with bidi characters made visible", () => {
    const td = dynamicsCell(ROW, "mlp L0 n5");
    expect(td.querySelector("b, img")).toBeNull();
    const toks = [...td.querySelectorAll<HTMLElement>(".nt-dyn-tok")];
    expect(toks.map((t) => t.dataset.text)).toEqual([
      " <b>x</b>",
      "\u202eevil",
      "<img src=x onerror=alert(1)>",
    ]);
    expect(toks[1]?.textContent).not.toContain("\u202e");
    expect(td.textContent).toContain("<b>x</b>");
    expect([...td.querySelectorAll(".nt-dyn-val")].map((v) => v.textContent)).toEqual([
      "+1.500",
      "+0.250",
      "-2.000",
    ]);
    expect(td.textContent).toContain(
      "token read: blocks.0.mlp.hook_post is not the residual stream",
    );
  });

  it("says when a row has no write, and is empty without dynamics", () => {
    const none = dynamicsCell({ promote: [[]], suppress: [[]], read: [], readNote: "" }, "x");
    expect(none.textContent).toContain("no write to the residual stream");
    expect(dynamicsCell(null, "x").childElementCount).toBe(0);
  });
});

describe("a comparison's cell", () => {
  const two: RowDynamics = {
    promote: [[{ token: " left", value: 1 }], [{ token: " right", value: 3 }]],
    suppress: [[{ token: " l-", value: -1 }], []],
    read: [{ token: " r", value: 0.5 }],
    readNote: "ln2",
  };

  it("lists each prompt's promoted and suppressed tokens under its label", () => {
    const td = dynamicsCell(two, "mlp L0 n5", ["Left", "Right"]);
    const boxes = [...td.querySelectorAll<HTMLElement>(".nt-dyn-prompt")];
    expect(boxes.map((b) => b.querySelector(".nt-dyn-prompt-label")?.textContent)).toEqual([
      "Left",
      "Right",
    ]);
    const toks = (b: HTMLElement | undefined) =>
      [...(b?.querySelectorAll<HTMLElement>(".nt-dyn-tok") ?? [])].map((t) => t.dataset.text);
    expect(toks(boxes[0])).toEqual([" left", " l-"]);
    expect(toks(boxes[1])).toEqual([" right"]);
    expect(td.textContent).toContain("token read (Left) (ln2)");
  });

  it("has no label with one prompt", () => {
    const td = dynamicsCell(ROW, "mlp L0 n5", ["Prompt"]);
    expect(td.querySelectorAll(".nt-dyn-prompt")).toHaveLength(1);
    expect(td.querySelector(".nt-dyn-prompt-label")).toBeNull();
  });
});

describe("the state's dynamics", () => {
  const n = NODE_ROWS.length;
  const k = 2;
  // row j promotes vocab entries [j, 5] and suppresses [5 - j]; only row 0 has a token read
  const promote = Array.from({ length: n }, (_, j) => [j, 5]).flat();
  const suppress = Array.from({ length: n }, (_, j) => [5 - j, -1]).flat();
  const read = Array.from({ length: n }, (_, j) => (j === 0 ? [2, 1] : [-1, -1])).flat();
  const state = makeNodeState(1, {
    dynamics: {
      k,
      promote_ids: payload("int32", promote, { shape: [1, n, k] }),
      promote_values: payload(
        "float32",
        promote.map((_, i) => 10 - i),
        { shape: [1, n, k] },
      ),
      suppress_ids: payload("int32", suppress, { shape: [1, n, k] }),
      suppress_values: payload(
        "float32",
        suppress.map((_, i) => -i),
        { shape: [1, n, k] },
      ),
      read_ids: payload("int32", read, { shape: [n, k] }),
      read_values: payload(
        "float32",
        read.map((_, i) => 3 - i),
        { shape: [n, k] },
      ),
      read_notes: Array.from({ length: n }, (_, j) =>
        j === 0 ? "blocks.0.ln2 at a frozen scale" : "",
      ),
    },
  });

  it("decode to each row's tokens and values, skipping -1", () => {
    const rows = decodeDynamics(state, n) as RowDynamics[];
    expect(rows[1]?.promote[0]).toEqual([
      { token: NODE_VOCAB[1], value: 8 },
      { token: NODE_VOCAB[5], value: 7 },
    ]);
    expect(rows[2]?.suppress[0]).toEqual([{ token: NODE_VOCAB[3], value: -4 }]);
    expect(rows[0]?.read.map((t) => t.token)).toEqual([NODE_VOCAB[2], NODE_VOCAB[1]]);
    expect(rows[1]?.read).toEqual([]);
    expect(decodeTable(state).rows[0]?.dynamics?.readNote).toBe("blocks.0.ln2 at a frozen scale");
    expect(decodeTable(makeNodeState()).rows[0]?.dynamics).toBeNull();
  });

  it("refuse an index outside the vocabulary and a wrong length, naming them", () => {
    const bad = structuredClone(state);
    if (!bad.dynamics) throw new Error("no dynamics");
    bad.dynamics.promote_ids = payload(
      "int32",
      promote.map(() => 99),
      { shape: [1, n, k] },
    );
    expect(() => decodeDynamics(bad, n)).toThrow(/promote_ids index 99 is outside vocab/);
    expect(() => decodeDynamics(state, n + 1)).toThrow(
      /dynamics.promote has 8 entries, expected 10/,
    );
  });
});

/** A two-prompt table state: prompt 0 (Left) row j promotes vocab entry j, prompt 1 (Right) entry j + 1. */
function comparisonState(): ReturnType<typeof makeNodeState> {
  const n = NODE_ROWS.length;
  const k = 1;
  // prompt 0 (Left): row j promotes vocab entry j; prompt 1 (Right): entry j + 1
  const ids = [
    ...Array.from({ length: n }, (_, j) => j),
    ...Array.from({ length: n }, (_, j) => j + 1),
  ];
  const vals = ids.map((_, i) => i + 1);
  return makeNodeState(2, {
    dynamics: {
      k,
      promote_ids: payload("int32", ids, { shape: [2, n, k] }),
      promote_values: payload("float32", vals, { shape: [2, n, k] }),
      suppress_ids: payload(
        "int32",
        ids.map(() => -1),
        { shape: [2, n, k] },
      ),
      suppress_values: payload(
        "float32",
        ids.map(() => Number.NaN),
        { shape: [2, n, k] },
      ),
      read_ids: payload("int32", Array(n).fill(-1), { shape: [n, k] }),
      read_values: payload("float32", Array(n).fill(Number.NaN), { shape: [n, k] }),
      read_notes: Array(n).fill(""),
    },
  });
}

describe("a comparison table's dynamics cells", () => {
  it("show each prompt's tokens, decoded from the state, under its label", () => {
    const n = NODE_ROWS.length;
    const data = decodeTable(comparisonState());
    const view = createNodeTable({
      onPosition: () => {},
      onSelect: () => {},
      onAblations: () => {},
    });
    document.body.append(view.root);
    view.update({
      ...{ data, position: 3, errors: [], busy: false, notice: "", ablations: [] },
      ...{ selected: null, cardOpen: false },
    });
    const first = data.rows[0];
    if (!first) throw new Error("no row");
    const tr = [...view.root.querySelectorAll<HTMLElement>("tr.nt-row")].find(
      (r) => r.dataset.index === String(first.index),
    );
    const boxes = [...(tr?.querySelectorAll<HTMLElement>(".nt-dyn-prompt") ?? [])];
    expect(boxes.map((b) => b.querySelector(".nt-dyn-prompt-label")?.textContent)).toEqual([
      "Left",
      "Right",
    ]);
    const j = first.index;
    expect(boxes.map((b) => b.querySelector<HTMLElement>(".nt-dyn-tok")?.dataset.text)).toEqual([
      NODE_VOCAB[j],
      NODE_VOCAB[j + 1],
    ]);
    expect(boxes.map((b) => b.querySelector(".nt-dyn-val")?.textContent)).toEqual([
      `+${(j + 1).toFixed(3)}`,
      `+${(n + j + 1).toFixed(3)}`,
    ]);
    document.body.replaceChildren();
  });
});
