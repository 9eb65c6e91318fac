/**
 * The length rules (issue #14), checked by ./architecture.test.ts: a TS/JS file under js/ has at
 * most 400 lines (CSS is exempt), a function at most 60 lines, from its signature to its closing
 * brace, unless ALLOWED_LONG lists it with a reason; an entry that is no longer needed, or a
 * function that grew past its entry, fails too. A `describe` block's callback in a test file is a
 * grouping, not a function, and is not counted (each `it` callback is).
 */
import ts from "typescript";
import { isTest, parse, type Violation } from "./architecture";

export const MAX_FILE_LINES = 400;
export const MAX_FUNCTION_LINES = 60;

export interface LongFunction {
  file: string;
  name: string;
  lines: number; // its length when listed: it may shrink, not grow
  reason: string;
}

/** The functions over MAX_FUNCTION_LINES today; new ones fail. */
export const ALLOWED_LONG: LongFunction[] = [];

export interface FunctionSpan {
  name: string;
  line: number;
  lines: number;
}

export function lineCount(text: string): number {
  const n = text.split("\n").length;
  return text.endsWith("\n") ? n - 1 : n;
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
