import { describe, expect, it, vi } from "vitest";
import { makePromptState } from "../../../testing/make-prompt-state";
import { decodePrompt } from "../data";
import { cardTitle, createPromptView, NEEDS_KERNEL, type PromptProps } from "./prompt-view";

function props(over: Partial<PromptProps> = {}): PromptProps {
  return {
    data: decodePrompt(makePromptState()),
    errors: [],
    busy: false,
    notice: "",
    selected: null,
    cardOpen: false,
    live: true,
    ...over,
  };
}

const rows = (root: HTMLElement) =>
  [...root.querySelectorAll<HTMLElement>("tr.pv-row")].map((tr) => Number(tr.dataset.latent));
const click = (el: Element | null | undefined) => (el as HTMLElement).click();

describe("the prompt view component", () => {
  it("draws tokens as text, never markup, with bidi controls escaped", () => {
    const view = createPromptView({ onSelect: vi.fn() });
    view.update(props());
    const root = view.root;
    expect(root.querySelector("b")).toBeNull();
    expect(root.querySelector("script")).toBeNull();
    const toks = [...root.querySelectorAll(".pv-tok-text")].map((t) => t.textContent);
    expect(toks).toEqual(["<|endoftext|>", "·the", "</script><b>x</b>", "\\u202eevil"]);
    expect(root.querySelector('.pv-tok[data-pos="0"] .pv-tok-count')?.textContent).toBe("–");
  });

  it("lists the clicked token's latents in the chosen ranking", () => {
    const view = createPromptView({ onSelect: vi.fn() });
    view.update(props());
    expect(rows(view.root)).toEqual([7, 3]); // the first token with latents, by activation
    click(view.root.querySelector('.pv-tok[data-pos="2"]'));
    expect(rows(view.root)).toEqual([5, 7, 9]);
    expect(view.root.querySelector('.pv-tok[data-pos="2"]')?.getAttribute("aria-pressed")).toBe(
      "true",
    );
    click(view.root.querySelector('.pv-rank[data-key="lossNext"]'));
    expect(rows(view.root)).toEqual([7, 5, 9]);
    expect(
      view.root.querySelector('.pv-rank[data-key="lossNext"]')?.getAttribute("aria-checked"),
    ).toBe("true");
    click(view.root.querySelector('.pv-rank[data-key="quantile"]'));
    expect(rows(view.root)).toEqual([9, 5, 7]);
    const cells = [...view.root.querySelectorAll('tr[data-latent="9"] td')].map(
      (t) => t.textContent,
    );
    expect(cells.slice(0, 3)).toEqual(["#9", "0.250", "99.900%"]);
  });

  it("opens a latent's card with its position and shows its DFA bars", () => {
    const onSelect = vi.fn();
    const view = createPromptView({ onSelect });
    view.update(props());
    click(view.root.querySelector('.pv-tok[data-pos="2"]'));
    click(view.root.querySelector('tr[data-latent="7"]'));
    expect(onSelect).toHaveBeenCalledWith({ unit: 7, pos: 2 });
    const bars = [...view.root.querySelectorAll<HTMLElement>(".pv-dfa-row")];
    expect(bars.map((b) => b.dataset.pos)).toEqual(["0", "1", "2"]);
    expect(view.root.querySelector(".pv-dfa-title")?.textContent).toBe(
      "DFA of latent #7 at token 2",
    );
    expect(view.root.querySelector(".pv-dfa-sum")?.textContent).toContain("pre-activation 0.5");
    // the chosen latent's activation shades every token where it fires (tokens 1 and 2)
    const shaded = [...view.root.querySelectorAll<HTMLElement>(".pv-tok")].map(
      (b) => b.style.backgroundColor !== "",
    );
    expect(shaded).toEqual([true, true, true, true]);
    view.update(props({ selected: { unit: 7, pos: 2 }, cardOpen: true }));
    expect(view.root.querySelector(".pv-card-title")?.textContent).toBe(
      "card of latent 7 (token 2)",
    );
    expect(view.root.querySelector(".pv-card-area")?.hasAttribute("hidden")).toBe(false);
    click(view.root.querySelector(".pv-close-card"));
    expect(onSelect).toHaveBeenLastCalledWith(null);
  });

  it("says why DFA is missing for an SAE off attention outputs", () => {
    const view = createPromptView({ onSelect: vi.fn() });
    const why = "DFA needs an SAE on an attention output (blocks.L.attn.hook_z)";
    view.update(
      props({ data: decodePrompt(makePromptState({ dfa: null, unavailable: { dfa: why } })) }),
    );
    click(view.root.querySelector('tr[data-latent="3"]'));
    expect(view.root.querySelector(".pv-dfa .pv-unavailable")?.textContent).toBe(why);
  });

  it("offline: rows show DFA but open no card, and say they need a kernel", () => {
    const onSelect = vi.fn();
    const view = createPromptView({ onSelect });
    view.update(props({ live: false }));
    click(view.root.querySelector('tr[data-latent="7"]'));
    expect(onSelect).not.toHaveBeenCalled();
    expect(view.root.querySelector(".pv-dfa-title")).not.toBeNull();
    expect(view.root.querySelector(".pv-offline")?.textContent).toContain(NEEDS_KERNEL);
    expect(view.root.querySelector('tr[data-latent="7"]')?.getAttribute("title")).toContain(
      NEEDS_KERNEL,
    );
  });

  it("titles a card of another source by its source", () => {
    expect(cardTitle({ source: "blocks.0.mlp.hook_post", unit: 3 })).toBe(
      "card of blocks.0.mlp.hook_post #3",
    );
    expect(cardTitle(null)).toBe("card");
  });
});
