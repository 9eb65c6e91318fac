/**
 * What the side panel and the hover box say about a node. Pure DOM builders over GraphData and
 * the kept edges; token text goes in through textContent only.
 *
 * - every node: its top contributors (kept incoming edges, renormalised weights);
 * - a residual state: the logit lens (top tokens, and the tokens promoted and suppressed against
 *   the state before) and the SAE latents that split it;
 * - an attention block: each head's share of the state (over all sources, before the threshold)
 *   with the sources it carries, b_O's share, and SAE latents on its output;
 * - an MLP block: its top neurons and SAE latents, each with a button that opens its card;
 * - attention and MLP blocks, their heads and listed units: the tokens each promotes and
 *   suppresses (./promote.ts);
 * - blocks, heads (summed, and at each kept (query, source) pair), listed units and SAE error
 *   parts: "trace from here" (./trace.ts); a residual state says it has no such target.
 */
import { fmt, h } from "../../core/dom";
import { quoteToken, tokenLabel } from "../../core/tokens";
import type { GraphData, UnitData } from "../data";
import type { Edge, NodeKey } from "../routes";
import { blockPromotePanel, promoteDetails } from "./promote";
import { NO_TRACE_RESID, type TraceCallbacks, traceButton, traceNote } from "./trace";

export interface DetailCallbacks extends TraceCallbacks {
  openCard(source: string, unit: number): void;
  heads?: ((d: GraphData, layer: number, pos: number) => void) | undefined; // asks for a node's heads
  live: boolean; // a kernel answers: without one (an exported file) a card cannot be opened or traced
}

/** Why a card button is disabled in an exported file. */
export const CARD_NEEDS_KERNEL = "needs a running kernel";

const at = (a: ArrayLike<number>, i: number): number => a[i] ?? 0;

export function tokenAt(d: GraphData, pos: number): string {
  return `${quoteToken(d.tokens[pos] ?? "")} (${pos})`;
}

/** A short name for a node, e.g. `'·the' (3) after 1.attn`, `attention 2 at '·the' (3)`. */
export function nodeName(d: GraphData, n: NodeKey): string {
  if (n.kind === "resid") return `${tokenAt(d, n.pos)} after ${d.levels[n.index] ?? n.index}`;
  return `${n.kind === "attn" ? "attention" : "MLP"} ${n.index} at ${tokenAt(d, n.pos)}`;
}

function sourceName(d: GraphData, e: Edge): string {
  if (e.kind === "attn") return `token ${tokenAt(d, e.src.pos)}`;
  if (e.kind === "resid") return `residual from ${d.levels[e.src.index] ?? e.src.index}`;
  if (e.kind === "attn_out") return `attention ${e.src.index}`;
  if (e.kind === "mlp_out") return `MLP ${e.src.index}`;
  return `state ${d.levels[e.src.index] ?? e.src.index}`;
}

function table(cls: string, head: string[], rows: (string | HTMLElement)[][]): HTMLTableElement {
  const t = h("table", `fc-g-table ${cls}`);
  const tr = h("tr", "");
  for (const c of head) tr.append(h("th", "", c));
  t.append(tr);
  for (const row of rows) {
    const r = h("tr", "");
    for (const c of row) {
      const td = h("td", "");
      if (typeof c === "string") td.textContent = c;
      else td.append(c);
      r.append(td);
    }
    t.append(r);
  }
  return t;
}

/** The top `n` kept edges into a node, largest first (what hovering shows). */
export function contributors(incoming: Edge[], n = 6): Edge[] {
  return [...incoming].sort((a, b) => b.weight - a.weight).slice(0, n);
}

export function contributorsTable(d: GraphData, incoming: Edge[], n = 6): HTMLElement {
  const top = contributors(incoming, n);
  if (top.length === 0) return h("div", "fc-g-muted", "no part above the threshold flows in");
  return table(
    "fc-g-contrib",
    ["from", "weight"],
    top.map((e) => [sourceName(d, e), fmt(e.weight)]),
  );
}

function lensList(
  d: GraphData,
  ids: ArrayLike<number>,
  vals: ArrayLike<number>,
  base: number,
  k: number,
) {
  const rows: string[][] = [];
  for (let j = 0; j < k; j++) {
    const i = base + j;
    rows.push([tokenLabel(d.vocab[at(ids, i)] ?? "", 16), fmt(at(vals, i))]);
  }
  return rows;
}

