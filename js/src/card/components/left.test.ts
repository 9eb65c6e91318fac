import { describe, expect, it } from "vitest";
import { makeState } from "../../../testing/make-state";
import { decodeCard } from "../card-data";
import { unitTitle } from "./feature-card";
import { renderLeft } from "./left";

const titles = (el: HTMLElement) =>
  Array.from(el.querySelectorAll(".fc-panel-title"), (t) => t.textContent);

describe("a neuron card", () => {
  const hook = "blocks.0.mlp.hook_post";
  const neuron = decodeCard(
    makeState({ unit: "neuron", source: hook, hook_name: hook, feature: 101, n_features: 512 }),
  );

  it("shows its correlated neurons once (its source is its hook)", () => {
    const el = renderLeft(neuron, { canOpen: () => true });
    expect(titles(el)).toEqual(["Correlated neurons (same hook)"]);
    expect(el.querySelectorAll(".fc-left-latents")).toHaveLength(0);
    const latent = renderLeft(decodeCard(makeState()), { canOpen: () => true });
    expect(titles(latent)).toEqual(["Correlated neurons", "Correlated latents"]);
  });

  it("says neuron, not feature, in its header", () => {
    expect(unitTitle(neuron.header)).toBe("neuron 101 / 512 of blocks.0.mlp.hook_post");
    expect(unitTitle(decodeCard(makeState({ feature: 5, n_features: 48 })).header)).toBe(
      "feature 5 / 48",
    );
  });
});
