import { afterEach, describe, expect, it } from "vitest";
import type { FakeModel } from "../../testing/fake-model.js";
import {
  buildCorrelation,
  buildExamples,
  buildTokenBytes,
  DEFAULT_HOVER,
  makeState,
  payload,
  VOCAB,
} from "../../testing/make-state";
import { mountWidget, q } from "../../testing/mount-widget";
import type { CardModel, FeatureCardState, Request } from "../core/schema";
import widget from "./widget";

type Fake = FakeModel<CardModel>;

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

const texts = (el: ParentNode, sel: string) =>
  Array.from(el.querySelectorAll(sel), (e) => (e.textContent ?? "").trim());
const hover = (el: Element) => el.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
const lastRequest = (model: Fake) => model.sent[model.sent.length - 1]?.content as Request;
/** The unit of the last `show` request; the card writes no trait. */
const lastShow = (model: Fake) => {
  expect(model.saved).toEqual([]);
  const shows = model.sent.map((m) => m.content as Request).filter((c) => c.name === "show");
  return shows[shows.length - 1]?.args;
};
const SOURCE = "gpt2-small-res-jb";
const flush = () => new Promise((r) => setTimeout(r, 0));

/** What the kernel does on a feature change: a new card for that unit. */
function answer(model: Fake, feature: number, source = "gpt2-small-res-jb"): FeatureCardState {
  const st = makeState({ feature, source });
  model.pythonSet("state", st);
  return st;
}

afterEach(() => document.body.replaceChildren());

describe("three columns", () => {
  it("draws the left tables with links and bars, omitting tables that do not exist", () => {
    const { el } = mount();
    expect(texts(el, ".fc-col-left .fc-panel-title")).toEqual([
      "Correlated neurons",
      "Correlated latents",
    ]);
    expect(texts(el, ".fc-left-latents .fc-link")).toEqual(["11", "4"]);
    expect(texts(el, ".fc-left-neurons .fc-bar-text")).toEqual(["0.500", "-0.250"]);
    expect(texts(el, ".fc-left-neurons .fc-left-second")).toEqual(["0.250", "0.125"]);
    const bars = el.querySelectorAll<HTMLElement>(".fc-left-neurons .fc-bar-fill");
    expect([bars[0]?.style.width, bars[1]?.style.width]).toEqual(["100%", "50%"]);
  });

  it("ranks the neuron alignment by |weight| and says so in the column help", () => {
    const alignment = {
      ids: payload("int32", [5, 9]),
      values: payload("float32", [-0.75, 0.5]),
      l1_share: payload("float32", [0.5, 0.25]),
    };
    const base = makeState();
    const { el } = mount({ state: makeState({ left: { ...base.left, alignment } }) });
    expect(texts(el, ".fc-left-alignment .fc-bar-text")).toEqual(["-0.750", "0.500"]);
    const head = el.querySelectorAll<HTMLElement>(".fc-left-alignment th")[1];
    expect(head?.textContent).toBe("weight");
    expect(head?.title).toContain("largest |weight|");
  });

  it("says why a table is unavailable", () => {
    const state = makeState({
      unavailable: { alignment: "blocks.8.hook_resid_pre is not a privileged basis" },
    });
    const { el } = mount({ state });
    expect(q(el, ".fc-panel-alignment .fc-unavailable").textContent).toContain(
      "not a privileged basis",
    );
  });

  it("draws the density line and both histograms with the state's ticks", () => {
    const { el } = mount();
    expect(q(el, ".fc-density-value").textContent).toBe("density 1.23%");
    expect(el.querySelectorAll(".fc-act-hist rect.fc-bar")).toHaveLength(2);
    expect(texts(el, ".fc-act-hist .fc-tick")).toEqual(["0", "1", "2"]);
    expect(texts(el, ".fc-logit-hist .fc-tick")).toEqual(["-1", "0", "1"]);
    expect(texts(el, ".fc-act-hist .fc-hist-y text")).toEqual(["0", "1", "2", "3"]);
  });

  it("shows a dead latent's reason in place of its examples and histogram", () => {
    const state = makeState({
      examples: buildExamples([]),
      hover: null,
      unavailable: { examples: "unit 3 never activates (> 0) on the 10000 dataset tokens" },
    });
    const { el } = mount({ state });
    expect(q(el, ".fc-col-right .fc-dead").textContent).toContain("never activates");
    expect(q(el, ".fc-act-panel .fc-unavailable").textContent).toContain("never activates");
    expect(el.querySelector(".fc-logits-top")).not.toBeNull(); // the logit tables still stand
  });
});

