import { afterEach, describe, expect, it } from "vitest";
import { makeNodeState } from "../../testing/make-node-state";
import { makeState } from "../../testing/make-state";
import { mountWidget, q } from "../../testing/mount-widget";
import type { Request } from "../core/schema";
import type { NodesModel } from "./schema";
import * as widgetModule from "./widget";
import widget, { interpretTable } from "./widget";

function mount(over: Partial<NodesModel> = {}) {
  return mountWidget<NodesModel>(widget, {
    state: makeNodeState(1),
    position: 3,
    selected: {},
    card: {},
    ablations: [],
    trail: [],
    error: "",
    busy: false,
    ...over,
  });
}

const last = <T>(a: T[]): T | undefined => a[a.length - 1];
/** The last request sent, as [name, args]; the front end writes no trait. */
const lastAsked = (model: { sent: Array<{ content: unknown }>; saved: unknown[] }) => {
  expect(model.saved).toEqual([]);
  const c = last(model.sent)?.content as Request | undefined;
  return c ? [c.name, c.args] : undefined;
};
const rowNames = (el: Element) =>
  Array.from(el.querySelectorAll("tr.nt-row td.nt-name"), (e) => e.textContent ?? "");

afterEach(() => document.body.replaceChildren());

describe("the nodes widget", () => {
  it("exports only a default { render } (anywidget's module format)", () => {
    // anywidget (>= 0.9) warns once per view about a module that exports `render` by name.
    expect(Object.keys(widgetModule)).not.toContain("render");
    expect(Object.keys(widget)).toEqual(["render"]);
    expect(typeof widget.render).toBe("function");
  });

  it("draws the rows sorted by direct effect, with bars and signs", () => {
    const { el } = mount();
    expect(rowNames(el)).toEqual(["mlp L1 n7", "mlp L0 n5", "attn L1 H3", "res #12"]);
    expect(q(el, "th[data-key='direct_effect']").getAttribute("aria-sort")).toBe("descending");
    const first = el.querySelectorAll("tr.nt-row")[0];
    const cells = first?.querySelectorAll<HTMLElement>("td.nt-val") ?? [];
    expect(cells[2]?.dataset.value).toBe(String(Math.fround(0.9)));
    expect(cells[1]?.querySelector(".nt-num")?.classList.contains("nt-neg")).toBe(true);
    expect(q<HTMLElement>(cells[2] as Element, ".nt-bar").style.width).toBe("100%");
    expect(el.querySelectorAll("td.nt-nan")).toHaveLength(1); // the latent's direct effect
    expect(q(el, ".nt-target-desc").textContent).toBe("logit ' on' − logit ' in' at position 3");
  });

  it("shows an SAE's error node by its family's name, with no card link and no ablate button", () => {
    const base = makeNodeState(1);
    const families = base.families.map((f) =>
      f.kind === "sae"
        ? { ...f, kind: "error" as const, name: "res error", n_units: 1, card: false }
        : f,
    );
    const { el } = mount({ state: makeNodeState(1, { families }) });
    expect(rowNames(el)).toContain("res error");
    const row = q(el, "tr.nt-row.nt-kind-error");
    expect(row.querySelector("button.nt-open")).toBeNull();
    expect(q(row, "span.nt-label").title).toContain("minus the SAE's reconstruction");
    expect(row.querySelector("button.nt-ablate")).toBeNull();
    expect(el.querySelectorAll("button.nt-ablate")).toHaveLength(3);
    expect(q(el, "input.nt-family[data-family='res error']").parentElement?.textContent).toBe(
      " res error",
    );
  });

  it("sorts on header clicks, both directions", () => {
    const { el } = mount();
    q(el, "button.nt-sort[data-key='activation']").click();
    expect(rowNames(el)).toEqual(["mlp L0 n5", "res #12", "attn L1 H3", "mlp L1 n7"]);
    q(el, "button.nt-sort[data-key='activation']").click();
    expect(rowNames(el)).toEqual(["mlp L1 n7", "attn L1 H3", "res #12", "mlp L0 n5"]);
    expect(q(el, "th[data-key='activation']").getAttribute("aria-sort")).toBe("ascending");
  });

  it("filters by node type and layer (UI only, nothing is sent)", () => {
    const { el, model } = mount();
    const box = q<HTMLInputElement>(el, "input.nt-family[data-family='attn']");
    box.checked = false;
    box.dispatchEvent(new Event("change"));
    expect(rowNames(el)).not.toContain("attn L1 H3");
    const layer = q<HTMLSelectElement>(el, "select.nt-layer");
    layer.value = "0";
    layer.dispatchEvent(new Event("change"));
    expect(rowNames(el)).toEqual(["mlp L0 n5", "res #12"]);
    expect(q(el, ".nt-count").textContent).toContain("2 of 4");
    expect(model.saved).toHaveLength(0);
  });

  it("shows tokens as text and asks for a new target position on click", () => {
    const { el, model } = mount();
    const toks = el.querySelectorAll<HTMLElement>(".nt-prompt span.nt-tok");
    expect(toks).toHaveLength(4);
    expect(toks[2]?.dataset.text).toBe(" <b>cat</b>");
    expect(el.querySelector(".nt-prompts b")).toBeNull();
    expect(toks[3]?.classList.contains("nt-target")).toBe(true);
    toks[1]?.click();
    expect(lastAsked(model)).toEqual(["position", { position: 1 }]);
    expect(el.querySelectorAll(".nt-prompt span.nt-tok")[1]?.classList.contains("nt-pending")).toBe(
      true,
    );
  });

  it("highlights where a hovered node is active", () => {
    const { el } = mount();
    const row = Array.from(el.querySelectorAll<HTMLElement>("tr.nt-row")).find(
      (r) => r.dataset.index === "2",
    );
    row?.dispatchEvent(new Event("mouseenter"));
    const active = Array.from(
      el.querySelectorAll<HTMLElement>(".nt-prompt span.nt-tok.nt-active"),
      (t) => t.dataset.pos,
    );
    expect(active).toEqual(["2"]);
    row?.dispatchEvent(new Event("mouseleave"));
    expect(el.querySelectorAll(".nt-tok.nt-active")).toHaveLength(0);
  });

  it("opens a card on a latent or neuron click; heads have no link", () => {
    const { el, model } = mount();
    const latent = Array.from(el.querySelectorAll<HTMLButtonElement>("button.nt-open")).find(
      (b) => b.textContent === "res #12",
    );
    latent?.click();
    expect(lastAsked(model)).toEqual(["select", { family: "res", layer: 0, unit: 12 }]);
    const head = Array.from(el.querySelectorAll("tr.nt-row")).find((r) =>
      r.textContent?.includes("attn L1 H3"),
    );
    expect(head?.querySelector("button.nt-open")).toBeNull();
    expect(q(el, ".nt-card-area").hidden).toBe(true);
    model.pythonSet("card", makeState({ feature: 12 }));
    expect(q(el, ".nt-card-area").hidden).toBe(false);
    expect(q<HTMLInputElement>(el, ".nt-card-area .fc-card input.fc-index").value).toBe("12");
    q(el, ".nt-card-area button.fc-next").click(); // the card's own navigation asks the table
    expect(lastAsked(model)).toEqual(["select", { source: "gpt2-small-res-jb", unit: 13 }]);
    q(el, "button.nt-close-card").click();
    expect(lastAsked(model)).toEqual(["select", {}]);
  });

  it("adds and removes ablations", () => {
    const { el, model } = mount();
    q(el, "tr.nt-row button.nt-ablate").click();
    expect(lastAsked(model)).toEqual([
      "ablations",
      { ablations: [{ family: "mlp", layer: 1, unit: 7, pos: 3, mode: "zero" }] },
    ]);
    expect(q(el, ".nt-ablation").textContent).toContain("zero-ablated mlp L1 n7 @3");
    q(el, "button.nt-unablate").click();
    expect(lastAsked(model)).toEqual(["ablations", { ablations: [] }]);
    const modeSelect = q<HTMLSelectElement>(el, "select.nt-mode");
    modeSelect.value = "mean";
    modeSelect.dispatchEvent(new Event("change"));
    q(el, "tr.nt-row button.nt-ablate").click();
    expect(lastAsked(model)).toEqual([
      "ablations",
      { ablations: [{ family: "mlp", layer: 1, unit: 7, pos: 3, mode: "mean" }] },
    ]);
  });

  it("in an exported file (live: false) disables ablating and says it needs a running kernel", () => {
    const ablation = { family: "mlp", layer: 1, unit: 7, pos: 3, mode: "zero" as const };
    const { el, model } = mount({ live: false, ablations: [ablation] } as Partial<NodesModel>);
    const buttons = Array.from(el.querySelectorAll<HTMLButtonElement>("button.nt-ablate"));
    expect(buttons.length).toBeGreaterThan(0);
    for (const b of buttons) {
      expect(b.disabled).toBe(true);
      expect(b.title).toMatch(/^ablate needs a running kernel: ablate /);
    }
    expect(q(el, ".nt-offline").textContent).toBe("ablate needs a running kernel");
    expect(q<HTMLSelectElement>(el, "select.nt-mode").disabled).toBe(true);
    const x = q<HTMLButtonElement>(el, "button.nt-unablate");
    expect([x.disabled, x.title]).toEqual([true, "ablate needs a running kernel"]);
    buttons[0]?.click();
    x.click();
    expect(model.sent).toEqual([]);
    // live (no `live` value, as in the widget): enabled, no note
    const live = mount();
    expect(q<HTMLButtonElement>(live.el, "button.nt-ablate").disabled).toBe(false);
    expect(live.el.querySelector(".nt-offline")).toBeNull();
  });

  it("shows Left / Right / Diff for two prompts, one set of columns at a time", () => {
    const { el } = mount({ state: makeNodeState(2) });
    expect(el.querySelectorAll("th.nt-th-val")).toHaveLength(4);
    const views = Array.from(
      el.querySelectorAll<HTMLElement>("button.nt-view"),
      (b) => b.dataset.view,
    );
    expect(views).toEqual(["left", "right", "diff"]);
    expect(el.querySelectorAll(".nt-prompt")).toHaveLength(2);
    expect(q(el, "th[data-key='direct_effect:left']").getAttribute("aria-sort")).toBe("descending");
    const rowAt = (name: string) =>
      Array.from(el.querySelectorAll("tr.nt-row")).find((r) => r.textContent?.startsWith(name));
    const toks = (name: string) =>
      Array.from(
        rowAt(name)?.querySelectorAll<HTMLElement>(".nt-where-tok") ?? [],
        (t) => t.dataset.text,
      );
    expect(toks("mlp L0 n5")).toEqual([" <b>cat</b>", " dog"]); // the prompts differ at position 2
    expect(toks("mlp L1 n7")).toEqual([" sat"]);
  });

  it("keeps the last table and shows errors and unknown versions", () => {
    const { el, model } = mount();
    model.pythonSet("error", "IndexError: position 99 is out of range");
    expect(q(el, ".nt-error").hidden).toBe(false);
    expect(el.querySelectorAll("tr.nt-row")).toHaveLength(4);
    expect(interpretTable({ ...makeNodeState(1), schema_version: 99 }).problem).toContain(
      "unknown node-table schema version 99",
    );
    expect(interpretTable({}).notice).toBe("no table yet");
  });

  it("removes its listeners on cleanup", () => {
    const { model, cleanup } = mount();
    expect(model.listenerCount()).toBeGreaterThan(0);
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });
});
