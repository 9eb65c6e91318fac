/// <reference types="vite/client" />
// @vitest-environment node
// The architecture rules (./architecture.ts) hold over js/, and each rule catches a break.
import { describe, expect, it } from "vitest";
import { areaOf, checkImports, importsOf, roleOf } from "./architecture";
import { ALLOWED_LONG, checkLengths, functionsOf, type LongFunction } from "./lengths";

const raw = import.meta.glob(["../**/*.ts", "../**/*.js", "../**/*.mjs"], {
  query: "?raw",
  import: "default",
  eager: true,
}) as Record<string, string>;

/** Keyed by the path under js/ ("src/core/codecs.ts"). */
const files = Object.fromEntries(
  Object.entries(raw).map(([path, text]) => [
    path.replace(/^\.\.\//, "").replace(/^\.\//, "tools/"),
    text,
  ]),
);

const fn = (name: string, lines: number): string =>
  `export function ${name}(): number {\n${"  let x = 1;\n".repeat(lines - 3)}  return 1;\n}\n`;

describe("js/", () => {
  it("is read whole", () => {
    expect(Object.keys(files)).toContain("src/card/mount.ts");
    expect(Object.keys(files)).toContain("src/core/codecs.ts");
    expect(Object.keys(files)).toContain("testing/make-state.ts");
    expect(Object.keys(files)).toContain("build.mjs");
    expect(Object.keys(files)).toContain("tools/architecture.ts");
    expect(Object.keys(files)).toContain("tools/lengths.ts");
  });

  it("keeps the import rules", () => {
    expect(checkImports(files)).toEqual([]);
  });

  it("keeps the length rules", () => {
    expect(checkLengths(files)).toEqual([]);
  });

  it("lists each long function once, with a reason", () => {
    const keys = ALLOWED_LONG.map((a) => `${a.file}:${a.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const a of ALLOWED_LONG) expect(a.reason.length, a.name).toBeGreaterThan(20);
  });
});

describe("the import rules", () => {
  it("place files by their folder", () => {
    expect(areaOf("src/core/codecs.ts")).toBe("core");
    expect(areaOf("src/card/components/nav.ts")).toBe("card");
    expect(areaOf("src/graph/widget")).toBe("graph");
    expect(areaOf("testing/make-state.ts")).toBeNull();
  });

  it("read imports, exports and type-only imports", () => {
    const text = [
      'import { a } from "../card/x";',
      'import type { B } from "./b";',
      'import { type C } from "./c";',
      'import "./style.css";',
      'export { d } from "../nodes/d";',
      'import ts from "typescript";',
    ].join("\n");
    const imps = importsOf("src/graph/widget.ts", text);
    expect(imps.map((i) => [i.target, i.typeOnly, i.line])).toEqual([
      ["src/card/x", false, 1],
      ["src/graph/b", true, 2],
      ["src/graph/c", true, 3],
      ["src/graph/style.css", false, 4],
      ["src/nodes/d", false, 5],
      [null, false, 6],
    ]);
  });

  it("fail when core imports a view, even a type", () => {
    const v = checkImports({ "src/core/x.ts": 'import type { A } from "../card/schema";' }, {});
    expect(v.map((x) => x.rule)).toContain("core imports no view");
  });

  it("fail when views import each other other than through the card mount", () => {
    const v = checkImports(
      {
        "src/graph/widget.ts":
          'import { b } from "../nodes/b";\nimport { m } from "../card/mount";',
        "src/nodes/widget.ts": 'import "../card/widget.css";',
        "src/card/widget.ts": 'import { e } from "../graph/e";',
      },
      {},
    );
    expect(v.map((x) => `${x.file} ${x.detail}`)).toEqual([
      "src/graph/widget.ts line 1: imports ../nodes/b",
      "src/nodes/widget.ts line 1: imports ../card/widget.css",
      "src/card/widget.ts line 1: imports ../graph/e",
    ]);
    expect(new Set(v.map((x) => x.rule))).toEqual(
      new Set(["views meet only through card/mount.ts"]),
    );
  });

  it("fail on a module outside the areas and on test helpers in the bundle", () => {
    const v = checkImports(
      {
        "src/loose.ts": "export const a = 1;",
        "src/card/sync.ts": 'import { makeState } from "../../testing/make-state";',
        "src/card/sync.test.ts": 'import { makeState } from "../../testing/make-state";',
      },
      {},
    );
    expect(v.map((x) => `${x.rule}: ${x.file}`)).toEqual([
      "modules live in an area: src/loose.ts",
      "test helpers only in tests: src/card/sync.ts",
    ]);
  });
});

describe("the order rules", () => {
  it("give each module of a view its role", () => {
    expect(roleOf("src/graph/schema.ts")).toBe(0);
    expect(roleOf("src/card/card-data.ts")).toBe(1);
    expect(roleOf("src/nodes/table-logic")).toBe(2);
    expect(roleOf("src/card/components/nav.ts")).toBe(3);
    expect(roleOf("src/card/mount.ts")).toBe(6);
    expect(roleOf("src/graph/helpers.ts")).toBe(-1);
    expect(roleOf("src/core/codecs.ts")).toBeNull();
  });

  it("fail when a module imports a later role of its view, or has none", () => {
    const v = checkImports(
      {
        "src/graph/data.ts":
          'import { x } from "./components/view";\nimport type { S } from "./schema";',
        "src/graph/components/view.ts": 'import { y } from "../sync";',
        "src/graph/widget.test.ts": 'import { z } from "./widget";',
        "src/graph/helpers.ts": "export const a = 1;",
      },
      {},
    );
    expect(v.map((x) => `${x.file} ${x.detail}`)).toEqual([
      "src/graph/data.ts line 1: a decode module imports ./components/view (components)",
      "src/graph/components/view.ts line 1: a components module imports ../sync (sync)",
      "src/graph/helpers.ts no role fits its name (ROLES)",
    ]);
  });

  it("fail on an import cycle", () => {
    const v = checkImports(
      {
        "src/core/a.ts": 'import { b } from "./b";',
        "src/core/b.ts": 'import { c } from "./c.js";',
        "src/core/c.js": 'import { a } from "./a";',
        "src/core/d.ts": 'import { a } from "./a";',
      },
      {},
    );
    expect(v).toEqual([
      {
        rule: "no import cycles",
        file: "src/core/a.ts",
        detail: "src/core/a.ts -> src/core/b.ts -> src/core/c.js -> src/core/a.ts",
      },
    ]);
  });
});

describe("the length rules", () => {
  const allow: LongFunction = { file: "src/a.ts", name: "big", lines: 70, reason: "a test" };

  it("count a function's lines from its signature to its closing brace", () => {
    const spans = functionsOf("src/a.ts", `${fn("f", 5)}const g = () => {\n  return 1;\n};\n`);
    expect(spans).toEqual([
      { name: "f", line: 1, lines: 5 },
      { name: "g", line: 6, lines: 3 },
    ]);
  });

  it("name methods, arrows in objects and callbacks", () => {
    const text = "class K {\n  m() {}\n}\nconst o = { p() {}, q: () => 1 };\n[1].map((x) => x);\n";
    expect(functionsOf("src/a.ts", text).map((s) => s.name)).toEqual([
      "K.m",
      "o.p",
      "o.q",
      "[1].map(callback)",
    ]);
  });

  it("pass at 60 lines and fail at 61 unless listed", () => {
    expect(checkLengths({ "src/a.ts": fn("ok", 60) }, [])).toEqual([]);
    const v = checkLengths({ "src/a.ts": fn("long", 61) }, []);
    expect(v).toEqual([
      { rule: "functions <= 60 lines", file: "src/a.ts", detail: "long (line 1): 61 lines" },
    ]);
  });

  it("fail on a listed function that grew, or that no longer needs its entry", () => {
    expect(checkLengths({ "src/a.ts": fn("big", 70) }, [allow])).toEqual([]);
    expect(checkLengths({ "src/a.ts": fn("big", 71) }, [allow])[0]?.rule).toBe(
      "a listed long function grew",
    );
    expect(checkLengths({ "src/a.ts": fn("big", 60) }, [allow])[0]?.rule).toBe(
      "stale ALLOWED_LONG entry",
    );
  });

  it("skip describe blocks in tests but count their it callbacks", () => {
    const body = `  it("x", () => {\n${"    expect(1).toBe(1);\n".repeat(60)}  });\n`;
    const test = `describe("d", () => {\n${body.repeat(2)}});\n`;
    const v = checkLengths({ "src/a.test.ts": test }, []);
    expect(v.map((x) => x.detail)).toEqual([
      'describe("d")/it("x") (line 2): 62 lines',
      'describe("d")/it("x") (line 64): 62 lines',
    ]);
  });

  it("fail on a file over 400 lines, CSS exempt", () => {
    const long = "export const a = 1;\n".repeat(401);
    expect(checkLengths({ "src/a.ts": long, "src/a.css": long }, [])).toEqual([
      { rule: "files <= 400 lines", file: "src/a.ts", detail: "401 lines" },
    ]);
  });
});