function lensPanel(d: GraphData, n: NodeKey): HTMLElement {
  const box = h("div", "fc-g-lens");
  const lens = d.lens;
  if (!lens) {
    box.append(h("div", "fc-g-muted", d.unavailable.lens ?? "no logit lens in this graph"));
    return box;
  }
  const base = (n.index * d.nPos + n.pos) * lens.k;
  box.append(h("h4", "", "logit lens: top tokens (log p)"));
  box.append(
    table("fc-g-lens-top", ["token", "log p"], lensList(d, lens.top, lens.topValues, base, lens.k)),
  );
  if (n.index > 0) {
    const b = ((n.index - 1) * d.nPos + n.pos) * lens.k;
    const prev = d.levels[n.index - 1] ?? "";
    box.append(h("h4", "", `promoted and suppressed against ${prev} (Δ log p)`));
    const cols = h("div", "fc-g-cols");
    cols.append(
      table("fc-g-lens-up", ["promoted", "Δ"], lensList(d, lens.up, lens.upValues, b, lens.k)),
      table(
        "fc-g-lens-down",
        ["suppressed", "Δ"],
        lensList(d, lens.down, lens.downValues, b, lens.k),
      ),
    );
    box.append(cols);
  }
  return box;
}

/** A head's kept sources, each a button tracing the head at that (query, source) pair. */
function carriedSources(
  d: GraphData,
  n: NodeKey,
  hd: number,
  incoming: Edge[],
  cb: DetailCallbacks,
): HTMLElement {
  const cell = h("span", "fc-g-sources");
  const carried = incoming
    .filter((e) => e.kind === "attn" && e.heads)
    .map((e) => ({ pos: e.src.pos, w: e.heads?.[hd] ?? 0 }))
    .sort((a, b) => b.w - a.w)
    .slice(0, 3)
    .filter((x) => x.w > 0);
  for (const x of carried) {
    const text = `${tokenLabel(d.tokens[x.pos] ?? "")}(${x.pos}) ${fmt(x.w)}`;
    const node = { kind: "attn", layer: n.index, head: hd, pos: n.pos, src: x.pos } as const;
    cell.append(traceButton(node, `H${hd}'s attention from ${n.pos} to ${x.pos}`, cb, text));
  }
  return cell;
}

function headsPanel(d: GraphData, n: NodeKey, incoming: Edge[], cb: DetailCallbacks): HTMLElement {
  const box = h("div", "fc-g-heads");
  box.append(
    h("h4", "", "heads: share of the state, over all source tokens (before the threshold)"),
  );
  const rows: (string | HTMLElement)[][] = [];
  for (let hd = 0; hd < d.nHeads; hd++) {
    const share = at(d.heads, (n.index * d.nPos + n.pos) * d.nHeads + hd);
    const node = { kind: "head", layer: n.index, head: hd, pos: n.pos } as const;
    const name = h("span", "fc-g-head-name", `H${hd} `);
    name.append(traceButton(node, `head ${n.index}.${hd}'s write at ${n.pos}`, cb));
    rows.push([name, fmt(share), carriedSources(d, n, hd, incoming, cb)]);
  }
  const head = ["head", "share", "kept sources (weight; trace a pair)"];
  box.append(table("fc-g-heads-table", head, rows));
  const bias = at(d.bias, n.index * d.nPos + n.pos);
  box.append(h("div", "fc-g-muted", `b_O (the output bias, no head's): ${fmt(bias)}`));
  return box;
}

