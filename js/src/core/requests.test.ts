import type { AnyModel } from "@anywidget/types";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeModel } from "../../testing/fake-model.js";
import { createAsker, createRequester } from "./requests";
import type { CardModel, Request } from "./schema";

function setup() {
  const model = new FakeModel<CardModel>({});
  const req = createRequester(model as unknown as AnyModel<CardModel>); // any anywidget model
  const last = () => model.sent[model.sent.length - 1]?.content as Request;
  return { model, req, last };
}

afterEach(() => vi.useRealTimers());

describe("requests over custom messages", () => {
  it("sends {kind, id, name, args} and resolves with the reply of the same id", async () => {
    const { model, req, last } = setup();
    const a = req.request<{ n: number }>("search", { text: "the" });
    const first = last();
    const b = req.request<{ n: number }>("random");
    const second = last();
    expect(first).toMatchObject({ kind: "fc-request", name: "search", args: { text: "the" } });
    expect(first.id).not.toBe(second.id);
    model.pythonSend({ kind: "fc-reply", id: second.id, ok: true, result: { n: 2 } });
    model.pythonSend({ kind: "fc-reply", id: "someone-else", ok: true, result: { n: 9 } });
    model.pythonSend({ kind: "other", id: first.id });
    model.pythonSend({ kind: "fc-reply", id: first.id, ok: true, result: { n: 1 } });
    await expect(a).resolves.toEqual({ n: 1 });
    await expect(b).resolves.toEqual({ n: 2 });
    expect(req.pending()).toBe(0);
  });

  it("rejects with the kernel's error", async () => {
    const { model, req, last } = setup();
    const p = req.request("search", { text: "" });
    model.pythonSend({ kind: "fc-reply", id: last().id, ok: false, error: "ValueError: empty" });
    await expect(p).rejects.toThrow("ValueError: empty");
  });

  it("times out when no reply comes, and ignores a late one", async () => {
    vi.useFakeTimers();
    const { model, req, last } = setup();
    const p = req.request("random", {}, 1000);
    const id = last().id;
    vi.advanceTimersByTime(1000);
    await expect(p).rejects.toThrow("random: no reply from the kernel in 1 s");
    model.pythonSend({ kind: "fc-reply", id, ok: true, result: 1 }); // no throw
    expect(req.pending()).toBe(0);
  });

  it("dispose rejects what is pending and removes its listener", async () => {
    const { model, req } = setup();
    const p = req.request("random");
    expect(model.listenerCount("msg:custom")).toBe(1);
    req.dispose();
    await expect(p).rejects.toThrow("closed");
    expect(model.listenerCount("msg:custom")).toBe(0);
    await expect(req.request("random")).rejects.toThrow("closed");
  });
});

describe("the asker: what a view shows while it waits", () => {
  type Snap = { feature: number; error: string };
  function asker() {
    const { model, req, last } = setup();
    let draws = 0;
    const a = createAsker<Snap>(req, () => {
      draws += 1;
    });
    return { model, a, last, draws: () => draws };
  }

  it("shows the asked value until the reply, then the traits again", async () => {
    const { model, a, last, draws } = asker();
    const out = a.ask("show", { feature: 7 }, { feature: 7 });
    expect(last()).toMatchObject({ kind: "fc-request", name: "show", args: { feature: 7 } });
    expect(a.overlay({ feature: 3, error: "" })).toEqual({ feature: 7, error: "" });
    expect(draws()).toBe(1);
    model.pythonSend({ kind: "fc-reply", id: last().id, ok: true, result: { feature: 7 } });
    await expect(out).resolves.toEqual({ ok: true, result: { feature: 7 } });
    expect(draws()).toBe(2);
    expect(a.overlay({ feature: 7, error: "" })).toEqual({ feature: 7, error: "" });
  });

  it("after a refusal shows the traits, and the kernel's error before its own", async () => {
    const { model, a, last } = asker();
    const out = a.ask("show", { feature: 99 }, { feature: 99 });
    model.pythonSend({ kind: "fc-reply", id: last().id, ok: false, error: "out of range" });
    await expect(out).resolves.toEqual({ ok: false, error: "out of range" });
    expect(a.overlay({ feature: 3, error: "" })).toEqual({ feature: 3, error: "out of range" });
    expect(a.overlay({ feature: 3, error: "kernel says" })).toEqual({
      feature: 3,
      error: "kernel says",
    });
    void a.ask("show", { feature: 4 }); // a new request forgets the old failure
    expect(a.overlay({ feature: 3, error: "" }).error).toBe("");
  });

  it("a later request's value stays while an earlier reply comes; a timeout is shown", async () => {
    vi.useFakeTimers();
    const { model, a, last } = asker();
    const first = a.ask("show", { feature: 5 }, { feature: 5 });
    const firstId = last().id;
    const second = a.ask("show", { feature: 6 }, { feature: 6 }, 1000);
    model.pythonSend({ kind: "fc-reply", id: firstId, ok: true, result: {} });
    await first;
    expect(a.overlay({ feature: 5, error: "" }).feature).toBe(6);
    await vi.advanceTimersByTimeAsync(1000);
    await expect(second).resolves.toEqual({
      ok: false,
      error: "show: no reply from the kernel in 1 s",
    });
    expect(a.overlay({ feature: 5, error: "" })).toEqual({
      feature: 5,
      error: "show: no reply from the kernel in 1 s",
    });
  });
});
