import { describe, expect, it, vi } from "vitest";
import { makeState } from "../../../testing/make-state";
import { decodeCard } from "../card-data";
import { OFFLINE_LABEL, renderHeader, renderLabel } from "./header";

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("the label line", () => {
  it("shows the label as text, under the title", () => {
    const card = decodeCard(makeState({ label: "<b>quotes</b> & </script>" }));
    const header = renderHeader(card.header, { label: card.label, fail: () => {} });
    const line = header.querySelector(".fc-label");
    expect(header.children[1]).toBe(line); // right after the title
    expect(line?.querySelector(".fc-label-text")?.textContent).toBe("<b>quotes</b> & </script>");
    expect(line?.querySelector("b")).toBeNull();
    expect(decodeCard(makeState()).label).toBeNull();
    expect(renderLabel({ label: null, fail: () => {} })).toBeNull();
  });

  it("without a kernel the edit button is disabled and says why", () => {
    const line = renderLabel({ label: "", fail: () => {} });
    expect(line?.querySelector(".fc-label-none")?.textContent).toBe("no label");
    const button = line?.querySelector("button");
    expect(button?.disabled).toBe(true);
    expect(button?.title).toBe(OFFLINE_LABEL);
  });

  it("edits in place: Enter sends, a refusal is shown and keeps the field", async () => {
    const fail = vi.fn();
    const edit = vi.fn((text: string) =>
      text.length > 3
        ? Promise.reject(new Error("a label has at most 3 characters"))
        : Promise.resolve({}),
    );
    const line = renderLabel({ label: "old", edit, fail });
    line?.querySelector<HTMLButtonElement>("button.fc-label-edit")?.click();
    const input = line?.querySelector<HTMLInputElement>("input.fc-label-input");
    expect(input?.value).toBe("old");
    if (!input) throw new Error("no field");
    input.value = "too long";
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(edit).toHaveBeenLastCalledWith("too long");
    expect(input.disabled).toBe(true);
    await flush();
    expect(fail).toHaveBeenCalledWith("label: a label has at most 3 characters");
    expect(input.disabled).toBe(false);
    expect(line?.contains(input)).toBe(true);
    input.value = "new";
    line?.querySelector<HTMLButtonElement>("button.fc-label-save")?.click();
    await flush();
    expect(edit).toHaveBeenLastCalledWith("new");
    expect(line?.querySelector("input")).toBeNull(); // closed; the kernel's new state redraws the text
    line?.querySelector<HTMLButtonElement>("button.fc-label-edit")?.click();
    line
      ?.querySelector<HTMLInputElement>("input")
      ?.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(line?.querySelector("input")).toBeNull();
    expect(edit).toHaveBeenCalledTimes(2);
  });
});