function unitsPanel(d: GraphData, u: UnitData, pos: number, cb: DetailCallbacks): HTMLElement {
  const box = h("div", "fc-g-units");
  const what = u.unit === "neuron" ? "neurons" : `latents of ${u.source}`;
  box.append(h("h4", "", `top ${what} (${u.hookName}): share of the state`));
  const rows: (string | HTMLElement)[][] = [];
  for (let j = 0; j < u.k; j++) {
    const i = pos * u.k + j;
    const act = at(u.acts, i);
    if (act === 0) continue; // a silent unit only ever scores ε
    const id = at(u.ids, i);
    const open = h("button", "fc-g-open-card", "card");
    open.type = "button";
    open.dataset.source = u.source;
    open.dataset.unit = String(id);
    open.title = cb.live
      ? `open the FeatureCard of ${u.unit} ${id} of ${u.source}`
      : `the FeatureCard of ${u.unit} ${id} ${CARD_NEEDS_KERNEL}`;
    open.disabled = !cb.live;
    open.addEventListener("click", () => cb.openCard(u.source, id));
    const trace = unitTrace(u, id, pos, cb);
    const row: (string | HTMLElement)[] = [String(id), fmt(at(u.shares, i)), fmt(act), open, trace];
    if (u.promote) row.push(promoteDetails(d, u.promote, i, ""));
    rows.push(row);
  }
  const head = [
    u.unit,
    "share",
    "act",
    "",
    "",
    ...(u.promote ? ["promotes ↑ / suppresses ↓"] : []),
  ];
  if (!cb.live && rows.length > 0) {
    // above the table: its promote / suppress lists make it long
    box.append(h("div", "fc-g-muted fc-g-needs-kernel", `card: ${CARD_NEEDS_KERNEL}`));
  }
  box.append(table("fc-g-units-table", head, rows));
  const parts = u.partNames.map((name, p) => `${name} ${fmt(at(u.parts, p * d.nPos + pos))}`);
  box.append(h("div", "fc-g-muted", `all ${what} ${fmt(at(u.total, pos))}; ${parts.join(", ")}`));
  if (u.unit === "latent" && u.partNames.includes("error")) {
    const node = { kind: "error", source: u.source, pos } as const;
    box.append(traceButton(node, `${u.source}'s error at ${pos}`, cb, `trace ${u.source} error`));
  }
  return box;
}

/** A listed unit's trace button: a neuron of `blocks.L.mlp.hook_post`, or a latent. */
function unitTrace(u: UnitData, id: number, pos: number, cb: DetailCallbacks): HTMLElement {
  if (u.unit === "latent") {
    const node = { kind: "latent", source: u.source, unit: id, pos } as const;
    return traceButton(node, `latent ${id} of ${u.source} at ${pos}`, cb);
  }
  const layer = /^blocks\.(\d+)\.mlp\.hook_post$/.exec(u.hookName)?.[1];
  if (layer === undefined) return h("span", "fc-g-muted", "");
  const node = { kind: "neuron", layer: Number(layer), unit: id, pos } as const;
  return traceButton(node, `neuron ${id} of ${u.hookName} at ${pos}`, cb);
}

/** The node's own trace button (a block: its write), or why it has none (a residual state). */
function blockTrace(n: NodeKey, cb: DetailCallbacks): HTMLElement {
  if (n.kind === "resid") return h("div", "fc-g-muted fc-g-no-trace", NO_TRACE_RESID);
  const node = { kind: "block", block: n.kind, layer: n.index, pos: n.pos } as const;
  const what = `${n.kind === "attn" ? "attention" : "MLP"} ${n.index}'s write at ${n.pos}`;
  const box = h("div", "fc-g-trace-node");
  box.append(traceButton(node, what, cb, "trace from here"));
  box.append(h("span", "fc-g-muted", " (the norm of its write, biases aside)"));
  return box;
}

/** The panel for a clicked node. */
export function details(
  d: GraphData,
  n: NodeKey,
  incoming: Edge[],
  cb: DetailCallbacks,
): HTMLElement[] {
  const out: HTMLElement[] = [h("h3", "fc-g-title", nodeName(d, n))];
  const offline = traceNote(cb);
  if (offline) out.push(offline);
  out.push(blockTrace(n, cb));
  out.push(h("h4", "", "top contributors (kept, renormalised)"), contributorsTable(d, incoming));
  const groups = d.units.filter((u) =>
    n.kind === "resid"
      ? u.block === "resid" && u.level === n.index
      : u.block === n.kind && u.layer === n.index,
  );
  if (n.kind === "resid") out.push(lensPanel(d, n));
  if (n.kind === "attn") out.push(headsPanel(d, n, incoming, cb));
  if (n.kind === "mlp") {
    out.push(
      h("div", "fc-g-muted", `MLP share of the state: ${fmt(at(d.mlp, n.index * d.nPos + n.pos))}`),
    );
  }
  const ask = cb.heads && cb.live ? cb.heads : undefined;
  const promote = blockPromotePanel(d, n, ask && ((layer, pos) => ask(d, layer, pos)));
  if (promote) out.push(promote);
  for (const u of groups) out.push(unitsPanel(d, u, n.pos, cb));
  const notes = Object.entries(d.unavailable).filter(([k]) =>
    n.kind === "mlp" ? k === `neurons ${n.index}` || k.startsWith("SAE ") : false,
  );
  for (const [k, why] of notes) out.push(h("div", "fc-g-muted", `${k}: ${why}`));
  return out;
}
