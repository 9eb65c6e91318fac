/**
 * A card inside a host view (the node table here; the graph mounts it the same way, through
 * ../card/mount): its search and random go to the host's kernel, an exported host disables them
 * with the reason, and a unit the host asks for shows loading over the stale card.
 */
import { afterEach, describe, expect, it } from "vitest";
import { makeNodeState } from "../../testing/make-node-state";
import { makeState } from "../../testing/make-state";
import { mountWidget, q } from "../../testing/mount-widget";
import type { Request } from "../core/schema";
import type { NodesModel } from "./schema";
import widget from "./widget";

function mount(over: Partial<NodesModel> & { live?: boolean } = {}) {
  return mountWidget<NodesModel>(widget, {
    state: makeNodeState(1),
    position: 3,
    selected: { family: "sae", layer: 0, unit: 12 },
    card: makeState({ source: "sae", feature: 12 }),
    ablations: [],
    trail: [],
    error: "",
    busy: false,
    ...over,
  });
}

type Sent = { sent: Array<{ content: unknown }> };
const asked = (model: Sent, name: string) =>
  model.sent.map((m) => m.content as Request).filter((c) => c.name === name);
const settle = () => new Promise((r) => setTimeout(r, 0));
const area = (el: HTMLElement) => q(el, ".nt-card-area .fc-card");

afterEach(() => document.body.replaceChildren());

describe("search and random in a card inside a live host", () => {
  it("are enabled and asked of the host's kernel; a pick closes the results and opens the unit", async () => {
    const { el, model } = mount();
    const box = q<HTMLInputElement>(area(el), "input.fc-search-box");
    expect([box.disabled, q<HTMLButtonElement>(area(el), "button.fc-random").disabled]).toEqual([
      false,
      false,
    ]);
    box.value = "the value";
    box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    const [req] = asked(model, "search");
    expect(req?.args).toEqual({ text: "the value", k: 10 });
    const hits = [{ feature: 30, act: 2.2, frac: 1.1, pos: 1, token: " the" }];
    model.pythonSend({
      kind: "fc-reply",
      id: req?.id,
      ok: true,
      result: { query: "the value", source: "sae", n_tokens: 2, hits },
    });
    await settle();
    const panel = q(area(el), ".fc-search-panel");
    expect(panel.hidden).toBe(false);
    expect(q(panel, ".fc-search-status").textContent).toBe(
      "1 of 1 hits fire strongly (≥ 50.0% of its max)",
    );
    q(panel, "button.fc-hit").click();
    expect(panel.hidden).toBe(true); // closed by the pick
    expect(asked(model, "select").map((r) => r.args)).toEqual([{ source: "sae", unit: 30 }]);

    q(area(el), "button.fc-random").click();
    const [rnd] = asked(model, "random");
    model.pythonSend({ kind: "fc-reply", id: rnd?.id, ok: true, result: { feature: 7 } });
    await settle();
    expect(asked(model, "select").map((r) => r.args)).toEqual([
      { source: "sae", unit: 30 },
      { source: "sae", unit: 7 },
    ]);
  });

  it("are disabled with the reason in an exported host (its model says live: false)", () => {
    const { el, model } = mount({ live: false } as Partial<NodesModel>);
    const box = q<HTMLInputElement>(area(el), "input.fc-search-box");
    const random = q<HTMLButtonElement>(area(el), "button.fc-random");
    expect([box.disabled, box.title]).toEqual([true, "search needs a running kernel"]);
    expect([random.disabled, random.title]).toEqual([true, "random needs a running kernel"]);
    box.value = "x";
    box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(asked(model, "search")).toEqual([]);
  });
});

describe("a unit the host is asked for", () => {
  it("shows loading over the stale card until the host's reply", async () => {
    const { el, model } = mount();
    const card = area(el);
    q(card, "button.fc-next").click(); // the card asks the table for #13
    expect(card.classList.contains("fc-stale")).toBe(true);
    expect(q(card, ".fc-loading").hidden).toBe(false);
    expect(q(card, ".fc-loading-text").textContent).toBe("loading #13…");
    expect(q(card, ".fc-feature").textContent).toBe("feature 12 / 24"); // the old card, marked stale
    const [req] = asked(model, "select");
    model.pythonSet("card", makeState({ source: "sae", feature: 13 }));
    model.pythonSend({ kind: "fc-reply", id: req?.id, ok: true, result: { selected: req?.args } });
    await settle();
    expect(card.classList.contains("fc-stale")).toBe(false);
    expect(q(card, ".fc-loading").hidden).toBe(true);
    expect(q(card, ".fc-feature").textContent).toBe("feature 13 / 24");
  });

  it("from the table's own click too, and a refusal puts the card back", async () => {
    const { el, model } = mount();
    const other = Array.from(el.querySelectorAll<HTMLButtonElement>("button.nt-open")).find(
      (b) => !b.textContent?.endsWith("#12"),
    );
    other?.click();
    const [req] = asked(model, "select");
    const unit = req?.args.unit as number;
    const card = area(el);
    expect(unit).not.toBe(12);
    expect(card.classList.contains("fc-stale")).toBe(true);
    expect(q(card, ".fc-loading-text").textContent).toBe(`loading #${unit}…`);
    model.pythonSend({ kind: "fc-reply", id: req?.id, ok: false, error: "refused" });
    await settle();
    expect(card.classList.contains("fc-stale")).toBe(false);
    expect(q(card, ".fc-feature").textContent).toBe("feature 12 / 24");
  });
});
