import type { AnyModel } from "@anywidget/types";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeModel } from "../../testing/fake-model.js";
import { createRequester } from "./requests";
import type { CardModel, Request } from "./schema";

function setup() {
  const model = new FakeModel<CardModel>({});
  const req = createRequester(model as unknown as AnyModel<CardModel>);
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
