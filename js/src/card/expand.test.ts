import { afterEach, describe, expect, it } from "vitest";
import { buildTokenBytes, makeState, payload } from "../../testing/make-state";
import { mountWidget, q } from "../../testing/mount-widget";
import type { CardModel, ExampleWindow, Request } from "../core/schema";
import { decodeCard, decodeWindow } from "./card-data";
import { OFFLINE_EXPAND, windowArgs } from "./components/expand";
import { flatIndex } from "./components/sequence";
import widget from "./widget";

const WVOCAB = [" a", "<img src=x onerror=alert(1)>", " b", "\u00c3", " c"];

/** A window reply: `n` tokens from dataset position `start`, act `i / 100` but 9 at `peak`. */
function makeWindow(n: number, start: number, focus: number, peak: number): ExampleWindow {
  const tokens = Array.from({ length: n }, (_, i) => (i === 3 ? 1 : i % 3 === 0 ? 0 : 2));
  return {
    source: "gpt2-small-res-jb",
    feature: 3,
    row: 5,
    start,
    focus,
    tokens: payload("uint8", tokens),
    acts: payload(
      "float32",
      tokens.map((_, i) => (i === peak ? 9 : i / 100)),
    ),
    vocab: WVOCAB,
    vocab_ids: payload("uint16", [10, 11, 12, 13, 14]),
    vocab_bytes: buildTokenBytes([]),
  };
}

function mount(over: Partial<CardModel> = {}) {
  return mountWidget<CardModel>(widget, {
    source: "gpt2-small-res-jb",
    feature: 3,
    state: makeState(),
    error: "",
    busy: false,
    live: true,
    choices: [],
    build_progress: null,
    ...over,
  });
}

const windows = (model: { sent: Array<{ content: unknown }> }) =>
  model.sent.map((m) => m.content as Request).filter((c) => c.name === "window");
const firstRow = (el: Element) => q(el, ".fc-examples .fc-seq");
const texts = (el: Element, sel: string) =>
  Array.from(el.querySelectorAll(sel), (e) => e.textContent ?? "");
const settle = () => new Promise((r) => setTimeout(r, 0));
/** The kernel's reply to `req`: 39 tokens of row 5, the example's token at 18, the largest at 30. */
const answer = (model: { pythonSend(m: unknown): void }, req: Request | undefined) =>
  model.pythonSend({ kind: "fc-reply", id: req?.id, ok: true, result: makeWindow(39, 0, 18, 30) });

afterEach(() => document.body.replaceChildren());

describe("decodeWindow", () => {
  it("decodes a window's tokens from its own vocabulary, text never markup", () => {
    const w = decodeWindow(makeWindow(6, 10, 2, 4));
    expect(w.tokens).toEqual([" a", " b", " b", "<img src=x onerror=alert(1)>", " b", " b"]);
    expect(Array.from(w.vocab)).toEqual([0, 2, 2, 1, 2, 2]);
    expect(Array.from(w.ids)).toEqual([10, 11, 12, 13, 14]);
    expect([w.start, w.focus, w.row, w.acts[4]]).toEqual([10, 2, 5, 9]);
  });

  it("names the problem in a malformed reply", () => {
    expect(() => decodeWindow({ feature: 1 })).toThrow(/the kernel sent no window/);
    expect(() => decodeWindow(null)).toThrow(/the kernel sent no window/);
    const bad = { ...makeWindow(4, 0, 1, 0), tokens: payload("uint8", [0, 9, 0, 0]) };
    expect(() => decodeWindow(bad)).toThrow(/window.tokens index 9 is outside vocab \(size 5\)/);
    const short = { ...makeWindow(4, 0, 1, 0), acts: payload("float32", [1]) };
    expect(() => decodeWindow(short)).toThrow(/window.acts has 1 entries, expected 4/);
    expect(() => decodeWindow(makeWindow(4, 0, 4, 0))).toThrow(
      /window.focus 4 is not one of its 4/,
    );
  });
});

describe("a widened row's place in the card", () => {
  it("maps the window's positions the card shows to the card's flat tokens, others to null", () => {
    const seq = decodeCard(makeState()).seqs[0]; // row 5, positions 16..19, flat 0..3
    if (!seq) throw new Error("no sequence");
    const win = { start: 0 };
    expect([15, 16, 17, 19, 20].map((i) => flatIndex(seq, win, i))).toEqual([null, 0, 1, 3, null]);
    expect(windowArgs(decodeCard(makeState()), seq)).toEqual({
      source: "gpt2-small-res-jb",
      feature: 3,
      row: 5,
      position: 18,
    });
  });
});

