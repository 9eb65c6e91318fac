import type { AnyModel } from "@anywidget/types";
import { describe, expect, it } from "vitest";
import { FakeModel } from "../../testing/fake-model.js";
import {
  decodedOnce,
  disposeOnAbort,
  hasCard,
  interpretVersioned,
  mountView,
  type StateFormat,
  stateProps,
  watchTraits,
} from "./view-host";

interface M {
  a: number;
  b: string;
  c: boolean;
}

const FORMAT: StateFormat<{ x: number }, number> = {
  noun: "thing",
  versionName: "thing schema version",
  version: 2,
  kind: "thing",
  decode: (s) => {
    if (s.x < 0) throw new Error(`x is ${s.x}`);
    return s.x * 10;
  },
};

describe("interpretVersioned", () => {
  it("decodes a state of the right version and kind", () => {
    expect(interpretVersioned({ schema_version: 2, kind: "thing", x: 4 }, FORMAT)).toEqual({
      data: 40,
      problem: "",
      notice: "",
    });
  });

  it("names an empty state, a wrong version or kind, and a decoding error", () => {
    expect(interpretVersioned({}, FORMAT).notice).toBe("no thing yet");
    expect(interpretVersioned(null, FORMAT).notice).toBe("no thing yet");
    expect(interpretVersioned({ schema_version: 3, kind: "thing" }, FORMAT).problem).toBe(
      "unknown thing schema version 3 (this bundle reads 2)",
    );
    expect(interpretVersioned({ schema_version: 2, kind: "other" }, FORMAT).problem).toBe(
      "unknown thing schema version 2 (this bundle reads 2)",
    );
    expect(interpretVersioned({ schema_version: "2", kind: "thing" }, FORMAT).problem).toContain(
      'version "2"',
    );
    const bad = interpretVersioned({ schema_version: 2, kind: "thing", x: -1 }, FORMAT);
    expect(bad.data).toBeNull();
    expect(bad.problem).toBe("could not read the thing: x is -1");
  });

  it("checks no kind when the format has none", () => {
    const { kind: _, ...noKind } = FORMAT;
    expect(interpretVersioned({ schema_version: 2, x: 1 }, noKind).data).toBe(10);
  });
});

describe("decodedOnce", () => {
  it("interprets each new state object once", () => {
    let calls = 0;
    const meaningOf = decodedOnce((s) => {
      calls += 1;
      return { data: s, problem: "", notice: "" };
    });
    const s1 = { x: 1 };
    const s2 = { x: 1 };
    expect(meaningOf(s1).data).toBe(s1);
    expect(meaningOf(s1).data).toBe(s1);
    expect(calls).toBe(1);
    expect(meaningOf(s2).data).toBe(s2);
    expect(calls).toBe(2);
  });
});

describe("stateProps", () => {
  it("shows the state's problem before the kernel's error, and passes busy", () => {
    const shown = stateProps((s) => interpretVersioned(s, FORMAT));
    const bad = { schema_version: 2, kind: "thing", x: -1 };
    expect(shown({ state: bad, error: "kernel", busy: true })).toEqual({
      data: null,
      errors: ["could not read the thing: x is -1", "kernel"],
      busy: true,
      notice: "",
    });
    expect(shown({ state: {}, error: "", busy: false })).toEqual({
      data: null,
      errors: [],
      busy: false,
      notice: "no thing yet",
    });
    expect(
      shown({ state: { schema_version: 2, kind: "thing", x: 3 }, error: "", busy: false }).data,
    ).toBe(30);
  });

  it("tells a card from an empty card trait", () => {
    expect(hasCard({})).toBe(false);
    expect(hasCard(null)).toBe(false);
    expect(hasCard([1])).toBe(false);
    expect(hasCard({ schema_version: 1 })).toBe(true);
  });
});

describe("the render lifecycle", () => {
  it("watches only the listed traits and unsubscribes", () => {
    const model = new FakeModel<M>({ a: 1, b: "", c: false });
    const seen: string[] = [];
    const unwatch = watchTraits(model as unknown as AnyModel<M>, ["a", "b"], (n) => seen.push(n));
    model.pythonSet("a", 2);
    model.pythonSet("c", true);
    model.pythonSet("b", "x");
    expect(seen).toEqual(["a", "b"]);
    expect(model.listenerCount()).toBe(2);
    unwatch();
    expect(model.listenerCount()).toBe(0);
    model.pythonSet("a", 3);
    expect(seen).toEqual(["a", "b"]);
  });

  it("draws before appending, and redraws on change", () => {
    const model = new FakeModel<M>({ a: 1, b: "", c: false });
    const el = document.createElement("div");
    const root = document.createElement("span");
    const attached: boolean[] = [];
    const unwatch = mountView(
      model as unknown as AnyModel<M>,
      ["a"],
      () => attached.push(root.isConnected || el.contains(root)),
      el,
      root,
    );
    expect(attached).toEqual([false]);
    expect(el.firstChild).toBe(root);
    model.pythonSet("a", 5);
    expect(attached).toEqual([false, true]);
    unwatch();
  });

  it("cleans up once, in order, on the call or on abort", () => {
    const order: number[] = [];
    const controller = new AbortController();
    const cleanup = disposeOnAbort(
      controller.signal,
      () => order.push(1),
      () => order.push(2),
    );
    controller.abort();
    cleanup();
    expect(order).toEqual([1, 2]);

    const other = new AbortController();
    const again: number[] = [];
    const cleanup2 = disposeOnAbort(other.signal, () => again.push(1));
    cleanup2();
    other.abort();
    cleanup2();
    expect(again).toEqual([1]);
    expect(disposeOnAbort(undefined, () => again.push(2))).toBeTypeOf("function");
  });
});
