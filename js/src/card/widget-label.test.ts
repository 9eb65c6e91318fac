import { afterEach, describe, expect, it } from "vitest";
import { makeState } from "../../testing/make-state";
import { mountWidget, q } from "../../testing/mount-widget";
import type { CardModel, Request } from "../core/schema";
import widget from "./widget";

function mount(over: Partial<CardModel> = {}) {
  return mountWidget<CardModel>(widget, {
    source: "mlp0",
    feature: 3,
    state: makeState({ label: "" }),
    error: "",
    busy: false,
    live: true,
    choices: [],
    build_progress: null,
    ...over,
  });
}

afterEach(() => document.body.replaceChildren());

const labelRequests = (model: { sent: Array<{ content: unknown }> }) =>
  model.sent.map((m) => m.content as Request).filter((c) => c.name === "label");

describe("the label in the widget", () => {
  it("sends the label request and draws the label the kernel's state carries", async () => {
    const { el, model } = mount();
    expect(q(el, ".fc-label-text").textContent).toBe("no label");
    q<HTMLButtonElement>(el, "button.fc-label-edit").click();
    const input = q<HTMLInputElement>(el, "input.fc-label-input");
    input.value = "<i>closing</i> tags";
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    const [req] = labelRequests(model);
    expect(req?.args).toEqual({ text: "<i>closing</i> tags" });
    expect(model.saved).toEqual([]); // a request, no trait written
    model.pythonSet("state", makeState({ label: "<i>closing</i> tags" }));
    model.pythonSend({ kind: "fc-reply", id: req?.id, ok: true, result: { label: "x" } });
    await Promise.resolve();
    expect(q(el, ".fc-label-text").textContent).toBe("<i>closing</i> tags");
    expect(el.querySelector(".fc-label i")).toBeNull();
  });

  it("shows a refused label in the banner and keeps the field open", async () => {
    const { el, model } = mount();
    q<HTMLButtonElement>(el, "button.fc-label-edit").click();
    const input = q<HTMLInputElement>(el, "input.fc-label-input");
    input.value = "x".repeat(5);
    q<HTMLButtonElement>(el, "button.fc-label-save").click();
    const [req] = labelRequests(model);
    const error = "ValueError: a label has at most 2000 characters; got 2001";
    model.pythonSet("error", error);
    model.pythonSend({ kind: "fc-reply", id: req?.id, ok: false, error });
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(q(el, ".fc-error").textContent).toContain("a label has at most 2000 characters");
    expect(el.querySelector("input.fc-label-input")).not.toBeNull();
  });

  it("an exported card shows the label; setting one says it needs a kernel", () => {
    const { el } = mount({ live: false, state: makeState({ label: "kept" }) });
    expect(q(el, ".fc-label-text").textContent).toBe("kept");
    expect(q<HTMLButtonElement>(el, "button.fc-label-edit").disabled).toBe(true);
    expect(q<HTMLButtonElement>(el, "button.fc-label-edit").title).toContain("running kernel");
  });
});
