/**
 * The rules that keep js/ one house of four rooms (issue #14), checked over the sources' text
 * by ./architecture.test.ts (so `npm test` fails on a break):
 *
 * - every module of js/src lives in core/, card/, graph/ or nodes/ (or is listed in ROOT_FILES);
 * - core/ imports no view (card/, graph/, nodes/);
 * - views do not import each other, except graph/ and nodes/ importing the card mount,
 *   card/mount.ts (the card they open inline);
 * - js/src never imports the test helpers (js/testing/) outside its *.test.ts files;
 * - a TS/JS file has at most 400 lines (CSS is exempt), a function at most 60 lines, unless
 *   ALLOWED_LONG lists it with a reason; an entry that is no longer needed, or a function that
 *   grew past its entry, fails too. A `describe` block's callback in a test file is a grouping,
 *   not a function, and is not counted (each `it` callback is).
 *
 * Paths are relative to js/ ("src/core/codecs.ts").
 */
import ts from "typescript";

export const MAX_FILE_LINES = 400;
export const MAX_FUNCTION_LINES = 60;
export const VIEWS = ["card", "graph", "nodes"] as const;
export const AREAS = ["core", ...VIEWS] as const;
export type Area = (typeof AREAS)[number];

/** The one card module the other views may import. */
export const CARD_MOUNT = "src/card/mount.ts";

/** Files directly under js/src, each with its area (null: none, not a module of a view) and why. */
export const ROOT_FILES: Record<string, { area: Area | null; reason: string }> = {
  "src/globals.d.ts": { area: null, reason: "declares the bundle's build-time constant" },
  "src/safety.test.ts": { area: null, reason: "scans every source file of every area" },
  "src/standalone.ts": {
    area: "core",
    reason: "the exported page's entry: a host like Jupyter, it loads a view's bundle at run time",
  },
};

export interface LongFunction {
  file: string;
  name: string;
  lines: number; // its length when listed: it may shrink, not grow
  reason: string;
}

const FACTORY =
  "a component factory whose state and handlers share one closure; to be split into named " +
  "steps (issue #14, item 7)";

/** The functions over MAX_FUNCTION_LINES today; new ones fail. */
export const ALLOWED_LONG: LongFunction[] = [
  {
    file: "src/card/components/feature-card.ts",
    name: "createFeatureCard",
    lines: 233,
    reason: FACTORY,
  },
  { file: "src/card/components/nav.ts", name: "createNav", lines: 156, reason: FACTORY },
  {
    file: "src/card/components/histogram.ts",
    name: "renderHistogram",
    lines: 107,
    reason: "draws the axes, bars and hover marks of one SVG in one pass; to be split (item 7)",
  },
  {
    file: "src/graph/components/contribution-graph.ts",
    name: "createContributionGraph",
    lines: 203,
    reason: FACTORY,
  },
  {
    file: "src/graph/components/graph-view.ts",
    name: "createGraphView",
    lines: 70,
    reason: FACTORY,
  },
  {
    file: "src/graph/routes.ts",
    name: "buildEdges",
    lines: 77,
    reason: "mirrors the Python edge rule step by step (graph/build.py); to be split with it",
  },
  {
    file: "src/nodes/components/node-table.ts",
    name: "createNodeTable",
    lines: 211,
    reason: FACTORY,
  },
  {
    file: "src/nodes/components/table.ts",
    name: "renderTable",
    lines: 80,
    reason: "builds the header, rows and scales of one table; to be split (item 7)",
  },
  {
    file: "testing/make-graph-state.ts",
    name: "makeGraphState",
    lines: 64,
    reason: "a test fixture: one literal payload, key for key",
  },
  {
    file: "testing/make-node-state.ts",
    name: "makeNodeState",
    lines: 78,
    reason: "a test fixture: one literal payload, key for key",
  },
];

export interface Violation {
  rule: string;
  file: string;
  detail: string;
}

export interface Import {
  spec: string;
  target: string | null; // the imported file relative to js/ (without its extension), if relative
  typeOnly: boolean;
  line: number;
}

export interface FunctionSpan {
  name: string;
  line: number;
  lines: number;
}

const isTest = (file: string): boolean => file.endsWith(".test.ts");

export function lineCount(text: string): number {
  const n = text.split("\n").length;
  return text.endsWith("\n") ? n - 1 : n;
}

/** "src/graph/widget.ts" + "../card/mount" -> "src/card/mount" (posix, no extension). */
export function resolveSpec(file: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  const parts = file.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/").replace(/\.(ts|js|mjs)$/, "");
}

function parse(file: string, text: string): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
}

function isTypeOnly(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node)) return node.isTypeOnly;
  const clause = node.importClause;
  if (!clause) return false; // a side-effect import ("./x.css")
  if (clause.isTypeOnly) return true;
  const named = clause.namedBindings;
  return (
    clause.name === undefined &&
    named !== undefined &&
    ts.isNamedImports(named) &&
    named.elements.length > 0 &&
    named.elements.every((e) => e.isTypeOnly)
  );
}

