/**
 * Promote / suppress of a node (LLM Transparency Tool's view): the tokens its write raises and
 * lowers most in the logits, through the final LayerNorm at the frozen scale of its position and
 * W_U, no bias (python/featurecard/core/dynamics.py). Attention heads (their OV output at the
 * query), attention and MLP blocks (their output) and each listed neuron or SAE latent.
 *
 * An attention node's heads are computed on request (python/featurecard/graph/promote.py):
 * where the state lacks them, the panel asks (`onHeads`) and says they are coming; without a
 * kernel it says they need one.
 *
 * Token text goes through the one token renderer (core/tokens.ts: fillToken, tokenLabel), as
 * text nodes only.
 */
import { h, signed } from "../../core/dom";
import { fillToken, tokenLabel } from "../../core/tokens";
import type { GraphData, PromoteData } from "../data";
import type { NodeKey } from "../routes";

const at = (a: ArrayLike<number>, i: number): number => a[i] ?? 0;

/** A token cell: the token's visible form, its text in data-text. */
function tokenCell(text: string): HTMLElement {
  const span = h("span", "fc-g-ptok");
  fillToken(span, text);
  return span;
}

/** The promoted and suppressed tokens of node `node` (its flat index over p's nodes), side by side. */
export function promoteTable(d: GraphData, p: PromoteData, node: number): HTMLTableElement {
  const t = h("table", "fc-g-table fc-g-promote");
  const head = h("tr", "");
  for (const c of ["promotes", "Δ logit", "suppresses", "Δ logit"]) head.append(h("th", "", c));
  t.append(head);
  for (let j = 0; j < p.k; j++) {
    const i = node * p.k + j;
    const row = h("tr", "");
    const cells = [
      tokenCell(d.vocab[at(p.up, i)] ?? ""),
      h("span", "fc-g-pval", signed(at(p.upValues, i))),
      tokenCell(d.vocab[at(p.down, i)] ?? ""),
      h("span", "fc-g-pval", signed(at(p.downValues, i))),
    ];
    for (const c of cells) {
      const td = h("td", "");
      td.append(c);
      row.append(td);
    }
    t.append(row);
  }
  return t;
}

/** The first `n` promoted (or suppressed) tokens of a node as short labels. */
export function promoteWords(d: GraphData, p: PromoteData, node: number, up: boolean, n = 3) {
  const ids = up ? p.up : p.down;
  const words: string[] = [];
  for (let j = 0; j < Math.min(n, p.k); j++) {
    words.push(tokenLabel(d.vocab[at(ids, node * p.k + j)] ?? "", 12));
  }
  return words.join(" ");
}

/** A collapsed entry: its summary names the top tokens; opened, the full table. */
export function promoteDetails(
  d: GraphData,
  p: PromoteData,
  node: number,
  label: string,
): HTMLElement {
  const box = h("details", "fc-g-promote-node");
  const sum = h("summary", "");
  sum.append(
    h("span", "fc-g-promote-label", label),
    h("span", "fc-g-promote-up", ` ↑ ${promoteWords(d, p, node, true)}`),
    h("span", "fc-g-promote-down", ` ↓ ${promoteWords(d, p, node, false)}`),
  );
  box.append(sum, promoteTable(d, p, node));
  return box;
}

const EXPLAIN =
  "logit contribution of the write through the final LayerNorm at this position's frozen scale and W_U (no bias)";

/** Why an exported file without a node's heads cannot show them. */
export const HEADS_NEED_KERNEL = "computed on request: needs a running kernel";

/** The promote / suppress section of an attention or MLP node: the block's, then each head's
 * (asked for with `onHeads` where the state does not hold them yet). */
export function blockPromotePanel(
  d: GraphData,
  n: NodeKey,
  onHeads?: (layer: number, pos: number) => void,
): HTMLElement | null {
  const pr = d.promote;
  if (!pr || n.kind === "resid") return null;
  const block = n.kind === "attn" ? pr.attn : pr.mlp;
  if (!block) return null;
  const box = h("div", "fc-g-promote-panel");
  const title = h(
    "h4",
    "",
    `promotes / suppresses (${n.kind === "attn" ? "attention" : "MLP"} output)`,
  );
  title.title = EXPLAIN;
  box.append(title, promoteTable(d, block, n.index * d.nPos + n.pos));
  if (n.kind === "attn") {
    box.append(h("h4", "", "each head's OV output at this token"));
    if (!at(pr.headsDone, n.index * d.nPos + n.pos)) {
      onHeads?.(n.index, n.pos);
      const why = onHeads ? "computing…" : HEADS_NEED_KERNEL;
      box.append(h("div", "fc-g-muted fc-g-heads-pending", why));
      return box;
    }
    for (let hd = 0; hd < d.nHeads; hd++) {
      box.append(promoteDetails(d, pr.heads, (n.index * d.nPos + n.pos) * d.nHeads + hd, `H${hd}`));
    }
  }
  return box;
}

/** One line for the hover box: the block's top promoted and suppressed tokens. */
export function promoteLine(d: GraphData, n: NodeKey): HTMLElement | null {
  const pr = d.promote;
  const block = !pr || n.kind === "resid" ? null : n.kind === "attn" ? pr.attn : pr.mlp;
  if (!block) return null;
  const node = n.index * d.nPos + n.pos;
  const line = h("div", "fc-g-promote-line");
  line.append(
    h("span", "fc-g-promote-up", `promotes ${promoteWords(d, block, node, true)}`),
    h("span", "fc-g-promote-down", ` · suppresses ${promoteWords(d, block, node, false)}`),
  );
  return line;
}
