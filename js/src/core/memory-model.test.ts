import { describe, expect, it } from "vitest";
import { CardProxy } from "./memory-model";
import type { Outcome } from "./requests";
import type { Reply } from "./schema";

function setup(answer: Outcome) {
  const asked: Array<[string, number]> = [];
  const proxy = new CardProxy(async (source, feature) => {
    asked.push([source, feature]);
    return answer;
  });
  const replies: Reply[] = [];
  proxy.on("msg:custom", (m) => replies.push(m as Reply));
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { proxy, asked, replies, settle };
}

describe("CardProxy: a card inside another view", () => {
  it("passes the card's show request to the host's select and replies with its outcome", async () => {
    const { proxy, asked, replies, settle } = setup({ ok: true, result: { selected: {} } });
    proxy.send({ kind: "fc-request", id: "a", name: "show", args: { source: "sae", feature: 4 } });
    await settle();
    expect(asked).toEqual([["sae", 4]]);
    expect(replies).toEqual([{ kind: "fc-reply", id: "a", ok: true, result: { selected: {} } }]);
  });

  it("passes the host's refusal on", async () => {
    const { proxy, replies, settle } = setup({ ok: false, error: "out of range" });
    proxy.send({ kind: "fc-request", id: "b", name: "show", args: { source: "sae", feature: 99 } });
    await settle();
    expect(replies).toEqual([{ kind: "fc-reply", id: "b", ok: false, error: "out of range" }]);
  });

  it("refuses what only a FeatureCard's kernel answers, and a show without a unit", async () => {
    const { proxy, asked, replies, settle } = setup({ ok: true, result: {} });
    proxy.send({ kind: "fc-request", id: "c", name: "search", args: { text: "x" } });
    proxy.send({
      kind: "fc-request",
      id: "d",
      name: "show",
      args: { source: "sae", feature: 1.5 },
    });
    proxy.send({ kind: "not-a-request" });
    await settle();
    expect(asked).toEqual([]);
    expect(replies.map((r) => [r.id, r.ok])).toEqual([
      ["c", false],
      ["d", false],
    ]);
    expect(replies[0]?.error).toContain("cannot ask for this");
  });

  it("takes its traits from the host's card", () => {
    const { proxy } = setup({ ok: true, result: {} });
    const seen: string[] = [];
    proxy.on("change:feature", () => seen.push("feature"));
    proxy.update({ source: "sae", feature: 9 }, true);
    expect([
      proxy.get("source"),
      proxy.get("feature"),
      proxy.get("busy"),
      proxy.get("live"),
    ]).toEqual(["sae", 9, true, false]);
    expect(seen).toEqual(["feature"]);
  });
});