describe("hover", () => {
  it("shows the state's numbers for a token where the unit fires, and moves both markers", () => {
    const { el } = mount();
    const cat = q(el, 'span.fc-tok[data-t="2"]'); // " cat", act 2, hover row 1
    hover(cat);
    const tip = q(el, ".fc-tooltip");
    expect(tip.hidden).toBe(false);
    expect(q(tip, ".fc-tt-token").textContent).toBe("·cat");
    expect(q(tip, ".fc-tt-id").dataset.value).toBe("1002");
    expect(q(tip, ".fc-tt-pos").textContent).toBe("dataset row 5, position 18");
    expect(q(tip, ".fc-tt-act .fc-tt-num").textContent).toBe("2.000");
    expect(q(tip, ".fc-tt-loss .fc-tt-num").textContent).toBe("+0.500");
    expect(q(tip, ".fc-tt-loss th").textContent).toBe("loss change on next token ' sat'");
    expect(q(tip, ".fc-tt-loss-in .fc-tt-num").textContent).toBe("-0.250"); // from " The" (row 0)
    expect(texts(tip, ".fc-tt-top .fc-tt-tok")).toEqual(["·cat", "·sat"]);
    expect(texts(tip, ".fc-tt-top .fc-tt-num")).toEqual(["+0.750", "+0.125"]);
    expect(texts(tip, ".fc-tt-bottom .fc-tt-num")).toEqual(["-0.750", "-0.125"]);
    expect(q(el, ".fc-act-hist .fc-marker").dataset.value).toBe("2");
    expect(q(el, ".fc-logit-hist .fc-marker").dataset.value).toBe(String(Math.fround(0.2)));
    el.querySelector(".fc-card")?.dispatchEvent(new MouseEvent("mouseleave"));
    expect(tip.hidden).toBe(true);
    expect(q(el, ".fc-act-hist .fc-marker").getAttribute("visibility")).toBe("hidden");
  });

  it("says the unit is silent on a token without hover data, and escapes markup", () => {
    const { el } = mount();
    hover(q(el, 'span.fc-tok[data-t="0"]'));
    expect(q(el, ".fc-tt-note").textContent).toContain("silent");
    hover(q(el, 'span.fc-tok[data-t="4"]')); // "<b>x</b>" with effects
    const tip = q(el, ".fc-tooltip");
    expect(q(tip, ".fc-tt-token").textContent).toBe("<b>x</b>");
    expect(tip.querySelector("b, script")).toBeNull();
  });

  it("says when an active token's effects were cut to fit the card's budget", () => {
    const cut = "hover effects of 1 of the 7 active tokens shown were left out";
    const hoverCut = {
      ...DEFAULT_HOVER,
      token_row: payload("uint16", [6, 6, 1, 2, 3, 4, 6, 5, 6]),
    };
    const { el } = mount({
      state: makeState({ hover: hoverCut, unavailable: { hover_rows: cut } }),
    });
    hover(q(el, 'span.fc-tok[data-t="1"]')); // active (0.5), its row left out
    expect(q(el, ".fc-tt-note").textContent).toBe(cut);
    hover(q(el, 'span.fc-tok[data-t="0"]')); // silent (0)
    expect(q(el, ".fc-tt-note").textContent).toContain("silent");
  });

  it("underlines the token after one where the unit fires, coloured by the loss change", () => {
    const { el } = mount();
    const cat = q(el, 'span.fc-tok[data-t="2"]'); // predicted by " The" (row 0, loss -0.25)
    expect(cat.classList.contains("fc-loss")).toBe(true);
    expect(cat.style.getPropertyValue("--fc-loss")).toMatch(/^rgba\(31, 119, 180/);
    const sat = q(el, 'span.fc-tok[data-t="3"]'); // after " cat" (row 1, +0.5: raises the loss)
    // +0.5 of the card's largest |loss change| (1): alpha 0.25 + 0.75 * 0.5
    expect(sat.style.getPropertyValue("--fc-loss")).toBe("rgba(214, 39, 40, 0.63)");
    expect(q(el, 'span.fc-tok[data-t="1"]').classList.contains("fc-loss")).toBe(false); // after act 0
  });
});

describe("text", () => {
  it("decodes a character cut between two tokens once, on the token that completes it", () => {
    const vocab = [...VOCAB, "\uFFFD", "\uFFFD"]; // 7: c3, 8: a9 ("é" split)
    const state = makeState({
      vocab,
      vocab_ids: makeState().vocab_ids,
      vocab_bytes: buildTokenBytes([
        [7, [0xc3]],
        [8, [0xa9]],
      ]),
      examples: buildExamples([
        { title: "t", seqs: [{ tokens: [2, 7, 8, 6], acts: [0, 1, 2, 0] }] },
      ]),
      hover: null,
      logits: null,
    });
    state.vocab_ids = {
      ...state.vocab_ids,
      shape: [vocab.length],
      buffer: new Uint8Array(vocab.length * 2),
    };
    const { el } = mount({ state });
    const toks = Array.from(el.querySelectorAll<HTMLElement>("span.fc-tok"));
    expect(toks.map((t) => t.dataset.text)).toEqual([" cat", "", "é", " sat"]);
    expect(toks[1]?.classList.contains("fc-partial")).toBe(true);
    expect(toks[1]?.dataset.bytes).toBe("c3");
    expect(q(el, ".fc-seq").textContent).not.toContain("\uFFFD");
  });
});

describe("navigation", () => {
  it("a correlated latent opens its card; a neuron opens the hook's card", () => {
    const { el, model } = mount();
    q<HTMLButtonElement>(el, '.fc-left-latents .fc-link[data-feature="11"]').click();
    expect(lastShow(model)).toEqual({ source: SOURCE, feature: 11 });
    answer(model, 11);
    q<HTMLButtonElement>(el, '.fc-left-neurons .fc-link[data-feature="7"]').click();
    expect(lastShow(model)).toEqual({ source: "blocks.8.hook_resid_pre", feature: 7 });
  });

  it("back and forward walk the history; a visited card shows at once", () => {
    const { el, model } = mount();
    const back = q<HTMLButtonElement>(el, "button.fc-back");
    const fwd = q<HTMLButtonElement>(el, "button.fc-forward");
    expect([back.disabled, fwd.disabled]).toEqual([true, true]);
    q<HTMLButtonElement>(el, "button.fc-next").click();
    answer(model, 4);
    model.pythonSet("feature", 4);
    expect(back.disabled).toBe(false);
    back.click();
    expect(lastShow(model)).toEqual({ source: SOURCE, feature: 3 });
    expect(q(el, ".fc-card").dataset.feature).toBe("3"); // cached: drawn before the kernel answers
    answer(model, 3);
    expect(fwd.disabled).toBe(false);
    fwd.click();
    expect(lastShow(model)).toEqual({ source: SOURCE, feature: 4 });
  });

  it("an error from the kernel puts the last good card back", () => {
    const { el, model } = mount();
    q<HTMLButtonElement>(el, "button.fc-next").click();
    answer(model, 4);
    q<HTMLButtonElement>(el, "button.fc-back").click(); // shows cached 3 at once
    expect(q(el, ".fc-card").dataset.feature).toBe("3");
    model.pythonSet("error", "RuntimeError: out of memory");
    expect(q(el, ".fc-card").dataset.feature).toBe("4");
    expect(q(el, ".fc-error").textContent).toContain("out of memory");
  });

  it("keyboard shortcuts: arrows, [ ], r, / and i", () => {
    const { el, model } = mount();
    const card = q(el, ".fc-card");
    const key = (k: string, opts: KeyboardEventInit = {}) =>
      card.dispatchEvent(
        new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...opts }),
      );
    key("ArrowRight");
    expect(lastShow(model)).toEqual({ source: SOURCE, feature: 4 });
    answer(model, 4);
    key("[");
    expect(lastShow(model)).toEqual({ source: SOURCE, feature: 3 });
    key("r");
    expect(lastRequest(model)).toMatchObject({ kind: "fc-request", name: "random" });
    key("/");
    expect(document.activeElement?.classList.contains("fc-search-box")).toBe(true);
    key("i");
    expect(card.getAttribute("data-lm-suppress-shortcuts")).toBe("true");
  });

  it("search sends a request and lists the kernel's hits; a hit opens its card", async () => {
    const { el, model } = mount();
    const box = q<HTMLInputElement>(el, "input.fc-search-box");
    box.value = "the cat";
    box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    const req = lastRequest(model);
    expect(req).toMatchObject({
      kind: "fc-request",
      name: "search",
      args: { text: "the cat", k: 10 },
    });
    const hits = [
      { feature: 17, act: 3.5, frac: 0.875, pos: 2, token: " cat" },
      { feature: 2, act: 1, frac: 0, pos: 1, token: "<b>" },
    ];
    model.pythonSend({
      kind: "fc-reply",
      id: req.id,
      ok: true,
      result: { query: "the cat", source: "s", n_tokens: 2, hits },
    });
    await flush();
    expect(texts(el, ".fc-hit-id")).toEqual(["#17", "#2"]);
    expect(texts(el, ".fc-hit-frac")).toEqual(["87.5% of max", "dead in data"]);
    q<HTMLButtonElement>(el, 'button.fc-hit[data-feature="17"]').click();
    expect(lastShow(model)).toEqual({ source: SOURCE, feature: 17 });
  });

  it("a failed search or random shows the kernel's error in the card", async () => {
    const { el, model } = mount();
    const box = q<HTMLInputElement>(el, "input.fc-search-box");
    box.value = "x";
    box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    model.pythonSend({
      kind: "fc-reply",
      id: lastRequest(model).id,
      ok: false,
      error: "ValueError: too long",
    });
    await flush();
    expect(q(el, ".fc-error").textContent).toBe("search: ValueError: too long");
    q<HTMLButtonElement>(el, "button.fc-random").click();
    model.pythonSend({
      kind: "fc-reply",
      id: lastRequest(model).id,
      ok: true,
      result: { feature: 9 },
    });
    await flush();
    expect(lastShow(model)).toEqual({ source: SOURCE, feature: 9 });
    expect(q(el, ".fc-error").hidden).toBe(true);
  });
});

describe("an exported file (no kernel, a few cards)", () => {
  it("steps through the file's cards, disables search, links only to cards it holds", () => {
    const state = makeState({
      left: {
        alignment: null,
        neurons: null,
        latents: buildCorrelation([
          [8, 0.5, 0.1],
          [5, 0.2, 0.1],
        ]),
        latents_b: null,
      },
    });
    const { el, model } = mount({ live: false, choices: [3, 8, 20], state });
    expect(q<HTMLInputElement>(el, "input.fc-search-box").disabled).toBe(true);
    expect(el.querySelectorAll(".fc-left-latents button.fc-link")).toHaveLength(1); // 8, not 5
    expect(q(el, ".fc-left-latents span.fc-unit-id").textContent).toBe("5");
    q<HTMLButtonElement>(el, "button.fc-next").click();
    expect(lastShow(model)).toEqual({ source: SOURCE, feature: 8 });
    answer(model, 8); // what the file's model does: it holds card 8
    q<HTMLButtonElement>(el, "button.fc-random").click();
    const names = model.sent.map((m) => (m.content as Request).name);
    expect(names).toEqual(["show", "show"]); // picked among the file's cards: no random request
    expect([3, 20]).toContain(lastShow(model)?.feature);
  });
});
