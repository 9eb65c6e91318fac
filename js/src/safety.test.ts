/// <reference types="vite/client" />
// Escape by construction: no source file may build HTML from strings.
import { describe, expect, it } from "vitest";

const sources = import.meta.glob(["./**/*.ts", "!./**/*.test.ts"], {
  query: "?raw",
  import: "default",
  eager: true,
}) as Record<string, string>;

describe("sources", () => {
  it("are all scanned", () => {
    expect(Object.keys(sources)).toContain("./card/widget.ts");
    expect(Object.keys(sources)).toContain("./core/tokens.ts");
  });

  it("never use innerHTML, outerHTML, insertAdjacentHTML or document.write", () => {
    for (const [path, text] of Object.entries(sources)) {
      expect(text, path).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    }
  });
});
