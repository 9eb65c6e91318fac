import { afterEach, describe, expect, it, vi } from "vitest";
import { buildExamples, makeState } from "../../testing/make-state";
import { mountWidget, q } from "../../testing/mount-widget";
import { REQUEST_TIMEOUT_MS } from "../core/requests";
import { type CardModel, type Request, SCHEMA_VERSION } from "../core/schema";
import { TYPING_DELAY_MS } from "./components/feature-card";
import { SHORTCUTS } from "./components/nav";
import * as widgetModule from "./widget";
import widget, { version } from "./widget";

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

const texts = (el: Element, sel: string) =>
  Array.from(el.querySelectorAll(sel), (e) => e.textContent ?? "");

function typeIndex(el: Element, value: string, event: "input" | "change" = "change") {
  const input = q<HTMLInputElement>(el, "input.fc-index");
  input.value = value;
  input.dispatchEvent(new Event(event, { bubbles: true }));
}

afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
});

describe("the widget module", () => {
  it("exports only a default { render } (anywidget's module format), and the package version", () => {
    // anywidget (>= 0.9) warns once per view about a module that exports `render` by name.
    expect(Object.keys(widgetModule)).not.toContain("render");
    expect(Object.keys(widget)).toEqual(["render"]);
    expect(typeof widget.render).toBe("function");
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("initial render", () => {
  it("draws header, logit tables and examples from a hand-built state", () => {
    const { el } = mount();
    const card = q(el, "div.fc-card");
    expect(q(card, ".fc-source").textContent).toBe("gpt2-small-res-jb");
    expect(q(card, ".fc-unit").textContent).toBe("latent");
    expect(q(card, ".fc-hook").textContent).toBe("blocks.8.hook_resid_pre");
    expect(q(card, ".fc-feature").textContent).toBe("feature 3 / 24");
    expect(q(card, ".fc-density").textContent).toBe("density 1.23%");
    expect(q(card, ".fc-max").textContent).toBe("max act 2.000");
    const input = q<HTMLInputElement>(card, "input.fc-index");
    expect([input.type, input.min, input.max, input.value]).toEqual(["number", "0", "23", "3"]);
    expect(q(card, ".fc-error").hidden).toBe(true);
    expect(q(card, ".fc-busy").hidden).toBe(true);

    expect(texts(card, ".fc-group-title")).toEqual(["Top activations", "Quantile 1"]);
    expect(card.querySelectorAll(".fc-seq")).toHaveLength(3);
    expect(card.querySelectorAll(".fc-seq")[0]?.querySelectorAll("span.fc-tok")).toHaveLength(4);
    expect(texts(card, ".fc-logits-top td.fc-logit-val")).toEqual(["0.800", "0.300"]);
    expect(texts(card, ".fc-logits-bottom td.fc-logit-tok")).toEqual(["<b>x</b>", "</script>"]);
    expect(texts(card, ".fc-logits-bottom td.fc-logit-val")).toEqual(["-0.900", "-0.200"]);
  });

  it("gives each token its activation, colour, flat index and marks", () => {
    const { el } = mount();
    const toks = el
      .querySelectorAll<HTMLElement>(".fc-seq")[0]
      ?.querySelectorAll<HTMLElement>("span.fc-tok");
    const cat = toks?.[2];
    expect(cat?.dataset.act).toBe("2");
    expect(cat?.dataset.text).toBe(" cat");
    expect(cat?.dataset.t).toBe("2");
    expect(cat?.title).toBe(""); // the card's own tooltip, not the browser's
    expect(cat?.classList.contains("fc-focus")).toBe(true);
    expect(cat?.classList.contains("fc-tok-max")).toBe(true);
    expect(el.querySelectorAll(".fc-focus")).toHaveLength(3);
    expect(el.querySelectorAll(".fc-tok-max")).toHaveLength(3);
    expect(cat?.style.backgroundColor).not.toBe("transparent");
    expect(toks?.[0]?.style.backgroundColor).toBe("transparent"); // act 0
  });

  it("makes spaces and newlines visible while keeping the real text", () => {
    const { el } = mount();
    const toks = el.querySelectorAll<HTMLElement>("span.fc-tok");
    expect(toks[1]?.textContent).toBe("·The");
    expect(toks[1]?.querySelector(".fc-ws")?.textContent).toBe("·");
    const newline = toks[6];
    expect(newline?.textContent).toBe("↵");
    expect(newline?.dataset.text).toBe("\n");
  });

  it("renders markup-like tokens as literal text, creating no elements", () => {
    const { el } = mount();
    const toks = el.querySelectorAll<HTMLElement>(".fc-seq")[1]?.querySelectorAll("span.fc-tok");
    expect(toks?.[0]?.textContent).toBe("<b>x</b>");
    expect(toks?.[1]?.textContent).toBe("</script>");
    expect(toks?.[0]?.children).toHaveLength(0);
    expect(el.querySelector("b, script")).toBeNull();
  });

  it("shows the reason when logits are unavailable", () => {
    const state = makeState({ logits: null, unavailable: { logits: "hook has no linear path" } });
    const { el } = mount({ state });
    expect(el.querySelector(".fc-logits-top")).toBeNull();
    expect(q(el, ".fc-logits .fc-unavailable").textContent).toBe("hook has no linear path");
  });

  it("shows 'no card yet' for an empty state", () => {
    const { el } = mount({ state: {} });
    expect(q(el, ".fc-notice").textContent).toBe("no card yet");
    expect(el.querySelector(".fc-seq")).toBeNull();
    expect(q(el, ".fc-error").hidden).toBe(true);
    expect(q<HTMLInputElement>(el, "input.fc-index").disabled).toBe(true);
  });

  it("shows an error for an unknown schema version instead of nothing", () => {
    const { el } = mount({ state: makeState({ schema_version: 99 }) });
    const banner = q(el, ".fc-error");
    expect(banner.hidden).toBe(false);
    expect(banner.textContent).toBe(
      `unknown schema version 99 (this bundle reads ${SCHEMA_VERSION})`,
    );
  });

  it("shows a clear error for a malformed card", () => {
    const state = makeState();
    state.examples = { ...buildExamples([]), groups: [{ title: "x", count: 1 }] };
    const { el } = mount({ state });
    expect(q(el, ".fc-error").textContent).toMatch(/could not read the card: .*groups count 1/);
  });
});

type Sent = { sent: Array<{ content: unknown }> };
const asked = (model: Sent, name: string) =>
  model.sent.map((m) => m.content as Request).filter((c) => c.name === name);
const shows = (model: Sent) => asked(model, "show").map((c) => c.args.feature);

describe("choosing a feature", () => {
  it("typing in the index box asks the kernel to show it, writing no trait", () => {
    const { el, model } = mount();
    typeIndex(el, "7");
    const [req] = asked(model, "show");
    expect(req).toMatchObject({ kind: "fc-request", name: "show" });
    expect(req?.args).toEqual({ source: "gpt2-small-res-jb", feature: 7 });
    expect(model.saved).toEqual([]);
    expect(model.get("feature")).toBe(3); // the kernel sets it, once it has the card
  });

  it("sends a typed number after a pause, without waiting for Enter", () => {
    vi.useFakeTimers();
    const { el, model } = mount();
    typeIndex(el, "1", "input");
    typeIndex(el, "12", "input");
    expect(shows(model)).toEqual([]);
    vi.advanceTimersByTime(TYPING_DELAY_MS);
    expect(shows(model)).toEqual([12]);
    typeIndex(el, "12", "change"); // blur afterwards: nothing new to send
    expect(shows(model)).toEqual([12]);
  });

  it("refuses an index out of [0, n_features - 1] with the range, never clamps, and ignores non-integers", () => {
    const { el, model } = mount();
    const input = q<HTMLInputElement>(el, "input.fc-index");
    const before = input.value;
    typeIndex(el, "999");
    expect(input.value).toBe(before); // the box shows the card again
    expect(q(el, ".fc-error").textContent).toBe("index: 999 is out of range: the index is 0 to 23");
    typeIndex(el, "-5");
    expect(q(el, ".fc-error").textContent).toBe("index: -5 is out of range: the index is 0 to 23");
    typeIndex(el, "2.5");
    typeIndex(el, "");
    expect(shows(model)).toEqual([]);
    expect(input.value).toBe(before);
    typeIndex(el, "0");
    expect(shows(model)).toEqual([0]);
    expect(q<HTMLElement>(el, ".fc-error").hidden).toBe(true);
  });

  it("prev / next step by one and stop at the ends", () => {
    const { el, model } = mount();
    q(el, "button.fc-next").click();
    q(el, "button.fc-next").click();
    q(el, "button.fc-prev").click();
    expect(shows(model)).toEqual([4, 5, 4]);
    expect(q<HTMLInputElement>(el, "input.fc-index").value).toBe("4");
    typeIndex(el, "0");
    expect(q<HTMLButtonElement>(el, "button.fc-prev").disabled).toBe(true);
    typeIndex(el, "23");
    expect(q<HTMLButtonElement>(el, "button.fc-next").disabled).toBe(true);
  });

  it("the kernel's answer sets the card; a refusal puts the index box back on the shown card", async () => {
    const { el, model } = mount();
    const input = q<HTMLInputElement>(el, "input.fc-index");
    typeIndex(el, "7");
    expect(input.value).toBe("7"); // while the kernel computes, the box shows what was asked
    expect(q(el, ".fc-loading-text").textContent).toBe("loading #7…"); // over the stale card
    expect(q(el, "div.fc-card").classList.contains("fc-stale")).toBe(true);
    const first = asked(model, "show")[0] as Request;
    model.pythonSet("state", makeState({ feature: 7 }));
    model.pythonSet("feature", 7);
    model.pythonSend({ kind: "fc-reply", id: first.id, ok: true, result: { feature: 7 } });
    await Promise.resolve();
    expect(q(el, ".fc-feature").textContent).toBe("feature 7 / 24");
    expect(q(el, "div.fc-card").classList.contains("fc-stale")).toBe(false);
    typeIndex(el, "9");
    const second = asked(model, "show")[1] as Request;
    model.pythonSet("error", "feature 9 is refused");
    model.pythonSend({ kind: "fc-reply", id: second.id, ok: false, error: "feature 9 is refused" });
    await Promise.resolve();
    expect(input.value).toBe("7");
    expect(q(el, ".fc-loading").hidden).toBe(true); // refused: nothing loads
    expect(texts(el, ".fc-error-line")).toEqual(["feature 9 is refused"]);
    expect(q(el, ".fc-feature").textContent).toBe("feature 7 / 24");
  });

  it("shows a request's failure that the kernel could not report (no reply)", async () => {
    vi.useFakeTimers();
    const { el } = mount();
    typeIndex(el, "7");
    await vi.advanceTimersByTimeAsync(REQUEST_TIMEOUT_MS);
    expect(texts(el, ".fc-error-line")).toEqual(["show: no reply from the kernel in 20 s"]);
    expect(q<HTMLInputElement>(el, "input.fc-index").value).toBe("3");
  });
});

describe("the keyboard help", () => {
  it("opens a panel under the bar listing every shortcut; ?, × and Esc close it", () => {
    const { el } = mount();
    const help = q<HTMLButtonElement>(el, "button.fc-help");
    const panel = q(el, ".fc-help-panel");
    const box = q(el, ".fc-nav-panels");
    expect([panel.hidden, box.hidden, help.getAttribute("aria-expanded")]).toEqual([
      true,
      true,
      "false",
    ]);
    help.click();
    expect([panel.hidden, box.hidden, help.getAttribute("aria-expanded")]).toEqual([
      false,
      false,
      "true",
    ]);
    const keys = Array.from(panel.querySelectorAll("dt"), (d) => d.textContent);
    const what = Array.from(panel.querySelectorAll("dd"), (d) => d.textContent);
    expect(keys.map((k, i) => [k, what[i]])).toEqual(SHORTCUTS.map(([k, v]) => [k, v]));
    // under the bar, in the card's flow (not a tooltip, not inside the bar)
    expect(q(el, ".fc-nav").contains(panel)).toBe(false);
    expect(
      q(el, ".fc-nav").compareDocumentPosition(panel) & Node.DOCUMENT_POSITION_FOLLOWING,
    ).toBeTruthy();
    help.click();
    expect([panel.hidden, box.hidden]).toEqual([true, true]);
    help.click();
    q(el, "button.fc-help-close").click();
    expect([panel.hidden, help.getAttribute("aria-expanded")]).toEqual([true, "false"]);
    help.click();
    help.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect([panel.hidden, box.hidden]).toEqual([true, true]);
  });
});

describe("changes from Python", () => {
  it("re-renders when the state changes", () => {
    const { el, model } = mount();
    model.pythonSet("busy", true);
    expect(q(el, ".fc-busy").hidden).toBe(false);
    expect(q(el, ".fc-card").classList.contains("fc-is-busy")).toBe(true);
    model.pythonSet("feature", 8);
    expect(q<HTMLInputElement>(el, "input.fc-index").value).toBe("8");
    model.pythonSet("state", makeState({ feature: 8, source: "another SAE", max_act: 5 }));
    model.pythonSet("busy", false);
    expect(q(el, ".fc-feature").textContent).toBe("feature 8 / 24");
    expect(q(el, ".fc-source").textContent).toBe("another SAE");
    expect(q(el, ".fc-busy").hidden).toBe(true);
    expect(model.saved).toEqual([]);
  });

  it("shows the error banner and keeps the last good examples", () => {
    const { el, model } = mount();
    const before = el.querySelectorAll(".fc-seq").length;
    model.pythonSet("error", "feature 30 is out of range <0..23>");
    const banner = q(el, ".fc-error");
    expect(banner.hidden).toBe(false);
    expect(banner.textContent).toBe("feature 30 is out of range <0..23>");
    expect(banner.querySelector("*:not(.fc-error-line)")).toBeNull();
    expect(el.querySelectorAll(".fc-seq")).toHaveLength(before);
    expect(before).toBeGreaterThan(0);
    model.pythonSet("error", "");
    expect(banner.hidden).toBe(true);
  });

  it("does not rebuild the card on busy/error changes", () => {
    const { el, model } = mount();
    const body = q(el, ".fc-body");
    model.pythonSet("busy", true);
    model.pythonSet("error", "oops");
    expect(q(el, ".fc-body")).toBe(body);
  });
});

describe("cleanup", () => {
  it("removes every model listener and the DOM", () => {
    const { el, model, cleanup } = mount();
    expect(model.listenerCount()).toBe(9); // 8 traitlets + the custom-message channel
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.querySelector(".fc-card")).toBeNull();
    model.pythonSet("state", makeState({ source: "after" })); // no throw, no redraw
    expect(el.children).toHaveLength(0);
  });

  it("detaches the DOM listeners too", () => {
    const { el, model, cleanup } = mount();
    const next = q(el, "button.fc-next");
    cleanup();
    next.click();
    expect(model.saved).toEqual([]);
  });

  it("also runs when anywidget aborts the render signal", () => {
    const { model, controller } = mount();
    controller.abort();
    expect(model.listenerCount()).toBe(0);
  });
});

describe("a quick card with pending panels", () => {
  const pendingState = () => {
    const base = makeState();
    return makeState({
      pending: ["latents"],
      unavailable: { latents: "being computed: waits for the complete index" },
      left: { ...base.left, latents: null },
    });
  };
  const completes = (model: { sent: Array<{ content: unknown }> }) =>
    model.sent.filter((m) => (m.content as { name?: string }).name === "complete");

  it("asks the kernel once to complete it, and shows why the panel is not there yet", () => {
    const { el, model } = mount({ state: pendingState() });
    expect(completes(model)).toHaveLength(1);
    expect(q(el, ".fc-panel-latents .fc-unavailable").textContent).toContain("being computed");
    model.set("busy", true); // redraws with the same state: no second request
    expect(completes(model)).toHaveLength(1);
    model.set("state", pendingState()); // another quick card: asks again
    expect(completes(model)).toHaveLength(2);
  });

  it("shows the build's progress in the pending panel while it is reported, in place", () => {
    const { el, model } = mount({ state: pendingState() });
    const body = q(el, ".fc-body");
    expect(q(el, ".fc-panel-latents .fc-build").hidden).toBe(true); // no report yet
    model.pythonSet("build_progress", { done: 420_000, total: 1_000_000, seconds: 22.5 });
    const shown = q(el, ".fc-panel-latents .fc-build");
    expect([shown.hidden, q<HTMLProgressElement>(shown, "progress").value]).toEqual([
      false,
      420_000,
    ]);
    expect(shown.textContent).toBe("indexing every latent: 42 % · 18.7k tok/s · about 31 s left");
    expect(q(el, ".fc-body")).toBe(body); // not redrawn
    model.pythonSet("build_progress", null);
    expect(shown.hidden).toBe(true);
    const malformed = { done: "x", total: 1, seconds: 1 } as unknown as CardModel["build_progress"];
    model.pythonSet("build_progress", malformed); // shown as none
    expect(shown.hidden).toBe(true);
    const report = { done: 1, total: 2, seconds: 1 };
    const exported = mount({ state: pendingState(), live: false, build_progress: report }).el;
    expect(q(exported, ".fc-build").hidden).toBe(true);
    expect(mount({ build_progress: report }).el.querySelector(".fc-build")).toBeNull();
  });

  it("does not ask for a complete card, nor from an exported file", () => {
    expect(completes(mount().model)).toHaveLength(0);
    expect(completes(mount({ state: pendingState(), live: false }).model)).toHaveLength(0);
  });
});
