import { describe, expect, it } from "vitest";
import { SnapshotModel } from "./snapshot-model";

const states = [
  { feature: 3, kind: "feature_card" },
  { feature: 7, kind: "feature_card" },
];

describe("SnapshotModel", () => {
  it("starts on the first state, with the view's other traitlets", () => {
    const m = new SnapshotModel(states, { threshold: 0.5, error: "kept" });
    expect(m.get("feature")).toBe(3);
    expect(m.get("state")).toBe(states[0]);
    expect(m.get("busy")).toBe(false);
    expect(m.get("threshold")).toBe(0.5);
    expect(m.get("error")).toBe("kept"); // extra values win over the defaults
  });

  it("switches to a feature the file holds, and tells its listeners in order", () => {
    const m = new SnapshotModel(states, {});
    const seen: unknown[] = [];
    for (const k of ["feature", "state", "error"]) m.on(`change:${k}`, (v) => seen.push([k, v]));
    m.set("feature", 7);
    expect(m.get("state")).toBe(states[1]);
    expect(seen).toEqual([
      ["feature", 7],
      ["state", states[1]],
      ["error", ""],
    ]);
  });

  it("names the features it holds when asked for another, keeping the shown state", () => {
    const m = new SnapshotModel(states, {});
    m.set("feature", 5);
    expect(m.get("state")).toBe(states[0]);
    expect(m.get("error")).toBe("feature 5 is not in this exported file; it holds: 3, 7");
    m.set("feature", 3);
    expect(m.get("error")).toBe("");
  });

  it("sets other traitlets without touching the state, and sends nothing", () => {
    const m = new SnapshotModel(states, {});
    let calls = 0;
    m.on("change:error", () => calls++);
    m.set("threshold", 0.1);
    m.save_changes();
    m.send();
    expect(m.get("threshold")).toBe(0.1);
    expect(calls).toBe(0);
  });

  it("removes one listener, an event's listeners, or all", () => {
    const m = new SnapshotModel(states, {});
    const a = () => undefined;
    const b = () => undefined;
    m.on("change:feature", a);
    m.on("change:feature", b);
    m.on("change:state", a);
    m.off("change:feature", a);
    expect(m.listeners.get("change:feature")?.size).toBe(1);
    m.off("change:feature");
    expect(m.listeners.has("change:feature")).toBe(false);
    m.off();
    expect(m.listeners.size).toBe(0);
  });
});
