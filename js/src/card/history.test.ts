import { describe, expect, it } from "vitest";
import { History } from "./history";

const u = (feature: number, source = "sae") => ({ source, feature });

describe("History", () => {
  it("records visits, ignores repeats and moves back and forward", () => {
    const h = new History();
    h.visit(u(1));
    h.visit(u(1));
    h.visit(u(2));
    h.visit(u(3, "sae::B"));
    expect(h.size).toBe(3);
    expect(h.canForward()).toBe(false);
    expect(h.back()).toEqual(u(2));
    h.visit(u(2)); // the unit arrives: the forward entry stays
    expect(h.canForward()).toBe(true);
    expect(h.back()).toEqual(u(1));
    expect(h.back()).toBeNull();
    expect(h.forward()).toEqual(u(2));
    expect(h.forward()).toEqual(u(3, "sae::B"));
    expect(h.forward()).toBeNull();
  });

  it("drops the forward entries on a new visit, like a browser", () => {
    const h = new History();
    for (const f of [1, 2, 3]) h.visit(u(f));
    h.back();
    h.back();
    h.visit(u(9));
    expect(h.canForward()).toBe(false);
    expect(h.back()).toEqual(u(1));
    expect(h.size).toBe(2);
  });

  it("keeps at most `limit` entries", () => {
    const h = new History(3);
    for (const f of [1, 2, 3, 4, 5]) h.visit(u(f));
    expect(h.size).toBe(3);
    expect(h.back()).toEqual(u(4));
    expect(h.back()).toEqual(u(3));
    expect(h.back()).toBeNull();
  });
});
