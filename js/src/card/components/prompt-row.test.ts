import { describe, expect, it } from "vitest";
import { makeState, payload } from "../../../testing/make-state";
import type { CardPrompt } from "../../core/schema";
import { decodeCard } from "../card-data";
import { decodeCardPrompt } from "../prompt-data";
import { createFeatureCard } from "./feature-card";
import { promptScale, renderPromptRow } from "./prompt-row";

const HOSTILE = "</script><img src=x onerror=alert(1)>";

function fail(): never {
  throw new Error("expected a decoded prompt");
}

function block(over: Partial<CardPrompt> = {}): CardPrompt {
  return {
    text: `hi${HOSTILE}`,
    tokens: payload("uint8", [0, 1, 2, 1]),
    acts: payload("float32", [0, 1.5, 9, -0.5]),
    focus: 2,
    dfa: null,
    vocab: ["<|endoftext|>", "hi", HOSTILE],
    vocab_ids: payload("uint16", [0, 40, 41]),
    vocab_bytes: {
      ids: payload("uint8", []),
      offsets: payload("uint8", [0]),
      data: payload("uint8", []),
    },
    ...over,
  };
}

describe("a card's prompt block", () => {
  it("draws the DFA at the focus token as a second row over its sources", () => {
    const state = makeState({ prompt: block({ dfa: payload("float32", [0.5, -2, 1]) }) });
    const section = renderPromptRow(decodeCardPrompt(state) ?? fail(), 1);
    const spans = [...section.querySelectorAll<HTMLElement>(".fc-prompt-dfa span.fc-tok")];
    expect(spans.map((s) => s.dataset.text)).toEqual(["<|endoftext|>", "hi", HOSTILE]);
    expect(spans.map((s) => s.dataset.act)).toEqual(["0.5", "-2", "1"]);
    expect(spans[1]?.classList.contains("fc-tok-max")).toBe(false); // the largest positive is marked, not |.|
    expect(section.querySelector("img")).toBeNull();
    expect(() =>
      decodeCardPrompt(makeState({ prompt: block({ dfa: payload("float32", [1]) }) })),
    ).toThrow(/prompt\.dfa has 1 entries, expected 3/);
    expect(
      renderPromptRow(decodeCardPrompt(makeState({ prompt: block() })) ?? fail(), 1).querySelector(
        ".fc-prompt-dfa",
      ),
    ).toBeNull();
  });

  it("decodes the prompt's tokens and acts, and refuses a bad focus or length", () => {
    const p = decodeCardPrompt(makeState({ prompt: block() }));
    expect(p?.tokens).toEqual(["<|endoftext|>", "hi", HOSTILE, "hi"]);
    expect(Array.from(p?.acts ?? [])).toEqual([0, 1.5, 9, -0.5]);
    expect(decodeCardPrompt(makeState())).toBeNull();
    expect(() => decodeCardPrompt(makeState({ prompt: block({ focus: 4 }) }))).toThrow(
      /prompt\.focus 4 is not one of its 4 tokens/,
    );
    expect(() =>
      decodeCardPrompt(makeState({ prompt: block({ acts: payload("float32", [1]) }) })),
    ).toThrow(/prompt\.acts has 1 entries, expected 4/);
  });

  it("draws the prompt as text above the examples, its focus and largest token marked", () => {
    const view = createFeatureCard({});
    const data = decodeCard(makeState({ prompt: block() }));
    view.update({
      data,
      source: "s",
      feature: 0,
      errors: [],
      busy: false,
      notice: "",
      live: true,
      choices: [],
    });
    const right = view.root.querySelector(".fc-col-right");
    const section = right?.firstElementChild;
    expect(section?.classList.contains("fc-prompt")).toBe(true);
    expect(right?.querySelector(".fc-examples")).not.toBeNull();
    expect(view.root.querySelector("img")).toBeNull();
    const spans = [...(section?.querySelectorAll<HTMLElement>("span.fc-tok") ?? [])];
    expect(spans.map((s) => s.dataset.text)).toEqual(["<|endoftext|>", "hi", HOSTILE, "hi"]);
    expect(spans[2]?.classList.contains("fc-focus")).toBe(true);
    expect(spans[2]?.classList.contains("fc-tok-max")).toBe(true);
    expect(spans.map((s) => s.dataset.t)).toEqual([undefined, undefined, undefined, undefined]); // no hover rows
    const plain = createFeatureCard({});
    plain.update({
      data: decodeCard(makeState()),
      source: "s",
      feature: 0,
      errors: [],
      busy: false,
      notice: "",
      live: true,
      choices: [],
    });
    expect(plain.root.querySelector(".fc-prompt")).toBeNull();
  });

  it("widens the colour scale to the prompt's largest activation", () => {
    const p = decodeCardPrompt(makeState({ prompt: block() }));
    if (!p) throw new Error("decoded");
    expect(promptScale(p, 2)).toBe(9);
    expect(promptScale(p, 20)).toBe(20);
    expect(renderPromptRow(p, 2).querySelector(".fc-prompt-row")).not.toBeNull();
  });
});