export function importsOf(file: string, text: string): Import[] {
  const sf = parse(file, text);
  const out: Import[] = [];
  const add = (spec: string, node: ts.Node, typeOnly: boolean) => {
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    out.push({ spec, target: resolveSpec(file, spec), typeOnly, line });
  };
  const visit = (node: ts.Node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node, isTypeOnly(node));
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, node, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The area of a file under js/ (or of an import target without its extension). */
export function areaOf(file: string, roots = ROOT_FILES): Area | null {
  const [top, second, third] = file.split("/");
  if (top !== "src" || second === undefined) return null;
  if (third !== undefined)
    return (AREAS as readonly string[]).includes(second) ? (second as Area) : null;
  const root = roots[file] ?? roots[`${file}.ts`];
  return root ? root.area : null;
}

function importRule(file: string, imp: Import, roots: typeof ROOT_FILES): Violation | null {
  const target = imp.target;
  if (target === null) return null;
  const detail = `line ${imp.line}: imports ${imp.spec}`;
  if (target.startsWith("testing/") && file.startsWith("src/") && !isTest(file)) {
    return { rule: "test helpers only in tests", file, detail };
  }
  const from = areaOf(file, roots);
  const to = areaOf(target, roots);
  if (from === null || to === null || from === to || to === "core") return null;
  if (from === "core") return { rule: "core imports no view", file, detail };
  if (`${target}.ts` === CARD_MOUNT && from !== "card") return null;
  return { rule: "views meet only through card/mount.ts", file, detail };
}

/** The import rules over every file (paths relative to js/, text as on disk). */
export function checkImports(files: Record<string, string>, roots = ROOT_FILES): Violation[] {
  const out: Violation[] = [];
  for (const [file, text] of Object.entries(files)) {
    if (!/\.(ts|js|mjs)$/.test(file)) continue;
    if (file.startsWith("src/") && !file.slice(4).includes("/") && !(file in roots)) {
      out.push({ rule: "modules live in an area", file, detail: "move it into core/ or a view" });
    }
    for (const imp of importsOf(file, text)) {
      const v = importRule(file, imp, roots);
      if (v) out.push(v);
    }
  }
  for (const file of Object.keys(roots)) {
    if (!(file in files))
      out.push({ rule: "stale ROOT_FILES entry", file, detail: "no such file" });
  }
  return out;
}

function nameOf(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as { name?: ts.Node };
  const own = named.name ? named.name.getText(sf) : "";
  const parent = node.parent;
  if (ts.isConstructorDeclaration(node)) return `${nameOf(parent, sf)}.constructor`;
  if (own && (ts.isClassLike(parent) || ts.isObjectLiteralExpression(parent))) {
    return `${enclosing(parent, sf)}.${own}`;
  }
  if (own) return own;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) {
    return nameOf(parent, sf);
  }
  if (ts.isCallExpression(parent)) {
    const first = parent.arguments[0];
    const what = first && ts.isStringLiteralLike(first) ? JSON.stringify(first.text) : "callback";
    return within(enclosing(parent, sf), `${parent.expression.getText(sf)}(${what})`);
  }
  return within(enclosing(parent, sf), "(anonymous)");
}

const within = (outer: string, name: string): string =>
  outer === "(module)" ? name : `${outer}/${name}`;

function enclosing(node: ts.Node, sf: ts.SourceFile): string {
  for (let n: ts.Node | undefined = node; n; n = n.parent) {
    if (ts.isSourceFile(n)) return "(module)";
    if (ts.isFunctionLike(n) || ts.isClassLike(n) || ts.isVariableDeclaration(n)) {
      return nameOf(n, sf);
    }
  }
  return "(module)";
}

function isDescribeBlock(node: ts.Node, file: string): boolean {
  const call = node.parent;
  return (
    isTest(file) &&
    call !== undefined &&
    ts.isCallExpression(call) &&
    /^describe(\.\w+)?$/.test(call.expression.getText())
  );
}

/** Every function with a body: its name, first line and length in lines (its signature included). */
export function functionsOf(file: string, text: string): FunctionSpan[] {
  const sf = parse(file, text);
  const out: FunctionSpan[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body && !isDescribeBlock(node, file)) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ name: nameOf(node, sf), line: first + 1, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The length rules over every file, with `allowed` as the list of known long functions. */
export function checkLengths(
  files: Record<string, string>,
  allowed: readonly LongFunction[] = ALLOWED_LONG,
): Violation[] {
  const out: Violation[] = [];
  const used = new Set<LongFunction>();
  for (const [file, text] of Object.entries(files)) {
    if (!/\.(ts|js|mjs)$/.test(file)) continue;
    const n = lineCount(text);
    if (n > MAX_FILE_LINES) {
      out.push({ rule: `files <= ${MAX_FILE_LINES} lines`, file, detail: `${n} lines` });
    }
    for (const f of functionsOf(file, text)) {
      if (f.lines <= MAX_FUNCTION_LINES) continue;
      const entry = allowed.find((a) => a.file === file && a.name === f.name);
      const detail = `${f.name} (line ${f.line}): ${f.lines} lines`;
      if (entry) used.add(entry);
      if (!entry) out.push({ rule: `functions <= ${MAX_FUNCTION_LINES} lines`, file, detail });
      else if (f.lines > entry.lines) {
        out.push({
          rule: "a listed long function grew",
          file,
          detail: `${detail}, listed ${entry.lines}`,
        });
      }
    }
  }
  for (const a of allowed) {
    if (!used.has(a)) {
      out.push({
        rule: "stale ALLOWED_LONG entry",
        file: a.file,
        detail: `${a.name} is short now or gone`,
      });
    }
  }
  return out;
}
