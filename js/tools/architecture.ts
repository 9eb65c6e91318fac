/**
 * The rules that keep js/ one house of rooms (issue #14; the overview and the prompt view joined them in #17), checked over the sources' text
 * by ./architecture.test.ts (so `npm test` fails on a break):
 *
 * - every module of js/src lives in core/, card/, graph/, nodes/, overview/ or prompt/ (or is listed in ROOT_FILES);
 * - core/ imports no view (card/, graph/, nodes/);
 * - views do not import each other, except graph/, nodes/, overview/ and prompt/ importing the card mount,
 *   card/mount.ts (the card they open inline), and graph/ importing the nodes mount, nodes/mount.ts
 *   (the table its "trace from here" opens inline, issue #17);
 * - js/src never imports the test helpers (js/testing/) outside its *.test.ts files;
 * - no import cycles;
 * - inside a view, the same roles in the same order (ROLES): a module imports modules of its own
 *   role or an earlier one (schema, then decode, logic, components, sync, widget, mount), so
 *   data flows one way from the payload's types to the widget; tests are exempt;
 * - files and functions short enough (./lengths.ts).
 *
 * Paths are relative to js/ ("src/core/codecs.ts").
 */
import ts from "typescript";

export const VIEWS = ["card", "graph", "nodes", "overview", "prompt"] as const;
export const AREAS = ["core", ...VIEWS] as const;
export type Area = (typeof AREAS)[number];

/** The one card module the other views may import. */
export const CARD_MOUNT = "src/card/mount.ts";

/** The one nodes module another view may import, and which: the graph's traced table. */
export const NODES_MOUNT = "src/nodes/mount.ts";
export const NODES_MOUNT_USERS: readonly Area[] = ["graph"];

/** Files directly under js/src, each with its area (null: none, not a module of a view) and why. */
export const ROOT_FILES: Record<string, { area: Area | null; reason: string }> = {
  "src/globals.d.ts": { area: null, reason: "declares the bundle's build-time constant" },
  "src/safety.test.ts": { area: null, reason: "scans every source file of every area" },
  "src/standalone.ts": {
    area: "core",
    reason: "the exported page's entry: a host like Jupyter, it loads a view's bundle at run time",
  },
};

/** A view's roles in order, with the files (under the view's folder) that play each. */
export const ROLES: ReadonlyArray<readonly [string, RegExp]> = [
  ["schema", /^schema\.ts$/], // the payload's types, mirrored from Python
  ["decode", /^(data|card-data|panel-data|prompt-data)\.ts$/], // payload -> plain data, validated
  ["logic", /^(routes|layout|table-logic|history)\.ts$/], // what the view computes, no DOM
  ["components", /^components\/[\w-]+\.ts$/], // DOM, no model
  ["sync", /^sync\.ts$/], // the only reader and writer of the widget model's traits
  ["widget", /^widget\.ts$/], // the anywidget entry: model -> components
  ["mount", /^mount\.ts$/], // the card drawn inside another view
];

/** The role rank of a view's module ("src/graph/routes.ts" -> 2), null outside views, -1 if none fits. */
export function roleOf(file: string): number | null {
  const [top, area, ...rest] = file.split("/");
  if (top !== "src" || !(VIEWS as readonly string[]).includes(area ?? "") || rest.length === 0) {
    return null;
  }
  const inView = rest.join("/");
  const rank = ROLES.findIndex(([, re]) => re.test(inView) || re.test(`${inView}.ts`));
  return rank;
}

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

export const isTest = (file: string): boolean => file.endsWith(".test.ts");

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

export function parse(file: string, text: string): ts.SourceFile {
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
  if (`${target}.ts` === NODES_MOUNT && NODES_MOUNT_USERS.includes(from)) return null;
  return { rule: "views meet only through card/mount.ts", file, detail };
}

function roleRule(file: string, imp: Import): Violation | null {
  const from = roleOf(file);
  if (from === null || isTest(file) || imp.target === null || /\.css$/.test(imp.target))
    return null;
  const [, fromView] = file.split("/");
  const [, toView] = imp.target.split("/");
  const to = roleOf(imp.target);
  if (to === null || fromView !== toView || to <= from) return null;
  const name = (r: number) => ROLES[r]?.[0] ?? "no role";
  const detail = `line ${imp.line}: a ${name(from)} module imports ${imp.spec} (${name(to)})`;
  return { rule: "roles in order inside a view", file, detail };
}

function cycles(graph: Map<string, string[]>): string[][] {
  const out: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (v: string) => {
    state.set(v, "open");
    path.push(v);
    for (const w of graph.get(v) ?? []) {
      if (state.get(w) === "open") out.push([...path.slice(path.indexOf(w)), w]);
      else if (!state.has(w)) visit(w);
    }
    path.pop();
    state.set(v, "done");
  };
  for (const v of [...graph.keys()].sort()) if (!state.has(v)) visit(v);
  return out;
}

/** The import rules over every file (paths relative to js/, text as on disk). */
export function checkImports(files: Record<string, string>, roots = ROOT_FILES): Violation[] {
  const out: Violation[] = [];
  const graph = new Map<string, string[]>();
  const known = (target: string): string | undefined =>
    [target, `${target}.ts`, `${target}.js`].find((f) => f in files);
  for (const [file, text] of Object.entries(files)) {
    if (!/\.(ts|js|mjs)$/.test(file)) continue;
    if (file.startsWith("src/") && !file.slice(4).includes("/") && !(file in roots)) {
      out.push({ rule: "modules live in an area", file, detail: "move it into core/ or a view" });
    }
    if (roleOf(file) === -1 && !isTest(file)) {
      out.push({
        rule: "roles in order inside a view",
        file,
        detail: "no role fits its name (ROLES)",
      });
    }
    const imps = importsOf(file, text);
    graph.set(
      file,
      imps.flatMap((i) => (i.target === null ? [] : (known(i.target) ?? []))),
    );
    for (const imp of imps) {
      const v = importRule(file, imp, roots) ?? roleRule(file, imp);
      if (v) out.push(v);
    }
  }
  for (const c of cycles(graph)) {
    out.push({ rule: "no import cycles", file: c[0] ?? "", detail: c.join(" -> ") });
  }
  for (const file of Object.keys(roots)) {
    if (!(file in files))
      out.push({ rule: "stale ROOT_FILES entry", file, detail: "no such file" });
  }
  return out;
}
