import { describe, expect, it, vi } from "vitest";
import { makeOverviewState } from "../../../testing/make-overview-state";
import { decodeOverview } from "../data";
import { cardTitle, createOverview, type OverviewProps, ownLatent } from "./overview";

const HOSTILE = "<img src=x onerror=alert(1)>";

function props(over: Partial<OverviewProps> = {}): OverviewProps {
  return {
    data: decodeOverview(makeOverviewState()),
    labels: { "2": HOSTILE },
    errors: [],
    busy: false,
    notice: "",
    selected: null,
    cardOpen: false,
    live: true,
    ...over,
  };
}

const rowsOf = (root: HTMLElement) =>
  [...root.querySelectorAll<HTMLElement>("tr.ov-row")].map((tr) => Number(tr.dataset.index));

describe("the overview component", () => {
  it("draws labels and tokens as text, never markup", () => {
    const view = createOverview({ onSelect: vi.fn(), onLabel: vi.fn() });
    view.update(props());
    const root = view.root;
    expect(root.querySelector("img")).toBeNull();
    expect(root.querySelector("b")).toBeNull();
    const label = root.querySelector('tr[data-index="2"] .ov-label-text');
    expect(label?.textContent).toBe(HOSTILE);
    const tok = root.querySelector('tr[data-index="2"] .ov-tok');
    expect(tok?.textContent).toBe("</script><b>x</b>");
    const bidi = root.querySelector('tr[data-index="3"] .ov-tok');
    expect(bidi?.textContent).toBe("\\u202eevil"); // the override shown as an escape
  });

  it("sorts on a header click and searches labels", () => {
    const view = createOverview({ onSelect: vi.fn(), onLabel: vi.fn() });
    view.update(props());
    expect(rowsOf(view.root)).toEqual([1, 5, 3, 4, 2, 0]); // density, descending
    view.root.querySelector<HTMLButtonElement>('th[data-key="maxAct"] button')?.click();
    expect(rowsOf(view.root)).toEqual([2, 4, 1, 3, 5, 0]);
    const search = view.root.querySelector<HTMLInputElement>(".ov-search");
    if (!search) throw new Error("no search box");
    search.value = "onerror";
    search.dispatchEvent(new Event("input"));
    expect(rowsOf(view.root)).toEqual([2]);
    expect(view.root.querySelector(".ov-count")?.textContent).toContain(
      "1 shown of 1 matching, 6 latents",
    );
  });

  it("opens a card on a row click and saves a label on Enter", () => {
    const onSelect = vi.fn();
    const onLabel = vi.fn();
    const view = createOverview({ onSelect, onLabel });
    view.update(props());
    view.root.querySelector<HTMLElement>('tr[data-index="4"]')?.click();
    expect(onSelect).toHaveBeenCalledWith(4);
    view.root.querySelector<HTMLButtonElement>('tr[data-index="4"] .ov-edit')?.click();
    expect(onSelect).toHaveBeenCalledTimes(1); // the edit button does not open the card
    const input = view.root.querySelector<HTMLInputElement>('tr[data-index="4"] .ov-label-input');
    if (!input) throw new Error("no label input");
    input.value = "  a new label ";
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    expect(onLabel).toHaveBeenCalledWith(4, "a new label");
  });

  it("offline: rows and label edits say they need a kernel", () => {
    const onSelect = vi.fn();
    const view = createOverview({ onSelect, onLabel: vi.fn() });
    view.update(props({ live: false }));
    const tr = view.root.querySelector<HTMLElement>('tr[data-index="1"]');
    tr?.click();
    expect(onSelect).not.toHaveBeenCalled();
    expect(tr?.title).toContain("needs a running kernel");
    const edit = view.root.querySelector<HTMLButtonElement>('tr[data-index="1"] .ov-edit');
    expect(edit?.disabled).toBe(true);
    expect(view.root.querySelector(".ov-count")?.textContent).toContain("needs a running kernel");
  });

  it("shows the summary, the histogram and the open card's label", () => {
    const view = createOverview({ onSelect: vi.fn(), onLabel: vi.fn() });
    view.update(props({ selected: { unit: 2 }, cardOpen: true }));
    const stat = (k: string) =>
      view.root.querySelector(`.ov-stat[data-key="${k}"] .ov-stat-value`)?.textContent;
    expect(stat("dead")).toBe("1 (16.7%)");
    expect(stat("ce")).toBe("0.900");
    expect(stat("l0")).toBe("0.70");
    expect(view.root.querySelectorAll(".ov-bar")).toHaveLength(3);
    expect(view.root.querySelector(".ov-card-title")?.textContent).toBe(
      `card of latent 2 — ${HOSTILE}`,
    );
    expect(view.root.querySelector("tr.ov-selected")?.getAttribute("data-index")).toBe("2");
  });
});

describe("the open card", () => {
  it("marks a row only for this SAE's latents", () => {
    expect(ownLatent({ unit: 3 }, "mlp0")).toBe(3);
    expect(ownLatent({ unit: 3, source: "mlp0" }, "mlp0")).toBe(3);
    expect(ownLatent({ unit: 3, source: "blocks.0.mlp.hook_post" }, "mlp0")).toBeNull();
    expect(ownLatent(null, "mlp0")).toBeNull();
  });
  it("is titled by its latent and label, or its source", () => {
    expect(cardTitle(props({ selected: { unit: 2 } }))).toBe(`card of latent 2 — ${HOSTILE}`);
    expect(cardTitle(props({ selected: { unit: 5, source: "mlp0" } }))).toBe("card of latent 5");
    const neuron = props({ selected: { unit: 1, source: "blocks.0.mlp.hook_post" } });
    expect(cardTitle(neuron)).toBe("card of blocks.0.mlp.hook_post #1");
    const view = createOverview({ onSelect: vi.fn(), onLabel: vi.fn() });
    view.update({ ...neuron, cardOpen: true });
    expect(view.root.querySelector("tr.ov-selected")).toBeNull();
  });
});
