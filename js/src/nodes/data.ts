/**
 * NodeTableState (binary payloads) -> the plain rows the table draws.
 *
 * Everything is decoded and cross-checked once per state, so a malformed table fails with
 * one clear message instead of half-drawing.
 */
import { decodeArray, decodeInts, type NumericArray } from "../core/codecs";
import { sequenceLabels } from "../core/text";
import { checkVocabIndices, type DecodedVocab, decodeVocab } from "../core/vocab";
import type {
  NodeAblation,
  NodeFamily,
  NodeGroup,
  NodePrompt,
  NodeTableState,
  NodeTarget,
} from "./schema";

export interface PromptData {
  label: string;
  tokens: string[]; // each position's token text (the prompt decoded together, ../core/text.ts)
  target: number;
  cleanTarget: number;
  predictions: { token: string; prob: number }[]; // token: its text on its own (a byte piece as `\xdc`)
}

export interface RowData {
  index: number; // position in Python's union order
  family: NodeFamily;
  layer: number;
  unit: number;
  pos: number;
  src: number; // -1 unless attention
  name: string;
  values: number[][]; // [prompt][group]
  profiles: NumericArray[]; // [prompt] -> activation per position (attention: per source)
  dynamics?: RowDynamics | null; // promote / suppress and token read (absent: not in the state)
}

export interface TableData {
  prompts: PromptData[];
  target: NodeTarget;
  groups: NodeGroup[];
  families: NodeFamily[];
  rows: RowData[];
  sortBy: string;
  k: number;
  ablations: NodeAblation[];
  notes: string[];
  nPos: number;
}

/** How a node is named in the table: `mlp L3 n1024`, `attn L1 H7`, `res_jb #123`, an SAE's
 * error node (one per position) by its family's name, `res_jb error`, and the roll-ups
 * `head L1 H7` (summed over sources), `attn L1`, `mlp L3` (whole layers). */
export function nodeName(family: NodeFamily, layer: number, unit: number): string {
  if (family.kind === "mlp") return `mlp L${layer} n${unit}`;
  if (family.kind === "attn") return `attn L${layer} H${unit}`;
  if (family.kind === "error") return family.name;
  if (family.kind === "head") return `head L${layer} H${unit}`;
  if (family.kind === "attn_layer") return `attn L${layer}`;
  if (family.kind === "mlp_layer") return `mlp L${layer}`;
  return `${family.name} #${unit}`;
}

function checkColumns(cols: Record<string, ArrayLike<number>>, n: number): void {
  for (const [name, a] of Object.entries(cols)) {
    if (a.length !== n)
      throw new Error(`featurecard: rows.${name} has ${a.length} entries, expected ${n}`);
  }
}

function checkShape(what: string, shape: number[], want: number[]): void {
  if (shape.length !== want.length || shape.some((d, i) => d !== want[i])) {
    throw new Error(
      `featurecard: ${what} has shape [${shape.join(", ")}], expected [${want.join(", ")}]`,
    );
  }
}

function decodePrompt(p: NodePrompt, vocab: DecodedVocab): PromptData {
  const tokens = decodeInts(p.tokens, `${p.label} prompt's tokens`);
  const predictions = decodeInts(p.predictions, `${p.label} prompt's predictions`);
  checkVocabIndices(tokens, vocab.size, `${p.label} prompt's tokens`);
  checkVocabIndices(predictions, vocab.size, `${p.label} prompt's predictions`);
  const probs = decodeArray(p.prediction_probs);
  return {
    label: p.label,
    tokens: sequenceLabels(vocab.text, tokens),
    target: p.target,
    cleanTarget: p.clean_target,
    predictions: Array.from(predictions, (v, i) => ({
      token: vocab.text.text(v),
      prob: probs[i] ?? Number.NaN,
    })),
  };
}

/** The prompts, their tokens and predictions from the table's local vocabulary (../core/vocab.ts). */
function decodePrompts(state: NodeTableState): PromptData[] {
  if (state.prompts.length < 1) throw new Error("featurecard: the table has no prompt");
  const vocab = decodeVocab(state);
  const prompts = state.prompts.map((p) => decodePrompt(p, vocab));
  const nPos = prompts[0]?.tokens.length ?? 0;
  for (const p of prompts) {
    if (p.tokens.length !== nPos)
      throw new Error(
        `featurecard: the ${p.label} prompt has ${p.tokens.length} tokens, expected ${nPos}`,
      );
  }
  return prompts;
}

