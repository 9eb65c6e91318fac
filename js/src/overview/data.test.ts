import { describe, expect, it } from "vitest";
import { makeOverviewState, OVERVIEW_VOCAB } from "../../testing/make-overview-state";
import { payload } from "../../testing/make-state";
import { SCHEMA_VERSION } from "../core/schema";
import { decodeOverview } from "./data";
import { interpretOverview } from "./widget";

describe("decodeOverview", () => {
  it("decodes every latent and the histogram", () => {
    const d = decodeOverview(makeOverviewState());
    expect(Array.from(d.maxAct)).toEqual([0, 2.5, 7.25, 1, 3, 0.5]);
    expect(d.topToken).toEqual([null, ...OVERVIEW_VOCAB, OVERVIEW_VOCAB[0]]);
    expect(d.histogram).toEqual({
      edges: [-3, -2, -1, 0],
      counts: [2, 1, 2],
      ticks: [-3, -2, -1, 0],
    });
    expect(d.summary.ce_recovered).toBe(0.9);
  });
  it("names a latent array of the wrong length", () => {
    const bad = makeOverviewState();
    bad.latents.max_act = payload("float32", [1, 2]);
    expect(() => decodeOverview(bad)).toThrow("latents.max_act has 2 entries, expected 6");
  });
  it("names a top token outside the vocabulary", () => {
    const bad = makeOverviewState();
    bad.latents.top_token = payload("int32", [-1, 0, 1, 2, 3, 9]);
    expect(() => decodeOverview(bad)).toThrow("top_token index 9 is outside vocab (size 4)");
  });
  it("is refused with a message for an unknown version or kind", () => {
    expect(interpretOverview({ ...makeOverviewState(), schema_version: 99 }).problem).toBe(
      `unknown overview schema version 99 (this bundle reads ${SCHEMA_VERSION})`,
    );
    expect(interpretOverview({ ...makeOverviewState(), kind: "node_table" }).data).toBeNull();
    expect(interpretOverview({}).notice).toBe("no overview yet");
  });
});
