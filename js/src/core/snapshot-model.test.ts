import { describe, expect, it } from "vitest";
import type { Reply } from "./schema";
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
    expect(m.get("live")).toBe(false); // no kernel: a card inside it disables search and random
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

describe("SnapshotModel answers the views' requests without a kernel", () => {
  function ask(m: SnapshotModel, name: string, args: Record<string, unknown>): Promise<Reply> {
    return new Promise((resolve) => {
      const onReply = (r: unknown) => {
        m.off("msg:custom", onReply);
        resolve(r as Reply);
      };
      m.on("msg:custom", onReply);
      m.send({ kind: "fc-request", id: `r-${name}`, name, args });
    });
  }

  it("shows a card the file holds, and refuses another, naming those it holds", async () => {
    const m = new SnapshotModel(states, { source: "sae" });
    const seen: unknown[] = [];
    m.on("change:state", (v) => seen.push(v));
    const ok = await ask(m, "show", { source: "sae", feature: 7 });
    expect(ok).toEqual({
      kind: "fc-reply",
      id: "r-show",
      ok: true,
      result: { source: "sae", feature: 7 },
    });
    expect([m.get("feature"), m.get("state"), m.get("error")]).toEqual([7, states[1], ""]);
    expect(seen).toEqual([states[1]]);
    const no = await ask(m, "show", { source: "sae", feature: 5 });
    expect(no.ok).toBe(false);
    expect(no.error).toBe("feature 5 is not in this exported file; it holds: 3, 7");
    expect(m.get("error")).toBe(no.error);
    expect(m.get("state")).toBe(states[1]);
    const other = await ask(m, "show", { source: "other", feature: 3 });
    expect(other.error).toBe("other is not in this exported file; it holds sae");
  });

  it("sets the graph's target and threshold and closes an open card", async () => {
    const m = new SnapshotModel(states, {
      target: 1,
      threshold: 0.04,
      selected: { unit: 2 },
      card: { feature: 2 },
    });
    expect((await ask(m, "target", { target: 0 })).result).toEqual({ target: 0 });
    expect((await ask(m, "threshold", { threshold: 0.2 })).ok).toBe(true);
    expect((await ask(m, "select", {})).ok).toBe(true);
    expect([m.get("target"), m.get("threshold"), m.get("selected"), m.get("card")]).toEqual([
      0,
      0.2,
      {},
      {},
    ]);
  });

  it("refuses what needs a kernel, with an error the view shows", async () => {
    const m = new SnapshotModel(states, {});
    for (const [name, args] of [
      ["select", { source: "sae", unit: 4 }],
      ["position", { position: 2 }],
      ["search", { text: "x" }],
    ] as const) {
      const r = await ask(m, name, args);
      expect(r.ok).toBe(false);
      expect(r.error).toBe(`${name}: an exported file has no kernel to compute this`);
      expect(m.get("error")).toBe(r.error);
    }
  });
});

describe("a refused show", () => {
  it("keeps the feature of the shown card (the index box goes back to it)", async () => {
    const m = new SnapshotModel([{ feature: 1 }, { feature: 3 }], { source: "s" });
    m.send({ kind: "fc-request", id: "a", name: "show", args: { source: "s", feature: 9 } });
    await Promise.resolve();
    expect(m.get("feature")).toBe(1);
    expect(m.get("error")).toBe("feature 9 is not in this exported file; it holds: 1, 3");
  });
});
