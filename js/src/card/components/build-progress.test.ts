import { describe, expect, it } from "vitest";
import { makeState } from "../../../testing/make-state";
import { decodeCard } from "../card-data";
import {
  compactCount,
  createBuildProgress,
  progressFigures,
  progressText,
  timeLeft,
} from "./build-progress";

describe("the build's figures", () => {
  it("rate = done / seconds, time left = (total - done) / rate, percent rounded down", () => {
    // 420k of 1M tokens in 22.5 s: 18,666.7 tok/s, 580k left take 31.07 s
    const f = progressFigures({ done: 420_000, total: 1_000_000, seconds: 22.5 });
    expect(f.percent).toBe(42);
    expect(f.rate).toBeCloseTo(420_000 / 22.5, 6);
    expect(f.secondsLeft).toBeCloseTo(580_000 / (420_000 / 22.5), 6);
    expect(progressText({ done: 420_000, total: 1_000_000, seconds: 22.5 })).toBe(
      "indexing every latent: 42 % · 18.7k tok/s · about 31 s left",
    );
    expect(progressFigures({ done: 999, total: 1000, seconds: 1 }).percent).toBe(99); // not 100 yet
  });

  it("says starting… until it has a rate (no token done, or 0 seconds)", () => {
    for (const p of [
      { done: 0, total: 1000, seconds: 3 },
      { done: 100, total: 1000, seconds: 0 },
      { done: Number.NaN, total: 1000, seconds: 1 },
      { done: -5, total: 1000, seconds: 1 },
    ]) {
      expect(progressFigures(p).rate).toBeNull();
      expect(progressText(p)).toBe("indexing every latent: starting…");
    }
  });

  it("clamps done to total: 100 %, nothing left", () => {
    const f = progressFigures({ done: 1200, total: 1000, seconds: 2 });
    expect([f.done, f.percent, f.rate, f.secondsLeft]).toEqual([1000, 100, 500, 0]);
    expect(progressText({ done: 1200, total: 1000, seconds: 2 })).toBe(
      "indexing every latent: 100 % · 500 tok/s · finishing…",
    );
  });

  it("writes counts with 3 significant digits and k / M, rolling over at 1000", () => {
    expect(["950", "1.23k", "18.7k", "183k", "1k", "1M", "2.5M", "5.25"]).toEqual(
      [950, 1234, 18_666.7, 183_400, 999.6, 999_960, 2_500_000, 5.25].map(compactCount),
    );
  });

  it("writes the time left in seconds, minutes or hours", () => {
    expect([0.2, 31.07, 89.4, 90, 3599, 5400].map(timeLeft)).toEqual([
      "finishing…",
      "about 31 s left",
      "about 89 s left",
      "about 2 min left",
      "about 60 min left",
      "about 1.5 h left",
    ]);
  });
});

describe("the progress view", () => {
  const pendingCard = () => {
    const base = makeState();
    return decodeCard(
      makeState({
        pending: ["latents"],
        unavailable: { latents: "being computed" },
        left: { ...base.left, latents: null },
      }),
    );
  };
  const body = () => {
    const b = document.createElement("div");
    for (const key of ["neurons", "latents"]) {
      const panel = document.createElement("section");
      panel.className = `fc-panel fc-panel-${key}`;
      b.append(panel);
    }
    return b;
  };

  it("shows an accessible bar and the line in the first pending panel", () => {
    const view = createBuildProgress();
    const b = body();
    view.place(b, pendingCard());
    view.update({ done: 420_000, total: 1_000_000, seconds: 22.5 }, true);
    expect(view.root.parentElement?.classList.contains("fc-panel-latents")).toBe(true);
    expect(view.root.hidden).toBe(false);
    const bar = view.root.querySelector("progress");
    expect([bar?.value, bar?.max, bar?.getAttribute("aria-label")]).toEqual([
      420_000,
      1_000_000,
      "indexing every latent",
    ]);
    const text = view.root.querySelector(".fc-build-text");
    expect(bar?.getAttribute("aria-describedby")).toBe(text?.id);
    expect(text?.textContent).toBe("indexing every latent: 42 % · 18.7k tok/s · about 31 s left");
    view.update({ done: 0, total: 1_000_000, seconds: 0.4 }, true);
    expect(bar?.hasAttribute("value")).toBe(false); // indeterminate while starting
  });

  it("shows nothing without a report, in an export, or without a pending panel", () => {
    const view = createBuildProgress();
    const report = { done: 5, total: 10, seconds: 1 };
    view.place(body(), pendingCard());
    view.update(null, true);
    expect(view.root.hidden).toBe(true);
    view.update(report, false);
    expect(view.root.hidden).toBe(true);
    const b = body();
    view.place(b, decodeCard(makeState())); // a complete card
    view.update(report, true);
    expect([view.root.hidden, view.root.isConnected, b.contains(view.root)]).toEqual([
      true,
      false,
      false,
    ]);
  });
});