describe("a click on an example row", () => {
  it("asks the kernel for ±20 tokens and redraws the row with them; a second click narrows it", async () => {
    const { el, model } = mount();
    expect(q(el, ".fc-examples-note").textContent).toMatch(/^Click a row for ±20 tokens/);
    firstRow(el)
      .querySelector("span.fc-tok")
      ?.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    const [req] = windows(model);
    expect(req?.args).toEqual({ source: "gpt2-small-res-jb", feature: 3, row: 5, position: 18 });
    expect(firstRow(el).classList.contains("fc-seq-loading")).toBe(true);
    answer(model, req);
    await settle();
    const row = firstRow(el);
    expect(row.classList.contains("fc-seq-wide")).toBe(true);
    expect(row.classList.contains("fc-seq-loading")).toBe(false);
    const spans = row.querySelectorAll<HTMLElement>("span.fc-tok");
    expect(spans.length).toBe(39);
    expect(q(row, ".fc-focus").dataset.w).toBe("18");
    expect(q(row, ".fc-tok-max").dataset.w).toBe("30"); // the window's largest activation
    // the positions the card shows keep its flat indices and numbers; others have none
    expect(Array.from(spans, (s) => s.dataset.t ?? "").slice(15, 21)).toEqual([
      "",
      "0",
      "1",
      "2",
      "3",
      "",
    ]);
    expect(spans[18]?.dataset.act).toBe("2"); // the card's own activation, not the window's 0.18
    expect(row.querySelectorAll("img").length).toBe(0);
    expect(spans[3]?.dataset.text).toBe("<img src=x onerror=alert(1)>");
    // a token only the window has: its tooltip says where it is and what the unit does there
    spans[30]?.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    const tip = q(el, ".fc-tooltip");
    expect(tip.hidden).toBe(false);
    expect(q(tip, ".fc-tt-pos").textContent).toBe("dataset row 5, position 30");
    expect(q(tip, ".fc-tt-act .fc-tt-num").dataset.value).toBe("9");
    row.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(firstRow(el).classList.contains("fc-seq-wide")).toBe(false);
    expect(firstRow(el).querySelectorAll("span.fc-tok").length).toBe(4);
    expect(windows(model).length).toBe(1);
  });

  it("keeps the row and says why when the kernel refuses", async () => {
    const { el, model } = mount();
    firstRow(el).dispatchEvent(new MouseEvent("click", { bubbles: true }));
    const [req] = windows(model);
    const error = "IndexError: row 5 is out of range: accepted 0 .. 3";
    model.pythonSend({ kind: "fc-reply", id: req?.id, ok: false, error });
    await settle();
    expect(texts(el, ".fc-error-line")).toEqual([`expand: ${error}`]);
    expect(firstRow(el).classList.contains("fc-seq-loading")).toBe(false);
    expect(firstRow(el).querySelectorAll("span.fc-tok").length).toBe(4);
  });

  it("drops an answer for a card no longer shown, and a second click cancels one on its way", async () => {
    const { el, model } = mount();
    firstRow(el).dispatchEvent(new MouseEvent("click", { bubbles: true }));
    firstRow(el).dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(firstRow(el).classList.contains("fc-seq-loading")).toBe(false);
    firstRow(el).dispatchEvent(new MouseEvent("click", { bubbles: true }));
    const [first, second] = windows(model);
    answer(model, first);
    model.pythonSet("state", makeState({ feature: 4 }));
    model.pythonSet("feature", 4);
    answer(model, second);
    await settle();
    expect(el.querySelectorAll(".fc-seq-wide").length).toBe(0);
    expect(texts(el, ".fc-error-line")).toEqual([]);
  });

  it("works from the keyboard: a focusable row, Enter widens it, Escape narrows it, Space again", async () => {
    const { el, model } = mount();
    const key = (target: Element, k: string) => {
      const e = new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true });
      target.dispatchEvent(e);
      return e;
    };
    const rows = Array.from(el.querySelectorAll<HTMLElement>(".fc-examples .fc-seq"));
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect([r.tabIndex, r.getAttribute("role"), r.getAttribute("aria-expanded")]).toEqual([
        0,
        "button",
        "false",
      ]);
    }
    const row = firstRow(el);
    row.focus();
    key(row, "Escape"); // nothing to narrow: the card's own Esc, no request
    expect(windows(model)).toEqual([]);
    expect(key(row, "Enter").defaultPrevented).toBe(true);
    const [req] = windows(model);
    expect(req?.args).toEqual({ source: "gpt2-small-res-jb", feature: 3, row: 5, position: 18 });
    answer(model, req);
    await settle();
    const wide = firstRow(el);
    expect(wide.classList.contains("fc-seq-wide")).toBe(true);
    expect(wide.getAttribute("aria-expanded")).toBe("true");
    expect(wide.tabIndex).toBe(0);
    expect(document.activeElement).toBe(wide); // the redrawn row keeps the focus
    expect(key(wide, "Escape").defaultPrevented).toBe(true);
    const narrow = firstRow(el);
    expect(narrow.getAttribute("aria-expanded")).toBe("false");
    expect(narrow.querySelectorAll("span.fc-tok").length).toBe(4);
    expect(document.activeElement).toBe(narrow);
    // Space asks again; a key on a token link or with a modifier is not the row's
    expect(key(narrow, " ").defaultPrevented).toBe(true);
    expect(windows(model).length).toBe(2);
    expect(firstRow(el).classList.contains("fc-seq-loading")).toBe(true);
    expect(key(firstRow(el), "Escape").defaultPrevented).toBe(true); // cancels the request
    expect(firstRow(el).classList.contains("fc-seq-loading")).toBe(false);
    const ctrl = new KeyboardEvent("keydown", { key: "Enter", ctrlKey: true, bubbles: true });
    firstRow(el).dispatchEvent(ctrl);
    expect(windows(model).length).toBe(2);
  });

  it("in an exported card keeps ±5 tokens, says so, and a click says it needs a running kernel", () => {
    const { el, model } = mount({ live: false, choices: [3] });
    expect(q(el, ".fc-examples-note").textContent).toBe(
      "Rows show ±5 tokens around each example; ±20 needs a running kernel.",
    );
    firstRow(el).dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(windows(model)).toEqual([]);
    expect(texts(el, ".fc-error-line")).toEqual([OFFLINE_EXPAND]);
    expect(OFFLINE_EXPAND).toContain("needs a running kernel");
    expect(firstRow(el).querySelectorAll("span.fc-tok").length).toBe(4);
  });
});
