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

describe("CardProxy in a host with a kernel", () => {
  function live(answer: Outcome) {
    const forwarded: Array<[string, Record<string, unknown>]> = [];
    const proxy = new CardProxy(
      async () => ({ ok: true, result: {} }),
      async (name, args) => {
        forwarded.push([name, args]);
        return answer;
      },
    );
    const replies: Reply[] = [];
    proxy.on("msg:custom", (m) => replies.push(m as Reply));
    return { proxy, forwarded, replies };
  }

  it("is live and passes search, random, window and label to the host's kernel as they are", async () => {
    const hits = { query: "x", source: "sae", n_tokens: 1, hits: [] };
    const { proxy, forwarded, replies } = live({ ok: true, result: hits });
    expect(proxy.get("live")).toBe(true);
    const row = { source: "sae", feature: 9, row: 2, position: 7 };
    proxy.send({ kind: "fc-request", id: "s", name: "search", args: { text: "x", k: 10 } });
    proxy.send({ kind: "fc-request", id: "r", name: "random", args: {} });
    proxy.send({ kind: "fc-request", id: "w", name: "window", args: row });
    proxy.send({ kind: "fc-request", id: "l", name: "label", args: { text: "<b>cats</b>" } });
    proxy.send({ kind: "fc-request", id: "c", name: "complete", args: {} });
    await new Promise((r) => setTimeout(r, 0));
    expect(forwarded).toEqual([
      ["search", { text: "x", k: 10 }],
      ["random", {}],
      ["window", row],
      ["label", { text: "<b>cats</b>" }],
    ]);
    expect(replies.map((r) => [r.id, r.ok, r.result])).toEqual([
      ["s", true, hits],
      ["r", true, hits],
      ["w", true, hits],
      ["l", true, hits],
      ["c", false, undefined],
    ]);
  });

  it("passes the host's failure on as the card's reply", async () => {
    const { proxy, replies } = live({ ok: false, error: "no card is open" });
    proxy.send({ kind: "fc-request", id: "s", name: "search", args: { text: "x" } });
    await new Promise((r) => setTimeout(r, 0));
    expect(replies).toEqual([{ kind: "fc-reply", id: "s", ok: false, error: "no card is open" }]);
  });

  it("reports the unit the host asks for until it is cleared, then its card's again", () => {
    const { proxy } = live({ ok: true, result: {} });
    const card = { source: "sae", feature: 9 };
    proxy.update(card, false);
    proxy.update(card, true, { source: "hook", feature: 4 });
    expect([proxy.get("source"), proxy.get("feature"), proxy.get("state")]).toEqual([
      "hook",
      4,
      card,
    ]);
    proxy.update(card, true, { source: null, feature: 5 }); // a node: its source is the kernel's to say
    expect([proxy.get("source"), proxy.get("feature")]).toEqual(["sae", 5]);
    proxy.update(card, false, null); // refused: the shown card's unit again
    expect([proxy.get("source"), proxy.get("feature")]).toEqual(["sae", 9]);
    proxy.update({}, false, null); // closed: the last unit stays
    expect([proxy.get("source"), proxy.get("feature")]).toEqual(["sae", 9]);
  });
});