/** Decodes and checks a table; throws an Error naming the first problem found. */
export function decodeTable(state: NodeTableState): TableData {
  const r = state.rows;
  const family = decodeInts(r.family, "rows.family");
  const n = family.length;
  const cols = {
    layer: decodeInts(r.layer, "rows.layer"),
    unit: decodeInts(r.unit, "rows.unit"),
    pos: decodeInts(r.pos, "rows.pos"),
    src: decodeInts(r.src, "rows.src"),
  };
  checkColumns(cols, n);
  const nPrompts = state.prompts.length;
  const nGroups = state.groups.length;
  const prompts = decodePrompts(state);
  const nPos = prompts[0]?.tokens.length ?? 0;
  checkShape("rows.values", r.values.shape, [nPrompts, nGroups, n]);
  checkShape("rows.profiles", r.profiles.shape, [nPrompts, n, nPos]);
  const values = decodeArray(r.values);
  const profiles = decodeArray(r.profiles);
  const byCode = new Map(state.families.map((f) => [f.code, f]));
  const dynamics = decodeDynamics(state, n);
  const rows: RowData[] = [];
  for (let j = 0; j < n; j++) {
    const code = family[j] ?? -1;
    const fam = byCode.get(code);
    if (!fam)
      throw new Error(`featurecard: row ${j} has family ${code}, which the table does not list`);
    const layer = cols.layer[j] ?? -1;
    const unit = cols.unit[j] ?? -1;
    rows.push({
      index: j,
      family: fam,
      layer,
      unit,
      pos: cols.pos[j] ?? -1,
      src: fam.kind === "attn" ? (cols.src[j] ?? -1) : -1,
      name: nodeName(fam, layer, unit),
      values: Array.from({ length: nPrompts }, (_, p) =>
        Array.from({ length: nGroups }, (_, g) => values[(p * nGroups + g) * n + j] ?? Number.NaN),
      ),
      profiles: Array.from({ length: nPrompts }, (_, p) =>
        profiles.subarray((p * n + j) * nPos, (p * n + j + 1) * nPos),
      ),
      dynamics: dynamics?.[j] ?? null,
    });
  }
  return {
    prompts,
    target: state.target,
    groups: state.groups,
    families: state.families,
    rows,
    sortBy: state.sort_by,
    k: state.k,
    ablations: state.ablations ?? [],
    notes: state.notes ?? [],
    nPos,
  };
}

/* The rows' token dynamics (NodeTableState.dynamics, nodes/dynamics.py): per row the tokens its
 * write promotes and suppresses (per prompt) and, for neurons and latents, the token read or the
 * reason there is none. Token texts come from the table's local vocabulary. */
export interface TokenValue {
  token: string; // the token's text on its own (a byte piece as `\xdc`)
  value: number;
}

export interface RowDynamics {
  promote: TokenValue[][]; // [prompt] -> largest logit change first; empty: the row has no write
  suppress: TokenValue[][]; // [prompt] -> most negative first
  read: TokenValue[]; // neurons and latents (first prompt): empty where there is none
  readNote: string; // what the read goes through, or why there is none; "" for other rows
}

/** Every row's dynamics, or null when the state has none; throws naming a bad shape or index. */
export function decodeDynamics(state: NodeTableState, nRows: number): RowDynamics[] | null {
  const d = state.dynamics;
  if (!d) return null;
  const vocab = decodeVocab(state);
  const nPrompts = state.prompts.length;
  const k = d.k;
  const list = (ids: ArrayLike<number>, vals: ArrayLike<number>, at: number, what: string) => {
    const out: TokenValue[] = [];
    for (let i = 0; i < k; i++) {
      const v = ids[at + i] ?? -1;
      if (v < 0) continue;
      if (v >= vocab.size)
        throw new Error(
          `featurecard: dynamics.${what} index ${v} is outside vocab (size ${vocab.size})`,
        );
      out.push({ token: vocab.text.text(v), value: vals[at + i] ?? Number.NaN });
    }
    return out;
  };
  const arrays = {
    promote: [decodeInts(d.promote_ids, "dynamics.promote_ids"), decodeArray(d.promote_values)],
    suppress: [decodeInts(d.suppress_ids, "dynamics.suppress_ids"), decodeArray(d.suppress_values)],
    read: [decodeInts(d.read_ids, "dynamics.read_ids"), decodeArray(d.read_values)],
  } as const;
  for (const [name, [ids, vals]] of Object.entries(arrays)) {
    const want = (name === "read" ? 1 : nPrompts) * nRows * k;
    if (ids.length !== want || vals.length !== want)
      throw new Error(`featurecard: dynamics.${name} has ${ids.length} entries, expected ${want}`);
  }
  return Array.from({ length: nRows }, (_, j) => ({
    promote: Array.from({ length: nPrompts }, (_, p) =>
      list(arrays.promote[0], arrays.promote[1], (p * nRows + j) * k, "promote_ids"),
    ),
    suppress: Array.from({ length: nPrompts }, (_, p) =>
      list(arrays.suppress[0], arrays.suppress[1], (p * nRows + j) * k, "suppress_ids"),
    ),
    read: list(arrays.read[0], arrays.read[1], j * k, "read_ids"),
    readNote: d.read_notes[j] ?? "",
  }));
}
